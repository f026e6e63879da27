//! The chain's exchange step ([`Step::Exchange`](wif_core::Step::Exchange)), the request half: the
//! RFC 8693 token-exchange form, HTTP Basic client authentication and the `x-goog-api-client`
//! metrics header, byte-compatible with Google's Python and Go clients
//! (`docs/protocol.md#sts-request` to `#sts-metrics-header`).

use base64::Engine as _;
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use wif_core::SubjectToken;

/// RFC 8693 §2.1 grant type.
pub(crate) const GRANT_TYPE: &str = wif_core::protocol::TOKEN_EXCHANGE_GRANT_TYPE;
/// We always ask for an OAuth 2.0 access token.
pub(crate) const REQUESTED_TOKEN_TYPE: &str = wif_core::protocol::ACCESS_TOKEN_TYPE;
/// The form content type (RFC 6749 §4.1.3 / RFC 8693 §2.1).
pub(crate) const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
/// Name of Google's client metrics header.
pub(crate) const METRICS_HEADER: &str = "x-goog-api-client";

/// The parts of the form that are the same for every exchange.
#[derive(Clone, Debug)]
pub(crate) struct FormTemplate {
    pub(crate) audience: String,
    pub(crate) subject_token_type: String,
    /// Scopes joined with a space; `None` when there are none, so the field is omitted (as
    /// Python does; Go sends an empty `scope=`, which STS treats the same).
    pub(crate) scope: Option<String>,
    /// The already-serialized `options` JSON, when there is one.
    pub(crate) options: Option<String>,
}

impl FormTemplate {
    /// Encodes the form for one attempt. The result holds the subject token: it goes straight
    /// into the request body and is never logged.
    ///
    /// Field order follows Python (insertion order); STS does not care, but matching one peer
    /// makes wire captures easy to compare.
    pub(crate) fn encode(&self, subject: &SubjectToken) -> String {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", GRANT_TYPE);
        form.append_pair("audience", &self.audience);
        if let Some(scope) = &self.scope {
            form.append_pair("scope", scope);
        }
        form.append_pair("requested_token_type", REQUESTED_TOKEN_TYPE);
        form.append_pair("subject_token", subject.secret().expose_secret());
        form.append_pair("subject_token_type", &self.subject_token_type);
        if let Some(options) = &self.options {
            form.append_pair("options", options);
        }
        form.finish()
    }
}

/// The STS `options` value for a workforce pool's billing project.
///
/// Sent only when `workforce_pool_user_project` is set **and** there is no `client_id` (both
/// peers agree: with client authentication the OAuth client's project is billed instead).
///
/// We encode it the way Go does: compact JSON (`{"userProject":"p"}`), form-encoded **once**.
/// Python runs `urllib.parse.quote(json.dumps(..))` before `urlencode`, so its value arrives at
/// STS still percent-encoded (`%7B%22userProject%22%3A%20%22p%22%7D`) and only works because STS
/// tolerates it. The once-encoded form is what the STS REST reference documents (`options` is a
/// JSON string), reads plainly in server logs and wire captures, and is what a fake STS (our
/// emulator, wiremock tests) can parse without knowing about Python's quirk.
pub(crate) fn options_json(
    workforce_pool_user_project: Option<&str>,
    has_client_id: bool,
) -> Option<String> {
    let project = workforce_pool_user_project.filter(|p| !p.is_empty())?;
    if has_client_id {
        return None;
    }
    Some(serde_json::json!({ "userProject": project }).to_string())
}

/// `Authorization: Basic base64(client_id:client_secret)` (RFC 6749 §2.3.1), standard
/// alphabet with padding, marked sensitive so `http`/`reqwest` never print it.
///
/// Like Python, a missing secret is sent as the empty string (Go skips client auth entirely
/// then); the facade decides whether a client id without a secret is meaningful.
pub(crate) fn basic_auth(client_id: &str, secret: Option<&SecretString>) -> Option<HeaderValue> {
    let secret = secret.map(|s| s.expose_secret()).unwrap_or("");
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// The `x-goog-api-client` value, in Go's token order (`source/` before `sa-impersonation/`).
///
/// `gl-rust/<rustc version>` mirrors `gl-python/<version>` and `gl-go/<version>`; `auth/` carries
/// this crate's version. Google uses the header for per-client-library metrics only.
pub(crate) fn metrics_header(
    source_kind: &str,
    impersonation: bool,
    config_lifetime: bool,
) -> String {
    let rustc = option_env!("WIF_STS_RUSTC_VERSION").unwrap_or("unknown");
    // A custom source may report any &'static str; keep the header a valid, single token.
    let kind: String = source_kind
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    let kind = if kind.is_empty() {
        "programmatic"
    } else {
        &kind
    };
    format!(
        "gl-rust/{rustc} auth/{} google-byoid-sdk source/{kind} sa-impersonation/{impersonation} config-lifetime/{config_lifetime}",
        env!("CARGO_PKG_VERSION"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> FormTemplate {
        FormTemplate {
            audience: "//iam.googleapis.com/locations/global/workforcePools/p/providers/q".into(),
            subject_token_type: "urn:ietf:params:oauth:token-type:id_token".into(),
            scope: Some("https://www.googleapis.com/auth/cloud-platform https://x/y".into()),
            options: options_json(Some("123456"), false),
        }
    }

    #[test]
    fn form_is_encoded_once_with_plus_for_spaces() {
        let body = template().encode(&SubjectToken::new("a b/c"));
        assert!(
            body.contains(
                "scope=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloud-platform+https%3A%2F%2Fx%2Fy"
            ),
            "{body}"
        );
        assert!(body.contains("subject_token=a+b%2Fc"), "{body}");
        // Go's wire form: compact JSON, encoded once.
        assert!(
            body.ends_with("options=%7B%22userProject%22%3A%22123456%22%7D"),
            "{body}"
        );
        assert!(body.starts_with(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&audience="
        ));
    }

    #[test]
    fn options_only_for_workforce_without_client_id() {
        assert_eq!(
            options_json(Some("p1"), false).as_deref(),
            Some(r#"{"userProject":"p1"}"#)
        );
        assert_eq!(options_json(Some("p1"), true), None);
        assert_eq!(options_json(Some(""), false), None);
        assert_eq!(options_json(None, false), None);
    }

    #[test]
    fn basic_auth_matches_python() {
        let secret = SecretString::from("password");
        let v = basic_auth("username", Some(&secret)).expect("valid header");
        assert_eq!(v.to_str().ok(), Some("Basic dXNlcm5hbWU6cGFzc3dvcmQ="));
        assert!(v.is_sensitive());
        assert!(!format!("{v:?}").contains("dXNlcm5hbWU6"));
        let no_secret = basic_auth("username", None).expect("valid header");
        assert_eq!(no_secret.to_str().ok(), Some("Basic dXNlcm5hbWU6"));
    }

    #[test]
    fn metrics_header_has_go_token_order() {
        let h = metrics_header("aws", true, false);
        let rest = h.strip_prefix("gl-rust/").expect("starts with gl-rust/");
        let (_, tail) = rest.split_once(' ').expect("has tokens");
        assert_eq!(
            tail,
            format!(
                "auth/{} google-byoid-sdk source/aws sa-impersonation/true config-lifetime/false",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert!(HeaderValue::from_str(&h).is_ok());
        assert!(metrics_header("my source\r\n", false, true).contains(" source/mysource "));
        assert!(metrics_header("\n", false, false).contains(" source/programmatic "));
    }
}
