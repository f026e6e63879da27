//! Google STS played by a wiremock responder: success with numbered tokens, each documented
//! error in STS's own words, and the faults a client must survive (slow, flaky, a token that
//! expires at once).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wif_core::protocol;
use wif_core::testing::Scripted;
use wiremock::{Request, Respond, ResponseTemplate};

use crate::request::{GRANT_TYPE, REQUESTED_TOKEN_TYPE};

/// The subject token types STS knows (`docs/protocol.md#sts-request`).
const SUBJECT_TOKEN_TYPES: [&str; 5] = [
    protocol::JWT_SUBJECT_TOKEN_TYPE,
    protocol::ID_TOKEN_SUBJECT_TOKEN_TYPE,
    protocol::SAML2_SUBJECT_TOKEN_TYPE,
    protocol::AWS_SUBJECT_TOKEN_TYPE,
    protocol::MTLS_SUBJECT_TOKEN_TYPE,
];

/// The errors Google STS documents, each answered with its status and RFC 6749 body as STS
/// sends them (`docs/protocol.md#sts-errors`). wif-sts turns each into an error with the
/// matching hint; test yours against them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StsError {
    /// 400 `invalid_request`: the audience is not a provider's full resource name.
    InvalidAudience,
    /// 400 `invalid_target`: the pool or provider is misspelled, disabled or deleted.
    InvalidTarget,
    /// 400 `unauthorized_client`: the provider's attribute condition rejected the identity.
    AttributeConditionRejected,
    /// 400 `invalid_request`: the mapped `google.subject` is longer than 127 bytes.
    SubjectTooLong,
    /// 400 `invalid_request`: the subject token type does not fit the provider.
    InvalidSubjectTokenType,
    /// 400 `invalid_grant`: the ID token's audience is not one the provider allows.
    AudienceMismatch,
    /// 400 `invalid_grant`: the subject token has expired.
    ExpiredSubjectToken,
    /// 400 `invalid_grant`: AWS rejected the signed `GetCallerIdentity` request.
    AwsSignatureMismatch,
    /// 400 `invalid_grant`: AWS refused the signing time (a clock more than 15 minutes off).
    AwsSignatureExpired,
    /// 429 `quota_exceeded`: too many exchanges for the project. Retryable.
    QuotaExceeded,
    /// 503 `temporarily_unavailable`. Retryable.
    Unavailable,
}

impl StsError {
    /// Every documented error, for table tests.
    pub const ALL: [StsError; 11] = [
        StsError::InvalidAudience,
        StsError::InvalidTarget,
        StsError::AttributeConditionRejected,
        StsError::SubjectTooLong,
        StsError::InvalidSubjectTokenType,
        StsError::AudienceMismatch,
        StsError::ExpiredSubjectToken,
        StsError::AwsSignatureMismatch,
        StsError::AwsSignatureExpired,
        StsError::QuotaExceeded,
        StsError::Unavailable,
    ];

    /// The HTTP status STS answers with.
    pub fn status(self) -> u16 {
        match self {
            StsError::QuotaExceeded => 429,
            StsError::Unavailable => 503,
            _ => 400,
        }
    }

    /// The OAuth `error` code.
    pub fn code(self) -> &'static str {
        match self {
            StsError::InvalidAudience
            | StsError::SubjectTooLong
            | StsError::InvalidSubjectTokenType => "invalid_request",
            StsError::InvalidTarget => "invalid_target",
            StsError::AttributeConditionRejected => "unauthorized_client",
            StsError::AudienceMismatch
            | StsError::ExpiredSubjectToken
            | StsError::AwsSignatureMismatch
            | StsError::AwsSignatureExpired => "invalid_grant",
            StsError::QuotaExceeded => "quota_exceeded",
            StsError::Unavailable => "temporarily_unavailable",
        }
    }

    /// The `error_description`, in STS's words.
    pub fn description(self) -> &'static str {
        match self {
            StsError::InvalidAudience => {
                "Invalid value for \"audience\". This value should be the full resource name of the Identity Provider. See https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token for the list of possible formats."
            }
            StsError::InvalidTarget => {
                "The target service indicated by the \"audience\" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn't exist."
            }
            StsError::AttributeConditionRejected => {
                "The given credential is rejected by the attribute condition."
            }
            StsError::SubjectTooLong => {
                "The size of mapped attribute google.subject exceeds the 127 bytes limit. Either modify your attribute mapping or the incoming assertion to produce a mapped attribute that is less than 127 bytes."
            }
            StsError::InvalidSubjectTokenType => "Invalid subject_token_type.",
            StsError::AudienceMismatch => {
                "The audience in ID Token [https://example.invalid/app] does not match the expected audience."
            }
            StsError::ExpiredSubjectToken => "ID Token issued at 1700000000 is expired.",
            StsError::AwsSignatureMismatch => {
                "Received invalid AWS response of type SignatureDoesNotMatch with error message: The request signature we calculated does not match the signature you provided."
            }
            StsError::AwsSignatureExpired => {
                "Received invalid AWS response of type SignatureDoesNotMatch with error message: Signature expired: 20260101T000000Z is now earlier than 20260101T001500Z (20260101T003000Z - 15 min.)"
            }
            StsError::QuotaExceeded => {
                "The request was throttled due to rate limit: sts.googleapis.com/requests. Please retry after a few seconds."
            }
            StsError::Unavailable => "The service is currently unavailable.",
        }
    }

    /// The whole answer.
    pub fn response(self) -> ResponseTemplate {
        ResponseTemplate::new(self.status()).set_body_json(serde_json::json!({
            "error": self.code(),
            "error_description": self.description(),
        }))
    }
}

impl Respond for StsError {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        self.response()
    }
}

/// Plays Google STS `/v1/token`: checks the RFC 8693 form as the real service does (a bad
/// request gets the [`StsError`] STS would send) and answers with numbered access tokens,
/// `{prefix}-1`, `{prefix}-2`, … Built in steps that play in the order they are added:
///
/// ```
/// use std::time::Duration;
/// use wif_sts::testing::{StsError, StsResponder};
///
/// let responder = StsResponder::success()      // federated-1, federated-2, … (1 h)
///     .flaky(2)                                // the first 2 requests: 503
///     .failing_first(1, StsError::QuotaExceeded) // then one 429
///     .slow(Duration::from_millis(200));       // every answer 200 ms late
/// # let _ = responder;
/// ```
///
/// Clones share their counts: keep one to ask [`answered`](Self::answered).
#[derive(Clone)]
pub struct StsResponder {
    issuer: Issuer,
    script: Scripted,
}

impl StsResponder {
    /// Issues `{prefix}-N` tokens valid for `expires_in`.
    pub fn new(prefix: impl Into<String>, expires_in: Duration) -> Self {
        let issuer = Issuer {
            prefix: Arc::from(prefix.into()),
            expires_in: expires_in.as_secs(),
            issued: Arc::new(AtomicU64::new(0)),
        };
        StsResponder {
            script: Scripted::new(issuer.clone()),
            issuer,
        }
    }

    /// Issues `federated-1`, `federated-2`, … valid for one hour, as STS does for most
    /// identity providers.
    pub fn success() -> Self {
        StsResponder::new("federated", Duration::from_secs(3600))
    }

    /// Answers every request with `error`.
    pub fn error(error: StsError) -> Self {
        StsResponder::success().failing_first(u64::MAX, error)
    }

    /// The first token (`federated-1`) lives one second — expired for any cache, which wants
    /// some validity left — and the next ones an hour: the next `token()` must exchange again.
    pub fn expired_then_valid() -> Self {
        let success = StsResponder::success();
        let expired = Issuer {
            expires_in: 1,
            ..success.issuer.clone()
        };
        StsResponder {
            script: success.script.first(1, expired),
            issuer: success.issuer,
        }
    }

    wif_core::scripted_turns!(StsError, flaky: StsError::Unavailable);

    /// Tokens issued so far.
    pub fn issued(&self) -> u64 {
        self.issuer.issued.load(Ordering::SeqCst)
    }
}

wif_core::scripted_respond!(StsResponder);

impl fmt::Debug for StsResponder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StsResponder")
            .field("prefix", &self.issuer.prefix)
            .field("expires_in", &self.issuer.expires_in)
            .field("issued", &self.issued())
            .field("script", &self.script)
            .finish()
    }
}

/// The success half: validates the form and issues the next numbered token.
#[derive(Clone)]
struct Issuer {
    prefix: Arc<str>,
    expires_in: u64,
    issued: Arc<AtomicU64>,
}

impl Respond for Issuer {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let fields: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
            .into_owned()
            .collect();
        let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        if get("grant_type") != Some(GRANT_TYPE) {
            return oauth_error(400, "unsupported_grant_type", "Unsupported grant type.");
        }
        if get("requested_token_type") != Some(REQUESTED_TOKEN_TYPE) {
            return oauth_error(400, "invalid_request", "Invalid requested_token_type.");
        }
        if !get("audience").is_some_and(|a| a.starts_with("//iam.googleapis.com/")) {
            return StsError::InvalidAudience.response();
        }
        if !get("subject_token_type").is_some_and(|t| SUBJECT_TOKEN_TYPES.contains(&t)) {
            return StsError::InvalidSubjectTokenType.response();
        }
        if get("subject_token").is_none_or(str::is_empty) {
            return oauth_error(400, "invalid_request", "Missing subject_token.");
        }
        if let Some(options) = get("options")
            && super::recorded::decode_options(options).is_none()
        {
            return oauth_error(
                400,
                "invalid_request",
                "Invalid value for \"options\": not a JSON object.",
            );
        }
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": format!("{}-{n}", self.prefix),
            "issued_token_type": REQUESTED_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }))
    }
}

fn oauth_error(status: u16, code: &str, description: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(serde_json::json!({
        "error": code,
        "error_description": description,
    }))
}
