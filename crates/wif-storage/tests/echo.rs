//! Cloud Storage (or a proxy in front of it) quoting the request in its error: the bearer token
//! the request carried never comes back through the error or a log line, in any spelling.

#![allow(clippy::expect_used)]

use wif_core::testing::{EchoRequest, LogCapture, Quote, assert_no_secrets};
use wif_core::{AccessToken, MapEnvironment, StaticTokenProvider, Step};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer};

const BEARER: &str = "ya29.storage-BEARER-0f1e2d/with+base64=";

#[tokio::test]
async fn an_echoing_server_gets_no_bearer_token_through() {
    let logs = LogCapture::global();
    for (echo, status) in [
        (EchoRequest::rpc(403).quoting(Quote::Headers), 403),
        (EchoRequest::rpc(400).quoting(Quote::Json), 400),
        // Retried: the retry loop logs each failure before the next attempt.
        (EchoRequest::rpc(503).quoting(Quote::Headers), 503),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(echo.clone())
            .mount(&server)
            .await;
        let storage = wif_storage::Storage::builder()
            .provider(StaticTokenProvider::new(AccessToken::new(BEARER)))
            .base_url(server.uri())
            .environment(MapEnvironment::new())
            .retry_policy(
                wif_core::RetryPolicy::default()
                    .with_max_attempts(2)
                    .with_backoff(
                        std::time::Duration::from_millis(1),
                        std::time::Duration::from_millis(1),
                    ),
            )
            .build()
            .expect("storage builds");
        let err = storage
            .metadata("bkt", "dir/object.txt")
            .await
            .expect_err("the server refuses");
        assert_eq!(err.step(), Step::Api, "{err}");
        assert_eq!(err.status(), Some(status), "{err}");
        let shown = format!("{err}\n{err:?}");
        assert!(shown.contains("[REDACTED]"), "{echo:?}: {shown}");
        assert_no_secrets(&format!("{echo:?}"), &shown, &[BEARER]);
    }
    assert_no_secrets("the logs", &logs.contents(), &[BEARER]);
}
