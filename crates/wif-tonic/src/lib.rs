//! # wif-tonic — wif-rs bearer tokens on gRPC requests
//!
//! A [tower] layer, [`BearerLayer`], that adds `authorization: Bearer …` (and
//! `x-goog-user-project`, when configured) to every request of a gRPC client — a tonic
//! `Channel` under a generated client, or any `tower::Service<http::Request<B>>` — from a
//! [`wif::Credentials`](https://docs.rs/wif) or any other [`TokenProvider`].
//!
//! It never blocks a runtime thread. While the provider holds a fresh token
//! ([`TokenProvider::fresh_token`]: a lock-free read of wif's cache), `call` adds the header
//! synchronously and calls the inner service directly. Otherwise the request waits,
//! asynchronously, for [`TokenProvider::token`] (one refresh shared by all concurrent callers)
//! and is sent when the token arrives.
//!
//! When no token can be had, the call fails with a [`tonic::Status`] (tonic's client hands it
//! to you as the call's error): `UNAVAILABLE` when wif says retrying can help (STS answered
//! 503, a connection broke), `UNAUTHENTICATED` otherwise; its message is wif's (never a
//! secret), and its [`source`](std::error::Error::source) the wif [`Error`].
//!
//! ```no_run
//! use tower_layer::Layer;
//! use wif_tonic::BearerLayer;
//!
//! # async fn run<C>(channel: C) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
//! # where
//! #     C: tower_service::Service<http::Request<tonic::body::Body>, Response = http::Response<tonic::body::Body>>,
//! #     C: Clone + Send + 'static,
//! #     C::Future: Send + 'static,
//! #     C::Error: Into<wif_tonic::BoxError>,
//! # {
//! // `channel`: your tonic::transport::Channel to, e.g., https://pubsub.googleapis.com.
//! let credentials = wif::Credentials::from_env()?;
//! let authorized = BearerLayer::new(credentials).layer(channel);
//! // Generated clients take it (`PublisherClient::new(authorized)`); here tonic's raw one.
//! let mut client = tonic::client::Grpc::new(authorized);
//! client.ready().await?;
//! # Ok(()) }
//! ```
//!
//! [tower]: https://docs.rs/tower

#![cfg_attr(docsrs, feature(doc_cfg))]

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderName, HeaderValue};
use tonic::Status;
use tower_layer::Layer;
use tower_service::Service;
use wif_core::{AccessToken, Error, TokenProvider};

/// The error type of a [`BearerService`]: the inner service's error, or a [`Status`] when no
/// token could be had.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The header that bills API quota to a project other than the credentials' own.
const QUOTA_PROJECT_HEADER: HeaderName = HeaderName::from_static("x-goog-user-project");

/// Adds a wif-rs bearer token to every request of the service it wraps. Cheap to clone.
#[derive(Clone)]
pub struct BearerLayer {
    tokens: Arc<dyn TokenProvider>,
    quota_project: Option<HeaderValue>,
}

impl BearerLayer {
    /// Tokens from `provider` — typically a `wif::Credentials`, whose cache makes the header a
    /// lock-free read while the token is fresh.
    pub fn new(provider: impl TokenProvider + 'static) -> Self {
        BearerLayer {
            tokens: Arc::new(provider),
            quota_project: None,
        }
    }

    /// Also sends `x-goog-user-project: project_id` (pass `wif::Credentials::quota_project_id`
    /// to follow the configuration). A value that cannot be a header is refused here, before
    /// any request.
    pub fn with_quota_project_id(
        mut self,
        project_id: &str,
    ) -> Result<Self, http::header::InvalidHeaderValue> {
        self.quota_project = Some(HeaderValue::from_str(project_id)?);
        Ok(self)
    }
}

impl fmt::Debug for BearerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerLayer")
            .field("tokens", &self.tokens)
            .field("quota_project", &self.quota_project)
            .finish()
    }
}

impl<S> Layer<S> for BearerLayer {
    type Service = BearerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`BearerLayer`] makes: `S` with a bearer token on every request.
#[derive(Clone, Debug)]
pub struct BearerService<S> {
    inner: S,
    layer: BearerLayer,
}

impl<S> BearerService<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

fn authorize<B>(request: &mut http::Request<B>, token: &AccessToken, quota: Option<&HeaderValue>) {
    let headers = request.headers_mut();
    headers.insert(http::header::AUTHORIZATION, token.authorization_header());
    if let Some(project) = quota {
        headers.insert(QUOTA_PROJECT_HEADER, project.clone());
    }
}

/// The gRPC status for a failed token: `UNAVAILABLE` when retrying can help, else
/// `UNAUTHENTICATED`; wif's message (never a secret), the wif error as its source.
pub fn token_status(error: Error) -> Status {
    let message = format!("no access token for the request: {error}");
    let mut status = if error.is_retryable() {
        Status::unavailable(message)
    } else {
        Status::unauthenticated(message)
    };
    status.set_source(Arc::new(error));
    status
}

impl<S, B> Service<http::Request<B>> for BearerService<S>
where
    S: Service<http::Request<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        if let Some(token) = self.layer.tokens.fresh_token() {
            authorize(&mut request, &token, self.layer.quota_project.as_ref());
            return ResponseFuture::direct(self.inner.call(request));
        }
        // The service that was polled ready goes with the request; its clone takes its place
        // (tower's rule for services whose call waits before calling the inner one).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let tokens = self.layer.tokens.clone();
        let quota = self.layer.quota_project.clone();
        ResponseFuture::waiting(Box::pin(async move {
            let token = tokens
                .token()
                .await
                .map_err(|e| Box::new(token_status(e)) as BoxError)?;
            authorize(&mut request, &token, quota.as_ref());
            inner.call(request).await.map_err(Into::into)
        }))
    }
}

type Waiting<R> = Pin<Box<dyn Future<Output = Result<R, BoxError>> + Send>>;

pin_project_lite::pin_project! {
    /// The future of a [`BearerService`] call: the inner call at once, or after the token.
    pub struct ResponseFuture<F, R> {
        #[pin]
        state: State<F, R>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProjection]
    enum State<F, R> {
        Direct { #[pin] future: F },
        Waiting { future: Waiting<R> },
    }
}

impl<F, R> ResponseFuture<F, R> {
    fn direct(future: F) -> Self {
        ResponseFuture {
            state: State::Direct { future },
        }
    }

    fn waiting(future: Waiting<R>) -> Self {
        ResponseFuture {
            state: State::Waiting { future },
        }
    }
}

impl<F, R, E> Future for ResponseFuture<F, R>
where
    F: Future<Output = Result<R, E>>,
    E: Into<BoxError>,
{
    type Output = Result<R, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProjection::Direct { future } => future.poll(cx).map_err(Into::into),
            StateProjection::Waiting { future } => future.as_mut().poll(cx),
        }
    }
}

impl<F, R> fmt::Debug for ResponseFuture<F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Direct { .. } => "direct",
            State::Waiting { .. } => "waiting for a token",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

#[cfg(test)]
mod tests;
