//! Shared fakes for the handler suites: a Lambda-shaped AWS environment, the AWS
//! `external_account` configuration `gcloud ... create-cred-config --aws` writes, a wiremock Cloud
//! Storage, and helpers to invoke the handler and inspect what reached the fakes.

// Each test binary uses a different subset of these helpers and re-exports.
#![allow(dead_code, unused_imports, clippy::panic)]

pub use std::sync::Arc;

pub use lambda_runtime::{Context, Diagnostic, LambdaEvent};
pub use serde_json::{Value, json};
pub use wif::testing::{FAKE_AUDIENCE, FakeGoogle};
pub use wif::{Credentials, MapEnvironment, RetryPolicy, TokenProvider};
pub use wif_example_aws_lambda::{Handler, ListRequest, ListResponse};
pub use wiremock::matchers::{header, method, path, query_param};
pub use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub const ACCESS_KEY_ID: &str = "ASIAEXAMPLELAMBDA123";
pub const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzSECRETKEY";
pub const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLE+session/token==";
pub const BUCKET: &str = "my-bucket";
pub const OBJECTS_PATH: &str = "/storage/v1/b/my-bucket/o";
pub const CALLER_IDENTITY_URL: &str =
    "https://sts.us-east-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15";

/// What Lambda puts in the environment of every function: the execution role's session.
pub fn lambda_environment() -> MapEnvironment {
    MapEnvironment::new()
        .with("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .with("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
        .with("AWS_SESSION_TOKEN", SESSION_TOKEN)
        .with("AWS_REGION", "us-east-1")
}

/// Where the configuration's metadata URLs point by default: a closed loopback port, so a
/// stray metadata call fails fast and never leaves the machine.
pub const NO_METADATA: &str = "http://127.0.0.1:1";

/// What `gcloud iam workload-identity-pools create-cred-config --aws --enable-imdsv2
/// [--service-account=…]` writes, pointed at the fakes (`metadata` stands in for
/// `http://169.254.169.254`). With env credentials and an env region, as on Lambda, the
/// metadata URLs must never be contacted.
pub fn aws_config(
    google: &FakeGoogle,
    metadata: &str,
    impersonate: Option<&str>,
    quota_project: Option<&str>,
) -> String {
    let mut config = json!({
        "universe_domain": "googleapis.com",
        "type": "external_account",
        "audience": FAKE_AUDIENCE,
        "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
        "token_url": google.token_url(),
        "credential_source": {
            "environment_id": "aws1",
            "region_url": format!("{metadata}/latest/meta-data/placement/availability-zone"),
            "url": format!("{metadata}/latest/meta-data/iam/security-credentials"),
            "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
            "imdsv2_session_token_url": format!("{metadata}/latest/api/token")
        }
    });
    if let Some(email) = impersonate {
        config["service_account_impersonation_url"] = json!(google.impersonation_url(email));
    }
    if let Some(project) = quota_project {
        config["quota_project_id"] = json!(project);
    }
    config.to_string()
}

pub fn lambda_credentials(
    google: &FakeGoogle,
    impersonate: Option<&str>,
    quota: Option<&str>,
) -> Credentials {
    lambda_credentials_with_metadata(google, NO_METADATA, impersonate, quota)
}

pub fn lambda_credentials_with_metadata(
    google: &FakeGoogle,
    metadata: &str,
    impersonate: Option<&str>,
    quota: Option<&str>,
) -> Credentials {
    Credentials::builder()
        .environment(Arc::new(lambda_environment()))
        .config_json(&aws_config(google, metadata, impersonate, quota))
        .and_then(|b| b.build())
        .unwrap_or_else(|e| panic!("credentials from an AWS configuration: {e}"))
}

pub fn handler(creds: Credentials, gcs: &MockServer) -> Handler {
    let http =
        wif::layers::core::http::default_client().unwrap_or_else(|e| panic!("HTTP client: {e}"));
    Handler::new(creds, http, &gcs.uri())
        .unwrap_or_else(|e| panic!("handler: {e}"))
        // Fast, deterministic retries for the 5xx test.
        .with_retry_policy(
            RetryPolicy::default()
                .with_backoff(
                    std::time::Duration::from_millis(1),
                    std::time::Duration::from_millis(5),
                )
                .without_jitter(),
        )
}

pub fn event(payload: Value) -> LambdaEvent<ListRequest> {
    let request: ListRequest =
        serde_json::from_value(payload).unwrap_or_else(|e| panic!("event payload: {e}"));
    LambdaEvent::new(request, Context::default())
}

pub fn objects_page(names: &[&str], next: Option<&str>) -> ResponseTemplate {
    let mut body = json!({
        "kind": "storage#objects",
        "items": names.iter().map(|n| json!({"name": n, "bucket": BUCKET, "size": "1"})).collect::<Vec<_>>(),
    });
    if let Some(token) = next {
        body["nextPageToken"] = json!(token);
    }
    ResponseTemplate::new(200).set_body_json(body)
}

/// The fake Google, a Cloud Storage listing `names`, and the handler on the Lambda's
/// credentials (no impersonation, no quota project) calling them.
pub async fn lambda_world(names: &[&str]) -> (FakeGoogle, MockServer, Handler) {
    let google = FakeGoogle::start().await;
    let gcs = fake_gcs(names).await;
    let handler = handler(lambda_credentials(&google, None, None), &gcs);
    (google, gcs, handler)
}

pub async fn fake_gcs(names: &[&str]) -> MockServer {
    let gcs = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(OBJECTS_PATH))
        .respond_with(objects_page(names, None))
        .named("gcs objects.list")
        .mount(&gcs)
        .await;
    gcs
}

/// A Cloud Storage fake answering every GET with `response`.
pub async fn gcs_answering(response: ResponseTemplate) -> MockServer {
    let gcs = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(response)
        .mount(&gcs)
        .await;
    gcs
}

/// A Cloud Storage fake where `first` takes precedence (priority 1) and objects.list otherwise
/// answers `page`.
pub async fn gcs_preferring(first: Mock, page: ResponseTemplate) -> MockServer {
    let gcs = MockServer::start().await;
    first.with_priority(1).mount(&gcs).await;
    Mock::given(method("GET"))
        .and(path(OBJECTS_PATH))
        .respond_with(page)
        .mount(&gcs)
        .await;
    gcs
}

/// Writes the AWS configuration (no impersonation) as an ADC file in a new temp dir, and returns
/// the dir (keep it alive) with the Lambda environment pointing `GOOGLE_APPLICATION_CREDENTIALS`
/// at the file.
pub fn adc_environment(google: &FakeGoogle) -> (tempfile::TempDir, MapEnvironment) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let config_path = dir.path().join("wif.json");
    std::fs::write(&config_path, aws_config(google, NO_METADATA, None, None))
        .unwrap_or_else(|e| panic!("write config: {e}"));
    let env = lambda_environment().with(
        "GOOGLE_APPLICATION_CREDENTIALS",
        config_path.to_string_lossy(),
    );
    (dir, env)
}

/// Asserts the failure's message holds every one of `needles`.
#[track_caller]
pub fn assert_message_contains(d: &Diagnostic, needles: &[&str]) {
    for needle in needles {
        assert!(
            d.error_message.contains(needle),
            "{needle:?} missing: {}",
            d.error_message
        );
    }
}

pub async fn gcs_requests(gcs: &MockServer) -> Vec<Request> {
    gcs.received_requests().await.unwrap_or_default()
}

pub fn bearer(request: &Request) -> Option<&str> {
    request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
}

pub fn query(request: &Request, key: &str) -> Option<String> {
    request
        .url
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

pub async fn sts_forms(google: &FakeGoogle) -> Vec<Vec<(String, String)>> {
    google
        .server()
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == "/v1/token")
        .map(|r| url::form_urlencoded::parse(&r.body).into_owned().collect())
        .collect()
}

/// Fails if `shown` holds any credential of the chain.
pub fn assert_no_secrets(shown: &str) {
    for secret in [
        SECRET_ACCESS_KEY,
        SESSION_TOKEN,
        "federated-1",
        "federated-2",
        "impersonated-1",
        "impersonated-2",
        "AWS4-HMAC-SHA256",
    ] {
        assert!(!shown.contains(secret), "{secret:?} leaked into: {shown}");
    }
}

pub async fn invoke_ok(handler: &Handler, payload: Value) -> ListResponse {
    match handler.invoke(event(payload)).await {
        Ok(response) => response,
        Err(d) => panic!("invocation failed: {}: {}", d.error_type, d.error_message),
    }
}

pub async fn invoke_err(handler: &Handler, payload: Value) -> Diagnostic {
    match handler.invoke(event(payload)).await {
        Ok(response) => panic!("invocation should fail, got {response:?}"),
        Err(d) => d,
    }
}

pub fn unauthenticated() -> ResponseTemplate {
    ResponseTemplate::new(401).set_body_json(json!({"error": {
        "code": 401,
        "message": "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        "status": "UNAUTHENTICATED"
    }}))
}
