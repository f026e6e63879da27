//! The chain's exchange step ([`Step::Exchange`]), the response half: turning a successful STS
//! answer into an [`AccessToken`] (`docs/protocol.md#sts-response`).
//!
//! Where the peers differ we pick the stricter reading that still accepts what STS sends:
//!
//! * `access_token` missing or empty is an error (Python silently returns a `None` token).
//! * `expires_in` may be a JSON number (Go, the RFC) **or** a string such as `"3600"` (Python
//!   accepts both, and STS has been seen sending strings). Missing, zero, negative or
//!   unparseable values are an error, as in Go (`got invalid expiry from security token
//!   service`): a token with an unknown lifetime can't be cached or refreshed safely, and Python's
//!   behaviour (a crash when missing, an instantly stale token for `0`) helps no one.
//! * Lifetimes above [`MAX_LIFETIME`] are clamped: refreshing early is always safe, believing a
//!   nonsense lifetime is not.
//! * An `access_token` or `token_type` that is not visible ASCII (a newline, a carriage return,
//!   an ESC sequence) is an invalid response, never a token to hand out or print
//!   ([`wif_core::check_issued_token`]).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::time::Instant;
use wif_core::{AccessToken, Error, Step, check_issued_token};

use crate::request::REQUESTED_TOKEN_TYPE;

/// The longest lifetime we believe. STS federated tokens live one hour; anything beyond a day
/// is a misbehaving server or fake.
pub(crate) const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// The RFC 8693 §2.2.1 success body. Unknown fields (`scope`, `refresh_token`) are ignored.
#[derive(Deserialize)]
struct Body {
    access_token: Option<SecretString>,
    expires_in: Option<serde_json::Value>,
    token_type: Option<String>,
    issued_token_type: Option<String>,
}

/// Parses a 2xx body. `sent_at` is the instant taken before the request was sent, so network
/// latency shortens, never lengthens, the believed lifetime.
pub(crate) fn parse(body: &[u8], sent_at: Instant) -> Result<AccessToken, Error> {
    let body: Body = serde_json::from_slice(body).map_err(|e| {
        // serde_json's Display can quote fragments of the input; report only where it broke.
        invalid(format!(
            "the success response is not the expected JSON object ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;

    let access_token = body
        .access_token
        .filter(|t| !t.expose_secret().is_empty())
        .ok_or_else(|| invalid("the success response has no `access_token`"))?;
    check_issued_token(Step::Exchange, "access_token", access_token.expose_secret())?;

    let expires_in = match body.expires_in {
        None | Some(serde_json::Value::Null) => {
            return Err(invalid("the success response has no `expires_in`"));
        }
        Some(value) => lifetime(&value).ok_or_else(|| {
            invalid(format!(
                "the success response has an invalid `expires_in` ({}); expected a positive number of seconds",
                describe(&value)
            ))
        })?,
    };

    if let Some(issued) = body
        .issued_token_type
        .as_deref()
        .filter(|t| *t != REQUESTED_TOKEN_TYPE)
    {
        // Not fatal: the token is still usable as a bearer token if the server says so.
        tracing::warn!(
            issued_token_type = issued,
            "STS issued a different token type than requested"
        );
    }

    let token_type = body.token_type.as_deref().map(str::trim);
    if let Some(token_type) = token_type {
        check_issued_token(Step::Exchange, "token_type", token_type)?;
    }
    let token = AccessToken::expiring_in(access_token.expose_secret(), sent_at, expires_in);
    Ok(match token_type {
        // RFC 6750 schemes are case-insensitive; normalise the common spelling like Go does.
        None | Some("") => token,
        Some(t) if t.eq_ignore_ascii_case("bearer") => token,
        Some(other) => token.with_token_type(other),
    })
}

/// A positive lifetime from a JSON number or numeric string, clamped to [`MAX_LIFETIME`].
fn lifetime(value: &serde_json::Value) -> Option<Duration> {
    let seconds = match value {
        serde_json::Value::Number(n) => n.as_f64()?,
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    // Sub-second remainders are dropped: they only matter for a token that is already useless.
    if !seconds.is_finite() || seconds < 1.0 {
        return None;
    }
    Some(Duration::from_secs(
        seconds.min(MAX_LIFETIME.as_secs_f64()) as u64
    ))
}

/// A short, safe description of a rejected `expires_in` (never a token: it is a number field).
fn describe(value: &serde_json::Value) -> String {
    let shown = value.to_string();
    if shown.len() <= 32 {
        shown
    } else {
        format!("a {} byte value", shown.len())
    }
}

fn invalid(what: impl Into<String>) -> Error {
    Error::invalid_response(Step::Exchange, what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wif_core::ErrorKind;

    #[tokio::test(start_paused = true)]
    async fn expires_in_as_number_or_string() {
        let now = Instant::now();
        for body in [
            r#"{"access_token":"ya29.a","expires_in":3599,"token_type":"Bearer"}"#,
            r#"{"access_token":"ya29.a","expires_in":"3599","token_type":"Bearer"}"#,
            r#"{"access_token":"ya29.a","expires_in":" 3599 "}"#,
            r#"{"access_token":"ya29.a","expires_in":3599.7}"#,
        ] {
            let t = parse(body.as_bytes(), now).expect(body);
            assert_eq!(t.remaining(), Some(Duration::from_secs(3599)), "{body}");
            assert_eq!(t.token_type(), "Bearer", "{body}");
            assert_eq!(t.secret().expose_secret(), "ya29.a");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn lifetime_counts_from_the_instant_before_sending() {
        let sent_at = Instant::now();
        tokio::time::advance(Duration::from_secs(2)).await;
        let t = parse(br#"{"access_token":"x","expires_in":60}"#, sent_at).expect("parses");
        assert_eq!(t.remaining(), Some(Duration::from_secs(58)));
    }

    #[tokio::test(start_paused = true)]
    async fn huge_lifetimes_are_clamped() {
        let t = parse(
            br#"{"access_token":"x","expires_in":1e300}"#,
            Instant::now(),
        )
        .expect("parses");
        assert_eq!(t.remaining(), Some(MAX_LIFETIME));
    }

    #[test]
    fn rejects_bad_bodies_without_echoing_them() {
        let table: &[(&str, &str)] = &[
            (r#"{"expires_in":3600}"#, "no `access_token`"),
            (
                r#"{"access_token":"","expires_in":3600}"#,
                "no `access_token`",
            ),
            (
                r#"{"access_token":null,"expires_in":3600}"#,
                "no `access_token`",
            ),
            (r#"{"access_token":"ya29.secret"}"#, "no `expires_in`"),
            (
                r#"{"access_token":"ya29.secret","expires_in":null}"#,
                "no `expires_in`",
            ),
            (
                r#"{"access_token":"ya29.secret","expires_in":0}"#,
                "invalid `expires_in` (0)",
            ),
            (
                r#"{"access_token":"ya29.secret","expires_in":-5}"#,
                "invalid `expires_in` (-5)",
            ),
            (
                r#"{"access_token":"ya29.secret","expires_in":"soon"}"#,
                "invalid `expires_in`",
            ),
            (
                r#"{"access_token":"ya29.secret","expires_in":true}"#,
                "invalid `expires_in`",
            ),
            (r#"<html>ya29.secret</html>"#, "not the expected JSON"),
            (r#"["ya29.secret"]"#, "not the expected JSON"),
            (
                r#"{"access_token":"ya29.secret","expires_in":1,"token_type":7}"#,
                "not the expected JSON",
            ),
            ("", "not the expected JSON"),
        ];
        for (body, want) in table {
            assert_refused(body, want);
        }
    }

    /// Asserts that STS's answer `body` is refused as an invalid exchange response that says
    /// `want` (and cannot be retried away), without showing the token `ya29.secret` it holds.
    #[track_caller]
    fn assert_refused(body: &str, want: &str) {
        let e = parse(body.as_bytes(), Instant::now()).expect_err(body);
        assert_eq!(e.step(), Step::Exchange, "{body}");
        assert_eq!(e.kind(), ErrorKind::InvalidResponse, "{body}");
        assert!(!e.is_retryable(), "{body}");
        let shown = format!("{e} {e:?}");
        assert!(shown.contains(want), "{body}: {shown}");
        assert!(!shown.contains("ya29.secret"), "{body}: {shown}");
    }

    #[test]
    fn tokens_and_types_with_control_characters_are_refused() {
        for (body, field) in [
            (
                r#"{"access_token":"ya29.secret\n","expires_in":60}"#,
                "`access_token` contains a control character",
            ),
            (
                r#"{"access_token":"ya29.secret\r\nX-Injected: 1","expires_in":60}"#,
                "`access_token` contains a control character",
            ),
            (
                r#"{"access_token":"\u001b]0;pwned\u0007ya29.secret","expires_in":60}"#,
                "`access_token` contains a control character (at byte 0)",
            ),
            (
                r#"{"access_token":"ya29.secret","expires_in":60,"token_type":"Bearer\u001b[2J"}"#,
                "`token_type` contains a control character",
            ),
            (
                r#"{"access_token":"ya29.secret","expires_in":60,"token_type":"Be arer"}"#,
                "`token_type` contains a space",
            ),
        ] {
            assert_refused(body, field);
        }
    }

    #[test]
    fn token_type_is_normalised_or_kept() {
        let t = parse(
            br#"{"access_token":"x","expires_in":60,"token_type":"bearer"}"#,
            Instant::now(),
        )
        .expect("parses");
        assert_eq!(t.token_type(), "Bearer");
        let t = parse(
            br#"{"access_token":"x","expires_in":60,"token_type":"DPoP","issued_token_type":"urn:x"}"#,
            Instant::now(),
        )
        .expect("parses");
        assert_eq!(t.token_type(), "DPoP");
    }
}
