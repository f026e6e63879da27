//! How the exchange fails: STS errors with hints, retries of retryable failures only, per-attempt
//! timeouts, source errors passing through, and secrets never showing in Debug, Display, errors
//! or tracing output.

// Test helpers outside #[test] fns: panicking with a message is how they report.
#![allow(clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use secrecy::SecretString;
use serde_json::json;
use support::*;
use wif_core::testing::{assert_hint_says, assert_says};
use wif_core::{ErrorKind, Step, SubjectToken, TokenProvider};
use wiremock::{MockServer, ResponseTemplate};

#[tokio::test]
async fn known_sts_errors_carry_the_server_words_and_a_hint() {
    // (status, error, error_description, words of the hint)
    let cases: &[(u16, &str, &str, &str)] = &[
        (
            400,
            "unauthorized_client",
            "The given credential is rejected by the attribute condition.",
            "attribute condition",
        ),
        (
            400,
            "invalid_request",
            "Invalid value for \"audience\". This value should be the full resource name of the Identity Provider. See https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token for the list of possible formats.",
            "project number",
        ),
        (
            400,
            "invalid_target",
            "The target service indicated by the \"audience\" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn't exist.",
            "case-sensitive",
        ),
        (
            400,
            "invalid_request",
            "Invalid subject_token_type: urn:ietf:params:oauth:token-type:jwt is not supported by this provider.",
            "provider kind",
        ),
        (400, "invalid_grant", "The ID token has expired.", "clock"),
        (
            400,
            "invalid_grant",
            "Invalid \"iat\" claim: token issued in the future.",
            "clock",
        ),
        (
            400,
            "invalid_grant",
            "Received invalid AWS response of type SignatureDoesNotMatch: Signature expired: 20260101T000000Z is now earlier than 20260101T001000Z",
            "clock is wrong",
        ),
        (
            400,
            "invalid_grant",
            "Received invalid AWS response of type SignatureDoesNotMatch with error message: The request signature we calculated does not match the signature you provided.",
            "region",
        ),
        (
            400,
            "invalid_request",
            "The size of mapped attribute google.subject exceeds the 127 bytes limit. Either modify your attribute mapping or the incoming assertion to produce a mapped attribute that is less than 127 bytes.",
            "attribute mapping",
        ),
        (
            400,
            "invalid_grant",
            "The audience in ID Token [https://example.com] does not match the expected audience.",
            "allowed audiences",
        ),
        (
            429,
            "quota_exceeded",
            "The request was throttled due to rate limit: sts.googleapis.com/requests. Please retry after a few seconds.",
            "cache tokens",
        ),
    ];
    for (status, code, description, hint_words) in cases {
        let server = sts_answering(sts_error(*status, code, description)).await;
        let sts = builder(&server, TestSource::new(SUBJECT))
            .retry_policy(quick_retries(1))
            .build()
            .expect("valid config");
        let err = sts.token().await.expect_err("STS refuses");

        assert_eq!(err.step(), Step::Exchange, "{code}");
        assert_eq!(err.kind(), ErrorKind::Http, "{code}");
        assert_eq!(err.status(), Some(*status), "{code}");
        let server_words = err.server_error().expect("server words parsed");
        assert_eq!(server_words.code.as_deref(), Some(*code));
        assert_eq!(server_words.message.as_deref(), Some(*description));
        let hint = err
            .hint()
            .unwrap_or_else(|| panic!("no hint for {code}: {description}"));
        assert!(!hint.trim().is_empty());
        assert!(hint.contains(hint_words), "{code}: {hint}");
        let shown = err.to_string();
        assert_says(&shown, &[code, description, "hint: ", "/v1/token"]);
        assert_eq!(err.is_retryable(), *status == 429, "{shown}");
        assert_no_secrets(&format!("{err} {err:?}"));
    }
}

#[tokio::test]
async fn errors_keep_the_server_date_for_clock_checks() {
    let server = sts_answering(
        sts_error(400, "invalid_grant", "Token expired.")
            .insert_header("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
    )
    .await;
    let sts = builder(&server, TestSource::new(SUBJECT))
        .retry_policy(quick_retries(1))
        .build()
        .expect("valid config");
    let err = sts.token().await.expect_err("STS refuses");
    assert_eq!(
        err.server_date(),
        Some(std::time::UNIX_EPOCH + Duration::from_secs(784_111_777)),
        "{err:?}"
    );
}

#[tokio::test]
async fn audience_hints_show_the_audience_that_was_sent() {
    let (_server, err) = refused_exchange(sts_error(
        400,
        "invalid_target",
        "The target service indicated by the \"audience\" parameters is invalid.",
    ))
    .await;
    assert_hint_says(&err, WORKLOAD_AUDIENCE);
}

#[tokio::test]
async fn non_json_502_is_retried_then_succeeds() {
    let bad_gateway = ResponseTemplate::new(502).set_body_string("<html>Bad Gateway</html>");
    let server = sts_failing_first(1, bad_gateway).await;
    let sts = exchange(&server);
    let token = sts.token().await.expect("second attempt succeeds");
    assert!(token.remaining().is_some());
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 2, "one failure, one retry");
    assert_eq!(
        form_of(&reqs[0]),
        form_of(&reqs[1]),
        "the retry resends the same form"
    );
}

#[tokio::test]
async fn quota_429_is_retried() {
    let throttled = ResponseTemplate::new(429).set_body_json(json!({"error": "quota_exceeded"}));
    let server = sts_failing_first(2, throttled).await;
    let sts = exchange(&server);
    sts.token().await.expect("third attempt succeeds");
    assert_eq!(requests(&server).await.len(), 3);
}

#[tokio::test]
async fn persistent_503_gives_up_after_the_policy_attempts() {
    let (server, err) = refused_exchange(ResponseTemplate::new(503)).await;
    assert_eq!(err.status(), Some(503));
    assert!(err.is_retryable());
    assert_eq!(requests(&server).await.len(), 3);
}

#[tokio::test]
async fn a_400_is_not_retried() {
    let (server, err) = refused_exchange(sts_error(
        400,
        "invalid_grant",
        "Unable to parse the ID Token.",
    ))
    .await;
    assert!(!err.is_retryable(), "{err}");
    assert_eq!(err.hint(), None, "no hint for an unknown complaint: {err}");
    assert_eq!(requests(&server).await.len(), 1, "not retried");
}

#[tokio::test]
async fn a_hanging_server_is_a_retryable_timeout_per_attempt() {
    let server = sts_answering(success_body(json!(3600)).set_delay(Duration::from_secs(10))).await;
    let sts = builder(&server, TestSource::new(SUBJECT))
        .retry_policy(quick_retries(2))
        .timeout(Duration::from_millis(200))
        .build()
        .expect("valid config");
    let started = std::time::Instant::now();
    let err = sts.token().await.expect_err("must time out");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.is_timeout() && err.is_retryable(), "{err}");
    assert_eq!(err.step(), Step::Exchange);
    assert!(err.to_string().contains("0.2s"), "{err}");
    assert_eq!(
        requests(&server).await.len(),
        2,
        "each attempt timed out separately"
    );
}

#[tokio::test]
async fn source_errors_pass_through_without_a_request() {
    let server = MockServer::start().await;
    let sts = builder(&server, TestSource::failing())
        .build()
        .expect("valid config");
    let err = sts.token().await.expect_err("the source fails");
    assert_eq!(err.step(), Step::Source);
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.to_string().contains("/var/run/token"), "{err}");
    assert!(requests(&server).await.is_empty());
}

#[tokio::test]
async fn an_empty_subject_token_fails_before_the_network() {
    let server = MockServer::start().await;
    let sts = builder(&server, TestSource::new(""))
        .build()
        .expect("valid config");
    let err = sts.token().await.expect_err("empty subject token");
    assert_eq!(err.step(), Step::Source);
    assert_eq!(err.kind(), ErrorKind::InvalidToken);
    let err = sts
        .exchange(&SubjectToken::new(""))
        .await
        .expect_err("empty");
    assert_eq!(err.kind(), ErrorKind::InvalidToken);
    assert!(requests(&server).await.is_empty());
}

#[tokio::test]
async fn debug_and_display_never_show_secrets() {
    // A server that echoes the subject token in its complaint must not leak it through us.
    let server = sts_answering(sts_error(
        400,
        "invalid_grant",
        &format!("Unable to parse subject token {SUBJECT}"),
    ))
    .await;
    let b = builder(&server, TestSource::new(SUBJECT))
        .client_auth("username", Some(SecretString::from(CLIENT_SECRET)));
    let shown_builder = format!("{b:?}");
    assert!(shown_builder.contains("[REDACTED]"), "{shown_builder}");
    assert_no_secrets(&shown_builder);

    let sts = b.build().expect("valid config");
    let shown = format!("{sts:?}");
    assert!(
        shown.contains("username") && shown.contains("[REDACTED]"),
        "{shown}"
    );
    assert_no_secrets(&shown);

    let err = sts.token().await.expect_err("STS refuses");
    let shown = format!("{err}\n{err:?}");
    assert!(
        shown.contains("Unable to parse subject token [REDACTED]"),
        "{shown}"
    );
    assert_no_secrets(&shown);
    // The request itself did carry the secret.
    let reqs = requests(&server).await;
    assert_eq!(
        form_of(&reqs[0]).get("subject_token").map(String::as_str),
        Some(SUBJECT)
    );
}

#[tokio::test]
async fn tracing_at_trace_level_never_shows_secrets() {
    let captured = wif_core::testing::LogCapture::global();

    let echo = ResponseTemplate::new(503).set_body_string(format!("echo {SUBJECT}"));
    let server = sts_failing_first(1, echo).await;
    let sts = builder(&server, TestSource::new(SUBJECT))
        .client_auth("username", Some(SecretString::from(CLIENT_SECRET)))
        .build()
        .expect("valid config");
    let token = sts.token().await.expect("second attempt succeeds");
    tracing::info!(?token, "got a token");

    let logs = captured.contents();
    // The spans, each attempt with its status, and the audience.
    assert_says(
        &logs,
        &[
            "sts_exchange",
            "sts_attempt{attempt=1 status=503}",
            "sts_attempt{attempt=2 status=200}",
            WORKLOAD_AUDIENCE,
        ],
    );
    assert_no_secrets(&logs);
    assert!(!logs.contains("dXNlcm5hbWU6"), "basic auth leaked:\n{logs}");
}
