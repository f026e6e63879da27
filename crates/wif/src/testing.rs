//! Test helpers for code built on wif-rs (feature `testing`): a static token provider, and
//! wiremock responders that play Google STS and IAM Credentials, so your own suites run with no
//! cloud account.
//!
//! ```no_run
//! use wif::testing::FakeGoogle;
//! use wif::{Credentials, TokenProvider};
//!
//! # async fn t() -> Result<(), wif::Error> {
//! let google = FakeGoogle::start().await;
//! let dir = std::env::temp_dir();
//! let token_file = dir.join("oidc-token");
//! std::fs::write(&token_file, "header.payload.signature").expect("write token");
//! let creds = Credentials::from_json(&google.config_json(&token_file, Some("sa@p.iam.gserviceaccount.com")))?;
//! let token = creds.token().await?;
//! assert_eq!(google.sts_calls().await, 1);
//! # let _ = token; Ok(()) }
//! ```

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub use wif_core::StaticTokenProvider;

use crate::{AccessToken, Credentials};
use wif_core::protocol;

/// Credentials that always hand out `token` (no network, no expiry).
pub fn static_credentials(token: &str) -> Credentials {
    Credentials::from_provider(StaticTokenProvider::new(AccessToken::new(token)))
}

fn form(request: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

fn oauth_error(code: &str, description: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(serde_json::json!({
        "error": code,
        "error_description": description,
    }))
}

/// Plays Google STS `/v1/token`: checks the RFC 8693 form like the real service and answers
/// with numbered access tokens (`{prefix}-1`, `{prefix}-2`, …).
#[derive(Clone, Debug)]
pub struct StsResponder {
    prefix: String,
    expires_in: u64,
    issued: Arc<AtomicU64>,
}

impl StsResponder {
    /// Issues `{prefix}-N` tokens valid for `expires_in`.
    pub fn new(prefix: impl Into<String>, expires_in: Duration) -> Self {
        StsResponder {
            prefix: prefix.into(),
            expires_in: expires_in.as_secs(),
            issued: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Respond for StsResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let fields = form(request);
        let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        if get("grant_type") != Some(protocol::TOKEN_EXCHANGE_GRANT_TYPE) {
            return oauth_error("unsupported_grant_type", "Unsupported grant type.");
        }
        if get("requested_token_type") != Some(protocol::ACCESS_TOKEN_TYPE) {
            return oauth_error("invalid_request", "Invalid requested_token_type.");
        }
        if !get("audience").is_some_and(|a| a.starts_with("//iam.googleapis.com/")) {
            return oauth_error(
                "invalid_request",
                "Invalid value for \"audience\". This value should be the full resource name of the Identity Provider.",
            );
        }
        if get("subject_token_type").is_none_or(str::is_empty) {
            return oauth_error("invalid_request", "Missing subject_token_type.");
        }
        if get("subject_token").is_none_or(str::is_empty) {
            return oauth_error("invalid_request", "Missing subject_token.");
        }
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": format!("{}-{n}", self.prefix),
            "issued_token_type": protocol::ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }))
    }
}

/// Plays IAM Credentials `generateAccessToken`: requires a bearer token and answers with
/// numbered tokens (`{prefix}-1`, …) expiring after the requested lifetime.
#[derive(Clone, Debug)]
pub struct IamCredentialsResponder {
    prefix: String,
    issued: Arc<AtomicU64>,
}

impl IamCredentialsResponder {
    /// Issues `{prefix}-N` tokens.
    pub fn new(prefix: impl Into<String>) -> Self {
        IamCredentialsResponder {
            prefix: prefix.into(),
            issued: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Respond for IamCredentialsResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let bearer = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Bearer ") && v.len() > 7);
        if !bearer {
            return ResponseTemplate::new(401).set_body_json(serde_json::json!({
                "error": {"code": 401, "status": "UNAUTHENTICATED",
                          "message": "Request had invalid authentication credentials."}
            }));
        }
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let lifetime = body
            .get("lifetime")
            .and_then(|l| l.as_str())
            .and_then(|l| l.strip_suffix('s'))
            .and_then(|l| l.parse::<i64>().ok())
            .unwrap_or(3600);
        let expire = time::OffsetDateTime::now_utc() + time::Duration::seconds(lifetime);
        let expire = expire
            .replace_nanosecond(0)
            .unwrap_or(expire)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "accessToken": format!("{}-{n}", self.prefix),
            "expireTime": expire,
        }))
    }
}

/// A loopback stand-in for Google STS and IAM Credentials on one wiremock server.
#[derive(Debug)]
pub struct FakeGoogle {
    server: MockServer,
}

/// The audience [`FakeGoogle::config_json`] writes.
pub const FAKE_AUDIENCE: &str = "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/test-pool/providers/test-provider";

impl FakeGoogle {
    /// Starts the server with STS (`POST /v1/token`, tokens `federated-N`, 1 h) and IAM
    /// Credentials (`POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken`, tokens
    /// `impersonated-N`).
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/token"))
            .respond_with(StsResponder::new("federated", Duration::from_secs(3600)))
            .named("google sts")
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path_regex(
                r"^/v1/projects/-/serviceAccounts/[^/]+@[^/]+:generateAccessToken$",
            ))
            .respond_with(IamCredentialsResponder::new("impersonated"))
            .named("iam credentials")
            .mount(&server)
            .await;
        FakeGoogle { server }
    }

    /// The underlying wiremock server, to mount more mocks or inspect requests.
    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// The STS token URL.
    pub fn token_url(&self) -> String {
        format!("{}/v1/token", self.server.uri())
    }

    /// The `generateAccessToken` URL for `email`.
    pub fn impersonation_url(&self, email: &str) -> String {
        format!(
            "{}/v1/projects/-/serviceAccounts/{email}:generateAccessToken",
            self.server.uri()
        )
    }

    /// A gcloud-shaped `external_account` configuration with a file source at
    /// `subject_token_file`, pointing at this server, optionally impersonating `impersonate`.
    pub fn config_json(&self, subject_token_file: &Path, impersonate: Option<&str>) -> String {
        let mut config = serde_json::json!({
            "type": "external_account",
            "audience": FAKE_AUDIENCE,
            "subject_token_type": protocol::JWT_SUBJECT_TOKEN_TYPE,
            "token_url": self.token_url(),
            "credential_source": {"file": subject_token_file, "format": {"type": "text"}},
        });
        if let Some(email) = impersonate {
            config["service_account_impersonation_url"] =
                serde_json::Value::String(self.impersonation_url(email));
        }
        config.to_string()
    }

    async fn count(&self, suffix: &str) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path().ends_with(suffix))
            .count()
    }

    /// How many STS exchanges were requested.
    pub async fn sts_calls(&self) -> usize {
        self.count("/v1/token").await
    }

    /// How many impersonations were requested.
    pub async fn iam_calls(&self) -> usize {
        self.count(":generateAccessToken").await
    }
}
