//! What a client sent to the IAM Credentials fake, decoded: the service account, the body and
//! the federated token it authenticated with (still secret).

use std::time::Duration;

use wif_core::AccessToken;
use wif_core::testing::{bearer_token, header_text};
use wiremock::Request;

/// One `generateAccessToken` call as the fake received it, decoded. `Debug` never shows the
/// bearer token.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct IamRequest {
    /// The service account email from the URL path.
    pub service_account: String,
    /// `scope`.
    pub scopes: Vec<String>,
    /// `lifetime` (`"3600s"`), when sent and readable.
    pub lifetime: Option<Duration>,
    /// `delegates` (empty when not sent).
    pub delegates: Vec<String>,
    /// The `Authorization: Bearer` token: the federated token from STS.
    pub bearer: Option<AccessToken>,
    /// `x-goog-user-project`.
    pub quota_project: Option<String>,
}

impl IamRequest {
    /// Decodes a recorded request: `None` unless it is a POST to
    /// `…/serviceAccounts/{email}:generateAccessToken`.
    pub fn parse(request: &Request) -> Option<IamRequest> {
        if request.method.as_str() != "POST" {
            return None;
        }
        let service_account = service_account_of(request.url.path())?;
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let strings = |field: &str| -> Vec<String> {
            body.get(field)
                .and_then(|v| v.as_array())
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        Some(IamRequest {
            service_account,
            scopes: strings("scope"),
            lifetime: body.get("lifetime").and_then(parse_lifetime),
            delegates: strings("delegates"),
            bearer: bearer_token(request),
            quota_project: header_text(request, "x-goog-user-project"),
        })
    }
}

/// The email in `…/serviceAccounts/{email}:generateAccessToken` (percent-decoded).
pub(crate) fn service_account_of(path: &str) -> Option<String> {
    let (before, _) = path.split_once(":generateAccessToken")?;
    let raw = before.rsplit_once("/serviceAccounts/")?.1;
    let email = url::form_urlencoded::parse(format!("e={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())?;
    (email.contains('@') && !email.contains('/')).then_some(email)
}

/// `"3600s"` (IAM's protobuf Duration in JSON).
pub(crate) fn parse_lifetime(value: &serde_json::Value) -> Option<Duration> {
    let text = value.as_str()?.strip_suffix('s')?;
    let seconds: f64 = text.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}
