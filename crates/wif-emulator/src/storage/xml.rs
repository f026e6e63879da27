//! Cloud Storage XML API: the object paths `/{bucket}/{object}` that S3-style clients such as
//! object_store use, over the same buckets and objects as the JSON API.
//!
//! | request | call |
//! |---|---|
//! | `GET /{bucket}?list-type=2` | list objects (`prefix`, `delimiter`, `max-keys`, `continuation-token`, `start-after`) |
//! | `PUT /{bucket}/{object}` | upload (`x-goog-if-generation-match`, `x-goog-meta-*`) |
//! | `GET` / `HEAD /{bucket}/{object}` | download / metadata (`Range`, `generation`) |
//! | `DELETE /{bucket}/{object}` | delete (204) |
//! | `POST /{bucket}/{object}?uploads` | initiate a multipart upload |
//! | `PUT /{bucket}/{object}?partNumber=N&uploadId=U` | upload part N |
//! | `POST /{bucket}/{object}?uploadId=U` | complete (`CompleteMultipartUpload` body) |
//! | `DELETE /{bucket}/{object}?uploadId=U` | abort |
//!
//! It is served as the router's fallback, so no JSON-API or emulator route is shadowed: a path
//! that is nothing else is a bucket and an object. Requests carry a bearer token the chain
//! issued, or are V4 signed URLs ([`super::signed_url`]). Like GCS, every part but the last of a
//! multipart upload must hold at least 5 MiB; errors are GCS's XML `<Error><Code>…`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State as AxState;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;

use super::read::{RangeAsk, parse_range};
use super::{Conditions, NewObject, StoredObject, authorize, store_object};
use crate::aws_sts::xml_escape;
use crate::state::{State, lock};

/// The smallest part but the last of a multipart upload, as GCS enforces it.
pub(crate) const MIN_PART: usize = 5 * 1024 * 1024;
/// The largest body one request may carry here (an object or a part is held in memory).
const MAX_BODY: usize = 256 * 1024 * 1024;
/// The largest `CompleteMultipartUpload` document.
const MAX_COMPLETE_BODY: usize = 1024 * 1024;
/// The most keys one list page returns.
const MAX_KEYS: usize = 1000;

/// A multipart upload in progress.
#[derive(Debug)]
pub(super) struct Upload {
    bucket: String,
    name: String,
    content_type: String,
    metadata: BTreeMap<String, String>,
    /// Part number → (ETag, data).
    parts: BTreeMap<u32, (String, Bytes)>,
}

/// The fallback handler: every request no other route took.
pub(crate) async fn handle(
    AxState(state): AxState<Arc<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some((bucket, object)) = split_path(uri.path()) else {
        return xml_error(StatusCode::NOT_FOUND, "NotFound", "No such route.");
    };
    let query = query_map(uri.query());
    if !lock(&state.storage.inner).buckets.contains_key(&bucket) {
        return xml_error(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist.",
        );
    }
    // A signed URL authorizes by its signature; anything else needs a bearer token.
    if query.contains_key("X-Goog-Signature") {
        if let Err(response) = super::signed_url::verify(&state, &method, &uri, &headers) {
            return response;
        }
    } else {
        let permission = match (&method, object.is_empty()) {
            (&Method::GET | &Method::HEAD, true) => "storage.objects.list",
            (&Method::GET | &Method::HEAD, false) => "storage.objects.get",
            (&Method::DELETE, _) => "storage.objects.delete",
            _ => "storage.objects.create",
        };
        if let Err(response) = authorize(&state, &headers, &bucket, permission) {
            return response;
        }
    }
    let limit = if method == Method::POST && query.contains_key("uploadId") {
        MAX_COMPLETE_BODY
    } else {
        MAX_BODY
    };
    let Ok(body) = axum::body::to_bytes(body, limit).await else {
        return xml_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed object size.",
        );
    };
    let at = Target {
        state: &state,
        bucket,
        object,
        query,
        headers,
    };
    match (method, at.object.is_empty()) {
        (Method::GET | Method::HEAD, true) => at.list(),
        (Method::GET, false) => at.get(true),
        (Method::HEAD, false) => at.get(false),
        (Method::PUT, false) if at.query.contains_key("uploadId") => at.put_part(body),
        (Method::PUT, false) if at.headers.contains_key("x-goog-copy-source") => xml_error(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "Copies are not emulated.",
        ),
        (Method::PUT, false) => at.put(body),
        (Method::POST, false) if at.query.contains_key("uploads") => at.initiate(),
        (Method::POST, false) if at.query.contains_key("uploadId") => at.complete(&body),
        (Method::DELETE, false) if at.query.contains_key("uploadId") => at.abort(),
        (Method::DELETE, false) => at.delete(),
        _ => xml_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        ),
    }
}

/// `/{bucket}/{object…}` percent-decoded; the object is empty for the bucket itself.
fn split_path(path: &str) -> Option<(String, String)> {
    let path = path.strip_prefix('/')?;
    let (bucket, object) = path.split_once('/').unwrap_or((path, ""));
    if bucket.is_empty() {
        return None;
    }
    let decode = |s: &str| {
        percent_decode_str(s)
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    Some((decode(bucket)?, decode(object)?))
}

/// The decoded query parameters (the last of repeated names wins).
pub(super) fn query_map(query: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// One request's bucket, object, query and headers.
struct Target<'a> {
    state: &'a State,
    bucket: String,
    object: String,
    query: HashMap<String, String>,
    headers: HeaderMap,
}

impl Target<'_> {
    /// `GET /{bucket}?list-type=2`: a `ListBucketResult` page.
    fn list(&self) -> Response {
        let prefix = self.query.get("prefix").cloned().unwrap_or_default();
        let delimiter = self.query.get("delimiter").filter(|d| !d.is_empty());
        let max_keys = self
            .query
            .get("max-keys")
            .and_then(|m| m.parse::<usize>().ok())
            .unwrap_or(MAX_KEYS)
            .clamp(1, MAX_KEYS);
        // The continuation token is the last key (or prefix) of the previous page.
        let after = self
            .query
            .get("continuation-token")
            .or_else(|| self.query.get("start-after"))
            .cloned()
            .unwrap_or_default();
        let inner = lock(&self.state.storage.inner);
        let Some(bucket) = inner.buckets.get(&self.bucket) else {
            return xml_error(
                StatusCode::NOT_FOUND,
                "NoSuchBucket",
                "The specified bucket does not exist.",
            );
        };
        let mut contents = String::new();
        let mut prefixes: Vec<String> = Vec::new();
        let mut count = 0;
        let mut last = None;
        let mut truncated = false;
        for (name, object) in bucket.objects.range(after.clone()..) {
            if !name.starts_with(&prefix) || *name <= after {
                continue;
            }
            let entry = match delimiter
                .and_then(|d| name[prefix.len()..].find(d.as_str()).map(|i| (d, i)))
            {
                Some((d, i)) => {
                    let common = format!("{prefix}{}{d}", &name[prefix.len()..prefix.len() + i]);
                    if prefixes.last() == Some(&common) || common <= after {
                        continue;
                    }
                    Err(common)
                }
                None => Ok(object),
            };
            if count == max_keys {
                truncated = true;
                break;
            }
            count += 1;
            match entry {
                Ok(object) => {
                    contents.push_str(&format!(
                        "<Contents><Key>{}</Key><Generation>{}</Generation><MetaGeneration>{}</MetaGeneration><LastModified>{}</LastModified><ETag>{}</ETag><Size>{}</Size></Contents>",
                        xml_escape(name),
                        object.generation,
                        object.metageneration,
                        object.time_created,
                        xml_escape(&xml_etag(object)),
                        object.data.len()
                    ));
                    last = Some(name.clone());
                }
                Err(common) => {
                    last = Some(common.clone());
                    prefixes.push(common);
                }
            }
        }
        let common: String = prefixes
            .iter()
            .map(|p| {
                format!(
                    "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
                    xml_escape(p)
                )
            })
            .collect();
        let next = match (truncated, last) {
            (true, Some(last)) => format!(
                "<NextContinuationToken>{}</NextContinuationToken>",
                xml_escape(&last)
            ),
            _ => String::new(),
        };
        xml_ok(format!(
            "<ListBucketResult xmlns=\"http://doc.s3.amazonaws.com/2006-03-01\"><Name>{}</Name><Prefix>{}</Prefix><KeyCount>{count}</KeyCount><MaxKeys>{max_keys}</MaxKeys><IsTruncated>{truncated}</IsTruncated>{contents}{common}{next}</ListBucketResult>",
            xml_escape(&self.bucket),
            xml_escape(&prefix)
        ))
    }

    /// `GET`/`HEAD` an object: its data (or a `Range` of it) and its metadata headers.
    fn get(&self, with_body: bool) -> Response {
        let inner = lock(&self.state.storage.inner);
        let object = inner
            .buckets
            .get(&self.bucket)
            .and_then(|b| b.objects.get(&self.object));
        let generation = self
            .query
            .get("generation")
            .and_then(|g| g.parse::<i64>().ok());
        let Some(object) = object.filter(|o| generation.is_none_or(|g| g == o.generation)) else {
            return xml_error(
                StatusCode::NOT_FOUND,
                "NoSuchKey",
                "The specified key does not exist.",
            );
        };
        let object = object.clone();
        drop(inner);
        if let Some(tag) = self
            .headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            && tag == xml_etag(&object)
        {
            return object_headers(StatusCode::NOT_MODIFIED, &object).into_response();
        }
        let size = object.data.len() as u64;
        let range = self
            .headers
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok())
            .map_or(RangeAsk::Ignore, |r| parse_range(r, size));
        let (status, data, content_range) = match range {
            RangeAsk::Ignore => (StatusCode::OK, object.data.clone(), None),
            RangeAsk::Span(a, b) => (
                StatusCode::PARTIAL_CONTENT,
                object.data.slice(a as usize..=b as usize),
                Some(format!("bytes {a}-{b}/{size}")),
            ),
            RangeAsk::Unsatisfiable => {
                return xml_error(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "InvalidRange",
                    "The requested range cannot be satisfied.",
                );
            }
        };
        let mut response = object_headers(status, &object);
        let h = response.headers_mut();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(data.len()));
        if let Some(range) = content_range.and_then(|r| HeaderValue::from_str(&r).ok()) {
            h.insert(header::CONTENT_RANGE, range);
        }
        if with_body {
            *response.body_mut() = Body::from(data);
        }
        response
    }

    /// `PUT` an object in one request.
    fn put(&self, data: Bytes) -> Response {
        let conditions = match self.generation_match() {
            Ok(c) => c,
            Err(response) => return response,
        };
        let object = NewObject {
            name: self.object.clone(),
            content_type: self.content_type(),
            metadata: self.metadata(),
            data,
        };
        self.store(object, &conditions)
    }

    fn store(&self, object: NewObject, conditions: &Conditions) -> Response {
        match store_object(self.state, "", &self.bucket, object, conditions) {
            Ok(_) => {
                let inner = lock(&self.state.storage.inner);
                match inner
                    .buckets
                    .get(&self.bucket)
                    .and_then(|b| b.objects.get(&self.object))
                {
                    Some(o) => object_headers(StatusCode::OK, o),
                    None => xml_error(StatusCode::NOT_FOUND, "NoSuchKey", "The object vanished."),
                }
            }
            Err(response) if response.status() == StatusCode::PRECONDITION_FAILED => xml_error(
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold.",
            ),
            Err(response) => response,
        }
    }

    /// `x-goog-if-generation-match` (`0`: the object must not exist).
    fn generation_match(&self) -> Result<Conditions, Response> {
        let value = self.headers.get("x-goog-if-generation-match");
        let parsed = value.map(|v| v.to_str().ok().and_then(|v| v.trim().parse::<i64>().ok()));
        match parsed {
            Some(None) => Err(xml_error(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                "x-goog-if-generation-match is not an integer.",
            )),
            other => Ok(Conditions {
                generation: None,
                if_generation_match: other.flatten(),
                if_metageneration_match: None,
            }),
        }
    }

    fn content_type(&self) -> String {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned()
    }

    fn metadata(&self) -> BTreeMap<String, String> {
        self.headers
            .iter()
            .filter_map(|(k, v)| {
                let key = k.as_str().strip_prefix("x-goog-meta-")?;
                Some((key.to_owned(), v.to_str().ok()?.to_owned()))
            })
            .collect()
    }

    /// `DELETE` an object: 204.
    fn delete(&self) -> Response {
        let mut inner = lock(&self.state.storage.inner);
        let removed = inner
            .buckets
            .get_mut(&self.bucket)
            .and_then(|b| b.objects.remove(&self.object));
        match removed {
            Some(_) => StatusCode::NO_CONTENT.into_response(),
            None => xml_error(
                StatusCode::NOT_FOUND,
                "NoSuchKey",
                "The specified key does not exist.",
            ),
        }
    }

    /// `POST ?uploads`: a new upload ID.
    fn initiate(&self) -> Response {
        let id = format!(
            "xml-upload-{:016x}{:016x}",
            fastrand::u64(..),
            fastrand::u64(..)
        );
        lock(&self.state.storage.inner).xml_uploads.insert(
            id.clone(),
            Upload {
                bucket: self.bucket.clone(),
                name: self.object.clone(),
                content_type: self.content_type(),
                metadata: self.metadata(),
                parts: BTreeMap::new(),
            },
        );
        xml_ok(format!(
            "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>{}</Bucket><Key>{}</Key><UploadId>{id}</UploadId></InitiateMultipartUploadResult>",
            xml_escape(&self.bucket),
            xml_escape(&self.object)
        ))
    }

    /// The upload of this request's `uploadId`, if it is one for this object.
    fn with_upload<T>(&self, f: impl FnOnce(&mut Upload) -> T) -> Result<T, Response> {
        let id = self.query.get("uploadId").map(String::as_str).unwrap_or("");
        let mut inner = lock(&self.state.storage.inner);
        match inner.xml_uploads.get_mut(id) {
            Some(u) if u.bucket == self.bucket && u.name == self.object => Ok(f(u)),
            _ => Err(no_upload()),
        }
    }

    /// `PUT ?partNumber=N&uploadId=U`: part N (1 to 10000), answered with its ETag.
    fn put_part(&self, data: Bytes) -> Response {
        let Some(number) = self
            .query
            .get("partNumber")
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| (1..=10_000).contains(n))
        else {
            return xml_error(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                "partNumber must be an integer from 1 to 10000.",
            );
        };
        let etag = format!("\"{}-{number}\"", hex(&super::crc32c(&data)));
        match self.with_upload(|u| u.parts.insert(number, (etag.clone(), data))) {
            Ok(_) => {
                let mut response = StatusCode::OK.into_response();
                if let Ok(v) = HeaderValue::from_str(&etag) {
                    response.headers_mut().insert(header::ETAG, v);
                }
                response
            }
            Err(response) => response,
        }
    }

    /// `POST ?uploadId=U` with `<CompleteMultipartUpload><Part><PartNumber>…<ETag>…`: the parts,
    /// in ascending order, each as uploaded, become the object.
    fn complete(&self, body: &[u8]) -> Response {
        let Some(listed) = std::str::from_utf8(body).ok().and_then(parse_complete) else {
            return xml_error(
                StatusCode::BAD_REQUEST,
                "MalformedXML",
                "The XML you provided was not well-formed or did not validate.",
            );
        };
        let assembled = self.with_upload(|u| assemble(u, &listed));
        let (content_type, metadata, data) = match assembled {
            Ok(Ok(done)) => done,
            Ok(Err(response)) | Err(response) => return response,
        };
        let id = self.query.get("uploadId").cloned().unwrap_or_default();
        lock(&self.state.storage.inner).xml_uploads.remove(&id);
        let object = NewObject {
            name: self.object.clone(),
            content_type,
            metadata,
            data,
        };
        let conditions = Conditions {
            generation: None,
            if_generation_match: None,
            if_metageneration_match: None,
        };
        let stored = self.store(object, &conditions);
        if !stored.status().is_success() {
            return stored;
        }
        let mut response = xml_ok(format!(
            "<CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Location>/{0}/{1}</Location><Bucket>{0}</Bucket><Key>{1}</Key><ETag>{2}</ETag></CompleteMultipartUploadResult>",
            xml_escape(&self.bucket),
            xml_escape(&self.object),
            stored
                .headers()
                .get(header::ETAG)
                .and_then(|v| v.to_str().ok())
                .map(xml_escape)
                .unwrap_or_default()
        ));
        for name in ["x-goog-generation", "x-goog-metageneration"] {
            if let Some(v) = stored.headers().get(name) {
                response.headers_mut().insert(name, v.clone());
            }
        }
        response
    }

    /// `DELETE ?uploadId=U`: the upload and its parts are dropped.
    fn abort(&self) -> Response {
        let id = self.query.get("uploadId").cloned().unwrap_or_default();
        if let Err(response) = self.with_upload(|_| ()) {
            return response;
        }
        lock(&self.state.storage.inner).xml_uploads.remove(&id);
        StatusCode::NO_CONTENT.into_response()
    }
}

/// The object's data from the listed parts, checked as GCS checks them.
#[allow(clippy::type_complexity)]
fn assemble(
    upload: &Upload,
    listed: &[(u32, String)],
) -> Result<(String, BTreeMap<String, String>, Bytes), Response> {
    let invalid_part = || {
        xml_error(
            StatusCode::BAD_REQUEST,
            "InvalidPart",
            "One or more of the specified parts could not be found or its entity tag did not match.",
        )
    };
    if listed.is_empty() {
        return Err(xml_error(
            StatusCode::BAD_REQUEST,
            "MalformedXML",
            "No parts were listed.",
        ));
    }
    if listed.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(xml_error(
            StatusCode::BAD_REQUEST,
            "InvalidPartOrder",
            "The list of parts was not in ascending order.",
        ));
    }
    let mut data = Vec::new();
    for (i, (number, etag)) in listed.iter().enumerate() {
        let Some((stored, bytes)) = upload.parts.get(number) else {
            return Err(invalid_part());
        };
        if stored.trim_matches('"') != etag.trim().trim_matches('"') {
            return Err(invalid_part());
        }
        if i + 1 < listed.len() && bytes.len() < MIN_PART {
            return Err(xml_error(
                StatusCode::BAD_REQUEST,
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed object size.",
            ));
        }
        data.extend_from_slice(bytes);
    }
    Ok((
        upload.content_type.clone(),
        upload.metadata.clone(),
        Bytes::from(data),
    ))
}

/// `(PartNumber, ETag)` of each `<Part>` of a `CompleteMultipartUpload` document; `None` when a
/// part lacks either or the document has no root element.
fn parse_complete(xml: &str) -> Option<Vec<(u32, String)>> {
    if !xml.contains("<CompleteMultipartUpload") {
        return None;
    }
    let mut parts = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<Part>") {
        let end = rest[start..].find("</Part>")? + start;
        let part = &rest[start + "<Part>".len()..end];
        let number = element(part, "PartNumber")?.trim().parse().ok()?;
        let etag = unescape(element(part, "ETag")?);
        parts.push((number, etag));
        rest = &rest[end + "</Part>".len()..];
    }
    Some(parts)
}

/// The text of the first `<name>…</name>` in `xml`.
fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&close)? + start;
    Some(&xml[start..end])
}

/// Status, `ETag`, `Last-Modified`, generation and metadata headers of `object`.
fn object_headers(status: StatusCode, object: &StoredObject) -> Response {
    let mut response = status.into_response();
    let h = response.headers_mut();
    let mut put = |name: &str, value: &str| {
        if let (Ok(n), Ok(v)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            h.insert(n, v);
        }
    };
    put("etag", &xml_etag(object));
    put("last-modified", &http_date(&object.time_created));
    put("content-type", &object.content_type);
    put("x-goog-generation", &object.generation.to_string());
    put("x-goog-metageneration", &object.metageneration.to_string());
    put(
        "x-goog-stored-content-length",
        &object.data.len().to_string(),
    );
    put("x-goog-hash", &format!("crc32c={}", object.crc32c));
    for (k, v) in &object.metadata {
        put(&format!("x-goog-meta-{k}"), v);
    }
    response
}

/// An XML-API ETag: quoted, unique per generation and content.
fn xml_etag(object: &StoredObject) -> String {
    format!("\"{}{:x}\"", hex(&object.crc32c), object.generation)
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// RFC 3339 (as the JSON API reports times) to an HTTP date, `Mon, 07 Dec 2026 15:04:20 GMT`.
fn http_date(rfc3339: &str) -> String {
    let parsed =
        time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    parsed.format(format).unwrap_or_default()
}

fn xml_ok(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/xml; charset=UTF-8")],
        format!("<?xml version='1.0' encoding='UTF-8'?>{body}"),
    )
        .into_response()
}

/// A GCS XML error: `<Error><Code>…</Code><Message>…</Message></Error>`.
pub(super) fn xml_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/xml; charset=UTF-8")],
        format!(
            "<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{}</Message></Error>",
            xml_escape(message)
        ),
    )
        .into_response()
}

fn no_upload() -> Response {
    xml_error(
        StatusCode::NOT_FOUND,
        "NoSuchUpload",
        "The requested upload was not found.",
    )
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_a_bucket_and_a_decoded_object() {
        assert_eq!(
            split_path("/b/dir%2Fa%20b"),
            Some(("b".into(), "dir/a b".into()))
        );
        assert_eq!(split_path("/b/dir/a"), Some(("b".into(), "dir/a".into())));
        assert_eq!(split_path("/b"), Some(("b".into(), String::new())));
        assert_eq!(split_path("/"), None);
    }

    #[test]
    fn complete_documents_parse_and_malformed_ones_do_not() {
        let xml = "<CompleteMultipartUpload><Part><ETag>\"a-1\"</ETag><PartNumber>1</PartNumber></Part><Part><ETag>&quot;b-2&quot;</ETag><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>";
        assert_eq!(
            parse_complete(xml),
            Some(vec![(1, "\"a-1\"".into()), (2, "\"b-2\"".into())])
        );
        assert_eq!(parse_complete("<Other/>"), None);
        assert_eq!(
            parse_complete(
                "<CompleteMultipartUpload><Part><ETag>x</ETag></Part></CompleteMultipartUpload>"
            ),
            None
        );
    }

    #[test]
    fn http_dates_are_rfc_9110() {
        assert_eq!(
            http_date("2026-12-07T15:04:20.123Z"),
            "Mon, 07 Dec 2026 15:04:20 GMT"
        );
    }
}
