//! Uploads to the Cloud Storage emulator: `uploadType=media`, `multipart` and `resumable`.
//!
//! Resumable sessions behave like GCS's: the `POST` answers a `Location` session URI; each
//! `PUT` carries `Content-Range: bytes A-B/TOTAL` (`*` while unknown); a non-final chunk is
//! persisted only in whole 256 KiB units and answered `308` with `Range: bytes=0-N` (no `Range`
//! when nothing is persisted); `bytes */TOTAL` with an empty body asks for the status, or
//! finalizes when everything is there. Preconditions given at the start are checked when the
//! upload completes.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{
    CHUNK_UNIT, Conditions, JsonCall, NewObject, base_url, encode, gcs_error, json_resource,
    no_bucket, store_object,
};
use crate::state::{State, lock};

/// An open resumable upload.
#[derive(Debug)]
pub(crate) struct Session {
    bucket: String,
    resource: Resource,
    content_type: String,
    conditions: (Option<i64>, Option<i64>),
    /// Bytes persisted so far.
    data: Vec<u8>,
    /// The total size, once declared.
    total: Option<u64>,
    /// The finished object's JSON, once complete (a repeated final PUT answers it again).
    done: Option<serde_json::Value>,
}

/// The JSON object resource a multipart or resumable upload may carry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Resource {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

/// `POST …/upload/storage/v1/b/{bucket}/o?uploadType=…`.
pub(super) async fn insert(Path(bucket): Path<String>, call: JsonCall, body: Bytes) -> Response {
    if let Err(r) = call.authorize(&bucket, "storage.objects.create") {
        return r;
    }
    if !lock(&call.state.storage.inner)
        .buckets
        .contains_key(&bucket)
    {
        return no_bucket(&bucket);
    }
    let conditions = match Conditions::from_query(&call.query) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let content_type = call
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let object = match call.query.get("uploadType").map(String::as_str) {
        Some("media") => {
            let Some(name) = call.query.get("name").filter(|n| !n.is_empty()) else {
                return required_name();
            };
            NewObject {
                name: name.clone(),
                content_type: non_empty_or_default(&content_type),
                metadata: BTreeMap::new(),
                data: body,
            }
        }
        Some("multipart") => {
            let (resource, media_type, data) = match parse_multipart(&content_type, &body) {
                Ok(parts) => parts,
                Err(message) => return gcs_error(StatusCode::BAD_REQUEST, "invalid", &message),
            };
            let Some(name) = resource
                .name
                .clone()
                .or_else(|| call.query.get("name").cloned())
            else {
                return required_name();
            };
            NewObject {
                name,
                content_type: resource
                    .content_type
                    .clone()
                    .unwrap_or_else(|| non_empty_or_default(&media_type)),
                metadata: resource.metadata,
                data,
            }
        }
        Some("resumable") => {
            return start_session(
                &call.state,
                &bucket,
                &call.query,
                &call.headers,
                &body,
                &conditions,
            );
        }
        Some(other) => {
            return gcs_error(
                StatusCode::BAD_REQUEST,
                "invalidParameter",
                &format!("Invalid upload type: {other}"),
            );
        }
        None => {
            return gcs_error(
                StatusCode::BAD_REQUEST,
                "required",
                "Upload requests must include an uploadType URL parameter and a URL-encoded object name.",
            );
        }
    };
    // A one-shot upload (media or multipart) stores the object now.
    match store_object(
        &call.state,
        &base_url(&call.headers),
        &bucket,
        object,
        &conditions,
    ) {
        Ok(json) => (StatusCode::OK, Json(json)).into_response(),
        Err(response) => response,
    }
}

fn required_name() -> Response {
    gcs_error(StatusCode::BAD_REQUEST, "required", "Required")
}

fn non_empty_or_default(content_type: &str) -> String {
    if content_type.is_empty() {
        "application/octet-stream".to_owned()
    } else {
        content_type.to_owned()
    }
}

fn start_session(
    state: &State,
    bucket: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
    conditions: &Conditions,
) -> Response {
    let resource: Resource = if body.iter().all(u8::is_ascii_whitespace) {
        Resource::default()
    } else {
        match json_resource(body) {
            Ok(r) => r,
            Err(r) => return r,
        }
    };
    let Some(name) = resource.name.clone().or_else(|| query.get("name").cloned()) else {
        return required_name();
    };
    let header_type = headers
        .get("x-upload-content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let content_type = resource
        .content_type
        .clone()
        .unwrap_or_else(|| non_empty_or_default(header_type));
    let total = headers
        .get("x-upload-content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let id = format!("emu-{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    let location = format!(
        "{}/upload/storage/v1/b/{}/o?uploadType=resumable&name={}&upload_id={id}",
        base_url(headers),
        encode(bucket),
        encode(&name)
    );
    lock(&state.storage.inner).sessions.insert(
        id.clone(),
        Session {
            bucket: bucket.to_owned(),
            resource: Resource {
                name: Some(name),
                ..resource
            },
            content_type,
            conditions: (
                conditions.if_generation_match,
                conditions.if_metageneration_match,
            ),
            data: Vec::new(),
            total,
            done: None,
        },
    );
    let mut response = StatusCode::OK.into_response();
    for (name, value) in [("location", location), ("x-guploader-uploadid", id)] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, v);
        }
    }
    response
}

/// What a chunk's `Content-Range` says.
#[derive(Debug, PartialEq, Eq)]
struct ChunkRange {
    /// `A-B` (inclusive), or `None` for `*` (a status query or a finalization).
    span: Option<(u64, u64)>,
    /// The total, once the client knows it.
    total: Option<u64>,
}

fn parse_content_range(value: &str) -> Option<ChunkRange> {
    let (span, total) = value.trim().strip_prefix("bytes ")?.split_once('/')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    let span = match span.trim() {
        "*" => None,
        s => {
            let (a, b) = s.split_once('-')?;
            let (a, b): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
            if b < a {
                return None;
            }
            Some((a, b))
        }
    };
    Some(ChunkRange { span, total })
}

/// `PUT {session URI}`: a chunk, a status query or a finalization.
pub(super) async fn put_chunk(Path(bucket): Path<String>, call: JsonCall, body: Bytes) -> Response {
    if let Err(r) = call.authorize(&bucket, "storage.objects.create") {
        return r;
    }
    let Some(id) = call.query.get("upload_id") else {
        return gcs_error(
            StatusCode::BAD_REQUEST,
            "required",
            "Required parameter: upload_id",
        );
    };
    let range = match call
        .headers
        .get(header::CONTENT_RANGE)
        .map(|v| v.to_str().ok().and_then(parse_content_range))
    {
        Some(Some(r)) => r,
        Some(None) => {
            return gcs_error(
                StatusCode::BAD_REQUEST,
                "invalid",
                "Failed to parse Content-Range header.",
            );
        }
        // No Content-Range: the whole object in one PUT.
        None => ChunkRange {
            span: (!body.is_empty()).then(|| (0, body.len() as u64 - 1)),
            total: Some(body.len() as u64),
        },
    };
    let base = base_url(&call.headers);
    let (finished, conditions) = {
        let mut inner = lock(&call.state.storage.inner);
        let Some(session) = inner.sessions.get_mut(id).filter(|s| s.bucket == bucket) else {
            return gcs_error(StatusCode::NOT_FOUND, "notFound", "No such upload session.");
        };
        if let Some(done) = &session.done {
            return (StatusCode::OK, Json(done.clone())).into_response();
        }
        match apply_chunk(session, &range, &body) {
            Err(message) => return gcs_error(StatusCode::BAD_REQUEST, "invalid", &message),
            Ok(false) => return incomplete(session.data.len() as u64),
            Ok(true) => (
                NewObject {
                    name: session.resource.name.clone().unwrap_or_default(),
                    content_type: session.content_type.clone(),
                    metadata: session.resource.metadata.clone(),
                    data: Bytes::from(std::mem::take(&mut session.data)),
                },
                Conditions {
                    generation: None,
                    if_generation_match: session.conditions.0,
                    if_metageneration_match: session.conditions.1,
                },
            ),
        }
    };
    let stored = store_object(&call.state, &base, &bucket, finished, &conditions);
    let mut inner = lock(&call.state.storage.inner);
    match stored {
        Ok(json) => {
            // Keep the answer so a client that lost it gets the object again, not an error.
            if let Some(session) = inner.sessions.get_mut(id) {
                session.done = Some(json.clone());
            }
            (StatusCode::OK, Json(json)).into_response()
        }
        Err(response) => {
            inner.sessions.remove(id);
            response
        }
    }
}

/// Applies a chunk to `session`. `Ok(true)` when the upload is complete.
fn apply_chunk(session: &mut Session, range: &ChunkRange, body: &[u8]) -> Result<bool, String> {
    let persisted = session.data.len() as u64;
    if let Some(total) = range.total {
        if session.total.is_some_and(|t| t != total) {
            return Err(format!(
                "The total size {total} differs from the {} declared before.",
                session.total.unwrap_or_default()
            ));
        }
        session.total = Some(total);
    }
    let Some((first, last)) = range.span else {
        // A status query, or the finalization of an upload whose size just became known.
        if !body.is_empty() {
            return Err("A status query must have an empty body.".to_owned());
        }
        return Ok(session.total == Some(persisted));
    };
    if last - first + 1 != body.len() as u64 {
        return Err(format!(
            "Content-Range {first}-{last} does not match the {} bytes sent.",
            body.len()
        ));
    }
    if first > persisted {
        return Err(format!(
            "Invalid request. According to the Content-Range header, the upload offset is {first} byte(s), which exceeds already uploaded size of {persisted} byte(s)."
        ));
    }
    if session.total.is_some_and(|t| last + 1 > t) {
        return Err("The chunk ends past the declared total size.".to_owned());
    }
    // Bytes the server already holds are not stored twice.
    let skip = usize::try_from(persisted - first).unwrap_or(body.len());
    session
        .data
        .extend_from_slice(&body[skip.min(body.len())..]);
    if session.total == Some(session.data.len() as u64) {
        return Ok(true);
    }
    // Like GCS, a non-final chunk is persisted only in whole 256 KiB units.
    let keep = session.data.len() / CHUNK_UNIT * CHUNK_UNIT;
    session.data.truncate(keep.max(persisted as usize));
    Ok(false)
}

/// `308 Resume Incomplete` with the persisted range (none when nothing is persisted).
fn incomplete(persisted: u64) -> Response {
    let mut response = StatusCode::PERMANENT_REDIRECT.into_response();
    if persisted > 0
        && let Ok(v) = HeaderValue::from_str(&format!("bytes=0-{}", persisted - 1))
    {
        response.headers_mut().insert(header::RANGE, v);
    }
    response
}

/// `DELETE {session URI}`: cancels the upload; GCS answers 499.
pub(super) async fn cancel(Path(bucket): Path<String>, call: JsonCall) -> Response {
    if let Err(r) = call.authorize(&bucket, "storage.objects.create") {
        return r;
    }
    let removed = call
        .query
        .get("upload_id")
        .and_then(|id| lock(&call.state.storage.inner).sessions.remove(id));
    match removed {
        Some(_) => StatusCode::from_u16(499)
            .unwrap_or(StatusCode::NO_CONTENT)
            .into_response(),
        None => gcs_error(StatusCode::NOT_FOUND, "notFound", "No such upload session."),
    }
}

/// Splits a `multipart/related` body into its JSON resource and its media part.
fn parse_multipart(content_type: &str, body: &[u8]) -> Result<(Resource, String, Bytes), String> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))
        .map(|b| b.trim_matches('"'))
        .filter(|_| content_type.trim_start().starts_with("multipart/related"))
        .ok_or("Content-Type must be multipart/related with a boundary")?;
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut rest = body;
    // Skip the preamble up to the first delimiter.
    let start = find(rest, delimiter.as_bytes()).ok_or("no multipart boundary found")?;
    rest = &rest[start + delimiter.len()..];
    loop {
        if rest.starts_with(b"--") {
            break;
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .ok_or("malformed multipart body")?;
        let end = find(rest, format!("\r\n{delimiter}").as_bytes())
            .ok_or("unterminated multipart part")?;
        parts.push(&rest[..end]);
        rest = &rest[end + 2 + delimiter.len()..];
    }
    let [meta, media] = parts.as_slice() else {
        return Err(format!(
            "expected 2 multipart parts (metadata, media), got {}",
            parts.len()
        ));
    };
    let (_, meta_body) = split_part(meta)?;
    let resource: Resource =
        serde_json::from_slice(meta_body).map_err(|e| format!("Parse Error: {e}"))?;
    let (media_headers, media_body) = split_part(media)?;
    let media_type = media_headers
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_default();
    Ok((resource, media_type, Bytes::copy_from_slice(media_body)))
}

fn split_part(part: &[u8]) -> Result<(String, &[u8]), String> {
    let end = find(part, b"\r\n\r\n").ok_or("a multipart part has no header end")?;
    Ok((
        String::from_utf8_lossy(&part[..end]).into_owned(),
        &part[end + 4..],
    ))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session {
            bucket: "b".into(),
            resource: Resource::default(),
            content_type: "x".into(),
            conditions: (None, None),
            data: Vec::new(),
            total: None,
            done: None,
        }
    }

    #[test]
    fn content_ranges_parse() {
        assert_eq!(
            parse_content_range("bytes 0-9/*"),
            Some(ChunkRange {
                span: Some((0, 9)),
                total: None
            })
        );
        assert_eq!(
            parse_content_range("bytes */100"),
            Some(ChunkRange {
                span: None,
                total: Some(100)
            })
        );
        assert_eq!(
            parse_content_range("bytes */*"),
            Some(ChunkRange {
                span: None,
                total: None
            })
        );
        assert_eq!(parse_content_range("bytes 9-0/10"), None);
        assert_eq!(parse_content_range("0-9/10"), None);
    }

    #[test]
    fn non_final_chunks_persist_whole_units_only() {
        let mut s = session();
        let body = vec![7u8; CHUNK_UNIT + 100];
        let range = ChunkRange {
            span: Some((0, body.len() as u64 - 1)),
            total: None,
        };
        assert_eq!(apply_chunk(&mut s, &range, &body), Ok(false));
        assert_eq!(s.data.len(), CHUNK_UNIT, "the tail past 256 KiB is dropped");
        // Resending from the persisted offset, with the total now known, completes it.
        let rest = vec![7u8; 100];
        let last = CHUNK_UNIT as u64 + 99;
        let range = ChunkRange {
            span: Some((CHUNK_UNIT as u64, last)),
            total: Some(last + 1),
        };
        assert_eq!(apply_chunk(&mut s, &range, &rest), Ok(true));
    }

    #[test]
    fn overlapping_chunks_are_deduplicated_and_gaps_refused() {
        let mut s = session();
        let unit = vec![1u8; CHUNK_UNIT];
        let r = |a: u64, len: usize, total: Option<u64>| ChunkRange {
            span: Some((a, a + len as u64 - 1)),
            total,
        };
        assert_eq!(
            apply_chunk(&mut s, &r(0, CHUNK_UNIT, None), &unit),
            Ok(false)
        );
        // The same chunk again (a retry after a lost 308) changes nothing.
        assert_eq!(
            apply_chunk(&mut s, &r(0, CHUNK_UNIT, None), &unit),
            Ok(false)
        );
        assert_eq!(s.data.len(), CHUNK_UNIT);
        let gap = apply_chunk(&mut s, &r(2 * CHUNK_UNIT as u64, 10, None), &[0; 10]);
        assert!(gap.is_err_and(|m| m.contains("exceeds already uploaded size")));
        let status = ChunkRange {
            span: None,
            total: None,
        };
        assert_eq!(apply_chunk(&mut s, &status, &[]), Ok(false));
        let finalize = ChunkRange {
            span: None,
            total: Some(CHUNK_UNIT as u64),
        };
        assert_eq!(apply_chunk(&mut s, &finalize, &[]), Ok(true));
    }

    #[test]
    fn multipart_bodies_split_into_resource_and_media() {
        let body = b"--XYZ\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{\"name\":\"a b\",\"metadata\":{\"k\":\"v\"}}\r\n--XYZ\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XYZ\r\nnot a delimiter\r\n--XYZ--\r\n";
        let err = parse_multipart("multipart/related; boundary=XYZ", body);
        assert!(err.is_err(), "three parts are refused");
        let body = b"--XYZ\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{\"name\":\"a b\",\"metadata\":{\"k\":\"v\"}}\r\n--XYZ\r\nContent-Type: text/plain\r\n\r\nhel\r\nlo\r\n--XYZ--\r\n";
        let (resource, media_type, data) =
            parse_multipart("multipart/related; boundary=\"XYZ\"", body).expect("parses");
        assert_eq!(resource.name.as_deref(), Some("a b"));
        assert_eq!(resource.metadata.get("k").map(String::as_str), Some("v"));
        assert_eq!(media_type, "text/plain");
        assert_eq!(&data[..], b"hel\r\nlo");
        assert!(parse_multipart("application/json", body).is_err());
    }
}
