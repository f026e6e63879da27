//! The layer under tonic's own client, against an in-process gRPC server (tonic's server-side
//! unary handling, no network): the header, refresh after expiry, errors as `Status`.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use http::uri::PathAndQuery;
use tokio::time::Instant;
use tonic::Code;
use tonic::body::Body;
use tonic::client::Grpc;
use tonic::server::UnaryService;
use tonic_prost::ProstCodec;
use tower::ServiceExt as _;
use wif_core::{CacheClock, CacheOptions, ErrorKind, Step, TokenCache};

use super::*;

const METHOD: &str = "/wif.test.Echo/Call";

/// Issues `tok-1`, `tok-2`, … each valid for an hour, or fails with `error` when set.
#[derive(Debug, Default)]
struct Issuer {
    issued: AtomicU64,
    error: Mutex<Option<Error>>,
}

#[async_trait]
impl TokenProvider for Issuer {
    async fn token(&self) -> Result<AccessToken, Error> {
        if let Some(e) = self.error.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Err(e);
        }
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(AccessToken::expiring_in(
            format!("tok-{n}"),
            Instant::now(),
            Duration::from_secs(3600),
        ))
    }
}

/// The server's side of the unary call: answers `()`.
#[derive(Clone)]
struct Echo;

impl UnaryService<()> for Echo {
    type Response = ();
    type Future = std::future::Ready<Result<tonic::Response<()>, Status>>;

    fn call(&mut self, _request: tonic::Request<()>) -> Self::Future {
        std::future::ready(Ok(tonic::Response::new(())))
    }
}

/// The server's answer to one request.
type Answer = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

/// The `authorization` and `x-goog-user-project` a call arrived with.
type Metadata = (Option<String>, Option<String>);

/// A gRPC server as a tower service, recording the metadata each call arrived with.
#[derive(Clone, Default)]
struct Server {
    seen: Arc<Mutex<Vec<Metadata>>>,
}

impl Server {
    fn service(
        &self,
    ) -> impl Service<
        http::Request<Body>,
        Response = http::Response<Body>,
        Error = Infallible,
        Future = Answer,
    > + Clone
    + Send
    + 'static {
        let seen = self.seen.clone();
        tower::service_fn(move |request: http::Request<Body>| -> Answer {
            let header = |name: &str| {
                request
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let entry = (header("authorization"), header("x-goog-user-project"));
            seen.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
            Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(ProstCodec::<(), ()>::default());
                Ok(grpc.unary(Echo, request).await)
            })
        })
    }

    fn seen(&self) -> Vec<Metadata> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

async fn call<S>(client: &mut Grpc<S>) -> Result<(), Status>
where
    S: tonic::client::GrpcService<Body>,
    S::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <S::ResponseBody as http_body::Body>::Error: Into<BoxError>,
{
    client
        .ready()
        .await
        .map_err(|e| Status::from_error(e.into()))?;
    client
        .unary(
            tonic::Request::new(()),
            PathAndQuery::from_static(METHOD),
            ProstCodec::<(), ()>::default(),
        )
        .await
        .map(|_| ())
}

fn cache(issuer: Issuer) -> TokenCache<Issuer> {
    // Tokio's clock on the fast path too, so that advancing paused time expires the token.
    TokenCache::with_options(
        issuer,
        CacheOptions::default().with_clock(CacheClock::Tokio),
    )
}

#[tokio::test(start_paused = true)]
async fn every_call_carries_the_token_and_refreshes_after_expiry() {
    let server = Server::default();
    let tokens = cache(Issuer::default());
    let layer = BearerLayer::new(tokens.clone())
        .with_quota_project_id("billing-project")
        .expect("a header value");
    let mut client = Grpc::new(layer.layer(server.service()));

    call(&mut client).await.expect("first call");
    call(&mut client).await.expect("second call");
    // Past the token's hour: the next call waits for a new one.
    tokio::time::advance(Duration::from_secs(3600)).await;
    call(&mut client).await.expect("call after expiry");

    let bearer = |n: u32| {
        (
            Some(format!("Bearer tok-{n}")),
            Some("billing-project".to_owned()),
        )
    };
    assert_eq!(server.seen(), [bearer(1), bearer(1), bearer(2)]);
    assert_eq!(tokens.provider().issued.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_fresh_token_is_added_synchronously_and_a_missing_one_awaited() {
    let server = Server::default();
    let tokens = cache(Issuer::default());
    let mut service = BearerLayer::new(tokens.clone()).layer(server.service());

    // Nothing cached yet: the call must wait for the token, not block for it.
    service.ready().await.expect("ready");
    let waiting = service.call(http::Request::new(Body::empty()));
    assert_eq!(
        format!("{waiting:?}"),
        r#"ResponseFuture { state: "waiting for a token" }"#
    );
    assert!(server.seen().is_empty(), "sent before the token arrived");
    let _ = waiting.await.expect("served");
    assert_eq!(server.seen().len(), 1);

    // Now fresh: the header goes on in `call` itself, and the inner call starts at once.
    call_directly(&mut service).await;
    let seen = server.seen();
    assert_eq!(seen[1].0.as_deref(), Some("Bearer tok-1"), "{seen:?}");
    assert_eq!(tokens.provider().issued.load(Ordering::SeqCst), 1);
}

/// One call through `service` that must take the synchronous path: the token is fresh, so the
/// header goes on in `call` itself and the inner call starts at once.
async fn call_directly<S>(service: &mut S)
where
    S: tower::Service<http::Request<Body>>,
    S::Future: std::fmt::Debug,
    S::Error: std::fmt::Debug,
{
    service.ready().await.expect("ready");
    let direct = service.call(http::Request::new(Body::empty()));
    assert_eq!(
        format!("{direct:?}"),
        r#"ResponseFuture { state: "direct" }"#
    );
    let _ = direct.await.expect("served");
}

#[tokio::test]
async fn token_failures_become_statuses_and_nothing_is_sent() {
    for (retryable, code) in [(true, Code::Unavailable), (false, Code::Unauthenticated)] {
        let server = Server::default();
        let issuer = Issuer::default();
        *issuer.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(
            Error::new(
                Step::Exchange,
                ErrorKind::Http,
                "Google STS answered 503 Service Unavailable",
            )
            .retryable(retryable),
        );
        let mut client = Grpc::new(BearerLayer::new(issuer).layer(server.service()));

        let status = call(&mut client).await.expect_err("no token");
        assert_eq!(status.code(), code, "{status:?}");
        assert!(
            status.message().contains("Google STS answered 503"),
            "{status:?}"
        );
        let source = std::error::Error::source(&status)
            .and_then(|s| s.downcast_ref::<Error>())
            .expect("the wif error is the source");
        assert_eq!(source.step(), Step::Exchange);
        assert!(
            server.seen().is_empty(),
            "a request went out without a token"
        );
    }
}

#[test]
fn a_quota_project_that_cannot_be_a_header_is_refused_up_front() {
    let layer = BearerLayer::new(wif_core::StaticTokenProvider::new(AccessToken::new("t")));
    assert!(layer.with_quota_project_id("bad\nproject").is_err());
}

#[test]
fn debug_never_shows_the_token() {
    let layer = BearerLayer::new(wif_core::StaticTokenProvider::new(AccessToken::new(
        "ya29.secret-123",
    )));
    let shown = format!("{layer:?}");
    assert!(!shown.contains("secret-123"), "{shown}");
}

#[tokio::test]
async fn wif_credentials_take_the_synchronous_path() {
    let server = Server::default();
    let credentials = wif::testing::static_credentials("ya29.static");
    let mut service = BearerLayer::new(credentials).layer(server.service());
    call_directly(&mut service).await;
    assert_eq!(server.seen()[0].0.as_deref(), Some("Bearer ya29.static"));
}
