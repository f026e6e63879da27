//! Buckets, reads, lists and deletes of the Cloud Storage emulator.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::{
    Conditions, JsonCall, StoredObject, base_url, etag, gcs_error, insert_bucket as create,
    json_resource, no_bucket, no_object, object_json, precondition_failed,
};
use crate::state::{State, lock};

/// Largest page `objects.list` returns.
const MAX_PAGE: usize = 1000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BucketResource {
    name: String,
    #[serde(default)]
    iam_configuration: Option<IamConfiguration>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IamConfiguration {
    #[serde(default)]
    uniform_bucket_level_access: Option<Enabled>,
}

#[derive(Deserialize)]
struct Enabled {
    #[serde(default)]
    enabled: bool,
}

/// `buckets.insert`. Uniform bucket-level access is off unless the resource turns it on, as
/// with the real API.
pub(super) async fn insert_bucket(
    AxState(state): AxState<Arc<State>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = state.authorize(
        &headers,
        &[
            crate::TokenKind::ServiceAccount,
            crate::TokenKind::Federated,
        ],
    ) {
        return r;
    }
    let Some(project) = query.get("project").filter(|p| !p.is_empty()) else {
        return gcs_error(
            StatusCode::BAD_REQUEST,
            "required",
            "Required parameter: project",
        );
    };
    let resource: BucketResource = match json_resource(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let valid = (3..=63).contains(&resource.name.len())
        && resource.name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        });
    if !valid {
        return gcs_error(StatusCode::BAD_REQUEST, "invalid", "Invalid bucket name");
    }
    let uniform = resource
        .iam_configuration
        .and_then(|c| c.uniform_bucket_level_access)
        .is_some_and(|u| u.enabled);
    if !create(&state, &resource.name, project, uniform) {
        return gcs_error(
            StatusCode::CONFLICT,
            "conflict",
            "Your previous request to create the named bucket succeeded and you already own it.",
        );
    }
    bucket_response(&state, &headers, &resource.name)
}

/// `buckets.get`.
pub(super) async fn get_bucket(Path(bucket): Path<String>, call: JsonCall) -> Response {
    if let Err(r) = call.authorize(&bucket, "storage.buckets.get") {
        return r;
    }
    bucket_response(&call.state, &call.headers, &bucket)
}

fn bucket_response(state: &State, headers: &HeaderMap, bucket: &str) -> Response {
    let inner = lock(&state.storage.inner);
    let Some(b) = inner.buckets.get(bucket) else {
        return no_bucket(bucket);
    };
    Json(serde_json::json!({
        "kind": "storage#bucket",
        "id": bucket,
        "name": bucket,
        "selfLink": format!("{}/storage/v1/b/{bucket}", base_url(headers)),
        "projectNumber": state.config.project_number,
        "project": b.project,
        "metageneration": "1",
        "location": "US",
        "storageClass": "STANDARD",
        "timeCreated": b.time_created,
        "updated": b.time_created,
        "iamConfiguration": {
            "uniformBucketLevelAccess": {"enabled": b.uniform_access},
        },
    }))
    .into_response()
}

/// `objects.list`: name order; `delimiter` folds names into `prefixes`; pages of `maxResults`
/// entries (objects and prefixes together, at most 1,000).
pub(super) async fn list(Path(bucket): Path<String>, call: JsonCall) -> Response {
    if let Err(r) = call.authorize(&bucket, "storage.objects.list") {
        return r;
    }
    let prefix = call.query.get("prefix").map(String::as_str).unwrap_or("");
    let delimiter = call
        .query
        .get("delimiter")
        .map(String::as_str)
        .filter(|d| !d.is_empty());
    let max = match super::int_param(&call.query, "maxResults") {
        Ok(m) => m.map_or(MAX_PAGE, |m| {
            usize::try_from(m).unwrap_or(0).clamp(1, MAX_PAGE)
        }),
        Err(r) => return r,
    };
    let after = match call.query.get("pageToken").map(|t| PageToken::decode(t)) {
        None => None,
        Some(Some(t)) => Some(t),
        Some(None) => {
            return gcs_error(StatusCode::BAD_REQUEST, "invalid", "Invalid page token.");
        }
    };
    let inner = lock(&call.state.storage.inner);
    let Some(b) = inner.buckets.get(&bucket) else {
        return no_bucket(&bucket);
    };
    let base = base_url(&call.headers);
    let mut items = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    let mut last: Option<PageToken> = None;
    let mut more = false;
    for (name, object) in b.objects.range(prefix.to_owned()..) {
        if !name.starts_with(prefix) {
            break;
        }
        if after.as_ref().is_some_and(|t| !t.is_before(name)) {
            continue;
        }
        let entry = match delimiter.and_then(|d| {
            name[prefix.len()..]
                .find(d)
                .map(|i| name[..prefix.len() + i + d.len()].to_owned())
        }) {
            Some(p) => PageToken::Prefix(p),
            None => PageToken::Object(name.clone()),
        };
        // Names under a prefix already listed are folded into it.
        if let (PageToken::Prefix(p), Some(PageToken::Prefix(q))) = (&entry, &last)
            && p == q
        {
            continue;
        }
        if items.len() + prefixes.len() == max {
            more = true;
            break;
        }
        match &entry {
            PageToken::Prefix(p) => prefixes.push(p.clone()),
            PageToken::Object(_) => items.push(object_json(&base, &bucket, object)),
        }
        last = Some(entry);
    }
    let mut page = serde_json::json!({"kind": "storage#objects"});
    if !items.is_empty() {
        page["items"] = serde_json::Value::Array(items);
    }
    if !prefixes.is_empty() {
        page["prefixes"] = serde_json::json!(prefixes);
    }
    if more && let Some(last) = last {
        page["nextPageToken"] = serde_json::Value::String(last.encode());
    }
    Json(page).into_response()
}

/// Where a page ended: after an object, or after every name under a prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
enum PageToken {
    Object(String),
    Prefix(String),
}

impl PageToken {
    fn encode(&self) -> String {
        let raw = match self {
            PageToken::Object(n) => format!("o:{n}"),
            PageToken::Prefix(p) => format!("p:{p}"),
        };
        URL_SAFE_NO_PAD.encode(raw)
    }

    fn decode(token: &str) -> Option<PageToken> {
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
        match raw.split_at_checked(2)? {
            ("o:", n) => Some(PageToken::Object(n.to_owned())),
            ("p:", p) => Some(PageToken::Prefix(p.to_owned())),
            _ => None,
        }
    }

    /// True when `name` was already covered by the page ending here.
    fn is_before(&self, name: &str) -> bool {
        match self {
            PageToken::Object(n) => name > n.as_str(),
            PageToken::Prefix(p) => !name.starts_with(p.as_str()) && name > p.as_str(),
        }
    }
}

/// `objects.get`: metadata, or the data with `alt=media`.
pub(super) async fn get_object(
    Path((bucket, name)): Path<(String, String)>,
    call: JsonCall,
) -> Response {
    let media = call.query.get("alt").is_some_and(|a| a == "media");
    read_object(&call, &bucket, &name, media)
}

/// The `mediaLink` alias: always the data.
pub(super) async fn download(
    Path((bucket, name)): Path<(String, String)>,
    call: JsonCall,
) -> Response {
    read_object(&call, &bucket, &name, true)
}

fn read_object(call: &JsonCall, bucket: &str, name: &str, media: bool) -> Response {
    if let Err(r) = call.authorize(bucket, "storage.objects.get") {
        return r;
    }
    let conditions = match Conditions::from_query(&call.query) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let not_match = match super::int_param(&call.query, "ifGenerationNotMatch") {
        Ok(n) => n,
        Err(r) => return r,
    };
    let object = {
        let inner = lock(&call.state.storage.inner);
        let Some(b) = inner.buckets.get(bucket) else {
            return no_bucket(bucket);
        };
        match b.objects.get(name) {
            // Without versioning only the live generation exists.
            Some(o) if conditions.generation.is_none_or(|g| g == o.generation) => o.clone(),
            _ => return no_object(bucket, name),
        }
    };
    if !conditions.hold(Some(&object)) {
        return precondition_failed();
    }
    if not_match == Some(object.generation) {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    if !media {
        return Json(object_json(&base_url(&call.headers), bucket, &object)).into_response();
    }
    media_response(&object, call.headers.get(header::RANGE))
}

/// The data, whole (200) or one byte range (206); 416 when the range is past the end.
fn media_response(object: &StoredObject, range: Option<&HeaderValue>) -> Response {
    let size = object.data.len() as u64;
    let span = match range
        .and_then(|r| r.to_str().ok())
        .map(|r| parse_range(r, size))
    {
        None | Some(RangeAsk::Ignore) => None,
        Some(RangeAsk::Span(a, b)) => Some((a, b)),
        Some(RangeAsk::Unsatisfiable) => {
            let mut r = gcs_error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "requestedRangeNotSatisfiable",
                "The requested range cannot be satisfied.",
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
    };
    let (status, body) = match span {
        Some((a, b)) => (
            StatusCode::PARTIAL_CONTENT,
            object.data.slice(a as usize..=b as usize),
        ),
        None => (StatusCode::OK, object.data.clone()),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let h = response.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    set("content-type", object.content_type.clone());
    set("x-goog-generation", object.generation.to_string());
    set("x-goog-metageneration", object.metageneration.to_string());
    set("x-goog-stored-content-length", size.to_string());
    set("x-goog-stored-content-encoding", "identity".to_owned());
    set("x-goog-hash", format!("crc32c={}", object.crc32c));
    set("etag", etag(object));
    set("accept-ranges", "bytes".to_owned());
    if let Some((a, b)) = span {
        set("content-range", format!("bytes {a}-{b}/{size}"));
    }
    response
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum RangeAsk {
    /// Serve the whole object (no usable single range).
    Ignore,
    /// Bytes `a..=b`.
    Span(u64, u64),
    Unsatisfiable,
}

/// One `bytes=` range (RFC 9110 §14.1.2): `a-b`, `a-`, `-n`. Anything else is ignored.
pub(super) fn parse_range(value: &str, size: u64) -> RangeAsk {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeAsk::Ignore;
    };
    if spec.contains(',') {
        return RangeAsk::Ignore;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeAsk::Ignore;
    };
    let (a, b) = (a.trim(), b.trim());
    let span = match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(a), Ok(b)) if a <= b => (a, b.min(size.saturating_sub(1))),
        (Ok(a), Err(_)) if b.is_empty() => (a, size.saturating_sub(1)),
        (Err(_), Ok(n)) if a.is_empty() && n > 0 => {
            (size.saturating_sub(n), size.saturating_sub(1))
        }
        (Err(_), Ok(0)) if a.is_empty() => return RangeAsk::Unsatisfiable,
        _ => return RangeAsk::Ignore,
    };
    if size == 0 || span.0 >= size {
        return RangeAsk::Unsatisfiable;
    }
    RangeAsk::Span(span.0, span.1)
}

/// `objects.delete`: 204 with an empty body.
pub(super) async fn delete_object(
    Path((bucket, name)): Path<(String, String)>,
    call: JsonCall,
) -> Response {
    if let Err(r) = call.authorize(&bucket, "storage.objects.delete") {
        return r;
    }
    let JsonCall { state, query, .. } = call;
    let conditions = match Conditions::from_query(&query) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut inner = lock(&state.storage.inner);
    let Some(b) = inner.buckets.get_mut(&bucket) else {
        return no_bucket(&bucket);
    };
    match b.objects.get(&name) {
        Some(o) if conditions.generation.is_none_or(|g| g == o.generation) => {
            if !conditions.hold(Some(o)) {
                return precondition_failed();
            }
        }
        _ => return no_object(&bucket, &name),
    }
    b.objects.remove(&name);
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_like_rfc_9110() {
        assert_eq!(parse_range("bytes=0-9", 100), RangeAsk::Span(0, 9));
        assert_eq!(parse_range("bytes=90-200", 100), RangeAsk::Span(90, 99));
        assert_eq!(parse_range("bytes=95-", 100), RangeAsk::Span(95, 99));
        assert_eq!(parse_range("bytes=-10", 100), RangeAsk::Span(90, 99));
        assert_eq!(parse_range("bytes=-500", 100), RangeAsk::Span(0, 99));
        assert_eq!(parse_range("bytes=100-", 100), RangeAsk::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-0", 0), RangeAsk::Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), RangeAsk::Ignore);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeAsk::Ignore);
        assert_eq!(parse_range("items=0-1", 100), RangeAsk::Ignore);
    }

    #[test]
    fn page_tokens_round_trip_and_skip_what_was_listed() {
        for t in [
            PageToken::Object("a/b c".into()),
            PageToken::Prefix("ü/".into()),
        ] {
            assert_eq!(PageToken::decode(&t.encode()), Some(t));
        }
        assert_eq!(PageToken::decode("not base64!"), None);
        let after_prefix = PageToken::Prefix("a/".into());
        assert!(!after_prefix.is_before("a/x"));
        assert!(after_prefix.is_before("b"));
        let after_object = PageToken::Object("a".into());
        assert!(!after_object.is_before("a"));
        assert!(after_object.is_before("a/"));
    }
}
