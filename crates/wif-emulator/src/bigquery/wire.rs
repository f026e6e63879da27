//! What every emulated BigQuery route shares on the wire: the bearer check, request bodies up
//! to BigQuery's 10 MB, its error body, query-string options as Google's clients send them,
//! and pages of `f`/`v` rows capped near 10 MB with page tokens that must be URL-encoded.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::cell::{Row, Type};
use super::values::{TimestampFormat, write_row};
use crate::state::{State, TokenKind};

/// Both kinds of token the chain issues may call BigQuery (impersonated or direct access).
const ACCEPTED: &[TokenKind] = &[TokenKind::ServiceAccount, TokenKind::Federated];

/// BigQuery's limit on an HTTP request (an `insertAll`, a query job).
pub(crate) const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;

/// A page of rows stops growing past this many bytes of row JSON, as BigQuery's pages do.
pub(crate) const MAX_PAGE_BYTES: usize = 10 * 1024 * 1024;

/// BigQuery's error body: `{"error":{"code","message","errors":[{"message","domain","reason"}],"status"}}`.
pub(crate) fn bq_error(code: StatusCode, reason: &str, message: &str) -> Response {
    let status = match code.as_u16() {
        400 => "INVALID_ARGUMENT",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ALREADY_EXISTS",
        _ => "INTERNAL",
    };
    let body = json!({"error": {
        "code": code.as_u16(),
        "message": message,
        "errors": [{"message": message, "domain": "global", "reason": reason}],
        "status": status,
    }});
    (code, axum::Json(body)).into_response()
}

pub(crate) fn invalid(message: &str) -> Response {
    bq_error(StatusCode::BAD_REQUEST, "invalid", message)
}

pub(crate) fn not_found(message: &str) -> Response {
    bq_error(StatusCode::NOT_FOUND, "notFound", message)
}

pub(crate) fn duplicate(message: &str) -> Response {
    bq_error(StatusCode::CONFLICT, "duplicate", message)
}

/// The emulator, for a request whose bearer token is one the chain issued: extracting it
/// answers Google's 401/403 otherwise. Handlers take it after their path and query string: a
/// malformed one of those is refused before the token is checked.
pub(crate) struct Authorized(pub(crate) Arc<State>);

impl FromRequestParts<Arc<State>> for Authorized {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<State>) -> Result<Self, Response> {
        state.authorize(&parts.headers, ACCEPTED)?;
        Ok(Authorized(Arc::clone(state)))
    }
}

/// A JSON request body of at most [`MAX_REQUEST_BYTES`]: extracting it answers BigQuery's errors
/// (not the web framework's) for a larger or malformed one.
pub(crate) struct JsonRequest<T>(pub(crate) T);

impl<T: DeserializeOwned> FromRequest<Arc<State>> for JsonRequest<T> {
    type Rejection = Response;

    async fn from_request(request: Request, _: &Arc<State>) -> Result<Self, Response> {
        json_body(request.into_body()).await.map(JsonRequest)
    }
}

#[allow(clippy::result_large_err)]
async fn json_body<T: DeserializeOwned>(body: Body) -> Result<T, Response> {
    let bytes: Bytes = axum::body::to_bytes(body, MAX_REQUEST_BYTES)
        .await
        .map_err(|_| {
            bq_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid",
                &format!("Request payload size exceeds the limit: {MAX_REQUEST_BYTES} bytes."),
            )
        })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| invalid(&format!("Invalid JSON payload received. {e}")))
}

macro_rules! try_response {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(response) => return response,
        }
    };
}
pub(crate) use try_response;

/// A query-string parameter, treating an empty value as absent: Google's generated clients
/// send `pageToken=` and `location=` when unset.
pub(crate) fn param<'q>(q: &'q HashMap<String, String>, name: &str) -> Option<&'q str> {
    q.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

/// `maxResults` / `startIndex`: unsigned integers when present.
#[allow(clippy::result_large_err)]
pub(crate) fn count_param(
    q: &HashMap<String, String>,
    name: &str,
) -> Result<Option<usize>, Response> {
    match param(q, name) {
        None => Ok(None),
        Some(v) => v
            .parse::<u64>()
            .map(|n| Some(usize::try_from(n).unwrap_or(usize::MAX)))
            .map_err(|_| invalid(&format!("Invalid value for {name}: {v}"))),
    }
}

/// `formatOptions.useInt64Timestamp` and `formatOptions.timestampOutputFormat` (by name, or by
/// number as clients asking for `enum-encoding=int` send it) from a query string.
pub(crate) fn timestamp_format(q: &HashMap<String, String>) -> TimestampFormat {
    let named = param(q, "formatOptions.timestampOutputFormat");
    timestamp_format_of(
        param(q, "formatOptions.useInt64Timestamp").is_some_and(|v| v.eq_ignore_ascii_case("true")),
        named,
    )
}

/// The same from a request body's `formatOptions`.
pub(crate) fn timestamp_format_json(options: Option<&Value>) -> TimestampFormat {
    let Some(o) = options else {
        return TimestampFormat::Float;
    };
    let int64 = o
        .get("useInt64Timestamp")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let named = match o.get("timestampOutputFormat") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    timestamp_format_of(int64, named.as_deref())
}

fn timestamp_format_of(int64: bool, named: Option<&str>) -> TimestampFormat {
    match named {
        Some("INT64" | "2") => TimestampFormat::Int64,
        Some("ISO8601_STRING" | "3") => TimestampFormat::Iso8601,
        Some("FLOAT64" | "1") => TimestampFormat::Float,
        _ if int64 => TimestampFormat::Int64,
        _ => TimestampFormat::Float,
    }
}

/// A page token: deliberately full of `+`, `/` and `=`, which clients must URL-encode. It names
/// what it pages (a job or a table) and where the next page starts, so it stays valid for as
/// long as that exists.
pub(crate) fn page_token(scope: &str, offset: usize) -> String {
    format!("pt+{offset}/{scope}=")
}

pub(crate) fn read_page_token(token: &str, scope: &str) -> Option<usize> {
    let rest = token.strip_prefix("pt+")?.strip_suffix('=')?;
    let (offset, of) = rest.split_once('/')?;
    (of == scope).then_some(())?;
    offset.parse().ok()
}

/// One page of rows: from `start`, at most `max_rows`, and no more once the row JSON passes
/// [`MAX_PAGE_BYTES`] (a page always holds at least one row when any is left).
pub(crate) struct Page {
    pub(crate) json: Vec<u8>,
    pub(crate) count: usize,
    /// Where the next page starts, when rows are left.
    pub(crate) next: Option<usize>,
}

pub(crate) fn page(
    types: &[&Type],
    rows: &[Row],
    columns: Option<&[usize]>,
    start: usize,
    max_rows: Option<usize>,
    format: TimestampFormat,
) -> Page {
    let mut json = Vec::new();
    json.push(b'[');
    let mut end = start.min(rows.len());
    let limit = max_rows.map_or(rows.len(), |m| start.saturating_add(m).min(rows.len()));
    let mut picked = Vec::new();
    while end < limit && (json.len() < MAX_PAGE_BYTES || end == start) {
        if end > start {
            json.push(b',');
        }
        match columns {
            None => write_row(&mut json, types, &rows[end], format),
            Some(columns) => {
                picked.clear();
                picked.extend(columns.iter().map(|i| rows[end][*i].clone()));
                write_row(&mut json, types, &picked, format);
            }
        }
        end += 1;
    }
    json.push(b']');
    Page {
        json,
        count: end - start.min(end),
        next: (end < rows.len()).then_some(end),
    }
}

/// A JSON response of `fields` plus, when given, `"rows": page` spliced in without re-parsing.
pub(crate) fn with_rows(fields: Map<String, Value>, rows: Option<&Page>) -> Response {
    let mut body = serde_json::to_vec(&Value::Object(fields)).unwrap_or_else(|_| b"{}".to_vec());
    if let Some(page) = rows.filter(|p| p.count > 0) {
        // `{…}` → `{…,"rows":[…]}`
        body.pop();
        if body.len() > 1 {
            body.push(b',');
        }
        body.extend_from_slice(b"\"rows\":");
        body.extend_from_slice(&page.json);
        body.push(b'}');
    }
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bigquery::cell::Cell;

    #[test]
    fn page_tokens_round_trip_and_bind_to_their_scope() {
        let t = page_token("job_1", 40);
        assert!(t.contains('+') && t.contains('/') && t.contains('='), "{t}");
        assert_eq!(read_page_token(&t, "job_1"), Some(40));
        assert_eq!(read_page_token(&t, "job_2"), None);
        assert_eq!(
            read_page_token(&t.replace('+', " "), "job_1"),
            None,
            "an unencoded + arrives as a space"
        );
    }

    #[test]
    fn pages_stop_at_max_rows_or_near_ten_megabytes() {
        let big = "x".repeat(1024 * 1024);
        let rows: Vec<Row> = (0..25)
            .map(|_| Row::from(vec![Cell::text(big.as_str())]))
            .collect();
        let types = [&Type::String];
        let p = page(&types, &rows, None, 0, None, TimestampFormat::Int64);
        assert_eq!(p.count, 10, "ten 1 MiB rows reach the cap");
        assert_eq!(p.next, Some(10));
        let p = page(&types, &rows, None, 20, Some(3), TimestampFormat::Int64);
        assert_eq!((p.count, p.next), (3, Some(23)));
        let p = page(&types, &rows, None, 23, None, TimestampFormat::Int64);
        assert_eq!((p.count, p.next), (2, None));
        let huge: Vec<Row> = vec![Row::from(vec![Cell::text("y".repeat(11 * 1024 * 1024))])];
        assert_eq!(
            page(&types, &huge, None, 0, None, TimestampFormat::Int64).count,
            1,
            "one row always fits"
        );
    }
}
