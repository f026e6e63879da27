//! What the emulator's integration suites share: a running emulator, tokens as its chain issues
//! them, and reading its answers back (tokeninfo, JSON bodies, Google's error reasons).

// Each suite compiles this module on its own and uses only part of it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::{RequestBuilder, Response};
use serde_json::Value;
use wif_emulator::{Emulator, EmulatorConfig, Issued, RunningEmulator, TokenKind};

/// The scope every chain in these suites asks for.
pub const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

/// The service account the BigQuery and Storage suites act as.
pub const WRITER: &str = "writer@wif-demo.iam.gserviceaccount.com";

/// An emulator of `config`'s world, serving on loopback.
pub async fn start(config: EmulatorConfig) -> RunningEmulator {
    Emulator::new(config)
        .start_local()
        .await
        .expect("emulator starts")
}

/// An emulator of the default world with `edit` applied.
pub async fn start_with(edit: impl FnOnce(&mut EmulatorConfig)) -> RunningEmulator {
    let mut config = EmulatorConfig::default();
    edit(&mut config);
    start(config).await
}

/// The rows of the default project's `demo.events` table.
pub fn demo_events(emulator: &RunningEmulator) -> Vec<Value> {
    emulator.table_rows("demo", "events").expect("table")
}

/// An emulator of the default world.
pub async fn start_default() -> RunningEmulator {
    start(EmulatorConfig::default()).await
}

/// A token for the service account `email` with the cloud-platform scope, valid for an hour: what
/// IAM Credentials hands the chain at its end.
pub fn service_account_token(emulator: &RunningEmulator, email: &str) -> String {
    emulator
        .state()
        .issue(
            TokenKind::ServiceAccount,
            email.into(),
            vec![],
            vec![CLOUD_PLATFORM.into()],
            Duration::from_secs(3600),
        )
        .0
}

/// A service-account token for [`WRITER`] (see [`service_account_token`]).
pub fn writer_token(emulator: &RunningEmulator) -> String {
    service_account_token(emulator, WRITER)
}

/// What the emulator recorded for `token`, presented as a bearer where a `kind` token is
/// accepted; panics when the emulator refuses it.
pub fn authorize(emulator: &RunningEmulator, token: &str, kind: TokenKind) -> Issued {
    // reqwest and axum share the `http` crate's HeaderMap.
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    emulator.state().authorize(&headers, &[kind]).unwrap()
}

/// wif's HTTP client (reqwest with wif's rustls configuration), which the suites send their
/// hand-made requests with.
pub fn http() -> reqwest::Client {
    wif::layers::core::http::default_client().expect("HTTP client")
}

/// The answer to `request`; panics when it cannot be sent.
pub async fn send(request: RequestBuilder) -> Response {
    request.send().await.expect("request sent")
}

/// The JSON body of the answer to `request` (the body must be JSON).
pub async fn json_of(request: RequestBuilder) -> Value {
    send(request).await.json().await.expect("a JSON body")
}

/// The text body of the answer to `request`.
pub async fn text_of(request: RequestBuilder) -> String {
    send(request).await.text().await.expect("a text body")
}

/// The status and the text body of the answer to `request`.
pub async fn status_and_text(request: RequestBuilder) -> (u16, String) {
    let response = send(request).await;
    let status = response.status().as_u16();
    (status, response.text().await.expect("a text body"))
}

/// The emulator's `/_emulator/tokeninfo` answer for `token`.
pub async fn tokeninfo(emulator: &RunningEmulator, token: &str) -> Value {
    let url = format!("{}/_emulator/tokeninfo", emulator.base_url());
    json_of(http().get(url).bearer_auth(token)).await
}

/// The JSON a plain GET of `url` answers.
pub async fn get_json(url: &str) -> Value {
    json_of(http().get(url)).await
}

/// A POST to IAM Credentials' `generateAccessToken` for `service_account`, carrying `body`.
pub fn generate_access_token(
    emulator: &RunningEmulator,
    service_account: &str,
    body: &Value,
) -> RequestBuilder {
    http()
        .post(format!(
            "{}/v1/projects/-/serviceAccounts/{service_account}:generateAccessToken",
            emulator.base_url()
        ))
        .json(body)
}

/// The text of the first `<{name}>` element in `xml`; panics when there is none.
pub fn xml_element<'a>(xml: &'a str, name: &str) -> &'a str {
    let open = format!("<{name}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{name}> in {xml}"))
        + open.len();
    let end = xml[start..]
        .find(&format!("</{name}>"))
        .unwrap_or_else(|| panic!("<{name}> is not closed in {xml}"))
        + start;
    &xml[start..end]
}

/// The status and the JSON body of `response` (the body must be JSON).
pub async fn status_and_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The `reason` of a Google JSON API error body (`""` when there is none).
pub fn reason(body: &Value) -> &str {
    body["error"]["errors"][0]["reason"].as_str().unwrap_or("")
}

/// The `status` and `message` of a Google API error body (`""` for what is missing).
pub fn error_status_and_message(body: &Value) -> (&str, &str) {
    let error = &body["error"];
    (
        error["status"].as_str().unwrap_or(""),
        error["message"].as_str().unwrap_or(""),
    )
}

/// Seconds since the Unix epoch, as JWT claims count them.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A CDK-style role and session name whose assumed-role ARN is longer than Google's 127-byte
/// `google.subject` limit.
pub fn long_session_names(config: &mut EmulatorConfig) {
    config.aws.role = "WifDemoStack-IngestFunctionServiceRole3E6A8B2C-1A2B3C4D5E6F".into();
    config.aws.session_name = "WifDemoStack-IngestFunction9F8E7D6C-AbCdEfGhIjKl".into();
}
