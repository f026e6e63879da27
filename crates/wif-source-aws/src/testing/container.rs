//! The container credentials endpoint of ECS/Fargate (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`
//! at `169.254.170.2`) and EKS Pod Identity (`AWS_CONTAINER_CREDENTIALS_FULL_URI` with
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN`), played by a wiremock responder: the credentials
//! document, its refusals, faults, and a recorder.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use secrecy::SecretString;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use wif_core::testing::{Scripted, header_text};
use wiremock::{Request, Respond, ResponseTemplate};

/// The role ARN the fake's credentials belong to.
pub const CONTAINER_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/wif-test-task-role";

/// How the container credentials endpoint refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContainerCredentialsError {
    /// 401: the authorization token is missing (EKS Pod Identity).
    Unauthorized,
    /// 403: the authorization token is not the pod's.
    Forbidden,
    /// 404: no credentials at this path (a stale relative URI).
    NotFound,
    /// 429: throttled. Retryable.
    TooManyRequests,
    /// 503. Retryable.
    Unavailable,
}

impl ContainerCredentialsError {
    /// Every error, for table tests.
    pub const ALL: [ContainerCredentialsError; 5] = [
        ContainerCredentialsError::Unauthorized,
        ContainerCredentialsError::Forbidden,
        ContainerCredentialsError::NotFound,
        ContainerCredentialsError::TooManyRequests,
        ContainerCredentialsError::Unavailable,
    ];

    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            ContainerCredentialsError::Unauthorized => 401,
            ContainerCredentialsError::Forbidden => 403,
            ContainerCredentialsError::NotFound => 404,
            ContainerCredentialsError::TooManyRequests => 429,
            ContainerCredentialsError::Unavailable => 503,
        }
    }

    /// The answer: a JSON `{"code","message"}`, as the ECS and EKS agents send.
    pub fn response(self) -> ResponseTemplate {
        let (code, message) = match self {
            ContainerCredentialsError::Unauthorized => {
                ("AccessDeniedException", "Authorization token is missing")
            }
            ContainerCredentialsError::Forbidden => {
                ("AccessDeniedException", "Authorization token is not valid")
            }
            ContainerCredentialsError::NotFound => (
                "NoCredentialsFound",
                "No credentials found for this container",
            ),
            ContainerCredentialsError::TooManyRequests => ("ThrottlingException", "Rate exceeded"),
            ContainerCredentialsError::Unavailable => {
                ("ServiceUnavailable", "The agent is unavailable")
            }
        };
        ResponseTemplate::new(self.status())
            .set_body_json(serde_json::json!({"code": code, "message": message}))
    }
}

impl Respond for ContainerCredentialsError {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        self.response()
    }
}

/// Answers credentials requests with the document ECS and EKS agents serve
/// (`AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration`, `RoleArn`), fresh keys
/// (`ASIAFAKETASK00000001`, …) on every call. Steps play in the order added.
///
/// ```
/// use wif_source_aws::testing::{ContainerCredentialsError, ContainerCredentialsResponder};
///
/// let eks = ContainerCredentialsResponder::new()
///     .requiring_authorization("pod-identity-token")   // 401 without, 403 if wrong
///     .failing_first(1, ContainerCredentialsError::TooManyRequests);
/// # let _ = eks;
/// ```
#[derive(Clone)]
pub struct ContainerCredentialsResponder {
    agent: Agent,
    script: Scripted,
    authorization: Option<Arc<str>>,
}

impl ContainerCredentialsResponder {
    /// Fresh credentials on every request, valid for six hours, no authorization required.
    pub fn new() -> Self {
        let agent = Agent {
            expired: false,
            issued: Arc::new(AtomicU64::new(0)),
        };
        ContainerCredentialsResponder {
            script: Scripted::new(agent.clone()),
            agent,
            authorization: None,
        }
    }

    /// Answers every request with `error`.
    pub fn error(error: ContainerCredentialsError) -> Self {
        ContainerCredentialsResponder::new().failing_first(u64::MAX, error)
    }

    /// The first credentials carry an `Expiration` in the past; later ones are valid.
    pub fn expired_then_valid() -> Self {
        let valid = ContainerCredentialsResponder::new();
        let expired = Agent {
            expired: true,
            ..valid.agent.clone()
        };
        ContainerCredentialsResponder {
            script: valid.script.first(1, expired),
            ..valid
        }
    }

    /// Requires `Authorization: {token}` (EKS Pod Identity): 401 without it, 403 with another,
    /// before any step (such requests do not advance the steps, nor count as answered).
    pub fn requiring_authorization(mut self, token: &str) -> Self {
        self.authorization = Some(Arc::from(token));
        self
    }

    wif_core::scripted_turns!(
        ContainerCredentialsError,
        flaky: ContainerCredentialsError::Unavailable
    );

    /// Credentials handed out so far.
    pub fn issued(&self) -> u64 {
        self.agent.issued.load(Ordering::SeqCst)
    }
}

impl Default for ContainerCredentialsResponder {
    fn default() -> Self {
        ContainerCredentialsResponder::new()
    }
}

impl Respond for ContainerCredentialsResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if let Some(expected) = &self.authorization {
            match header_text(request, "authorization") {
                None => return ContainerCredentialsError::Unauthorized.response(),
                Some(sent) if sent != **expected => {
                    return ContainerCredentialsError::Forbidden.response();
                }
                Some(_) => {}
            }
        }
        self.script.respond(request)
    }
}

impl fmt::Debug for ContainerCredentialsResponder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContainerCredentialsResponder")
            .field("requires_authorization", &self.authorization.is_some())
            .field("issued", &self.issued())
            .field("script", &self.script)
            .finish()
    }
}

#[derive(Clone)]
struct Agent {
    expired: bool,
    issued: Arc<AtomicU64>,
}

impl Respond for Agent {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if request.method.as_str() != "GET" {
            return ResponseTemplate::new(405);
        }
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let now = SystemTime::now();
        let expiration = if self.expired {
            now - Duration::from_secs(60)
        } else {
            now + Duration::from_secs(6 * 3600)
        };
        let expiration = OffsetDateTime::from(expiration)
            .replace_nanosecond(0)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default();
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "RoleArn": CONTAINER_ROLE_ARN,
            "AccessKeyId": format!("ASIAFAKETASK{n:08}"),
            "SecretAccessKey": format!("fake-task-secret-access-key-{n}"),
            "Token": format!("fake-task-session-token-{n}"),
            "Expiration": expiration,
        }))
    }
}

/// One credentials request as the fake received it. `Debug` never shows the authorization.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ContainerCredentialsRequest {
    /// The path (the relative URI).
    pub path: String,
    /// The `Authorization` header (`AWS_CONTAINER_AUTHORIZATION_TOKEN`).
    pub authorization: Option<SecretString>,
}

impl ContainerCredentialsRequest {
    /// Decodes any recorded request.
    pub fn parse(request: &Request) -> ContainerCredentialsRequest {
        ContainerCredentialsRequest {
            path: request.url.path().to_owned(),
            authorization: header_text(request, "authorization").map(SecretString::from),
        }
    }
}
