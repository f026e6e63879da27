//! A subject-token endpoint (Azure's instance metadata service, a sidecar, a CI runner's OIDC
//! endpoint) played by a wiremock responder: test JWTs or a fixed token, in `text` or `json`
//! form, the statuses such endpoints answer, and faults (slow, flaky, an expired token first).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use wif_core::TokenFormat;
use wif_core::testing::Scripted;
use wiremock::{Request, Respond, ResponseTemplate};

/// The issuer the test JWTs name.
pub const TEST_ISSUER: &str = "https://fake-idp.wif-rs.invalid";

/// The failures a token endpoint answers with, and that `UrlSource` explains
/// (`docs/protocol.md#file-and-url-sources`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenEndpointError {
    /// 400: a required header or query parameter is missing (Azure without `Metadata: True`).
    BadRequest,
    /// 401: the endpoint wants credentials the request lacks.
    Unauthorized,
    /// 403: the endpoint refused the caller.
    Forbidden,
    /// 404: no such path.
    NotFound,
    /// 429: throttled. Retryable.
    TooManyRequests,
    /// 503. Retryable.
    Unavailable,
}

impl TokenEndpointError {
    /// Every error, for table tests.
    pub const ALL: [TokenEndpointError; 6] = [
        TokenEndpointError::BadRequest,
        TokenEndpointError::Unauthorized,
        TokenEndpointError::Forbidden,
        TokenEndpointError::NotFound,
        TokenEndpointError::TooManyRequests,
        TokenEndpointError::Unavailable,
    ];

    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            TokenEndpointError::BadRequest => 400,
            TokenEndpointError::Unauthorized => 401,
            TokenEndpointError::Forbidden => 403,
            TokenEndpointError::NotFound => 404,
            TokenEndpointError::TooManyRequests => 429,
            TokenEndpointError::Unavailable => 503,
        }
    }

    /// The whole answer (Azure's OAuth-style body for 400, plain text otherwise).
    pub fn response(self) -> ResponseTemplate {
        match self {
            TokenEndpointError::BadRequest => {
                ResponseTemplate::new(400).set_body_json(serde_json::json!({
                    "error": "invalid_request",
                    "error_description": "Required metadata header not specified",
                }))
            }
            other => ResponseTemplate::new(other.status()).set_body_string("error"),
        }
    }
}

impl Respond for TokenEndpointError {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        self.response()
    }
}

/// Answers `GET`s for a subject token in the source's [`TokenFormat`]: a fixed token, or fresh
/// test JWTs (unsigned in effect: `alg` `RS256` with a dummy signature; only a real identity
/// provider's tokens pass Google STS). Steps play in the order added:
///
/// ```
/// use wif_core::TokenFormat;
/// use wif_source_url::testing::{TokenEndpointError, TokenEndpointResponder};
///
/// let azure = TokenEndpointResponder::jwts(TokenFormat::Json {
///     subject_token_field_name: "access_token".into(),
/// })
/// .requiring_header("Metadata", "True")     // 400 without it, as Azure answers
/// .flaky(1)                                 // one 503 first
/// .failing_first(1, TokenEndpointError::Forbidden);
/// # let _ = azure;
/// ```
#[derive(Clone)]
pub struct TokenEndpointResponder {
    issuer: Issuer,
    script: Scripted,
    required: Option<(Arc<str>, Arc<str>)>,
}

impl TokenEndpointResponder {
    /// Serves `token` on every request.
    pub fn fixed(token: impl Into<String>, format: TokenFormat) -> Self {
        TokenEndpointResponder::with_issuer(Issuer {
            tokens: Tokens::Fixed(Arc::from(token.into())),
            ..Issuer::new(format)
        })
    }

    /// Serves a fresh test JWT on every request ([`test_jwt`]), valid for an hour, its `jti`
    /// numbered from 1.
    pub fn jwts(format: TokenFormat) -> Self {
        TokenEndpointResponder::with_issuer(Issuer::new(format))
    }

    /// Like [`jwts`](Self::jwts), but the first token expired a minute ago.
    pub fn expired_then_valid(format: TokenFormat) -> Self {
        let valid = TokenEndpointResponder::jwts(format);
        let expired = Issuer {
            tokens: Tokens::Jwts { expired: true },
            ..valid.issuer.clone()
        };
        TokenEndpointResponder {
            script: valid.script.first(1, expired),
            ..valid
        }
    }

    fn with_issuer(issuer: Issuer) -> Self {
        TokenEndpointResponder {
            script: Scripted::new(issuer.clone()),
            issuer,
            required: None,
        }
    }

    /// Answers 400 ([`TokenEndpointError::BadRequest`]) to every request without header `name`
    /// equal to `value`, before any step (such requests do not advance the steps).
    pub fn requiring_header(mut self, name: &str, value: &str) -> Self {
        self.required = Some((Arc::from(name), Arc::from(value)));
        self
    }

    wif_core::scripted_turns!(TokenEndpointError, flaky: TokenEndpointError::Unavailable);

    /// Tokens served so far.
    pub fn served(&self) -> u64 {
        self.issuer.served.load(Ordering::SeqCst)
    }
}

impl Respond for TokenEndpointResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if let Some((name, value)) = &self.required {
            let sent = request
                .headers
                .get(name.as_ref())
                .and_then(|v| v.to_str().ok());
            if sent != Some(value.as_ref()) {
                return TokenEndpointError::BadRequest.response();
            }
        }
        self.script.respond(request)
    }
}

impl fmt::Debug for TokenEndpointResponder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEndpointResponder")
            .field("format", &self.issuer.format)
            .field("required_header", &self.required.as_ref().map(|(n, _)| n))
            .field("served", &self.served())
            .field("script", &self.script)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
enum Tokens {
    Fixed(Arc<str>),
    Jwts { expired: bool },
}

#[derive(Clone)]
struct Issuer {
    tokens: Tokens,
    format: TokenFormat,
    served: Arc<AtomicU64>,
}

impl Issuer {
    fn new(format: TokenFormat) -> Self {
        Issuer {
            tokens: Tokens::Jwts { expired: false },
            format,
            served: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Respond for Issuer {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let n = self.served.fetch_add(1, Ordering::SeqCst) + 1;
        let token = match &self.tokens {
            Tokens::Fixed(token) => token.to_string(),
            Tokens::Jwts { expired } => {
                let now = SystemTime::now();
                let exp = if *expired {
                    now - Duration::from_secs(60)
                } else {
                    now + Duration::from_secs(3600)
                };
                test_jwt(&format!("workload-{n}"), exp)
            }
        };
        match &self.format {
            TokenFormat::Text => ResponseTemplate::new(200).set_body_string(token),
            TokenFormat::Json {
                subject_token_field_name,
            } => ResponseTemplate::new(200).set_body_json(serde_json::json!({
                subject_token_field_name.as_str(): token,
                "token_type": "Bearer",
                "expires_in": "3599",
            })),
        }
    }
}

/// A JWT-shaped test token from [`TEST_ISSUER`] for `subject`, expiring at `exp`: readable by
/// `wif_core::jwt::UnverifiedJwt`, signed by no one.
pub fn test_jwt(subject: &str, exp: SystemTime) -> String {
    let seconds = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT","kid":"test"}"#);
    let claims = serde_json::json!({
        "iss": TEST_ISSUER,
        "sub": subject,
        "aud": "https://iam.googleapis.com/",
        "iat": seconds(exp).saturating_sub(3600),
        "exp": seconds(exp),
    });
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{claims}.dGVzdC1zaWduYXR1cmU")
}
