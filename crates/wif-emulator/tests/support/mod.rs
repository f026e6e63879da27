//! What the emulator's integration suites share: a running emulator, tokens as its chain issues
//! them, and reading its answers back (tokeninfo, JSON bodies, Google's error reasons).

// Each suite compiles this module on its own and uses only part of it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

/// An emulator of the default world.
pub async fn start_default() -> RunningEmulator {
    start(EmulatorConfig::default()).await
}

/// A service-account token for [`WRITER`] with the cloud-platform scope, valid for an hour: what
/// IAM Credentials hands the chain at its end.
pub fn writer_token(emulator: &RunningEmulator) -> String {
    emulator
        .state()
        .issue(
            TokenKind::ServiceAccount,
            WRITER.into(),
            vec![],
            vec![CLOUD_PLATFORM.into()],
            Duration::from_secs(3600),
        )
        .0
}

/// What the emulator recorded for `token`, presented as a bearer where a `kind` token is
/// accepted; panics when the emulator refuses it.
pub fn authorize(emulator: &RunningEmulator, token: &str, kind: TokenKind) -> Issued {
    // reqwest and axum share the `http` crate's HeaderMap.
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    emulator.state().authorize(&headers, &[kind]).unwrap()
}

/// The emulator's `/_emulator/tokeninfo` answer for `token`.
pub async fn tokeninfo(emulator: &RunningEmulator, token: &str) -> Value {
    wif::layers::core::http::default_client()
        .unwrap()
        .get(format!("{}/_emulator/tokeninfo", emulator.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The JSON a plain GET of `url` answers.
pub async fn get_json(url: &str) -> Value {
    wif::layers::core::http::default_client()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
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
