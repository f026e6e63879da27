//! Shared in-memory state: the configuration, the tokens the emulator issued (so every API can
//! check that the bearer token came out of the chain), request counters and fault plans.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::Endpoint;
use crate::config::EmulatorConfig;
use crate::faults::Faults;

/// What kind of token the emulator issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A federated token from Google STS.
    Federated,
    /// A service-account token from IAM Credentials.
    ServiceAccount,
}

/// A token the emulator issued, and for whom.
#[derive(Clone, Debug)]
pub struct Issued {
    /// Federated or service account.
    pub kind: TokenKind,
    /// `principal://…` for federated tokens, the service account email for SA tokens.
    pub principal: String,
    /// The principal sets the federated identity belongs to (for IAM checks).
    pub principal_sets: Vec<String>,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Expiry.
    pub expires_at: SystemTime,
}

/// The principal of requests without a token, when [`EmulatorConfig::anonymous_access`] allows them.
pub const ANONYMOUS: &str = "allUsers";

/// The emulator's shared state.
#[derive(Debug)]
pub struct State {
    /// The emulated world.
    pub config: EmulatorConfig,
    /// Fault plans per endpoint.
    pub faults: Faults,
    tokens: Mutex<HashMap<String, Issued>>,
    counters: [AtomicU64; Endpoint::COUNT],
    /// HS256 key of the test OIDC tokens this emulator mints (random per emulator).
    pub(crate) oidc_key: crate::oidc::SigningKey,
    /// Cloud Storage buckets, objects and resumable upload sessions.
    pub(crate) storage: crate::storage::Store,
    /// BigQuery datasets, tables and jobs.
    pub(crate) bigquery: crate::bigquery::store::Store,
    /// Live IMDSv2 session tokens.
    pub(crate) imds_sessions: crate::aws_imds::Sessions,
    /// Outbound identity federation of the emulated AWS account, switchable at run time.
    outbound_federation: AtomicBool,
    /// The token EKS Pod Identity's agent requires, minted at the first use.
    pod_identity_token: std::sync::OnceLock<String>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    pub(crate) fn new(config: EmulatorConfig) -> Self {
        State {
            outbound_federation: AtomicBool::new(config.outbound_web_identity_federation),
            config,
            faults: Faults::default(),
            tokens: Mutex::new(HashMap::new()),
            counters: Default::default(),
            oidc_key: crate::oidc::SigningKey::random(),
            storage: crate::storage::Store::default(),
            bigquery: crate::bigquery::store::Store::default(),
            imds_sessions: crate::aws_imds::Sessions::default(),
            pod_identity_token: std::sync::OnceLock::new(),
        }
    }

    /// The authorization token EKS Pod Identity's emulated agent requires: a projected
    /// service-account token (a JWT this emulator signed, for the audience
    /// `pods.eks.amazonaws.com`), minted at the first use and the same afterwards.
    pub fn pod_identity_token(&self) -> &str {
        self.pod_identity_token.get_or_init(|| {
            crate::oidc::mint(
                self,
                crate::aws_web_identity::DEFAULT_SERVICE_ACCOUNT,
                crate::aws_web_identity::POD_IDENTITY_AUDIENCE,
                Duration::from_secs(365 * 24 * 3600),
            )
        })
    }

    pub(crate) fn count(&self, endpoint: Endpoint) {
        self.counters[endpoint as usize].fetch_add(1, Ordering::SeqCst);
    }

    /// Requests received by `endpoint` so far.
    pub fn requests(&self, endpoint: Endpoint) -> u64 {
        self.counters[endpoint as usize].load(Ordering::SeqCst)
    }

    /// Whether the emulated AWS account has outbound identity federation enabled (AWS STS
    /// `GetWebIdentityToken` mints tokens).
    pub fn outbound_web_identity_federation(&self) -> bool {
        self.outbound_federation.load(Ordering::SeqCst)
    }

    /// Enables or disables the emulated AWS account's outbound identity federation (`aws iam
    /// enable-/disable-outbound-web-identity-federation`).
    pub fn set_outbound_web_identity_federation(&self, enabled: bool) {
        self.outbound_federation.store(enabled, Ordering::SeqCst);
    }

    /// Issues a new random token of `kind` for `principal`, valid for `lifetime`.
    pub fn issue(
        &self,
        kind: TokenKind,
        principal: String,
        principal_sets: Vec<String>,
        scopes: Vec<String>,
        lifetime: Duration,
    ) -> (String, Issued) {
        let prefix = match kind {
            TokenKind::Federated => crate::leaks::FEDERATED_PREFIX,
            TokenKind::ServiceAccount => crate::leaks::SERVICE_ACCOUNT_PREFIX,
        };
        let token = format!(
            "{prefix}{:016x}{:016x}",
            fastrand::u64(..),
            fastrand::u64(..)
        );
        let issued = Issued {
            kind,
            principal,
            principal_sets,
            scopes,
            expires_at: SystemTime::now() + lifetime,
        };
        lock(&self.tokens).insert(token.clone(), issued.clone());
        (token, issued)
    }

    // The error is a ready response handed straight back to axum; boxing it gains nothing.
    #[allow(clippy::result_large_err)]
    /// Checks `Authorization: Bearer …` against the issued tokens. `accept` lists the token kinds
    /// the endpoint takes. Errors are ready-made google.rpc 401/403 responses.
    pub fn authorize(&self, headers: &HeaderMap, accept: &[TokenKind]) -> Result<Issued, Response> {
        let Some(token) = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            // Google's clients call an emulator without credentials; the APIs that take a
            // service account's token may then take no token at all.
            if self.config.anonymous_access
                && accept.contains(&TokenKind::ServiceAccount)
                && !headers.contains_key(axum::http::header::AUTHORIZATION)
            {
                return Ok(Issued {
                    kind: TokenKind::ServiceAccount,
                    principal: ANONYMOUS.to_owned(),
                    principal_sets: Vec::new(),
                    scopes: Vec::new(),
                    expires_at: SystemTime::now() + Duration::from_secs(3600),
                });
            }
            return Err(rpc_error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "Request is missing required authentication credential. Expected OAuth 2 access token.",
                None,
            ));
        };
        let issued = lock(&self.tokens).get(token).cloned();
        match issued {
            None => Err(rpc_error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
                Some("ACCESS_TOKEN_TYPE_UNSUPPORTED"),
            )),
            Some(i) if i.expires_at <= SystemTime::now() => Err(rpc_error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. The access token has expired.",
                Some("ACCESS_TOKEN_EXPIRED"),
            )),
            Some(i) if !accept.contains(&i.kind) => Err(rpc_error(
                StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
                "The caller does not have permission",
                Some("IAM_PERMISSION_DENIED"),
            )),
            Some(i) => Ok(i),
        }
    }

    /// Expires every issued token now (to test refresh after 401).
    pub fn expire_all_tokens(&self) {
        let now = SystemTime::now();
        for issued in lock(&self.tokens).values_mut() {
            issued.expires_at = now;
        }
    }
}

/// A google.rpc.Status error response: `{"error":{"code","message","status","details":[ErrorInfo]}}`.
pub fn rpc_error(code: StatusCode, status: &str, message: &str, reason: Option<&str>) -> Response {
    let mut error = serde_json::json!({
        "code": code.as_u16(),
        "message": message,
        "status": status,
    });
    if let Some(reason) = reason {
        error["details"] = serde_json::json!([{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": "googleapis.com",
        }]);
        error["errors"] =
            serde_json::json!([{"message": message, "domain": "global", "reason": reason}]);
    }
    (code, axum::Json(serde_json::json!({ "error": error }))).into_response()
}

/// An RFC 6749 §5.2 OAuth error response (Google STS's shape).
pub fn oauth_error(code: StatusCode, error: &str, description: &str) -> Response {
    (
        code,
        axum::Json(serde_json::json!({"error": error, "error_description": description})),
    )
        .into_response()
}
