//! IAM Credentials `generateAccessToken` played by a wiremock responder: success with numbered
//! tokens, each documented error in Google's `google.rpc.Status` shape, and the faults a client
//! must survive (slow, flaky, a token that arrives expired).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use wif_core::testing::{Scripted, bearer_token};
use wiremock::{Request, Respond, ResponseTemplate};

use crate::MAX_LIFETIME;

/// The errors `generateAccessToken` documents, each answered with its status and
/// `google.rpc.Status` body as IAM Credentials sends them (`docs/protocol.md#impersonation`).
/// wif-impersonate turns each into an error with the matching hint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IamError {
    /// 403 `PERMISSION_DENIED` (`IAM_PERMISSION_DENIED`): the federated principal lacks
    /// `roles/iam.workloadIdentityUser` on the service account.
    PermissionDenied,
    /// 403 `PERMISSION_DENIED` (`SERVICE_DISABLED`): the IAM Service Account Credentials API is
    /// not enabled.
    ServiceDisabled,
    /// 404 `NOT_FOUND`: no such service account.
    NotFound,
    /// 400 `INVALID_ARGUMENT`: a bad lifetime, scope or email.
    InvalidArgument,
    /// 401 `UNAUTHENTICATED`: the federated token was refused (expired, revoked, another
    /// universe's).
    Unauthenticated,
    /// 429 `RESOURCE_EXHAUSTED`: quota. Retryable.
    ResourceExhausted,
    /// 503 `UNAVAILABLE`. Retryable.
    Unavailable,
}

impl IamError {
    /// Every documented error, for table tests.
    pub const ALL: [IamError; 7] = [
        IamError::PermissionDenied,
        IamError::ServiceDisabled,
        IamError::NotFound,
        IamError::InvalidArgument,
        IamError::Unauthenticated,
        IamError::ResourceExhausted,
        IamError::Unavailable,
    ];

    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            IamError::PermissionDenied | IamError::ServiceDisabled => 403,
            IamError::NotFound => 404,
            IamError::InvalidArgument => 400,
            IamError::Unauthenticated => 401,
            IamError::ResourceExhausted => 429,
            IamError::Unavailable => 503,
        }
    }

    /// The `google.rpc` status name.
    pub fn rpc_status(self) -> &'static str {
        match self {
            IamError::PermissionDenied | IamError::ServiceDisabled => "PERMISSION_DENIED",
            IamError::NotFound => "NOT_FOUND",
            IamError::InvalidArgument => "INVALID_ARGUMENT",
            IamError::Unauthenticated => "UNAUTHENTICATED",
            IamError::ResourceExhausted => "RESOURCE_EXHAUSTED",
            IamError::Unavailable => "UNAVAILABLE",
        }
    }

    /// The `ErrorInfo` reason, when IAM sends one.
    pub fn reason(self) -> Option<&'static str> {
        match self {
            IamError::PermissionDenied => Some("IAM_PERMISSION_DENIED"),
            IamError::ServiceDisabled => Some("SERVICE_DISABLED"),
            _ => None,
        }
    }

    /// The `message`, in IAM's words.
    pub fn message(self) -> &'static str {
        match self {
            IamError::PermissionDenied => {
                "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist)."
            }
            IamError::ServiceDisabled => {
                "IAM Service Account Credentials API has not been used in project 123456789 before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/iamcredentials.googleapis.com/overview?project=123456789 then retry."
            }
            IamError::NotFound => "Requested entity was not found.",
            IamError::InvalidArgument => "Request contains an invalid argument.",
            IamError::Unauthenticated => {
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential."
            }
            IamError::ResourceExhausted => {
                "Quota exceeded for quota metric 'Generate credentials requests' and limit 'Generate credentials requests per minute' of service 'iamcredentials.googleapis.com'."
            }
            IamError::Unavailable => "The service is currently unavailable.",
        }
    }

    /// The whole answer.
    pub fn response(self) -> ResponseTemplate {
        rpc_error(
            self.status(),
            self.rpc_status(),
            self.message(),
            self.reason(),
        )
    }
}

impl Respond for IamError {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        self.response()
    }
}

fn rpc_error(status: u16, rpc: &str, message: &str, reason: Option<&str>) -> ResponseTemplate {
    let mut error = serde_json::json!({"code": status, "message": message, "status": rpc});
    if let Some(reason) = reason {
        error["details"] = serde_json::json!([{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": "iam.googleapis.com",
        }]);
    }
    ResponseTemplate::new(status).set_body_json(serde_json::json!({ "error": error }))
}

/// Plays IAM Credentials `generateAccessToken`: requires a bearer token and a body IAM would
/// accept (a scope, a lifetime of at most 12 h), and answers with numbered tokens
/// (`{prefix}-1`, …) expiring after the requested lifetime. Steps play in the order added:
///
/// ```
/// use std::time::Duration;
/// use wif_impersonate::testing::{IamCredentialsResponder, IamError};
///
/// let responder = IamCredentialsResponder::success()     // impersonated-1, …
///     .flaky(1)                                          // one 503 first
///     .failing_first(1, IamError::PermissionDenied)      // then one 403
///     .slow(Duration::from_millis(100));
/// # let _ = responder;
/// ```
#[derive(Clone)]
pub struct IamCredentialsResponder {
    issuer: Issuer,
    script: Scripted,
}

impl IamCredentialsResponder {
    /// Issues `{prefix}-N` tokens.
    pub fn new(prefix: impl Into<String>) -> Self {
        let issuer = Issuer {
            prefix: Arc::from(prefix.into()),
            expired: false,
            issued: Arc::new(AtomicU64::new(0)),
        };
        IamCredentialsResponder {
            script: Scripted::new(issuer.clone()),
            issuer,
        }
    }

    /// Issues `impersonated-1`, `impersonated-2`, …
    pub fn success() -> Self {
        IamCredentialsResponder::new("impersonated")
    }

    /// Answers every request with `error`.
    pub fn error(error: IamError) -> Self {
        IamCredentialsResponder::success().failing_first(u64::MAX, error)
    }

    /// The first token (`impersonated-1`) expires five seconds after it is issued — expired for
    /// any cache, which wants some validity left (a token already past its `expireTime` is an
    /// error the client reports instead) — and the next ones live the requested lifetime.
    pub fn expired_then_valid() -> Self {
        let success = IamCredentialsResponder::success();
        let expired = Issuer {
            expired: true,
            ..success.issuer.clone()
        };
        IamCredentialsResponder {
            script: success.script.first(1, expired),
            issuer: success.issuer,
        }
    }

    wif_core::scripted_turns!(IamError, flaky: IamError::Unavailable);

    /// Tokens issued so far.
    pub fn issued(&self) -> u64 {
        self.issuer.issued.load(Ordering::SeqCst)
    }
}

wif_core::scripted_respond!(IamCredentialsResponder);

impl fmt::Debug for IamCredentialsResponder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IamCredentialsResponder")
            .field("prefix", &self.issuer.prefix)
            .field("issued", &self.issued())
            .field("script", &self.script)
            .finish()
    }
}

/// The success half: checks the request and issues the next numbered token.
#[derive(Clone)]
struct Issuer {
    prefix: Arc<str>,
    expired: bool,
    issued: Arc<AtomicU64>,
}

impl Respond for Issuer {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if bearer_token(request).is_none() {
            return IamError::Unauthenticated.response();
        }
        if super::recorded::service_account_of(request.url.path()).is_none() {
            return IamError::NotFound.response();
        }
        let Ok(body) = serde_json::from_slice::<serde_json::Value>(&request.body) else {
            return IamError::InvalidArgument.response();
        };
        let has_scope = body
            .get("scope")
            .and_then(|s| s.as_array())
            .is_some_and(|s| !s.is_empty());
        let lifetime = match body.get("lifetime") {
            None => Some(3600),
            Some(l) => super::recorded::parse_lifetime(l).map(|l| l.as_secs()),
        };
        let Some(lifetime) = lifetime.filter(|l| (1..=MAX_LIFETIME.as_secs()).contains(l)) else {
            return IamError::InvalidArgument.response();
        };
        if !has_scope {
            return IamError::InvalidArgument.response();
        }
        let now = OffsetDateTime::now_utc();
        let expire = if self.expired {
            now + time::Duration::seconds(5)
        } else {
            now + time::Duration::seconds(i64::try_from(lifetime).unwrap_or(3600))
        };
        let expire = expire
            .replace_nanosecond(0)
            .unwrap_or(expire)
            .format(&Rfc3339)
            .unwrap_or_default();
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "accessToken": format!("{}-{n}", self.prefix),
            "expireTime": expire,
        }))
    }
}
