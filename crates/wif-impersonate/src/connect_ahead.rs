//! Connecting to IAM Credentials while the federated token is on its way.
//!
//! A cold chain asks Google STS for the federated token, then IAM Credentials for the service
//! account's: two hosts, each needing a TCP and a TLS handshake before its request. Done in turn,
//! the IAM host's handshakes (two round trips) wait for the STS answer. With connect-ahead, the
//! connection to the IAM host is opened while the exchange is in flight, so once the federated
//! token is there `generateAccessToken` costs one round trip.
//!
//! reqwest has no call that only connects: the connection is opened by a `HEAD /` to the IAM
//! host on the client the call will use, which leaves it in that client's pool (the answer, a
//! 404 with no body, is ignored; the request carries no credential). The call then waits for it
//! to finish, for at most as long again as the federated token took (and never longer than the
//! call's own timeout), so a warm-up that hangs costs no more than that, and the call opens its
//! own connection as before.
//!
//! Nothing is opened when the federated token is at hand at once (cached): then there is nothing
//! to overlap, and a connection kept from the last call may still be open.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;

use tokio::time::Instant;
use wif_core::{AccessToken, Error};

use crate::impersonation::Settings;

/// The federated token from `settings.federated`; when it is not ready at once and connect-ahead
/// is on, the connection to the IAM host is opened meanwhile.
///
/// The warm-up runs as a task of its own: on a multi-threaded runtime its TLS handshake is
/// computed beside the STS one instead of after it on the same thread, so neither the exchange
/// nor the connection waits for the other's CPU. It is aborted if this call is dropped or gives
/// up waiting for it.
pub(crate) async fn federated_token(settings: &Settings) -> Result<AccessToken, Error> {
    let mut federated = pin!(settings.federated.token());
    if !settings.connect_ahead {
        return federated.await;
    }
    if let Poll::Ready(result) = poll_once(federated.as_mut()).await {
        return result;
    }
    let started = Instant::now();
    let mut warm_up = AbortOnDrop(tokio::spawn(warm_up(
        settings.client.clone(),
        settings.url.clone(),
        settings.timeout,
    )));
    let mut connected = false;
    let result = loop {
        tokio::select! {
            biased;
            result = federated.as_mut() => break result,
            _ = &mut warm_up.0, if !connected => connected = true,
        }
    };
    if result.is_ok() && !connected {
        // The handshakes are nearly done (they started when the exchange did): worth a short wait.
        let wait = started.elapsed().min(settings.timeout);
        connected = tokio::time::timeout(wait, &mut warm_up.0).await.is_ok();
    }
    if connected {
        // The client puts the connection back in its pool in a task of its own, spawned as the
        // warm-up's answer came: let it run, or the call finds no idle connection and starts a
        // second one (it would still take the first once back, but a socket would be wasted).
        tokio::task::yield_now().await;
    }
    result
}

/// A spawned task that ends with its handle.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Polls `future` once, with this task's waker.
async fn poll_once<F: Future + Unpin>(mut future: F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(std::pin::Pin::new(&mut future).poll(cx))).await
}

/// `HEAD /` on the IAM host of `url`: DNS, TCP and TLS into `client`'s pool.
async fn warm_up(client: reqwest::Client, mut origin: url::Url, timeout: std::time::Duration) {
    origin.set_path("/");
    origin.set_query(None);
    origin.set_fragment(None);
    let started = Instant::now();
    match client.head(origin).timeout(timeout).send().await {
        Ok(response) => tracing::debug!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "connected ahead to IAM Credentials"
        ),
        Err(e) => tracing::debug!(
            error = %e.without_url(),
            "connecting ahead to IAM Credentials failed; the call will connect itself"
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use serde_json::json;
    use wif_core::{StaticTokenProvider, Step, TokenProvider, async_trait};
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::Impersonation;

    const SA: &str = "writer@proj.iam.gserviceaccount.com";

    /// A federated provider that answers after `delay` (an exchange in flight), or fails.
    #[derive(Debug)]
    struct Exchange {
        delay: Duration,
        fails: bool,
    }

    #[async_trait]
    impl TokenProvider for Exchange {
        async fn token(&self) -> Result<AccessToken, Error> {
            tokio::time::sleep(self.delay).await;
            if self.fails {
                return Err(Error::http(Step::Exchange, 400, b""));
            }
            Ok(AccessToken::new("federated"))
        }
    }

    async fn iam() -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"accessToken": "impersonated", "expireTime": "2099-01-01T00:00:00Z"}),
            ))
            .mount(&server)
            .await;
        server
    }

    /// `METHOD path` of what `server` received.
    async fn received(server: &MockServer) -> Vec<String> {
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| format!("{} {}", r.method, r.url.path()))
            .collect()
    }

    async fn run(
        federated: Arc<dyn TokenProvider>,
        on: bool,
    ) -> (Result<AccessToken, Error>, Vec<String>) {
        let server = iam().await;
        let imp = Impersonation::builder()
            .federated_arc(federated)
            .url(format!(
                "{}/v1/projects/-/serviceAccounts/{SA}:generateAccessToken",
                server.uri()
            ))
            .http_client(wif_core::http::default_client().expect("client"))
            .connect_ahead(on)
            .build()
            .expect("valid");
        let result = imp.token().await;
        (result, received(&server).await)
    }

    #[tokio::test]
    async fn a_federated_token_in_flight_gets_the_connection_opened_first() {
        let exchange = Arc::new(Exchange {
            delay: Duration::from_millis(100),
            fails: false,
        });
        let (token, requests) = run(exchange, true).await;
        token.expect("token");
        let call = format!("POST /v1/projects/-/serviceAccounts/{SA}:generateAccessToken");
        assert_eq!(requests, ["HEAD /".to_owned(), call]);
    }

    #[tokio::test]
    async fn nothing_is_opened_ahead_when_the_token_is_at_hand_or_when_off() {
        let cached = Arc::new(StaticTokenProvider::new(AccessToken::new("federated")));
        let (_, requests) = run(cached, true).await;
        assert_eq!(requests.len(), 1, "{requests:?}");
        let exchange = Arc::new(Exchange {
            delay: Duration::from_millis(50),
            fails: false,
        });
        let (_, requests) = run(exchange, false).await;
        assert_eq!(requests.len(), 1, "{requests:?}");
    }

    /// The warm-up is a task of its own, but not an orphan: when the call is dropped (a caller's
    /// timeout, a cancelled request), its connection closes at once rather than at the
    /// warm-up's own timeout (10 s).
    #[tokio::test]
    async fn a_dropped_call_takes_its_warm_up_with_it() {
        use tokio::io::AsyncReadExt;
        // An IAM host that accepts and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let exchange = Arc::new(Exchange {
            delay: Duration::from_secs(60),
            fails: false,
        });
        let imp = Impersonation::builder()
            .federated_arc(exchange)
            .url(format!(
                "http://{addr}/v1/projects/-/serviceAccounts/{SA}:generateAccessToken"
            ))
            .http_client(wif_core::http::default_client().expect("client"))
            .connect_ahead(true)
            .build()
            .expect("valid");
        let call = tokio::spawn(async move { imp.token().await });
        let (mut socket, _) = listener.accept().await.expect("the warm-up connects");
        let mut buf = vec![0u8; 4096];
        let n = socket.read(&mut buf).await.expect("the warm-up's request");
        assert!(buf[..n].starts_with(b"HEAD / "), "{:?}", &buf[..n]);

        call.abort();
        let closed = tokio::time::timeout(Duration::from_secs(3), socket.read(&mut buf))
            .await
            .expect("the connection closes with the call");
        assert_eq!(closed.expect("a clean close"), 0);
    }

    #[tokio::test]
    async fn a_failed_exchange_is_returned_as_it_was() {
        let exchange = Arc::new(Exchange {
            delay: Duration::from_millis(50),
            fails: true,
        });
        let (result, requests) = run(exchange, true).await;
        let err = result.expect_err("the exchange failed");
        assert_eq!(err.step(), Step::Exchange);
        assert_eq!(err.status(), Some(400));
        assert!(
            requests.iter().all(|r| r.starts_with("HEAD")),
            "no impersonation call: {requests:?}"
        );
    }
}
