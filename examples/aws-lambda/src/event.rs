//! The function's input and output: what a caller sends to the Lambda (`{"bucket": …,
//! "prefix": …}`) and what it gets back. Input is validated here, before any token is fetched.

use serde::{Deserialize, Serialize};
use wif::{Error, ErrorKind, Step};

/// Objects returned when the event does not say.
pub const DEFAULT_LIMIT: usize = 1000;

/// The most objects one invocation returns: keeps the response far below Lambda's 6 MB payload
/// limit, and the invocation within its time budget.
pub const MAX_LIMIT: usize = 10_000;

/// The event: which bucket to list, and optionally which prefix and how many objects.
///
/// ```json
/// {"bucket": "my-bucket", "prefix": "reports/2026/", "limit": 100}
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListRequest {
    /// The bucket name (not a `gs://` URL).
    pub bucket: String,
    /// Only objects whose names start with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// At most this many names (default [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

impl ListRequest {
    /// A request for the objects of `bucket`.
    pub fn new(bucket: impl Into<String>) -> Self {
        ListRequest {
            bucket: bucket.into(),
            prefix: None,
            limit: None,
        }
    }

    /// Only objects whose names start with `prefix`.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// At most `limit` names.
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The effective limit.
    pub fn limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_LIMIT)
    }

    /// Checks the event against Cloud Storage's naming rules, so a typo fails here with a clear
    /// message instead of as a 400 (or, worse, a 404 for some other bucket) after a token exchange.
    pub fn validate(&self) -> Result<(), Error> {
        let bucket = &self.bucket;
        if bucket.is_empty() {
            return Err(invalid_event("bucket", "is empty"));
        }
        if let Some(rest) = bucket.strip_prefix("gs://") {
            return Err(invalid_event(
                "bucket",
                format_args!(
                    "must be a bucket name, not a URL: use \"{rest}\" and put any path in `prefix`"
                ),
            ));
        }
        // https://cloud.google.com/storage/docs/buckets#naming: 3–63 characters (up to 222 with
        // dots), lowercase letters, digits, `-`, `_` and `.`, starting and ending with a letter
        // or digit.
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c);
        if let Some(bad) = bucket.chars().find(|c| !allowed(*c)) {
            return Err(invalid_event(
                "bucket",
                format_args!(
                    "contains {bad:?}: bucket names use lowercase letters, digits, '-', '_' and '.'"
                ),
            ));
        }
        let max = if bucket.contains('.') { 222 } else { 63 };
        if bucket.len() < 3 || bucket.len() > max {
            return Err(invalid_event(
                "bucket",
                format_args!("must be 3 to {max} characters long, not {}", bucket.len()),
            ));
        }
        let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        if !alnum(bucket.chars().next()) || !alnum(bucket.chars().last()) {
            return Err(invalid_event(
                "bucket",
                "must start and end with a letter or digit",
            ));
        }
        if let Some(prefix) = &self.prefix {
            // Object names are at most 1024 bytes of UTF-8; a longer prefix can match nothing.
            if prefix.len() > 1024 {
                return Err(invalid_event(
                    "prefix",
                    "is longer than 1024 bytes, the longest object name",
                ));
            }
        }
        match self.limit {
            Some(0) => Err(invalid_event("limit", "must be at least 1")),
            Some(n) if n > MAX_LIMIT => Err(invalid_event(
                "limit",
                format_args!("must be at most {MAX_LIMIT}, not {n}"),
            )),
            _ => Ok(()),
        }
    }
}

/// The function's answer.
///
/// ```json
/// {"objects": ["reports/2026/a.csv"], "truncated": false, "token_expires_in_s": 3312}
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct ListResponse {
    /// The object names, in Cloud Storage's (lexicographic) order.
    pub objects: Vec<String>,
    /// True when more objects matched than the limit allowed.
    pub truncated: bool,
    /// How long the Google token used stays valid, in seconds: watch it fall across warm
    /// invocations to see the token being reused.
    pub token_expires_in_s: Option<u64>,
}

fn invalid_event(field: &str, problem: impl std::fmt::Display) -> Error {
    // Not `Error::config`: the configuration is fine, the caller's event is not.
    Error::new(
        Step::Api,
        ErrorKind::InvalidConfig,
        format!("invalid event: `{field}` {problem}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_events() {
        for request in [
            ListRequest::new("my-bucket"),
            ListRequest::new("a_b.c-d").with_prefix("reports/2026/"),
            ListRequest::new("b12").with_limit(MAX_LIMIT),
            ListRequest::new("example.com.assets").with_prefix(""),
        ] {
            assert!(request.validate().is_ok(), "{request:?} should be valid");
        }
    }

    #[test]
    fn rejects_invalid_events_with_the_field_named() {
        let long = "a".repeat(64);
        let cases: &[(ListRequest, &str)] = &[
            (ListRequest::new(""), "`bucket` is empty"),
            (
                ListRequest::new("gs://my-bucket/x"),
                "not a URL: use \"my-bucket/x\"",
            ),
            (ListRequest::new("My-Bucket"), "contains 'M'"),
            (ListRequest::new("my/bucket"), "contains '/'"),
            (ListRequest::new("ab"), "3 to 63 characters long, not 2"),
            (ListRequest::new(long), "3 to 63 characters long, not 64"),
            (
                ListRequest::new("-abc"),
                "start and end with a letter or digit",
            ),
            (
                ListRequest::new("abc").with_prefix("x".repeat(1025)),
                "`prefix` is longer",
            ),
            (
                ListRequest::new("abc").with_limit(0),
                "`limit` must be at least 1",
            ),
            (
                ListRequest::new("abc").with_limit(MAX_LIMIT + 1),
                "`limit` must be at most 10000",
            ),
        ];
        for (request, expected) in cases {
            let err = match request.validate() {
                Ok(()) => panic!("{request:?} should be rejected"),
                Err(e) => e,
            };
            assert!(err.to_string().contains(expected), "{request:?}: {err}");
            assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{request:?}");
            assert!(!err.is_retryable(), "{request:?}");
        }
    }

    #[test]
    fn events_parse_from_json_and_unknown_fields_are_refused() {
        let parsed: ListRequest =
            serde_json::from_str(r#"{"bucket":"b-1","prefix":"p/"}"#).unwrap_or_default();
        assert_eq!(parsed, ListRequest::new("b-1").with_prefix("p/"));
        assert_eq!(parsed.limit(), DEFAULT_LIMIT);
        // A misspelt field would otherwise silently list the whole bucket.
        let typo = serde_json::from_str::<ListRequest>(r#"{"bucket":"b-1","prefx":"p/"}"#);
        assert!(typo.is_err(), "{typo:?}");
    }
}
