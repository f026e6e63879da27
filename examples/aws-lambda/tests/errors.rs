//! How the handler fails: each failure names its step, says what the server said and what to
//! check, and never carries a token or an AWS secret.

#![allow(clippy::panic)]

mod support;

use support::*;

/// Invokes the handler against a Cloud Storage answering `answer` and asserts an `ApiError`
/// whose message holds `parts` and no secret, after `gcs_calls` Cloud Storage calls (`why`)
/// and `sts_calls` token exchanges.
async fn assert_api_error(
    answer: ResponseTemplate,
    parts: &[&str],
    (gcs_calls, why): (usize, &str),
    sts_calls: usize,
) {
    let google = FakeGoogle::start().await;
    let gcs = gcs_answering(answer).await;
    let handler = handler(lambda_credentials(&google, None, None), &gcs);

    let d = invoke_err(&handler, json!({"bucket": BUCKET})).await;
    assert_eq!(d.error_type, "ApiError");
    assert_message_contains(&d, parts);
    assert_no_secrets(&d.error_message);
    assert_eq!(gcs_requests(&gcs).await.len(), gcs_calls, "{why}");
    assert_eq!(google.sts_calls().await, sts_calls);
}

#[tokio::test]
async fn a_token_refused_twice_is_an_api_error_with_a_hint_and_no_secrets() {
    assert_api_error(
        unauthenticated(),
        &[
            "HTTP 401",
            "UNAUTHENTICATED",
            "hint: a freshly issued token was refused too",
        ],
        (2, "exactly one retry after the 401"),
        2,
    )
    .await;
}

#[tokio::test]
async fn permission_denied_names_the_fix_and_leaks_nothing() {
    let denied = ResponseTemplate::new(403).set_body_json(json!({"error": {
        "code": 403,
        "message": "principal://iam.googleapis.com/... does not have storage.objects.list access to the Google Cloud Storage bucket.",
        "errors": [{"reason": "forbidden", "domain": "global"}]
    }}));
    assert_api_error(
        denied,
        &[
            "HTTP 403",
            "storage.objects.list access",
            "roles/storage.objectViewer",
            "(not retryable)",
        ],
        (1, "403 is neither retried nor refreshed"),
        1,
    )
    .await;
}

#[tokio::test]
async fn a_rejected_exchange_is_an_exchange_error_without_aws_secrets() {
    let google = FakeGoogle::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_request",
            "error_description": "The size of mapped attribute google.subject exceeds the 127 bytes limit. Either modify your attribute mapping or the incoming assertion to produce a mapped attribute that is less than 127 bytes."
        })))
        .with_priority(1)
        .mount(google.server())
        .await;
    let gcs = fake_gcs(&["a"]).await;
    let handler = handler(lambda_credentials(&google, None, None), &gcs);

    let d = invoke_err(&handler, json!({"bucket": BUCKET})).await;
    assert_eq!(d.error_type, "ExchangeError", "{}", d.error_message);
    assert_message_contains(&d, &["127 bytes"]);
    assert_no_secrets(&d.error_message);
    assert_no_secrets(&format!("{handler:?}"));
    assert!(
        gcs_requests(&gcs).await.is_empty(),
        "no API call without a token"
    );
}

#[tokio::test]
async fn bad_events_fail_before_any_token_is_fetched() {
    let (google, gcs, handler) = lambda_world(&[]).await;
    let d = invoke_err(&handler, json!({"bucket": "gs://my-bucket/reports"})).await;
    assert_eq!(d.error_type, "ApiError");
    assert_message_contains(&d, &["invalid event: `bucket`"]);
    assert_eq!(google.sts_calls().await, 0);
    assert!(gcs_requests(&gcs).await.is_empty());
}

/// What `Handler::from_environment` says when it fails in `env` (empty if it succeeds).
fn from_environment_error(env: MapEnvironment) -> String {
    Handler::from_environment(Arc::new(env))
        .map(|_| ())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn from_environment_explains_missing_adc_and_a_bad_gcs_url() {
    let shown = from_environment_error(
        lambda_environment()
            .with("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/wif.json")
            .with("HOME", "/nonexistent"),
    );
    assert!(shown.contains("/nonexistent/wif.json"), "{shown}");

    let google = FakeGoogle::start().await;
    let (_dir, env) = adc_environment(&google);
    let shown = from_environment_error(env.with("GCS_BASE_URL", "http://storage.example.com"));
    assert!(
        shown.contains("GCS_BASE_URL") && shown.contains("must be https"),
        "{shown}"
    );
}

#[tokio::test]
async fn from_environment_reads_wif_ca_certs_and_names_it_when_it_is_wrong() {
    let google = FakeGoogle::start().await;
    let (dir, env) = adc_environment(&google);
    let missing = dir.path().join("no-such-ca.pem");
    let shown = from_environment_error(env.with("WIF_CA_CERTS", missing.to_string_lossy()));
    assert!(
        shown.contains("WIF_CA_CERTS") && shown.contains("no-such-ca.pem"),
        "{shown}"
    );

    let (dir, env) = adc_environment(&google);
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let shown = from_environment_error(env.with("WIF_CA_CERTS", not_pem.to_string_lossy()));
    assert!(shown.contains("no certificate"), "{shown}");
}

#[tokio::test]
async fn a_server_repeating_its_page_token_cannot_hold_the_invocation() {
    let google = FakeGoogle::start().await;
    let gcs = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(OBJECTS_PATH))
        .respond_with(objects_page(&[], Some("same")))
        .mount(&gcs)
        .await;
    let handler = handler(lambda_credentials(&google, None, None), &gcs);

    let d = invoke_err(&handler, json!({"bucket": BUCKET})).await;
    assert_eq!(d.error_type, "ApiError");
    assert_message_contains(&d, &["same nextPageToken"]);
    assert_eq!(gcs_requests(&gcs).await.len(), 2);
}
