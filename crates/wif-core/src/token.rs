//! The two secrets that travel through the chain: the [`SubjectToken`] a source produces (the
//! workload's proof of identity) and the [`AccessToken`] Google hands back.
//!
//! Both keep their value in a [`secrecy::SecretString`] and print as `[REDACTED]` in `Debug`; the
//! only way to the value is [`ExposeSecret::expose_secret`], which makes every use visible in review.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, SystemTime};

use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use crate::{Error, ErrorKind, Step};

/// The proof of identity a [`crate::SubjectTokenSource`] produced: an OIDC/SAML token, or the
/// serialized, SigV4-signed AWS `GetCallerIdentity` request.
#[derive(Clone)]
pub struct SubjectToken {
    value: SecretString,
    expires_at: Option<SystemTime>,
}

impl SubjectToken {
    /// Wraps a subject token value.
    pub fn new(value: impl Into<String>) -> Self {
        SubjectToken {
            value: SecretString::from(value.into()),
            expires_at: None,
        }
    }

    /// Records when the token stops being valid, if the source knows (executable sources do).
    pub fn with_expires_at(mut self, at: SystemTime) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// When the token stops being valid, if known.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// The token value. Handle with care: it is a credential.
    pub fn secret(&self) -> &SecretString {
        &self.value
    }

    /// Length of the value in bytes (useful for diagnostics without exposing the value).
    pub fn len(&self) -> usize {
        self.value.expose_secret().len()
    }

    /// True when the value is empty.
    pub fn is_empty(&self) -> bool {
        self.value.expose_secret().is_empty()
    }
}

impl fmt::Debug for SubjectToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubjectToken")
            .field("value", &"[REDACTED]")
            .field("len", &self.len())
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// An OAuth 2.0 access token for Google APIs, with its expiry.
///
/// A clone is a private copy of the value (one small allocation), not a shared reference count:
/// caches hand out clones on every call, from every thread, and a shared count would make all of
/// them write to one cache line. The copy is zeroed when dropped, like the original.
#[derive(Clone)]
pub struct AccessToken {
    value: SecretString,
    token_type: Cow<'static, str>,
    /// Monotonic expiry: what refresh decisions use (immune to wall-clock jumps, and to
    /// `tokio::time::pause` in tests).
    expires_at: Option<Instant>,
    /// Wall-clock expiry, for display and JSON output.
    expires_at_utc: Option<SystemTime>,
}

impl AccessToken {
    fn bearer(
        value: String,
        expires_at: Option<Instant>,
        expires_at_utc: Option<SystemTime>,
    ) -> Self {
        AccessToken {
            value: SecretString::from(value),
            token_type: Cow::Borrowed("Bearer"),
            expires_at,
            expires_at_utc,
        }
    }

    /// A bearer token with no known expiry.
    pub fn new(value: impl Into<String>) -> Self {
        Self::bearer(value.into(), None, None)
    }

    /// A bearer token valid for `expires_in` from `now` (a monotonic instant taken *before* the
    /// request was sent, so network latency shortens, never lengthens, the believed lifetime).
    pub fn expiring_in(value: impl Into<String>, now: Instant, expires_in: Duration) -> Self {
        let wall_now = SystemTime::now();
        Self::bearer(
            value.into(),
            now.checked_add(expires_in),
            wall_now.checked_add(expires_in.saturating_sub(now.elapsed())),
        )
    }

    /// A bearer token valid until the wall-clock time `at` (e.g. IAM Credentials' `expireTime`).
    /// The monotonic expiry is derived from the current wall clock once, here.
    pub fn expiring_at(value: impl Into<String>, at: SystemTime) -> Self {
        Self::expiring_at_as_of(value, at, SystemTime::now())
    }

    /// Like [`expiring_at`](Self::expiring_at), with the wall clock read by the caller (an
    /// injected [`crate::Clock`]): the token is valid for `at - now` from this instant on.
    pub fn expiring_at_as_of(value: impl Into<String>, at: SystemTime, now: SystemTime) -> Self {
        let remaining = at.duration_since(now).unwrap_or(Duration::ZERO);
        Self::bearer(
            value.into(),
            Instant::now().checked_add(remaining),
            Some(at),
        )
    }

    /// Replaces the token type (default `Bearer`).
    pub fn with_token_type(mut self, token_type: impl Into<String>) -> Self {
        let token_type: String = token_type.into();
        self.token_type = if token_type == "Bearer" {
            Cow::Borrowed("Bearer")
        } else {
            Cow::Owned(token_type)
        };
        self
    }

    /// The token value. Handle with care: it is a credential.
    pub fn secret(&self) -> &SecretString {
        &self.value
    }

    /// The token type, normally `Bearer`.
    pub fn token_type(&self) -> &str {
        &self.token_type
    }

    /// Monotonic expiry, if known.
    pub fn expires_at(&self) -> Option<Instant> {
        self.expires_at
    }

    /// Wall-clock expiry, if known.
    pub fn expires_at_utc(&self) -> Option<SystemTime> {
        self.expires_at_utc
    }

    /// Time left before expiry (`None` if the expiry is unknown; zero once expired).
    pub fn remaining(&self) -> Option<Duration> {
        self.expires_at
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// The value of an `Authorization` header for this token, marked sensitive so `http` and
    /// `reqwest` never print it.
    pub fn authorization_header(&self) -> http::HeaderValue {
        let raw = format!("{} {}", self.token_type, self.value.expose_secret());
        match http::HeaderValue::from_str(&raw) {
            Ok(mut v) => {
                v.set_sensitive(true);
                v
            }
            // A token with control characters can't be sent; an empty header makes the server
            // answer 401, which surfaces as an error at the API step instead of a panic here.
            Err(_) => http::HeaderValue::from_static(""),
        }
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &"[REDACTED]")
            .field("token_type", &self.token_type)
            .field("remaining", &self.remaining())
            .finish()
    }
}

/// Checks a value a server issued as a token (or as its type) before anything uses it: it must
/// be visible ASCII (`!` to `~`), as RFC 6750's `b64token` and RFC 6749's token types are.
///
/// A control character (`\n`, `\r`, ESC) in a token printed by `wif token` would rewrite the
/// terminal or inject a line into a script's input; in a header it would split the request. The
/// error, an [`ErrorKind::InvalidResponse`] at `step` that is not retryable, names `field` and
/// the character's position, never the value.
pub fn check_issued_token(step: Step, field: &str, value: &str) -> Result<(), Error> {
    let Some((at, c)) = value.char_indices().find(|(_, c)| !matches!(c, '!'..='~')) else {
        return Ok(());
    };
    let what = if c.is_control() {
        "a control character"
    } else if c == ' ' {
        "a space"
    } else {
        "a character outside visible ASCII"
    };
    Err(Error::new(
        step,
        ErrorKind::InvalidResponse,
        format!(
            "the server's `{field}` contains {what} (at byte {at}): a token is visible ASCII, \
             so this answer is not a token to use or print"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_must_be_visible_ascii() {
        for ok in ["ya29.a0AfB_-~+/=", "Bearer", "x"] {
            assert!(
                check_issued_token(Step::Exchange, "access_token", ok).is_ok(),
                "{ok}"
            );
        }
        for (bad, what) in [
            ("ya29.abc\n", "control character (at byte 8)"),
            ("ya29\rabc", "control character (at byte 4)"),
            ("\u{1b}[2Jya29", "control character (at byte 0)"),
            ("ya29 abc", "a space"),
            ("ya29é", "outside visible ASCII"),
            ("ya29\u{7f}", "control character"),
        ] {
            let e = check_issued_token(Step::Impersonation, "accessToken", bad).expect_err(bad);
            assert_eq!(e.step(), Step::Impersonation);
            assert_eq!(e.kind(), ErrorKind::InvalidResponse);
            assert!(!e.is_retryable(), "{e}");
            let shown = format!("{e} {e:?}");
            assert!(
                shown.contains("`accessToken`") && shown.contains(what),
                "{shown}"
            );
            assert!(!shown.contains("ya29"), "{shown}");
        }
    }

    #[test]
    fn debug_never_shows_values() {
        let s = SubjectToken::new("subject-secret-123");
        let a = AccessToken::new("ya29.access-secret-456");
        let shown = format!("{s:?} {a:?} {:?}", a.authorization_header());
        assert!(!shown.contains("subject-secret-123"), "{shown}");
        assert!(!shown.contains("access-secret-456"), "{shown}");
        assert!(shown.contains("[REDACTED]"), "{shown}");
    }

    #[tokio::test(start_paused = true)]
    async fn expiry_is_monotonic_from_the_given_instant() {
        let start = Instant::now();
        let t = AccessToken::expiring_in("x", start, Duration::from_secs(3600));
        assert_eq!(t.remaining(), Some(Duration::from_secs(3600)));
        tokio::time::advance(Duration::from_secs(600)).await;
        assert_eq!(t.remaining(), Some(Duration::from_secs(3000)));
        tokio::time::advance(Duration::from_secs(4000)).await;
        assert_eq!(t.remaining(), Some(Duration::ZERO));
    }

    #[test]
    fn authorization_header_has_type_and_value() {
        let t = AccessToken::new("abc");
        assert_eq!(t.authorization_header().to_str().ok(), Some("Bearer abc"));
        assert!(t.authorization_header().is_sensitive());
    }
}
