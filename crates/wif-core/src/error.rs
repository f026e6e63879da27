//! The one error type of wif-rs.
//!
//! Every failure says **which step** of the chain failed ([`Step`]), **what kind** of failure it was
//! ([`ErrorKind`]), what the server said ([`ServerError`], parsed from RFC 6749 §5.2 OAuth errors or
//! `google.rpc.Status` bodies), whether **retrying can help** ([`Error::is_retryable`]) and, when the
//! cause is a known misconfiguration, the typed **cause** ([`Error::known_cause`], a [`Cause`]
//! of the catalogue) and a **hint** ([`Error::hint`]).
//!
//! Response bodies are never kept or printed whole: they can hold tokens. Only the parsed, named
//! fields of an error body (`error`, `error_description`, `status`, `message`, `reason`) are kept.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::{Cause, Redactor};

/// The step of the token chain that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// Reading or validating configuration, before any network call.
    Config,
    /// Obtaining the subject token (AWS signing, file, URL, executable, your own source).
    Source,
    /// The Google STS token exchange (RFC 8693).
    Exchange,
    /// Service-account impersonation (IAM Credentials `generateAccessToken`).
    Impersonation,
    /// A Google Cloud API call made with the token.
    Api,
}

impl Step {
    /// A short human name of the step, as used in messages.
    pub fn describe(self) -> &'static str {
        match self {
            Step::Config => "configuration",
            Step::Source => "subject token source",
            Step::Exchange => "STS token exchange",
            Step::Impersonation => "service account impersonation",
            Step::Api => "Google Cloud API call",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// What kind of failure happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Configuration is missing, malformed or contradictory. Never retryable.
    InvalidConfig,
    /// The feature or credential source is recognised but not supported by this build.
    NotSupported,
    /// The request could not be sent or no response arrived (DNS, connect, reset).
    Transport,
    /// The request or the whole operation ran past its timeout or deadline.
    Timeout,
    /// The server answered with a non-success HTTP status.
    Http,
    /// The server answered with success, but the body is not what the protocol says.
    InvalidResponse,
    /// A local I/O operation (reading a file, running a process) failed.
    Io,
    /// The subject token itself is unusable (empty, missing field, expired).
    InvalidToken,
    /// A bug or panic inside a provider; reported instead of propagating the panic.
    Internal,
}

/// What the server said, parsed from its error body.
///
/// Holds the named fields of an OAuth 2.0 error (`error`, `error_description`) or of a
/// `google.rpc.Status` (`status`, `message`, the first `errors[].reason` or `ErrorInfo.reason`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerError {
    /// OAuth `error` code (`invalid_grant`) or google.rpc `status` (`PERMISSION_DENIED`).
    pub code: Option<String>,
    /// OAuth `error_description` or google.rpc `message`.
    pub message: Option<String>,
    /// Machine-readable reason: `errors[0].reason` (`rateLimitExceeded`) or `ErrorInfo.reason`.
    pub reason: Option<String>,
}

/// Longest server message we keep; anything longer is cut so a misbehaving server can't flood logs.
const MAX_SERVER_TEXT: usize = 1024;

impl ServerError {
    /// Parses an error body of either family. Returns `None` when the body is not JSON or has no
    /// recognisable error fields; the body itself is never kept.
    pub fn from_body(body: &[u8]) -> Option<ServerError> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        let obj = value.as_object()?;
        match obj.get("error")? {
            // RFC 6749 §5.2: {"error": "invalid_grant", "error_description": "..."}
            serde_json::Value::String(code) => Some(ServerError {
                code: Some(clip(code)),
                message: obj
                    .get("error_description")
                    .and_then(|v| v.as_str())
                    .map(clip),
                reason: None,
            }),
            // google.rpc.Status: {"error": {"code": 403, "status": "...", "message": "...", ...}}
            serde_json::Value::Object(status) => {
                let reason = status
                    .get("errors")
                    .and_then(|e| e.as_array())
                    .and_then(|a| a.first())
                    .and_then(|e| e.get("reason"))
                    .and_then(|r| r.as_str())
                    .or_else(|| {
                        status
                            .get("details")
                            .and_then(|d| d.as_array())?
                            .iter()
                            .find_map(|d| d.get("reason").and_then(|r| r.as_str()))
                    })
                    .map(clip);
                Some(ServerError {
                    code: status.get("status").and_then(|v| v.as_str()).map(clip),
                    message: status.get("message").and_then(|v| v.as_str()).map(clip),
                    reason,
                })
            }
            _ => None,
        }
    }

    /// Builds a server error from its parts, each clipped to 1 KiB like parsed ones.
    pub fn new(code: Option<String>, message: Option<String>) -> Self {
        ServerError {
            code: code.as_deref().map(clip),
            message: message.as_deref().map(clip),
            reason: None,
        }
    }
}

fn clip(s: &str) -> String {
    if s.len() <= MAX_SERVER_TEXT {
        return s.to_owned();
    }
    let mut end = MAX_SERVER_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.code, &self.message) {
            (Some(c), Some(m)) => write!(f, "{c}: {m}")?,
            (Some(c), None) => write!(f, "{c}")?,
            (None, Some(m)) => write!(f, "{m}")?,
            (None, None) => f.write_str("no error details")?,
        }
        if let Some(r) = &self.reason {
            write!(f, " (reason: {r})")?;
        }
        Ok(())
    }
}

/// The cause an error names: a typed one of the catalogue, or (deprecated API) only an id.
#[derive(Clone, Copy, Debug)]
enum Named {
    Known(&'static Cause),
    Id(&'static str),
}

impl Named {
    fn id(self) -> &'static str {
        match self {
            Named::Known(cause) => cause.id,
            Named::Id(id) => id,
        }
    }
}

/// The error of every wif-rs operation. Cheap to clone (shared by all callers waiting on one refresh).
#[derive(Clone)]
pub struct Error {
    inner: Arc<Inner>,
}

struct Inner {
    step: Step,
    kind: ErrorKind,
    message: String,
    status: Option<u16>,
    server: Option<ServerError>,
    retryable: bool,
    retry_after: Option<Duration>,
    hint: Option<String>,
    cause: Option<Named>,
    server_date: Option<SystemTime>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// A new error of `kind` at `step`. Retryable only for [`ErrorKind::Transport`] and
    /// [`ErrorKind::Timeout`]; use [`Error::retryable`] to override.
    pub fn new(step: Step, kind: ErrorKind, message: impl Into<String>) -> Self {
        let retryable = matches!(kind, ErrorKind::Transport | ErrorKind::Timeout);
        Error {
            inner: Arc::new(Inner {
                step,
                kind,
                message: message.into(),
                status: None,
                server: None,
                retryable,
                retry_after: None,
                hint: None,
                cause: None,
                server_date: None,
                source: None,
            }),
        }
    }

    /// Invalid configuration: names the offending field. Never retryable.
    pub fn config(field: &str, problem: impl fmt::Display) -> Self {
        Error::new(
            Step::Config,
            ErrorKind::InvalidConfig,
            format!("`{field}`: {problem}"),
        )
    }

    /// A recognised feature this build does not support.
    pub fn not_supported(step: Step, what: impl Into<String>) -> Self {
        Error::new(step, ErrorKind::NotSupported, what)
    }

    /// An HTTP error response at `step`. `body` is parsed for the server's words and then dropped.
    ///
    /// Retryable for 408, 429 and 5xx, and for the OAuth codes `internal_failure`, `server_error`
    /// and `temporarily_unavailable`.
    pub fn http(step: Step, status: u16, body: &[u8]) -> Self {
        let server = ServerError::from_body(body);
        let message = match &server {
            Some(_) => format!("HTTP {status}"),
            None if body.is_empty() => format!("HTTP {status} with an empty body"),
            None => format!(
                "HTTP {status} with a body that is not a JSON error ({} bytes, not shown)",
                body.len()
            ),
        };
        Error::http_from(step, status, server, message)
    }

    /// An HTTP error response whose server's words the caller read itself, from a body that is
    /// not JSON (AWS's XML `ErrorResponse`). Retryable as for [`Error::http`].
    pub fn http_with_server_error(step: Step, status: u16, server: ServerError) -> Self {
        Error::http_from(step, status, Some(server), format!("HTTP {status}"))
    }

    fn http_from(step: Step, status: u16, server: Option<ServerError>, message: String) -> Self {
        let oauth_transient = server
            .as_ref()
            .and_then(|s| s.code.as_deref())
            .is_some_and(|c| {
                matches!(
                    c,
                    "internal_failure" | "server_error" | "temporarily_unavailable"
                )
            });
        let retryable = status == 408 || status == 429 || status >= 500 || oauth_transient;
        let mut e = Error::new(step, ErrorKind::Http, message);
        let inner = e.inner_mut();
        inner.status = Some(status);
        inner.server = server;
        inner.retryable = retryable;
        e
    }

    /// A success response whose body does not follow the protocol.
    pub fn invalid_response(step: Step, what: impl Into<String>) -> Self {
        Error::new(step, ErrorKind::InvalidResponse, what)
    }

    /// Your own [`SubjectTokenSource`](crate::SubjectTokenSource) could not produce a token:
    /// `reason` says what failed (never put a secret in it), `retryable` whether trying again
    /// can help (a sidecar still starting: yes; a missing setting: no). A [`Step::Source`]
    /// error of kind [`ErrorKind::Io`]; attach the underlying error with
    /// [`with_source`](Self::with_source) and the fix with [`with_hint`](Self::with_hint).
    ///
    /// ```
    /// use wif_core::{Error, Step};
    ///
    /// let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    /// let err = Error::source_failed("the token sidecar at /run/idp.sock refused the connection", true)
    ///     .with_source(io)
    ///     .with_hint("is the sidecar container running?");
    /// assert_eq!(err.step(), Step::Source);
    /// assert!(err.is_retryable());
    /// ```
    pub fn source_failed(reason: impl Into<String>, retryable: bool) -> Self {
        Error::new(Step::Source, ErrorKind::Io, reason).retryable(retryable)
    }

    /// Your own source obtained a token that cannot be used (empty, expired, the wrong kind):
    /// a [`Step::Source`] error of kind [`ErrorKind::InvalidToken`], not retryable. Describe
    /// the token's problem, never the token.
    pub fn invalid_subject_token(reason: impl Into<String>) -> Self {
        Error::new(Step::Source, ErrorKind::InvalidToken, reason)
    }

    /// Attaches the underlying error. Its `Display` must not contain secrets.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.inner_mut().source = Some(Box::new(source));
        self
    }

    /// Attaches a hint: what to check when this error is caused by a known misconfiguration.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.inner_mut().hint = Some(hint.into());
        self
    }

    /// Names the known misconfiguration or environment problem behind this error: a typed
    /// value of the catalogue (`wif_source_aws::causes::IMDSV2_REQUIRED`, …), stable for
    /// programs — alerting, `wif explain`'s diagnoses — where the message and hint are prose for
    /// people and may change. Without a [hint](Self::with_hint), the cause's fix is the hint.
    pub fn with_known_cause(mut self, cause: &'static Cause) -> Self {
        self.inner_mut().cause = Some(Named::Known(cause));
        self
    }

    /// Names the cause by its id only.
    #[deprecated(
        since = "0.2.0",
        note = "attach a typed cause with `with_known_cause` (a `Cause` const of the crate that recognises it)"
    )]
    pub fn with_cause(mut self, cause: &'static str) -> Self {
        self.inner_mut().cause = Some(Named::Id(cause));
        self
    }

    /// Records the time the server's `Date` header stated, so a diagnosis can compare it with the
    /// local clock (see [`crate::http::clock_skew_seconds`]). [`crate::http::Response::error_for_status`]
    /// sets it for every HTTP error.
    pub fn with_server_date(mut self, at: SystemTime) -> Self {
        self.inner_mut().server_date = Some(at);
        self
    }

    /// Overrides whether retrying can help.
    pub fn retryable(mut self, retryable: bool) -> Self {
        self.inner_mut().retryable = retryable;
        self
    }

    /// Records a server's `Retry-After`, honoured by [`crate::RetryPolicy`].
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.inner_mut().retry_after = Some(after);
        self
    }

    /// Scrubs every secret of `redactor`, in any spelling, from everything this error shows:
    /// its message, the server's words, the hint, and the underlying error (replaced by its
    /// scrubbed text when any error of its chain held a secret). Each layer calls this on every
    /// error of a request before the error leaves the request (see [`Redactor`]).
    pub fn redact(mut self, redactor: &Redactor) -> Self {
        if redactor.is_empty() {
            return self;
        }
        let inner = self.inner_mut();
        if let Cow::Owned(scrubbed) = redactor.scrub(&inner.message) {
            inner.message = scrubbed;
        }
        if let Some(hint) = &mut inner.hint
            && let Cow::Owned(scrubbed) = redactor.scrub(hint)
        {
            *hint = scrubbed;
        }
        if let Some(server) = &mut inner.server {
            for field in [&mut server.code, &mut server.message, &mut server.reason] {
                if let Some(text) = field
                    && let Cow::Owned(scrubbed) = redactor.scrub_clipped(text)
                {
                    *text = scrubbed;
                }
            }
        }
        let leaked = {
            let mut next = inner
                .source
                .as_deref()
                .map(|s| s as &(dyn std::error::Error + 'static));
            let mut leaked = false;
            while let Some(e) = next {
                if matches!(redactor.scrub(&e.to_string()), Cow::Owned(_)) {
                    leaked = true;
                    break;
                }
                next = e.source();
            }
            leaked
        };
        if leaked && let Some(source) = inner.source.take() {
            let text = redactor.scrub(&source.to_string()).into_owned();
            inner.source = Some(Box::new(RedactedSource(text)));
        }
        self
    }

    /// Re-labels the step (used when a lower layer's error surfaces at a higher step).
    pub fn at_step(mut self, step: Step) -> Self {
        self.inner_mut().step = step;
        self
    }

    /// Prefixes the message with context, e.g. the endpoint or file that was involved.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        let inner = self.inner_mut();
        inner.message = format!("{context}: {}", inner.message);
        self
    }

    fn inner_mut(&mut self) -> &mut Inner {
        // Errors are built (mutated) before they are shared, so normally this is the unique
        // owner; if not, we copy instead of panicking (the underlying source is not copied).
        if Arc::get_mut(&mut self.inner).is_none() {
            let i = &self.inner;
            self.inner = Arc::new(Inner {
                step: i.step,
                kind: i.kind,
                message: i.message.clone(),
                status: i.status,
                server: i.server.clone(),
                retryable: i.retryable,
                retry_after: i.retry_after,
                hint: i.hint.clone(),
                cause: i.cause,
                server_date: i.server_date,
                source: None,
            });
        }
        Arc::get_mut(&mut self.inner).unwrap_or_else(|| unreachable!("a fresh Arc is unique"))
    }

    /// The step that failed.
    pub fn step(&self) -> Step {
        self.inner.step
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// Our description of what went wrong (without the server's words or the hint).
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }

    /// What the server said, when it said something parseable.
    pub fn server_error(&self) -> Option<&ServerError> {
        self.inner.server.as_ref()
    }

    /// Whether retrying the same operation could succeed.
    pub fn is_retryable(&self) -> bool {
        self.inner.retryable
    }

    /// The server's `Retry-After`, if it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// What to check, when the cause is a known misconfiguration: the hint the failing layer
    /// gave, else the fix of its [known cause](Self::known_cause).
    pub fn hint(&self) -> Option<&str> {
        match (&self.inner.hint, self.inner.cause) {
            (Some(hint), _) => Some(hint),
            (None, Some(Named::Known(cause))) => Some(cause.fix),
            _ => None,
        }
    }

    /// The known cause, when the failing layer recognised one (see
    /// [`Error::with_known_cause`]).
    pub fn known_cause(&self) -> Option<&'static Cause> {
        match self.inner.cause {
            Some(Named::Known(cause)) => Some(cause),
            _ => None,
        }
    }

    /// The id of the named cause, when the failing layer recognised one.
    #[deprecated(
        since = "0.2.0",
        note = "compare `known_cause()` with the `Cause` const instead of an id string"
    )]
    pub fn cause(&self) -> Option<&'static str> {
        self.inner.cause.map(Named::id)
    }

    /// The server's clock when it answered (its `Date` header), when an HTTP error recorded it.
    pub fn server_date(&self) -> Option<SystemTime> {
        self.inner.server_date
    }

    /// True for configuration errors (detected before any network call).
    pub fn is_config(&self) -> bool {
        self.inner.kind == ErrorKind::InvalidConfig
    }

    /// True for timeouts and exceeded deadlines.
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == ErrorKind::Timeout
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.inner.step, self.inner.message)?;
        if let Some(server) = &self.inner.server {
            write!(f, ": {server}")?;
        }
        if let Some(source) = &self.inner.source {
            write!(f, ": {source}")?;
        }
        if self.inner.kind != ErrorKind::InvalidConfig {
            f.write_str(if self.inner.retryable {
                " (retryable)"
            } else {
                " (not retryable)"
            })?;
        }
        if let Some(hint) = self.hint() {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("step", &self.inner.step)
            .field("kind", &self.inner.kind)
            .field("message", &self.inner.message);
        if let Some(s) = self.inner.status {
            d.field("status", &s);
        }
        if let Some(s) = &self.inner.server {
            d.field("server", s);
        }
        d.field("retryable", &self.inner.retryable);
        if let Some(h) = &self.inner.hint {
            d.field("hint", h);
        }
        if let Some(c) = self.inner.cause {
            d.field("cause", &c.id());
        }
        if let Some(s) = &self.inner.source {
            d.field("source", &format_args!("{s}"));
        }
        d.finish()
    }
}

/// An underlying error whose text held a secret: only its scrubbed text is kept.
#[derive(Debug)]
struct RedactedSource(String);

impl fmt::Display for RedactedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RedactedSource {}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {

    const NO_ROLE: Cause = Cause::new("no_instance_role", "no role", "attach a role");

    #[test]
    fn custom_sources_name_their_step_kind_and_retryability() {
        let transient = Error::source_failed("the IdP at https://idp.example answered 503", true)
            .with_hint("retry later");
        assert_eq!(transient.step(), Step::Source);
        assert_eq!(transient.kind(), ErrorKind::Io);
        assert!(transient.is_retryable());
        assert_eq!(
            transient.to_string(),
            "subject token source failed: the IdP at https://idp.example answered 503 (retryable)\n  hint: retry later"
        );
        let permanent = Error::source_failed("VAULT_ROLE is not set", false);
        assert!(!permanent.is_retryable());
        assert!(permanent.to_string().ends_with("(not retryable)"));

        let invalid = Error::invalid_subject_token("the IdP returned an empty token");
        assert_eq!(
            (invalid.step(), invalid.kind(), invalid.is_retryable()),
            (Step::Source, ErrorKind::InvalidToken, false)
        );
    }

    #[test]
    fn a_known_cause_is_kept_and_shown_in_debug() {
        let err = Error::new(Step::Source, ErrorKind::Http, "GET /role")
            .with_hint("attach the role the provider trusts")
            .with_known_cause(&NO_ROLE);
        let shared = err.clone();
        // Adding context after sharing copies the inner error: the cause must survive that.
        let err = shared.clone().context("AWS instance metadata");
        assert_eq!(err.known_cause(), Some(&NO_ROLE));
        assert_eq!(shared.known_cause(), Some(&NO_ROLE));
        assert!(
            format!("{err:?}").contains("cause: \"no_instance_role\""),
            "{err:?}"
        );
        assert!(
            !err.to_string().contains("no_instance_role"),
            "prose only: {err}"
        );
        assert_eq!(err.hint(), Some("attach the role the provider trusts"));
        assert_eq!(Error::http(Step::Exchange, 500, b"").known_cause(), None);
    }

    #[test]
    fn without_a_hint_the_cause_s_fix_is_the_hint() {
        let err = Error::new(Step::Source, ErrorKind::Http, "GET /role").with_known_cause(&NO_ROLE);
        assert_eq!(err.hint(), Some("attach a role"));
        assert!(err.to_string().ends_with("hint: attach a role"), "{err}");
        assert_eq!(Error::new(Step::Source, ErrorKind::Http, "x").hint(), None);
    }

    #[test]
    #[allow(deprecated)]
    fn the_deprecated_string_cause_still_works() {
        let err = Error::new(Step::Source, ErrorKind::Http, "x").with_cause("legacy_id");
        assert_eq!(err.cause(), Some("legacy_id"));
        assert_eq!(err.known_cause(), None);
        let err = err.with_known_cause(&NO_ROLE);
        assert_eq!(err.cause(), Some("no_instance_role"));
    }

    use super::*;

    #[test]
    fn parses_oauth_error_bodies() {
        let body = br#"{"error":"unauthorized_client","error_description":"The given credential is rejected by the attribute condition."}"#;
        let s = ServerError::from_body(body).expect("oauth body parses");
        assert_eq!(s.code.as_deref(), Some("unauthorized_client"));
        assert_eq!(
            s.message.as_deref(),
            Some("The given credential is rejected by the attribute condition.")
        );
    }

    #[test]
    fn parses_google_rpc_status_bodies() {
        let body = br#"{"error":{"code":403,"message":"Permission 'iam.serviceAccounts.getAccessToken' denied","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"IAM_PERMISSION_DENIED"}]}}"#;
        let s = ServerError::from_body(body).expect("rpc body parses");
        assert_eq!(s.code.as_deref(), Some("PERMISSION_DENIED"));
        assert_eq!(s.reason.as_deref(), Some("IAM_PERMISSION_DENIED"));
        let legacy = br#"{"error":{"code":403,"message":"Exceeded rate limits","errors":[{"reason":"rateLimitExceeded"}]}}"#;
        let s = ServerError::from_body(legacy).expect("legacy body parses");
        assert_eq!(s.reason.as_deref(), Some("rateLimitExceeded"));
        assert_eq!(s.code, None);
    }

    #[test]
    fn non_json_bodies_are_not_echoed() {
        let e = Error::http(
            Step::Exchange,
            502,
            b"<html>secret-looking ya29.token</html>",
        );
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("ya29"), "body leaked: {shown}");
        assert!(shown.contains("HTTP 502"), "{shown}");
        assert!(e.is_retryable());
    }

    #[test]
    fn retryability_follows_status_and_oauth_code() {
        let table: &[(u16, &[u8], bool)] = &[
            (400, br#"{"error":"invalid_grant"}"#, false),
            (400, br#"{"error":"temporarily_unavailable"}"#, true),
            (401, b"", false),
            (403, b"", false),
            (404, b"", false),
            (408, b"", true),
            (429, br#"{"error":"quota_exceeded"}"#, true),
            (500, b"", true),
            (503, b"oops", true),
        ];
        for (status, body, want) in table {
            let e = Error::http(Step::Exchange, *status, body);
            assert_eq!(
                e.is_retryable(),
                *want,
                "status {status} body {:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn display_names_step_server_words_retry_and_hint() {
        let e = Error::http(
            Step::Exchange,
            400,
            br#"{"error":"invalid_target","error_description":"pool disabled"}"#,
        )
        .with_hint("check the audience");
        let s = e.to_string();
        assert!(
            s.starts_with("STS token exchange failed: HTTP 400: invalid_target: pool disabled"),
            "{s}"
        );
        assert!(s.contains("(not retryable)"), "{s}");
        assert!(s.contains("hint: check the audience"), "{s}");
    }

    #[test]
    fn long_server_messages_are_clipped() {
        let long = "x".repeat(10_000);
        let body = format!(r#"{{"error":"e","error_description":"{long}"}}"#);
        let s = ServerError::from_body(body.as_bytes()).expect("parses");
        assert!(s.message.expect("message").len() <= MAX_SERVER_TEXT + 3);
    }
}
