//! What a client sent to the STS fake, decoded: the RFC 8693 form, the client authentication
//! and the metrics header, with the secrets still secret.

use base64::Engine as _;
use secrecy::SecretString;
use wif_core::SubjectToken;
use wiremock::Request;

use crate::request::METRICS_HEADER;

/// One token exchange as the fake received it, decoded. Fields the request did not carry are
/// empty (`""`, no scopes, `None`).
///
/// `Debug` shows everything but the subject token and the client secret.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StsRequest {
    /// `grant_type`.
    pub grant_type: String,
    /// `audience`: the pool provider's resource name.
    pub audience: String,
    /// `scope`, split at spaces (empty when the field was omitted).
    pub scopes: Vec<String>,
    /// `requested_token_type`.
    pub requested_token_type: String,
    /// `subject_token`, still secret (`subject_token.secret().expose_secret()` to compare).
    pub subject_token: SubjectToken,
    /// `subject_token_type`.
    pub subject_token_type: String,
    /// `options`, decoded from JSON (also when a client percent-encoded it twice, as Python's
    /// google-auth does); `None` when absent or not JSON.
    pub options: Option<serde_json::Value>,
    /// HTTP Basic client authentication, decoded.
    pub client_auth: Option<ClientAuth>,
    /// The `x-goog-api-client` metrics header.
    pub api_client: Option<String>,
}

/// `Authorization: Basic base64(client_id:client_secret)`, decoded.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientAuth {
    /// The OAuth client id.
    pub client_id: String,
    /// The client secret (empty when the client sent none).
    pub client_secret: SecretString,
}

impl StsRequest {
    /// Decodes a recorded request, whatever its path: `None` when it is not a form POST.
    pub fn parse(request: &Request) -> Option<StsRequest> {
        if request.method.as_str() != "POST" {
            return None;
        }
        let mut sent = StsRequest {
            grant_type: String::new(),
            audience: String::new(),
            scopes: Vec::new(),
            requested_token_type: String::new(),
            subject_token: SubjectToken::new(""),
            subject_token_type: String::new(),
            options: None,
            client_auth: client_auth(request),
            api_client: wif_core::testing::header_text(request, METRICS_HEADER),
        };
        for (name, value) in url::form_urlencoded::parse(&request.body) {
            match name.as_ref() {
                "grant_type" => sent.grant_type = value.into_owned(),
                "audience" => sent.audience = value.into_owned(),
                "scope" => sent.scopes = value.split(' ').map(str::to_owned).collect(),
                "requested_token_type" => sent.requested_token_type = value.into_owned(),
                "subject_token" => sent.subject_token = SubjectToken::new(value.into_owned()),
                "subject_token_type" => sent.subject_token_type = value.into_owned(),
                "options" => sent.options = decode_options(&value),
                _ => {}
            }
        }
        sent.scopes.retain(|s| !s.is_empty());
        Some(sent)
    }
}

/// `options` as JSON, or percent-decoded once more first (Python's double encoding).
pub(crate) fn decode_options(value: &str) -> Option<serde_json::Value> {
    let once = || {
        let decoded: String = url::form_urlencoded::parse(format!("x={value}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())?;
        serde_json::from_str(&decoded).ok()
    };
    serde_json::from_str::<serde_json::Value>(value)
        .ok()
        .or_else(once)
        .filter(serde_json::Value::is_object)
}

fn client_auth(request: &Request) -> Option<ClientAuth> {
    let value = request.headers.get("authorization")?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some(ClientAuth {
        client_id: id.to_owned(),
        client_secret: SecretString::from(secret.to_owned()),
    })
}
