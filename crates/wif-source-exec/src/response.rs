//! The executable's response (pluggable-auth protocol version 1) and its validation.
//!
//! ```json
//! {"version": 1, "success": true, "token_type": "urn:ietf:params:oauth:token-type:id_token",
//!  "id_token": "eyJ…", "expiration_time": 1700000000}
//! {"version": 1, "success": false, "code": "401", "message": "Caller not authorized"}
//! ```
//!
//! Checks run in Python google-auth's order (`docs/protocol.md#executable-source`): version,
//! success, the failure's code and message, expiry, token type, token field. Every problem names
//! the field; no message ever contains the token or the raw body.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use wif_core::SubjectToken;
use wif_core::protocol::{
    ID_TOKEN_SUBJECT_TOKEN_TYPE as ID_TOKEN, JWT_SUBJECT_TOKEN_TYPE as JWT,
    SAML2_SUBJECT_TOKEN_TYPE as SAML2,
};

/// The protocol version this crate speaks.
const SUPPORTED_VERSION: i64 = 1;

/// Longest `code`, `message` or `token_type` repeated in an error; a misbehaving executable must
/// not be able to flood logs.
const MAX_ECHO: usize = 512;

/// A valid, successful, unexpired response.
#[derive(Debug)]
pub(crate) struct Parsed {
    /// The token, already behind `secrecy`, carrying `expiration_time` when there was one.
    pub token: SubjectToken,
    /// Whether `expiration_time` was present (a cached response without it counts as expired).
    pub has_expiration: bool,
}

/// Which class of problem a response has; decides what a cached response's problem means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProblemKind {
    /// Not JSON, not an object, or a field missing or of the wrong type. A cached response
    /// like this is an error: someone should look at the file.
    Malformed,
    /// Well-formed, but a version or token type this crate does not know.
    Unsupported,
    /// `success: false`, with the executable's code and message.
    Unsuccessful,
    /// `expiration_time` is in the past.
    Expired,
}

/// What is wrong with a response, in words safe to show (never the token, never the body).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    pub kind: ProblemKind,
    pub message: String,
}

impl Problem {
    fn malformed(message: impl Into<String>) -> Self {
        Problem {
            kind: ProblemKind::Malformed,
            message: message.into(),
        }
    }

    /// A cached response with this problem is discarded and the executable runs (Python's
    /// `RefreshError` class, Go's "non-cacheable" errors).
    pub fn means_run_again(&self) -> bool {
        self.kind != ProblemKind::Malformed
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Validates a response body read at wall-clock time `now`.
pub(crate) fn parse(body: &[u8], now: SystemTime) -> Result<Parsed, Problem> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        // Only the position: serde's messages for syntax errors carry no content, but say so
        // explicitly rather than rely on it.
        Problem::malformed(format!(
            "the response is not valid JSON (error at line {} column {}; {} bytes, not shown)",
            e.line(),
            e.column(),
            body.len()
        ))
    })?;
    let Value::Object(obj) = value else {
        return Err(Problem::malformed(format!(
            "the response is {}, not a JSON object",
            wif_core::json::type_name(&value)
        )));
    };

    let version = match obj.get("version") {
        None | Some(Value::Null) => {
            return Err(Problem::malformed(
                "the response is missing the `version` field",
            ));
        }
        Some(v) => v.as_i64().ok_or_else(|| {
            Problem::malformed(format!(
                "`version` must be an integer, found {}",
                wif_core::json::type_name(v)
            ))
        })?,
    };
    if version != SUPPORTED_VERSION {
        return Err(Problem {
            kind: ProblemKind::Unsupported,
            message: format!(
                "unsupported response `version` {version}; version {SUPPORTED_VERSION} is supported"
            ),
        });
    }

    let success = match obj.get("success") {
        None | Some(Value::Null) => {
            return Err(Problem::malformed(
                "the response is missing the `success` field",
            ));
        }
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            return Err(Problem::malformed(format!(
                "`success` must be true or false, found {}",
                wif_core::json::type_name(v)
            )));
        }
    };
    if !success {
        return Err(unsuccessful(&obj));
    }

    let expires_at = match obj.get("expiration_time") {
        None => None,
        Some(v) => Some(expiration(v, now)?),
    };

    let token_type = match obj.get("token_type") {
        None | Some(Value::Null) => {
            return Err(Problem::malformed(
                "the response is missing the `token_type` field",
            ));
        }
        Some(Value::String(s)) => s.as_str(),
        Some(v) => {
            return Err(Problem::malformed(format!(
                "`token_type` must be a string, found {}",
                wif_core::json::type_name(v)
            )));
        }
    };
    let field = match token_type {
        JWT | ID_TOKEN => "id_token",
        SAML2 => "saml_response",
        other => {
            return Err(Problem {
                kind: ProblemKind::Unsupported,
                message: format!(
                    "unsupported `token_type` `{}`; expected `{JWT}`, `{ID_TOKEN}` or `{SAML2}`",
                    clip(other)
                ),
            });
        }
    };
    let value = match obj.get(field) {
        None | Some(Value::Null) => {
            return Err(Problem::malformed(format!(
                "the response is missing the `{field}` field required by `token_type` `{token_type}`"
            )));
        }
        Some(Value::String(s)) if s.is_empty() => {
            return Err(Problem::malformed(format!("`{field}` is empty")));
        }
        Some(Value::String(s)) => s.clone(),
        Some(v) => {
            return Err(Problem::malformed(format!(
                "`{field}` must be a string, found {}",
                wif_core::json::type_name(v)
            )));
        }
    };

    let mut token = SubjectToken::new(value);
    if let Some(at) = expires_at {
        token = token.with_expires_at(at);
    }
    Ok(Parsed {
        token,
        has_expiration: expires_at.is_some(),
    })
}

/// The problem of a `success: false` response: its code and message, which the protocol meant
/// for humans (clipped, in case the executable disagrees).
fn unsuccessful(obj: &Map<String, Value>) -> Problem {
    let code = match obj.get("code") {
        Some(Value::String(s)) if !s.is_empty() => Some(clip(s)),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let message = match obj.get("message") {
        Some(Value::String(s)) if !s.is_empty() => Some(clip(s)),
        _ => None,
    };
    match (code, message) {
        (Some(code), Some(message)) => Problem {
            kind: ProblemKind::Unsuccessful,
            message: format!("unsuccessful response: code {code}: {message}"),
        },
        _ => Problem::malformed(
            "an unsuccessful response (`success: false`) must have string `code` and `message` fields",
        ),
    }
}

/// Checks `expiration_time` (Unix seconds) against `now`; equal is still valid, as in Python.
fn expiration(v: &Value, now: SystemTime) -> Result<SystemTime, Problem> {
    let Some(secs) = v.as_f64() else {
        return Err(Problem::malformed(format!(
            "`expiration_time` must be a number of seconds since the Unix epoch, found {}",
            wif_core::json::type_name(v)
        )));
    };
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    if secs < now_secs {
        return Err(Problem {
            kind: ProblemKind::Expired,
            message: format!(
                "the token is expired (`expiration_time` {} is {} s in the past)",
                v,
                (now_secs - secs).ceil()
            ),
        });
    }
    Duration::try_from_secs_f64(secs)
        .ok()
        .and_then(|d| UNIX_EPOCH.checked_add(d))
        .ok_or_else(|| Problem::malformed("`expiration_time` is out of range"))
}

fn clip(s: &str) -> String {
    if s.len() <= MAX_ECHO {
        return s.to_owned();
    }
    let mut end = MAX_ECHO;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use wif_core::secrecy::ExposeSecret;

    const NOW: u64 = 1_700_000_000;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }

    fn check(body: &str) -> Result<Parsed, Problem> {
        parse(body.as_bytes(), now())
    }

    #[track_caller]
    fn problem(body: &str, kind: ProblemKind, words: &[&str]) {
        let p = check(body).expect_err(body);
        assert_eq!(p.kind, kind, "{body}: {p}");
        for w in words {
            assert!(p.message.contains(w), "{body}: {p} lacks {w}");
        }
        assert!(!p.message.contains("SECRET"), "{body}: leaked: {p}");
    }

    #[test]
    fn id_token_jwt_and_saml_responses_parse() {
        let p = check(r#"{"version":1,"success":true,"token_type":"urn:ietf:params:oauth:token-type:id_token","id_token":"ID-SECRET","expiration_time":1700000100}"#).expect("id_token");
        assert_eq!(p.token.secret().expose_secret(), "ID-SECRET");
        assert_eq!(
            p.token.expires_at(),
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_100))
        );
        assert!(p.has_expiration);

        let p = check(r#"{"version":1,"success":true,"token_type":"urn:ietf:params:oauth:token-type:jwt","id_token":"JWT-SECRET"}"#).expect("jwt");
        assert_eq!(p.token.secret().expose_secret(), "JWT-SECRET");
        assert_eq!(p.token.expires_at(), None);
        assert!(!p.has_expiration);

        let p = check(r#"{"version":1,"success":true,"token_type":"urn:ietf:params:oauth:token-type:saml2","saml_response":"SAML-SECRET","expiration_time":1700000000}"#).expect("saml, expiring exactly now");
        assert_eq!(p.token.secret().expose_secret(), "SAML-SECRET");
    }

    #[test]
    fn each_problem_names_its_field_and_class() {
        use ProblemKind::*;
        let ok_head = r#""version":1,"success":true"#;
        problem("not json SECRET", Malformed, &["not valid JSON", "line 1"]);
        problem(r#"["SECRET"]"#, Malformed, &["an array", "object"]);
        problem(r#"{"success":true}"#, Malformed, &["`version`"]);
        problem(
            r#"{"version":"1","success":true}"#,
            Malformed,
            &["`version`", "integer"],
        );
        problem(
            r#"{"version":2,"success":true}"#,
            Unsupported,
            &["`version` 2"],
        );
        problem(
            r#"{"version":0,"success":true}"#,
            Unsupported,
            &["`version` 0"],
        );
        problem(r#"{"version":1}"#, Malformed, &["`success`"]);
        problem(
            r#"{"version":1,"success":"yes"}"#,
            Malformed,
            &["`success`", "true or false"],
        );
        problem(
            r#"{"version":1,"success":false,"code":"401","message":"Caller not authorized"}"#,
            Unsuccessful,
            &["code 401", "Caller not authorized"],
        );
        problem(
            r#"{"version":1,"success":false,"code":401,"message":"no"}"#,
            Unsuccessful,
            &["code 401: no"],
        );
        problem(
            r#"{"version":1,"success":false,"message":"no"}"#,
            Malformed,
            &["`code`", "`message`"],
        );
        problem(
            r#"{"version":1,"success":false,"code":"1"}"#,
            Malformed,
            &["`code`", "`message`"],
        );
        problem(
            &format!(
                r#"{{{ok_head},"token_type":"urn:ietf:params:oauth:token-type:jwt","id_token":"SECRET","expiration_time":1699999999}}"#
            ),
            Expired,
            &["expired", "`expiration_time` 1699999999", "1 s in the past"],
        );
        problem(
            &format!(
                r#"{{{ok_head},"token_type":"urn:ietf:params:oauth:token-type:jwt","id_token":"SECRET","expiration_time":"soon"}}"#
            ),
            Malformed,
            &["`expiration_time`", "a string"],
        );
        problem(
            &format!(r#"{{{ok_head},"id_token":"SECRET"}}"#),
            Malformed,
            &["`token_type`"],
        );
        problem(
            &format!(r#"{{{ok_head},"token_type":7,"id_token":"SECRET"}}"#),
            Malformed,
            &["`token_type`", "a number"],
        );
        problem(
            &format!(r#"{{{ok_head},"token_type":"urn:x:access_token","id_token":"SECRET"}}"#),
            Unsupported,
            &["`token_type` `urn:x:access_token`", "saml2"],
        );
        problem(
            &format!(
                r#"{{{ok_head},"token_type":"urn:ietf:params:oauth:token-type:saml2","id_token":"SECRET"}}"#
            ),
            Malformed,
            &["`saml_response`", "saml2"],
        );
        problem(
            &format!(
                r#"{{{ok_head},"token_type":"urn:ietf:params:oauth:token-type:id_token","saml_response":"SECRET"}}"#
            ),
            Malformed,
            &["`id_token`"],
        );
        problem(
            &format!(
                r#"{{{ok_head},"token_type":"urn:ietf:params:oauth:token-type:id_token","id_token":["SECRET"]}}"#
            ),
            Malformed,
            &["`id_token`", "an array"],
        );
        problem(
            &format!(
                r#"{{{ok_head},"token_type":"urn:ietf:params:oauth:token-type:id_token","id_token":""}}"#
            ),
            Malformed,
            &["`id_token` is empty"],
        );
    }

    #[test]
    fn order_follows_python() {
        // Unsuccessful wins over a missing token_type; expiry is checked before token_type.
        let p = check(r#"{"version":1,"success":false,"code":"c","message":"m"}"#).expect_err("");
        assert_eq!(p.kind, ProblemKind::Unsuccessful);
        let p = check(r#"{"version":1,"success":true,"expiration_time":1}"#).expect_err("");
        assert_eq!(p.kind, ProblemKind::Expired);
        // An unsupported version is reported before a missing `success`.
        let p = check(r#"{"version":3}"#).expect_err("");
        assert_eq!(p.kind, ProblemKind::Unsupported);
    }

    #[test]
    fn only_malformed_cache_entries_are_errors() {
        for (kind, run_again) in [
            (ProblemKind::Malformed, false),
            (ProblemKind::Unsupported, true),
            (ProblemKind::Unsuccessful, true),
            (ProblemKind::Expired, true),
        ] {
            let p = Problem {
                kind,
                message: String::new(),
            };
            assert_eq!(p.means_run_again(), run_again, "{kind:?}");
        }
    }

    #[test]
    fn long_executable_messages_are_clipped() {
        let long = "é".repeat(2000);
        let body = format!(r#"{{"version":1,"success":false,"code":"E","message":"{long}"}}"#);
        let p = check(&body).expect_err("unsuccessful");
        assert!(p.message.len() < MAX_ECHO + 64, "{}", p.message.len());
    }

    #[test]
    fn debug_of_a_parsed_response_hides_the_token() {
        let p = check(r#"{"version":1,"success":true,"token_type":"urn:ietf:params:oauth:token-type:jwt","id_token":"JWT-SECRET"}"#).expect("jwt");
        let shown = format!("{p:?}");
        assert!(!shown.contains("JWT-SECRET"), "{shown}");
    }
}
