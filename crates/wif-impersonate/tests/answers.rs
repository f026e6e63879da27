//! What `generateAccessToken` answers is checked before it is believed, and what the request
//! carried never comes back: a token with control characters, an `expireTime` already past, a
//! lifetime beyond IAM's 12 hours, and a server (or proxy) quoting the request's headers, the
//! federated bearer token among them.

// Test helpers outside #[test] functions may panic too.
#![allow(clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::json;
use wif_core::secrecy::ExposeSecret;
use wif_core::testing::{EchoRequest, LogCapture, Quote, assert_no_secrets};
use wif_core::{
    AccessToken, Error, ErrorKind, FixedClock, RetryPolicy, StaticTokenProvider, Step,
    TokenProvider,
};
use wif_impersonate::Impersonation;
use wiremock::{MockServer, ResponseTemplate};

const SA: &str = "writer@proj.iam.gserviceaccount.com";
const FEDERATED: &str = "ya29.federated-TOKEN-4f0b9e/with+base64=";
const IMPERSONATED: &str = "ya29.impersonated-TOKEN-77c1";

/// 2098-12-31T22:00:00Z, the wall clock of these tests.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(4_070_901_600)
}

async fn server_answering(response: impl wiremock::Respond + 'static) -> MockServer {
    wif_core::testing::server_answering("POST", response).await
}

fn impersonation(server: &MockServer) -> Impersonation {
    Impersonation::builder()
        .federated(StaticTokenProvider::new(AccessToken::new(FEDERATED)))
        .url(format!(
            "{}/v1/projects/-/serviceAccounts/{SA}:generateAccessToken",
            server.uri()
        ))
        .http_client(wif_core::http::default_client().expect("HTTP client"))
        .retry_policy(
            RetryPolicy::default()
                .with_max_attempts(2)
                .with_backoff(Duration::from_millis(1), Duration::from_millis(1)),
        )
        .clock(Arc::new(FixedClock(now())))
        .build()
        .expect("valid configuration")
}

fn granted(token: &str, expire_time: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"accessToken": token, "expireTime": expire_time}))
}

async fn refused(response: ResponseTemplate) -> Error {
    let server = server_answering(response).await;
    impersonation(&server)
        .token()
        .await
        .expect_err("the answer is refused")
}

#[tokio::test]
async fn an_echoing_iam_gets_no_federated_token_through() {
    let logs = LogCapture::global();
    let echoes = Quote::ALL.into_iter().flat_map(|part| {
        [
            (part, EchoRequest::rpc(403).quoting(part), 403),
            (part, EchoRequest::oauth(400).quoting(part), 400),
            (part, EchoRequest::rpc(503).quoting(part), 503),
        ]
    });
    for (part, echo, status) in echoes {
        let server = server_answering(echo.clone()).await;
        let err = impersonation(&server)
            .token()
            .await
            .expect_err("the server refuses");
        assert_eq!(err.step(), Step::Impersonation, "{err}");
        assert_eq!(err.status(), Some(status), "{err}");
        let shown = format!("{err}\n{err:?}");
        assert_no_secrets(&format!("{echo:?}"), &shown, &[FEDERATED]);
        if matches!(part, Quote::Headers | Quote::Json) {
            assert!(
                shown.contains("Bearer [REDACTED]"),
                "{echo:?}: the echo reached the error, scrubbed: {shown}"
            );
        }
    }
    let contents = logs.contents();
    assert!(
        contents.contains("retrying after a retryable failure"),
        "nothing captured: {contents}"
    );
    assert_no_secrets("the logs", &contents, &[FEDERATED]);
}

#[tokio::test]
async fn tokens_with_control_characters_are_invalid_responses() {
    for (token, what) in [
        ("ya29.impersonated\n", "control character"),
        ("ya29.imp\r\nX-Injected: yes", "control character"),
        (
            "\u{1b}]52;c;cHduZWQ=\u{7}ya29",
            "control character (at byte 0)",
        ),
        ("ya29.imp ersonated", "a space"),
    ] {
        let err = refused(granted(token, "2098-12-31T23:00:00Z")).await;
        assert_eq!(err.step(), Step::Impersonation, "{err}");
        assert_eq!(err.kind(), ErrorKind::InvalidResponse, "{err:?}");
        assert!(!err.is_retryable(), "{err:?}");
        let shown = format!("{err} {err:?}");
        assert!(
            shown.contains("`accessToken`") && shown.contains(what),
            "{token:?}: {shown}"
        );
        assert!(!shown.contains("ya29"), "{shown}");
    }
}

#[tokio::test]
async fn an_expire_time_already_past_is_an_error_that_names_the_clock() {
    // An hour before the local clock.
    let past = "2098-12-31T21:00:00Z";
    let cases = [
        // The server's own clock says the token is live: ours is ahead (by two hours).
        ("Wed, 31 Dec 2098 20:00:00 GMT", "about 7200s ahead"),
        // The server's own clock says it had expired already: the server is wrong.
        (
            "Wed, 31 Dec 2098 21:30:00 GMT",
            "not a working IAM Credentials service",
        ),
    ];
    for (date, hint) in cases {
        let answer = granted(IMPERSONATED, past).insert_header("date", date);
        let err = refused(answer).await;
        assert_eq!(err.step(), Step::Impersonation, "{err}");
        assert_eq!(err.kind(), ErrorKind::InvalidResponse, "{err:?}");
        assert!(!err.is_retryable(), "{err:?}");
        assert!(
            err.to_string().contains("expired 3600s before it arrived"),
            "{err}"
        );
        assert!(err.to_string().contains(past), "{err}");
        assert!(
            err.hint().is_some_and(|h| h.contains(hint)),
            "{date}: {err}"
        );
        assert!(!format!("{err:?}").contains(IMPERSONATED), "{err:?}");
    }
    // Without the server's clock: the parser's unit tests (every HTTP server sends Date).
}

#[tokio::test]
async fn a_lifetime_beyond_twelve_hours_is_clamped() {
    let server = server_answering(granted(IMPERSONATED, "2100-01-01T00:00:00Z")).await;
    let token = impersonation(&server).token().await.expect("a token");
    assert_eq!(token.secret().expose_secret(), IMPERSONATED);
    let twelve_hours = Duration::from_secs(12 * 3600);
    assert_eq!(token.expires_at_utc(), Some(now() + twelve_hours));
    let remaining = token.remaining().expect("an expiry");
    assert!(
        remaining <= twelve_hours && remaining > twelve_hours - Duration::from_secs(60),
        "{remaining:?}"
    );

    // Within 12 hours, the server's word stands.
    let server = server_answering(granted(IMPERSONATED, "2099-01-01T09:00:00Z")).await;
    let token = impersonation(&server).token().await.expect("a token");
    assert_eq!(
        token.expires_at_utc(),
        Some(now() + Duration::from_secs(11 * 3600))
    );
}
