//! The chain's impersonation step ([`Step::Impersonation`](wif_core::Step::Impersonation)): the IAM
//! Credentials `generateAccessToken` call that trades the federated token for a service account's
//! token.
//!
//! Wire format (`docs/protocol.md#impersonation`; Go x/oauth2's compact body, Python's
//! `x-goog-user-project`):
//!
//! ```text
//! POST {service_account_impersonation_url}
//! Authorization: Bearer <federated token>
//! Content-Type: application/json
//! x-goog-user-project: <quota project>            (only when set)
//!
//! {"scope":["…"],"lifetime":"3600s","delegates":["projects/-/serviceAccounts/…"]}   (delegates only when set)
//! → {"accessToken":"ya29…","expireTime":"2026-01-01T01:00:00Z"}
//! ```
//!
//! `expireTime` is parsed as full RFC 3339 (fractional seconds, offsets), like Go and unlike
//! Python, which only accepts `%Y-%m-%dT%H:%M:%SZ`. What the answer holds is checked before it is
//! believed:
//!
//! * an `accessToken` that is not visible ASCII (a newline, an ESC sequence) is an invalid
//!   response, never a token to hand out or print;
//! * an `expireTime` that is not after this machine's clock is an error: such a token is useless
//!   to the cache, which would ask again on every call. No tolerance is added: a clock off by
//!   less than the token's lifetime (one hour by default) never trips it — the token then just
//!   expires that much early or late by our clock — and one off by more is named in the hint,
//!   with the server's `Date` when it sent one;
//! * a lifetime beyond 12 hours, IAM's maximum ([`crate::MAX_LIFETIME`]), is clamped to 12 hours,
//!   as the STS exchange clamps lifetimes it cannot believe: refreshing early is always safe.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::Instrument;
use url::Url;
use wif_core::{
    AccessToken, Cause, Clock, Error, ErrorKind, Redactor, RetryPolicy, Step, TokenProvider,
    check_issued_token,
};

use crate::{ImpersonationBuilder, causes};

/// The header that names the project billed for the call.
const QUOTA_PROJECT_HEADER: &str = "x-goog-user-project";

/// Impersonates one service account: a [`TokenProvider`] handing out that account's tokens,
/// obtained with the federated token of the inner provider.
///
/// Cheap to clone (clones share the configuration and the HTTP client). Does not cache: wrap it
/// in a [`wif_core::TokenCache`].
#[derive(Clone)]
pub struct Impersonation {
    inner: Arc<Inner>,
}

/// What the builder validated.
pub(crate) struct Settings {
    pub(crate) federated: Arc<dyn TokenProvider>,
    pub(crate) url: Url,
    pub(crate) email: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) lifetime: Duration,
    pub(crate) delegates: Vec<String>,
    pub(crate) quota_project: Option<HeaderValue>,
    pub(crate) client: reqwest::Client,
    pub(crate) retry: RetryPolicy,
    pub(crate) timeout: Duration,
    pub(crate) clock: Arc<dyn Clock>,
    /// Open the connection to IAM Credentials while the federated token is on its way.
    pub(crate) connect_ahead: bool,
}

struct Inner {
    settings: Settings,
    /// Names the call in errors and logs: method and URL (no query string).
    what: String,
    /// The request body never changes, so it is serialized once.
    body: Vec<u8>,
}

#[derive(Serialize)]
struct GenerateAccessTokenRequest<'a> {
    scope: &'a [String],
    lifetime: String,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    delegates: &'a [String],
}

#[derive(Deserialize)]
struct GenerateAccessTokenResponse {
    #[serde(rename = "accessToken", default)]
    access_token: Option<SecretString>,
    #[serde(rename = "expireTime", default)]
    expire_time: Option<String>,
}

impl Impersonation {
    /// Starts configuring an impersonation.
    pub fn builder() -> ImpersonationBuilder {
        ImpersonationBuilder::default()
    }

    pub(crate) fn new(settings: Settings) -> Result<Self, Error> {
        let body = serde_json::to_vec(&GenerateAccessTokenRequest {
            scope: &settings.scopes,
            lifetime: format!("{}s", settings.lifetime.as_secs()),
            delegates: &settings.delegates,
        })
        .map_err(|e| {
            Error::new(
                Step::Config,
                ErrorKind::Internal,
                format!("could not serialize the generateAccessToken request: {e}"),
            )
        })?;
        let what = format!("POST {}", wif_core::http::describe_url(&settings.url));
        Ok(Impersonation {
            inner: Arc::new(Inner {
                settings,
                what,
                body,
            }),
        })
    }

    /// The email of the impersonated service account.
    pub fn service_account_email(&self) -> &str {
        &self.inner.settings.email
    }

    /// The `generateAccessToken` URL this provider POSTs to.
    pub fn url(&self) -> &str {
        self.inner.settings.url.as_str()
    }

    /// The requested token lifetime.
    pub fn lifetime(&self) -> Duration {
        self.inner.settings.lifetime
    }

    /// The requested scopes.
    pub fn scopes(&self) -> &[String] {
        &self.inner.settings.scopes
    }

    /// One `generateAccessToken` (retried per the policy) with the given federated token instead
    /// of one from the configured provider: for running the chain step by step.
    pub async fn generate(&self, federated: &AccessToken) -> Result<AccessToken, Error> {
        self.inner.generate_with_retries(federated).await
    }
}

impl Inner {
    /// `generateAccessToken` with `federated`, retried per the policy.
    async fn generate_with_retries(&self, federated: &AccessToken) -> Result<AccessToken, Error> {
        self.settings
            .retry
            .run(Step::Impersonation, &self.what, |attempt| {
                self.generate(federated, attempt)
            })
            .await
    }

    /// One `generateAccessToken` attempt with the given federated token, its error scrubbed of
    /// the federated token (IAM or a proxy may quote the request's headers) before the retry loop
    /// or anyone logs it.
    async fn generate(&self, federated: &AccessToken, attempt: u32) -> Result<AccessToken, Error> {
        self.generate_once(federated, attempt)
            .await
            .map_err(|e| e.redact(&Redactor::new().access_token(federated)))
    }

    async fn generate_once(
        &self,
        federated: &AccessToken,
        attempt: u32,
    ) -> Result<AccessToken, Error> {
        let s = &self.settings;
        let span = tracing::debug_span!(
            "generate_access_token",
            attempt,
            status = tracing::field::Empty
        );
        async {
            let mut request = s
                .client
                .post(s.url.clone())
                .timeout(s.timeout)
                .header(AUTHORIZATION, federated.authorization_header())
                .header(CONTENT_TYPE, "application/json")
                .body(self.body.clone());
            if let Some(project) = &s.quota_project {
                request = request.header(QUOTA_PROJECT_HEADER, project.clone());
            }
            let response = wif_core::http::send(Step::Impersonation, &self.what, request).await?;
            tracing::Span::current().record("status", response.status);
            tracing::debug!("generateAccessToken answered");
            let response = response
                .error_for_status(Step::Impersonation)
                .map_err(|e| self.explain(e))?;
            let token = parse_response(&response.body, s.clock.now(), response.date())?;
            tracing::debug!(
                expires_at = ?token.expires_at_utc(),
                "impersonated token issued"
            );
            Ok(token)
        }
        .instrument(span)
        .await
    }

    /// Names the call, and the cause and hint of the misconfigurations behind each answer.
    fn explain(&self, err: Error) -> Error {
        let known = known(&err, &self.settings);
        let err = err.context(&self.what);
        match known {
            Some((cause, hint)) => err.with_known_cause(cause).with_hint(hint),
            None => err,
        }
    }
}

/// The cause, and what to check, of an HTTP error from `generateAccessToken`, from the status
/// and the google.rpc status/reason (`docs/protocol.md#impersonation`, `#error-formats`).
fn known(err: &Error, s: &Settings) -> Option<(&'static Cause, String)> {
    let server = err.server_error();
    let code = server.and_then(|s| s.code.as_deref()).unwrap_or("");
    let reason = server.and_then(|s| s.reason.as_deref()).unwrap_or("");
    let message = server.and_then(|s| s.message.as_deref()).unwrap_or("");
    let status = err.status().unwrap_or(0);
    let email = &s.email;
    if reason == "SERVICE_DISABLED" || message.contains("has not been used in project") {
        return known_as(
            &causes::IAM_CREDENTIALS_API_DISABLED,
            "The IAM Service Account Credentials API (iamcredentials.googleapis.com) is not \
             enabled in the project the error names; enable it there (usually the project of \
             the workload identity pool), then retry after a few minutes"
                .to_owned(),
        );
    }
    if status == 403
        || code == "PERMISSION_DENIED"
        || reason == "IAM_PERMISSION_DENIED"
        || message.contains("iam.serviceAccounts.getAccessToken")
    {
        return known_as(
            &causes::MISSING_WORKLOAD_IDENTITY_USER,
            format!(
                "The STS exchange succeeded; impersonation was denied. Grant \
             roles/iam.workloadIdentityUser on {email} to the federated principal \
             (principal:// or principalSet://, using the project NUMBER); IAM changes can take \
             a few minutes to propagate. Also check that {email} exists"
            ),
        );
    }
    if status == 404 || code == "NOT_FOUND" {
        return known_as(
            &causes::SERVICE_ACCOUNT_NOT_FOUND,
            format!(
                "The service account {email} does not exist, or its email is misspelled in \
             service_account_impersonation_url (it must be the full email, e.g. \
             NAME@PROJECT_ID.iam.gserviceaccount.com)"
            ),
        );
    }
    if status == 400 || code == "INVALID_ARGUMENT" {
        let lifetime = s.lifetime.as_secs();
        return known_as(
            &causes::IMPERSONATION_REQUEST_INVALID,
            format!(
                "Check the service account email in the impersonation URL ({email}); the token \
             lifetime ({lifetime}s: more than 3600s needs the org policy \
             constraints/iam.allowServiceAccountCredentialLifetimeExtension to allow it for \
             this service account); and the scopes ({})",
                s.scopes.join(" ")
            ),
        );
    }
    if status == 401 || code == "UNAUTHENTICATED" {
        return known_as(
            &causes::FEDERATED_TOKEN_REJECTED,
            format!(
                "IAM Credentials rejected the federated token from the STS exchange: it may have \
             expired, or it was issued for a different universe domain than {}",
                s.url.host_str().unwrap_or("the impersonation URL's host")
            ),
        );
    }
    None
}

fn known_as(cause: &'static Cause, hint: String) -> Option<(&'static Cause, String)> {
    Some((cause, hint))
}

/// Reads `{"accessToken","expireTime"}` against the wall clock reading `now` (see the module
/// docs for what is checked). `server_date` is the answer's `Date`, for the hint of an
/// `expireTime` already past. Nothing of the body reaches an error but a short `expireTime`:
/// the body holds the token.
pub(crate) fn parse_response(
    body: &[u8],
    now: SystemTime,
    server_date: Option<SystemTime>,
) -> Result<AccessToken, Error> {
    let invalid = |what: &str| Error::invalid_response(Step::Impersonation, what);
    let response: GenerateAccessTokenResponse = serde_json::from_slice(body).map_err(|_| {
        invalid(&format!(
            "generateAccessToken response is not the expected JSON object ({} bytes, not shown)",
            body.len()
        ))
    })?;
    let access_token = response
        .access_token
        .filter(|t| !t.expose_secret().is_empty())
        .ok_or_else(|| invalid("generateAccessToken response has no `accessToken`"))?;
    check_issued_token(
        Step::Impersonation,
        "accessToken",
        access_token.expose_secret(),
    )?;
    let expire_time = response
        .expire_time
        .ok_or_else(|| invalid("generateAccessToken response has no `expireTime`"))?;
    // Shown in errors only when short: a timestamp is, and a long value is no timestamp.
    let shown = if expire_time.len() <= 64 {
        format!("{expire_time:?}")
    } else {
        format!("a {}-byte value", expire_time.len())
    };
    let expires_at = parse_expire_time(&expire_time).ok_or_else(|| {
        invalid(&format!(
            "generateAccessToken response has an `expireTime` that is not an RFC 3339 \
             timestamp: {shown}"
        ))
    })?;
    if expires_at <= now {
        return Err(expired_on_arrival(&shown, expires_at, now, server_date));
    }
    let expires_at = match now.checked_add(crate::MAX_LIFETIME) {
        Some(latest) if expires_at > latest => {
            tracing::debug!(
                expire_time = %expire_time,
                "generateAccessToken answered a lifetime beyond 12 hours; using 12 hours"
            );
            latest
        }
        _ => expires_at,
    };
    Ok(AccessToken::expiring_at_as_of(
        access_token.expose_secret(),
        expires_at,
        now,
    ))
}

/// The error for an `expireTime` that is not after `now`: the server's clock (its `Date`), when
/// known, tells a wrong local clock from a misbehaving server.
fn expired_on_arrival(
    shown: &str,
    expires_at: SystemTime,
    now: SystemTime,
    server_date: Option<SystemTime>,
) -> Error {
    let ago = now.duration_since(expires_at).unwrap_or_default().as_secs();
    let err = Error::invalid_response(
        Step::Impersonation,
        format!(
            "generateAccessToken answered a token that expired {ago}s before it arrived by this \
             machine's clock (`expireTime` {shown})"
        ),
    );
    let hint = match server_date {
        Some(date) if date < expires_at => format!(
            "the server's clock (its Date header) says the token is still valid: this machine's \
             clock is about {}s ahead; sync it with NTP (chrony, systemd-timesyncd)",
            now.duration_since(date).unwrap_or_default().as_secs()
        ),
        Some(_) => "the server's own clock (its Date header) says the token had already expired \
             when it was issued: the endpoint is not a working IAM Credentials service (check \
             service_account_impersonation_url)"
            .to_owned(),
        None => "check this machine's clock (sync it with NTP); if it is right, the endpoint is \
             not a working IAM Credentials service (check service_account_impersonation_url)"
            .to_owned(),
    };
    err.with_hint(hint)
}

/// RFC 3339 with fractional seconds and offsets. `None` for anything else, including times
/// before 1970 (never a real expiry), so the conversion cannot overflow.
fn parse_expire_time(text: &str) -> Option<SystemTime> {
    let at = OffsetDateTime::parse(text.trim(), &Rfc3339).ok()?;
    let secs = u64::try_from(at.unix_timestamp()).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, at.nanosecond()))
}

#[async_trait]
impl TokenProvider for Impersonation {
    /// Gets the federated token from the inner provider (its errors pass through unchanged),
    /// then calls `generateAccessToken`, retrying per the [`RetryPolicy`]. With
    /// [`connect_ahead`](ImpersonationBuilder::connect_ahead), the connection to IAM Credentials
    /// is opened while the federated token is being fetched.
    ///
    /// A 401 means IAM no longer accepts the federated token although it has not expired by our
    /// clock (revoked, expired early at Google): the inner provider is told to drop it
    /// ([`TokenProvider::invalidate`]) and the call is made once more with a new one. Without
    /// this, a cached federated token would fail every refresh until its own expiry, up to an
    /// hour (found by the fault-injection suite, `tests/tests/faults.rs`).
    async fn token(&self) -> Result<AccessToken, Error> {
        let inner = &*self.inner;
        let span = tracing::debug_span!("impersonation", service_account = %inner.settings.email);
        async {
            let federated = crate::connect_ahead::federated_token(&inner.settings).await?;
            match inner.generate_with_retries(&federated).await {
                Err(e) if e.status() == Some(401) => {
                    tracing::debug!(
                        "IAM Credentials refused the federated token; getting a new one"
                    );
                    inner.settings.federated.invalidate();
                    let federated = inner.settings.federated.token().await?;
                    inner.generate_with_retries(&federated).await
                }
                result => result,
            }
        }
        .instrument(span)
        .await
    }

    /// Impersonation caches nothing itself: asks the federated provider (the cached STS
    /// exchange, in a chain the `wif` facade builds) to forget its tokens, so the next call
    /// exchanges again.
    fn invalidate_all(&self) {
        self.inner.settings.federated.invalidate_all();
    }
}

impl fmt::Debug for Impersonation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.inner.settings;
        f.debug_struct("Impersonation")
            .field("service_account", &s.email)
            .field("url", &wif_core::http::describe_url(&s.url))
            .field("scopes", &s.scopes)
            .field("lifetime", &s.lifetime)
            .field("delegates", &s.delegates)
            .field("quota_project", &s.quota_project)
            .field("timeout", &s.timeout)
            .field("connect_ahead", &s.connect_ahead)
            .field("retry", &s.retry)
            .field("federated", &s.federated)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
