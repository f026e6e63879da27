//! wiremock tests of the `generateAccessToken` call: the exact request, response parsing, error
//! mapping with hints, retries, timeouts, and that no token reaches Debug, Display or logs.

use std::time::{Duration, SystemTime};

use serde_json::json;
use time::macros::datetime;
use wif_core::{
    AccessToken, CLOUD_PLATFORM_SCOPE, Error, ErrorKind, FixedClock, RetryPolicy,
    StaticTokenProvider, Step, TokenProvider, async_trait,
};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;

const SA: &str = "writer@proj.iam.gserviceaccount.com";
const FEDERATED: &str = "federated-token-f3d3r4t3d";
const IMPERSONATED: &str = "ya29.impersonated-s3cr3t";
const EXPIRES: &str = "2099-01-01T00:00:00Z";

/// The wall clock of these tests: two hours before [`EXPIRES`].
fn now() -> SystemTime {
    unix(datetime!(2098-12-31 22:00 UTC))
}

fn sa_path() -> String {
    format!("/v1/projects/-/serviceAccounts/{SA}:generateAccessToken")
}

fn fast_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(attempts)
        .with_backoff(Duration::from_millis(1), Duration::from_millis(1))
        .without_jitter()
}

/// An impersonation of `SA` against `server`, with the static federated token and 3 attempts.
fn builder(server: &MockServer) -> ImpersonationBuilder {
    Impersonation::builder()
        .federated(StaticTokenProvider::new(AccessToken::new(FEDERATED)))
        .url(format!("{}{}", server.uri(), sa_path()))
        .http_client(wif_core::http::default_client().unwrap())
        .retry_policy(fast_retry(3))
        .clock(Arc::new(FixedClock(now())))
}

/// Builds `builder`, which must be a valid configuration, and asks it for a token.
async fn token_of(builder: ImpersonationBuilder) -> Result<AccessToken, Error> {
    builder.build().expect("valid configuration").token().await
}

fn granted(expire_time: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"accessToken": IMPERSONATED, "expireTime": expire_time}))
}

fn unix(at: time::OffsetDateTime) -> SystemTime {
    SystemTime::UNIX_EPOCH
        + Duration::new(
            u64::try_from(at.unix_timestamp()).expect("after 1970"),
            at.nanosecond(),
        )
}

/// Answers every POST to `server` with `response` (after any mock mounted before).
async fn answer(server: &MockServer, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .respond_with(response)
        .mount(server)
        .await;
}

/// Answers the next POST to `server` with `response`, then lets later mocks answer.
async fn answer_once(server: &MockServer, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .respond_with(response)
        .up_to_n_times(1)
        .mount(server)
        .await;
}

/// How many requests `server` has received.
/// Asserts IAM was called exactly `calls` times; `why` names the case.
async fn assert_calls(server: &MockServer, calls: usize, why: &str) {
    let seen = server.received_requests().await.map(|r| r.len());
    assert_eq!(seen, Some(calls), "{why}");
}

fn assert_no_secrets(shown: &str) {
    assert!(
        !shown.contains(FEDERATED),
        "federated token leaked: {shown}"
    );
    assert!(
        !shown.contains(IMPERSONATED),
        "impersonated token leaked: {shown}"
    );
}

#[tokio::test]
async fn posts_the_documented_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(sa_path()))
        .and(header(
            "authorization",
            format!("Bearer {FEDERATED}").as_str(),
        ))
        .and(header("content-type", "application/json"))
        .and(body_json(
            json!({"scope": [CLOUD_PLATFORM_SCOPE], "lifetime": "3600s"}),
        ))
        .respond_with(granted(EXPIRES))
        .expect(1)
        .mount(&server)
        .await;

    let imp = builder(&server).build().expect("valid configuration");
    let token = imp.token().await.expect("impersonation succeeds");

    assert_eq!(token.secret().expose_secret(), IMPERSONATED);
    assert_eq!(token.token_type(), "Bearer");
    assert_eq!(
        token.expires_at_utc(),
        Some(unix(datetime!(2099-01-01 0:00 UTC)))
    );
    assert!(
        token
            .remaining()
            .is_some_and(|r| r > Duration::from_secs(3600))
    );

    let requests = server.received_requests().await.expect("recording is on");
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert!(
        !sent.headers.contains_key("x-goog-user-project"),
        "no quota project configured, none sent: {:?}",
        sent.headers
    );
    // Go's compact form: key order scope, lifetime; no delegates when there are none.
    assert_eq!(
        String::from_utf8_lossy(&sent.body),
        format!(r#"{{"scope":["{CLOUD_PLATFORM_SCOPE}"],"lifetime":"3600s"}}"#)
    );
}

#[tokio::test]
async fn sends_quota_project_delegates_scopes_and_lifetime() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(sa_path()))
        .and(header("x-goog-user-project", "billing-proj"))
        .respond_with(granted(EXPIRES))
        .expect(1)
        .mount(&server)
        .await;

    let imp = builder(&server)
        .scopes(["https://www.googleapis.com/auth/bigquery", "openid"])
        .lifetime(Duration::from_secs(7200))
        .delegates([
            "d1@p.iam.gserviceaccount.com",
            "projects/-/serviceAccounts/d2@p",
        ])
        .quota_project("billing-proj")
        .build()
        .expect("valid configuration");
    imp.token().await.expect("impersonation succeeds");

    let requests = server.received_requests().await.expect("recording is on");
    assert_eq!(
        String::from_utf8_lossy(&requests[0].body),
        r#"{"scope":["https://www.googleapis.com/auth/bigquery","openid"],"lifetime":"7200s","delegates":["projects/-/serviceAccounts/d1@p.iam.gserviceaccount.com","projects/-/serviceAccounts/d2@p"]}"#
    );
}

#[tokio::test]
async fn expire_time_accepts_rfc3339_and_rejects_the_rest() {
    let base = unix(datetime!(2099-01-01 0:00 UTC));
    let table: &[(&str, Option<SystemTime>)] = &[
        ("2099-01-01T00:00:00Z", Some(base)),
        (
            "2099-01-01T00:00:00.5Z",
            Some(base + Duration::from_millis(500)),
        ),
        (
            "2099-01-01T00:00:00.123456789Z",
            Some(base + Duration::from_nanos(123_456_789)),
        ),
        ("2099-01-01T02:00:00+02:00", Some(base)),
        (
            "2098-12-31T19:30:00.25-04:30",
            Some(base + Duration::from_millis(250)),
        ),
        // Beyond IAM's 12 hours: clamped to 12 hours from now.
        (
            "2099-01-01T12:00:00Z",
            Some(unix(datetime!(2099-01-01 10:00 UTC))),
        ),
        ("garbage", None),
        ("2099-01-01 00:00:00", None),
        ("2099-01-01T00:00:00", None),
        ("1969-12-31T23:59:59Z", None),
        ("", None),
    ];
    let server = MockServer::start().await;
    let imp = builder(&server).build().expect("valid configuration");
    for (expire_time, want) in table {
        server.reset().await;
        answer(&server, granted(expire_time)).await;
        let got = imp.token().await;
        match want {
            Some(want) => {
                let token = got.unwrap_or_else(|e| panic!("{expire_time:?}: {e}"));
                assert_eq!(token.expires_at_utc(), Some(*want), "{expire_time:?}");
            }
            None => {
                let err = got.expect_err(expire_time);
                assert_eq!(
                    err.kind(),
                    ErrorKind::InvalidResponse,
                    "{expire_time:?}: {err:?}"
                );
                assert_eq!(err.step(), Step::Impersonation);
                assert!(!err.is_retryable(), "{err:?}");
                assert!(err.to_string().contains("expireTime"), "{err}");
                assert_no_secrets(&format!("{err} {err:?}"));
            }
        }
    }
}

/// HTTP servers send `Date`, so only the parser sees an answer without the server's clock: an
/// expiry already past can then only be checked against this machine's.
#[test]
fn an_expired_answer_without_a_server_date_blames_this_clock() {
    let body = json!({"accessToken": IMPERSONATED, "expireTime": "2001-01-01T00:00:00Z"});
    let err = parse_response(body.to_string().as_bytes(), now(), None).expect_err("already past");
    assert_eq!(err.kind(), ErrorKind::InvalidResponse, "{err:?}");
    assert!(
        err.hint()
            .is_some_and(|h| h.contains("check this machine's clock")),
        "{err}"
    );
    assert!(!format!("{err:?}").contains(IMPERSONATED), "{err:?}");
}

#[tokio::test]
async fn malformed_success_bodies_are_invalid_responses() {
    let bodies = [
        json!({"expireTime": EXPIRES}).to_string(),
        json!({"accessToken": "", "expireTime": EXPIRES}).to_string(),
        json!({"accessToken": null, "expireTime": EXPIRES}).to_string(),
        json!({"accessToken": 42, "expireTime": EXPIRES}).to_string(),
        json!({"accessToken": IMPERSONATED}).to_string(),
        json!({"accessToken": IMPERSONATED, "expireTime": 4070908800u64}).to_string(),
        format!("accessToken={IMPERSONATED}"),
    ];
    let server = MockServer::start().await;
    let imp = builder(&server).build().expect("valid configuration");
    for body in bodies {
        server.reset().await;
        answer(
            &server,
            ResponseTemplate::new(200).set_body_string(body.clone()),
        )
        .await;
        let err = imp.token().await.expect_err(&body);
        assert_eq!(err.kind(), ErrorKind::InvalidResponse, "{body}: {err:?}");
        assert_eq!(err.step(), Step::Impersonation, "{body}");
        assert_no_secrets(&format!("{err} {err:?}"));
        assert_calls(
            &server,
            1,
            &format!("{body}: an invalid answer is not retried"),
        )
        .await;
    }
}

fn rpc_error(code: u16, status: &str, message: &str, reason: Option<&str>) -> serde_json::Value {
    let mut details = vec![];
    if let Some(reason) = reason {
        details.push(json!({
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": "iam.googleapis.com"
        }));
    }
    json!({"error": {"code": code, "message": message, "status": status, "details": details}})
}

/// IAM's answer: HTTP `code` with the matching [`rpc_error`] body.
fn refused(code: u16, status: &str, message: &str, reason: Option<&str>) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_json(rpc_error(code, status, message, reason))
}

#[tokio::test]
async fn http_errors_name_the_step_and_carry_hints_and_are_not_retried() {
    let table = [
        (
            rpc_error(
                403,
                "PERMISSION_DENIED",
                "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
                Some("IAM_PERMISSION_DENIED"),
            ),
            "The STS exchange succeeded; impersonation was denied. Grant roles/iam.workloadIdentityUser on writer@proj.iam.gserviceaccount.com",
            &crate::causes::MISSING_WORKLOAD_IDENTITY_USER,
        ),
        (
            rpc_error(
                403,
                "PERMISSION_DENIED",
                "IAM Service Account Credentials API has not been used in project 123 before or it is disabled.",
                Some("SERVICE_DISABLED"),
            ),
            "iamcredentials.googleapis.com",
            &crate::causes::IAM_CREDENTIALS_API_DISABLED,
        ),
        (
            rpc_error(404, "NOT_FOUND", "Service account not found.", None),
            "does not exist, or its email is misspelled",
            &crate::causes::SERVICE_ACCOUNT_NOT_FOUND,
        ),
        (
            rpc_error(
                400,
                "INVALID_ARGUMENT",
                "Request contains an invalid argument.",
                None,
            ),
            "constraints/iam.allowServiceAccountCredentialLifetimeExtension",
            &crate::causes::IMPERSONATION_REQUEST_INVALID,
        ),
        (
            rpc_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials.",
                None,
            ),
            "rejected the federated token",
            &crate::causes::FEDERATED_TOKEN_REJECTED,
        ),
    ];
    let server = MockServer::start().await;
    let imp = builder(&server).build().expect("valid configuration");
    for (body, want_hint, want_cause) in table {
        let status = body["error"]["code"].as_u64().expect("code") as u16;
        server.reset().await;
        answer(&server, ResponseTemplate::new(status).set_body_json(&body)).await;
        let err = imp.token().await.expect_err("error status");
        assert_eq!(err.step(), Step::Impersonation, "{err:?}");
        assert_eq!(err.kind(), ErrorKind::Http, "{err:?}");
        assert_eq!(err.status(), Some(status));
        assert!(!err.is_retryable(), "{status}: {err:?}");
        assert_eq!(
            err.server_error().and_then(|s| s.code.as_deref()),
            body["error"]["status"].as_str()
        );
        let hint = err.hint().unwrap_or_default();
        assert!(hint.contains(want_hint), "{status}: hint {hint:?}");
        assert_eq!(err.known_cause(), Some(want_cause), "{status}");
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!(
                "service account impersonation failed: POST {}{}: HTTP {status}",
                server.uri(),
                sa_path()
            )),
            "{shown}"
        );
        // A 401 is tried once more with a new federated token (here the same static one).
        let expected = if status == 401 { 2 } else { 1 };
        assert_calls(&server, expected, &format!("{status} must not be retried")).await;
    }
}

/// A federated provider handing out `federated-1`, `federated-2`, … and counting invalidations.
#[derive(Debug, Default)]
struct Renewing {
    issued: std::sync::atomic::AtomicU32,
    invalidated: std::sync::atomic::AtomicU32,
}

#[async_trait]
impl TokenProvider for Renewing {
    async fn token(&self) -> Result<AccessToken, Error> {
        use std::sync::atomic::Ordering::SeqCst;
        // A cache: a new token only after an invalidation.
        let n = self.invalidated.load(SeqCst) + 1;
        self.issued.fetch_add(1, SeqCst);
        Ok(AccessToken::new(format!("federated-{n}")))
    }
    fn invalidate(&self) {
        self.invalidated
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_refused_federated_token_is_replaced_once() {
    let server = MockServer::start().await;
    // IAM refuses the first federated token (revoked or expired early at Google)…
    Mock::given(method("POST"))
        .and(header("authorization", "Bearer federated-1"))
        .respond_with(refused(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. The access token has expired.",
            Some("ACCESS_TOKEN_EXPIRED"),
        ))
        .mount(&server)
        .await;
    // …and accepts a new one.
    Mock::given(method("POST"))
        .and(header("authorization", "Bearer federated-2"))
        .respond_with(granted(EXPIRES))
        .mount(&server)
        .await;
    let federated = Arc::new(Renewing::default());
    let token = token_of(builder(&server).federated_arc(federated.clone()))
        .await
        .expect("healed with a new federated token");
    assert_eq!(token.secret().expose_secret(), IMPERSONATED);
    assert_eq!(
        federated
            .invalidated
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_calls(&server, 2, "the refused token, then the new one").await;
}

#[tokio::test]
async fn unavailable_is_retried_until_success() {
    let server = MockServer::start().await;
    answer_once(
        &server,
        ResponseTemplate::new(503).set_body_string("<html>overloaded</html>"),
    )
    .await;
    answer(&server, granted(EXPIRES)).await;

    let token = token_of(builder(&server))
        .await
        .expect("second attempt succeeds");
    assert_eq!(token.secret().expose_secret(), IMPERSONATED);

    let requests = server.received_requests().await.expect("recording is on");
    assert_eq!(requests.len(), 2, "one retry after the 503");
    for r in &requests {
        assert_eq!(
            r.headers.get("authorization").and_then(|v| v.to_str().ok()),
            Some(format!("Bearer {FEDERATED}").as_str())
        );
    }
}

#[tokio::test]
async fn retries_stop_at_the_policy_limit() {
    let server = MockServer::start().await;
    answer(&server, ResponseTemplate::new(500)).await;
    let err = token_of(builder(&server).retry_policy(fast_retry(2)))
        .await
        .expect_err("always 500");
    assert_eq!(err.status(), Some(500));
    assert!(err.is_retryable());
    assert_calls(&server, 2, "retried up to the policy's attempts").await;
}

#[derive(Debug)]
struct RejectedExchange;

#[async_trait]
impl TokenProvider for RejectedExchange {
    async fn token(&self) -> Result<AccessToken, Error> {
        Err(Error::http(
            Step::Exchange,
            400,
            br#"{"error":"unauthorized_client","error_description":"The given credential is rejected by the attribute condition."}"#,
        )
        .with_hint("check the attribute condition"))
    }
}

#[tokio::test]
async fn federated_errors_pass_through_unchanged() {
    let server = MockServer::start().await;
    let imp = builder(&server)
        .federated(RejectedExchange)
        .build()
        .expect("valid configuration");
    let err = imp.token().await.expect_err("the exchange fails");
    let original = RejectedExchange.token().await.expect_err("always fails");
    assert_eq!(err.step(), Step::Exchange);
    assert_eq!(err.to_string(), original.to_string());
    assert_eq!(err.hint(), Some("check the attribute condition"));
    assert_calls(&server, 0, "no impersonation without a federated token").await;
}

#[tokio::test]
async fn each_attempt_is_cut_off_by_the_timeout() {
    let server = MockServer::start().await;
    answer(&server, granted(EXPIRES).set_delay(Duration::from_secs(5))).await;
    let started = std::time::Instant::now();
    let err = token_of(
        builder(&server)
            .timeout(Duration::from_millis(200))
            .retry_policy(fast_retry(2)),
    )
    .await
    .expect_err("the server is too slow");
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.step(), Step::Impersonation);
    assert!(
        err.to_string().contains("timed out"),
        "the message says what happened: {err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "two 200 ms attempts, not the 5 s delay: {:?}",
        started.elapsed()
    );
    assert_calls(&server, 2, "a timeout is retried").await;
}

#[tokio::test]
async fn tokens_never_reach_debug_display_or_trace_logs() {
    let logs = wif_core::testing::LogCapture::global();

    let server = MockServer::start().await;
    answer_once(&server, ResponseTemplate::new(503)).await;
    answer_once(&server, granted(EXPIRES)).await;
    answer(
        &server,
        refused(
            403,
            "PERMISSION_DENIED",
            "Permission 'iam.serviceAccounts.getAccessToken' denied",
            Some("IAM_PERMISSION_DENIED"),
        ),
    )
    .await;

    let imp = builder(&server)
        .quota_project("billing-proj")
        .build()
        .expect("valid configuration");
    let token = imp.token().await.expect("succeeds after one retry");
    let err = imp.token().await.expect_err("then denied");

    let shown = format!("{imp:?} {token:?} {err} {err:?} {:?}", imp.clone());
    assert_no_secrets(&shown);
    assert!(
        shown.contains(SA),
        "Debug names the service account: {shown}"
    );

    let logs = logs.contents();
    assert_no_secrets(&logs);
    for want in [
        format!("service_account={SA}"),
        "attempt=1".to_owned(),
        "attempt=2".to_owned(),
        "status=503".to_owned(),
        "status=200".to_owned(),
        "status=403".to_owned(),
    ] {
        assert!(logs.contains(&want), "logs lack {want:?}:\n{logs}");
    }
}
