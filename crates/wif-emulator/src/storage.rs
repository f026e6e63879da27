//! Cloud Storage JSON API v1, in memory: the part of the chain where the token is finally used.
//!
//! | route | call |
//! |---|---|
//! | `POST /storage/v1/b?project=P` | `buckets.insert` |
//! | `GET /storage/v1/b/{bucket}` | `buckets.get` |
//! | `GET /storage/v1/b/{bucket}/o` | `objects.list` (`prefix`, `delimiter`, `pageToken`, `maxResults`) |
//! | `GET /storage/v1/b/{bucket}/o/{object}` | `objects.get` (metadata, or data with `alt=media` and `Range`) |
//! | `GET /download/storage/v1/b/{bucket}/o/{object}` | the `mediaLink` alias |
//! | `DELETE /storage/v1/b/{bucket}/o/{object}` | `objects.delete` (204) |
//! | `POST /upload/storage/v1/b/{bucket}/o?uploadType=media\|multipart\|resumable` | `objects.insert` |
//! | `PUT /upload/storage/v1/b/{bucket}/o?upload_id=…` | resumable chunks and status queries |
//! | `POST /google.storage.v2.Storage/ListObjects`, `…/DeleteObject` | the gRPC API's (HTTP/2): `google.storage.v2.Storage` |
//!
//! Like the real service: object names are one percent-encoded path segment; generations are
//! microsecond timestamps; `ifGenerationMatch` (`0` = must not exist) and
//! `ifMetagenerationMatch` answer 412; non-final resumable chunks persist only whole 256 KiB
//! units (so a client must follow the `Range` of the 308); a federated principal is refused on
//! buckets without uniform bucket-level access. Errors use GCS's JSON error shape. Every request
//! needs a bearer token the chain issued.
//!
//! The XML API (`/{bucket}/{object}`, multipart uploads, V4 signed URLs) is in [`xml`] and
//! `signed_url`, over the same buckets and objects.
//!
//! Buckets are created over HTTP (`buckets.insert`) or from Rust with [`create_bucket`] /
//! [`State::create_bucket`].

// Helpers return ready-made error responses; boxing them would buy nothing in an emulator.
#![allow(clippy::result_large_err)]

mod grpc;
mod read;
mod signed_url;
mod upload;
pub(crate) mod xml;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::de::DeserializeOwned;

use crate::state::{Issued, State, TokenKind, lock};

/// Non-final resumable chunks are persisted in whole units of this size.
pub(crate) const CHUNK_UNIT: usize = 256 * 1024;

/// Buckets, objects and resumable sessions of one emulator.
#[derive(Debug, Default)]
pub(crate) struct Store {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    buckets: BTreeMap<String, Bucket>,
    sessions: HashMap<String, upload::Session>,
    /// XML-API multipart uploads in progress, by upload ID.
    xml_uploads: HashMap<String, xml::Upload>,
    last_generation: i64,
}

#[derive(Debug)]
struct Bucket {
    project: String,
    uniform_access: bool,
    time_created: String,
    objects: BTreeMap<String, StoredObject>,
}

/// An object: its metadata and data.
#[derive(Clone, Debug)]
struct StoredObject {
    name: String,
    generation: i64,
    metageneration: i64,
    content_type: String,
    metadata: BTreeMap<String, String>,
    time_created: String,
    data: Bytes,
    crc32c: String,
}

impl Inner {
    /// A new generation: microseconds since the epoch, strictly increasing.
    fn next_generation(&mut self) -> i64 {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        self.last_generation = now.max(self.last_generation + 1);
        self.last_generation
    }
}

/// Creates bucket `name` with uniform bucket-level access (so federated principals may use it)
/// in the emulated project. Returns false if it already existed.
pub fn create_bucket(state: &State, name: &str) -> bool {
    insert_bucket(state, name, &state.config.project_id, true)
}

fn insert_bucket(state: &State, name: &str, project: &str, uniform_access: bool) -> bool {
    let mut inner = lock(&state.storage.inner);
    if inner.buckets.contains_key(name) {
        return false;
    }
    inner.buckets.insert(
        name.to_owned(),
        Bucket {
            project: project.to_owned(),
            uniform_access,
            time_created: rfc3339_now(),
            objects: BTreeMap::new(),
        },
    );
    true
}

impl State {
    /// Creates bucket `name` with uniform bucket-level access; false if it already existed.
    pub fn create_bucket(&self, name: &str) -> bool {
        create_bucket(self, name)
    }

    /// Creates bucket `name` with fine-grained ACLs (no uniform bucket-level access): federated
    /// principals get 403 there, as on Google Cloud. False if it already existed.
    pub fn create_fine_grained_bucket(&self, name: &str) -> bool {
        let project = self.config.project_id.clone();
        insert_bucket(self, name, &project, false)
    }

    /// The data and generation of `bucket/name`, if it exists (for assertions in tests).
    pub fn storage_object(&self, bucket: &str, name: &str) -> Option<(i64, Vec<u8>)> {
        let inner = lock(&self.storage.inner);
        let object = inner.buckets.get(bucket)?.objects.get(name)?;
        Some((object.generation, object.data.to_vec()))
    }
}

pub(crate) fn routes() -> Router<Arc<State>> {
    let objects = "/storage/v1/b/{bucket}/o/{*object}";
    Router::new()
        .route("/storage/v1/b", post(read::insert_bucket))
        .route("/storage/v1/b/{bucket}", get(read::get_bucket))
        .route("/storage/v1/b/{bucket}/o", get(read::list))
        .route(objects, get(read::get_object).delete(read::delete_object))
        .route(
            "/download/storage/v1/b/{bucket}/o/{*object}",
            get(read::download),
        )
        .route(
            "/upload/storage/v1/b/{bucket}/o",
            post(upload::insert)
                .put(upload::put_chunk)
                .delete(upload::cancel),
        )
        .route(
            "/google.storage.v2.Storage/{method}",
            axum::routing::post(grpc::call),
        )
        .route(
            "/resumable/upload/storage/v1/b/{bucket}/o",
            post(upload::insert)
                .put(upload::put_chunk)
                .delete(upload::cancel),
        )
        // GCS takes a resumable chunk of any multiple of 256 KiB and a single-request upload of
        // any object size, so the web framework's body limit (2 MB by default) is lifted: the
        // bodies are held in memory, as every object here is.
        .layer(DefaultBodyLimit::disable())
}

/// A GCS JSON error: `{"error":{"code","message","errors":[{"message","domain","reason"}]}}`.
pub(crate) fn gcs_error(status: StatusCode, reason: &str, message: &str) -> Response {
    let body = serde_json::json!({
        "error": {
            "code": status.as_u16(),
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
        }
    });
    (status, Json(body)).into_response()
}

fn no_bucket(bucket: &str) -> Response {
    gcs_error(
        StatusCode::NOT_FOUND,
        "notFound",
        &format!("The specified bucket does not exist: {bucket}"),
    )
}

fn no_object(bucket: &str, name: &str) -> Response {
    gcs_error(
        StatusCode::NOT_FOUND,
        "notFound",
        &format!("No such object: {bucket}/{name}"),
    )
}

fn precondition_failed() -> Response {
    gcs_error(
        StatusCode::PRECONDITION_FAILED,
        "conditionNotMet",
        "At least one of the pre-conditions you specified did not hold.",
    )
}

/// What every JSON API handler reads besides its path: the emulator, the query string and the
/// headers (the caller's bearer token among them).
#[derive(Clone)]
pub(super) struct JsonCall {
    state: Arc<State>,
    query: HashMap<String, String>,
    headers: HeaderMap,
}

impl JsonCall {
    /// [`authorize`] for this call.
    fn authorize(&self, bucket: &str, permission: &str) -> Result<Issued, Response> {
        authorize(&self.state, &self.headers, bucket, permission)
    }
}

impl FromRequestParts<Arc<State>> for JsonCall {
    type Rejection = QueryRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<State>,
    ) -> Result<Self, Self::Rejection> {
        let Query(query) = Query::from_request_parts(parts, state).await?;
        Ok(JsonCall {
            state: Arc::clone(state),
            query,
            headers: parts.headers.clone(),
        })
    }
}

/// A request's JSON resource (a bucket's, an object's), or GCS's `400 parseError` naming what
/// is wrong with it.
fn json_resource<T: DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| {
        gcs_error(
            StatusCode::BAD_REQUEST,
            "parseError",
            &format!("Parse Error: {e}"),
        )
    })
}

/// Checks the bearer token, then (for a federated principal) that the bucket has uniform
/// bucket-level access, as GCS does. `permission` names the IAM permission for the message.
fn authorize(
    state: &State,
    headers: &HeaderMap,
    bucket: &str,
    permission: &str,
) -> Result<Issued, Response> {
    let issued = state.authorize(headers, &[TokenKind::ServiceAccount, TokenKind::Federated])?;
    if issued.kind == TokenKind::Federated {
        let inner = lock(&state.storage.inner);
        if inner.buckets.get(bucket).is_some_and(|b| !b.uniform_access) {
            let what = if permission.starts_with("storage.buckets") {
                "bucket"
            } else {
                "object"
            };
            return Err(gcs_error(
                StatusCode::FORBIDDEN,
                "forbidden",
                &format!(
                    "{} does not have {permission} access to the Google Cloud Storage {what}. Permission '{permission}' denied on resource (or it may not exist).",
                    issued.principal
                ),
            ));
        }
    }
    Ok(issued)
}

/// Everything but RFC 3986 unreserved characters, as object names are encoded in URLs.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn encode(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// `http://{Host}`: links in answers point back at whatever address the client used.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// The `Object` resource.
fn object_json(base: &str, bucket: &str, o: &StoredObject) -> serde_json::Value {
    let path = format!("b/{}/o/{}", encode(bucket), encode(&o.name));
    let mut json = serde_json::json!({
        "kind": "storage#object",
        "id": format!("{bucket}/{}/{}", o.name, o.generation),
        "selfLink": format!("{base}/storage/v1/{path}"),
        "mediaLink": format!("{base}/download/storage/v1/{path}?generation={}&alt=media", o.generation),
        "name": o.name,
        "bucket": bucket,
        "generation": o.generation.to_string(),
        "metageneration": o.metageneration.to_string(),
        "contentType": o.content_type,
        "storageClass": "STANDARD",
        "size": o.data.len().to_string(),
        "crc32c": o.crc32c,
        "etag": etag(o),
        "timeCreated": o.time_created,
        "updated": o.time_created,
    });
    if !o.metadata.is_empty() {
        json["metadata"] = serde_json::json!(o.metadata);
    }
    json
}

fn etag(o: &StoredObject) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(format!("{}/{}", o.generation, o.metageneration))
}

/// A query parameter that must be an int64 when present; `Err` is a ready 400.
fn int_param(query: &HashMap<String, String>, name: &str) -> Result<Option<i64>, Response> {
    match query.get(name) {
        None => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|_| {
            gcs_error(
                StatusCode::BAD_REQUEST,
                "invalid",
                &format!("Invalid argument for parameter '{name}': {v:?} is not an integer."),
            )
        }),
    }
}

/// `ifGenerationMatch` / `ifMetagenerationMatch` (and `ifGenerationNotMatch`, answered by the
/// caller) against the live object.
struct Conditions {
    generation: Option<i64>,
    if_generation_match: Option<i64>,
    if_metageneration_match: Option<i64>,
}

impl Conditions {
    fn from_query(query: &HashMap<String, String>) -> Result<Self, Response> {
        Ok(Conditions {
            generation: int_param(query, "generation")?,
            if_generation_match: int_param(query, "ifGenerationMatch")?,
            if_metageneration_match: int_param(query, "ifMetagenerationMatch")?,
        })
    }

    /// True when the conditions hold for `live` (`None` = no live object).
    fn hold(&self, live: Option<&StoredObject>) -> bool {
        let generation_ok = match self.if_generation_match {
            None => true,
            Some(0) => live.is_none(),
            Some(g) => live.is_some_and(|o| o.generation == g),
        };
        let metageneration_ok = match self.if_metageneration_match {
            None => true,
            Some(m) => live.is_some_and(|o| o.metageneration == m),
        };
        generation_ok && metageneration_ok
    }
}

fn rfc3339_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    now.format(format).unwrap_or_default()
}

/// CRC32C (Castagnoli), base64 of the big-endian value, as GCS reports it.
fn crc32c(data: &[u8]) -> String {
    const POLY: u32 = 0x82F6_3B78;
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 == 1 { (c >> 1) ^ POLY } else { c >> 1 };
            }
            *slot = c;
        }
        t
    });
    let mut crc = !0u32;
    for &b in data {
        crc = table[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
    }
    base64::engine::general_purpose::STANDARD.encode((!crc).to_be_bytes())
}

/// Stores a finished upload as the new live generation of `bucket/name`, if the conditions
/// hold. Returns the object's JSON or a ready error response.
fn store_object(
    state: &State,
    base: &str,
    bucket: &str,
    object: NewObject,
    conditions: &Conditions,
) -> Result<serde_json::Value, Response> {
    let mut inner = lock(&state.storage.inner);
    let generation = inner.next_generation();
    let Some(b) = inner.buckets.get_mut(bucket) else {
        return Err(no_bucket(bucket));
    };
    if !conditions.hold(b.objects.get(&object.name)) {
        return Err(precondition_failed());
    }
    let stored = StoredObject {
        crc32c: crc32c(&object.data),
        name: object.name.clone(),
        generation,
        metageneration: 1,
        content_type: object.content_type,
        metadata: object.metadata,
        time_created: rfc3339_now(),
        data: object.data,
    };
    let json = object_json(base, bucket, &stored);
    b.objects.insert(object.name, stored);
    Ok(json)
}

/// What an upload carries.
struct NewObject {
    name: String,
    content_type: String,
    metadata: BTreeMap<String, String>,
    data: Bytes,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_castagnoli_check_value() {
        // The standard check value of CRC-32C over "123456789" is 0xE3069283.
        let expected =
            base64::engine::general_purpose::STANDARD.encode(0xE306_9283u32.to_be_bytes());
        assert_eq!(crc32c(b"123456789"), expected);
        assert_eq!(crc32c(b""), "AAAAAA==");
    }

    #[test]
    fn conditions_follow_gcs_semantics() {
        let live = StoredObject {
            name: "o".into(),
            generation: 5,
            metageneration: 2,
            content_type: "text/plain".into(),
            metadata: BTreeMap::new(),
            time_created: String::new(),
            data: Bytes::new(),
            crc32c: String::new(),
        };
        let c = |g: Option<i64>, m: Option<i64>| Conditions {
            generation: None,
            if_generation_match: g,
            if_metageneration_match: m,
        };
        assert!(c(None, None).hold(Some(&live)));
        assert!(c(Some(0), None).hold(None), "create-only on nothing");
        assert!(
            !c(Some(0), None).hold(Some(&live)),
            "create-only on something"
        );
        assert!(c(Some(5), Some(2)).hold(Some(&live)));
        assert!(!c(Some(4), None).hold(Some(&live)));
        assert!(!c(None, Some(1)).hold(Some(&live)));
        assert!(!c(Some(5), None).hold(None));
    }
}
