//! What a client sent to the Cloud Storage fake, decoded by method: uploads with their metadata
//! and size, resumable chunks, downloads and their ranges, listings, deletes; with the bearer
//! token (still secret) and the quota project. Also the request parsing the fake itself uses.

use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;
use wif_core::AccessToken;
use wif_core::testing::{bearer_token, header_text};
use wiremock::Request;

/// Which Cloud Storage call a request was.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageCall {
    /// `objects.insert`: `uploadType` `media` or `multipart`, or the start of a `resumable`
    /// session.
    Upload {
        /// The bucket.
        bucket: String,
        /// The object name (query or metadata).
        name: String,
        /// `media`, `multipart` or `resumable`.
        upload_type: String,
        /// The content type of the data.
        content_type: Option<String>,
        /// Custom metadata (multipart and resumable).
        metadata: BTreeMap<String, String>,
        /// Bytes of data in this request (0 for a resumable start).
        size: usize,
        /// `ifGenerationMatch`.
        if_generation_match: Option<i64>,
    },
    /// A `PUT` to a resumable session: a chunk, or a status query (an empty body with
    /// `bytes */TOTAL`).
    UploadChunk {
        /// The session's `upload_id`.
        upload_id: String,
        /// The `Content-Range` sent.
        content_range: String,
        /// Bytes in this chunk.
        size: usize,
    },
    /// `DELETE` of a resumable session (cancel).
    CancelUpload {
        /// The session's `upload_id`.
        upload_id: String,
    },
    /// `objects.get` of the metadata.
    Metadata {
        /// The bucket.
        bucket: String,
        /// The object name.
        name: String,
    },
    /// `objects.get` with `alt=media` (or the `/download/` alias).
    Download {
        /// The bucket.
        bucket: String,
        /// The object name.
        name: String,
        /// The `Range` header.
        range: Option<String>,
        /// The `generation` asked for.
        generation: Option<i64>,
    },
    /// `objects.list`.
    List {
        /// The bucket.
        bucket: String,
        /// `prefix`.
        prefix: Option<String>,
        /// `delimiter`.
        delimiter: Option<String>,
        /// `maxResults`.
        max_results: Option<u32>,
        /// `pageToken`.
        page_token: Option<String>,
    },
    /// `objects.delete`.
    Delete {
        /// The bucket.
        bucket: String,
        /// The object name.
        name: String,
        /// `ifGenerationMatch`.
        if_generation_match: Option<i64>,
    },
    /// Anything else.
    Other,
}

/// One Cloud Storage call as the fake received it. `Debug` never shows the bearer token.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StorageRequest {
    /// The HTTP method.
    pub method: String,
    /// The call and what it sent.
    pub call: StorageCall,
    /// The bearer token.
    pub bearer: Option<AccessToken>,
    /// `x-goog-user-project`.
    pub quota_project: Option<String>,
}

impl StorageRequest {
    /// Decodes a recorded request: `None` unless it is a Cloud Storage JSON API path.
    pub fn parse(request: &Request) -> Option<StorageRequest> {
        let route = Route::of(request)?;
        Some(StorageRequest {
            method: request.method.to_string(),
            call: route.call(request),
            bearer: bearer_token(request),
            quota_project: header_text(request, "x-goog-user-project"),
        })
    }
}

/// Where a request goes: which API tree, the bucket, and the object (if any).
pub(crate) struct Route {
    pub(crate) tree: Tree,
    pub(crate) bucket: String,
    pub(crate) object: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tree {
    Json,
    Upload,
    Download,
}

impl Route {
    /// `…/storage/v1/b/{bucket}/o[/{object}]`, `…/upload/storage/v1/b/{bucket}/o`,
    /// `…/download/storage/v1/b/{bucket}/o/{object}`; any path prefix before them.
    pub(crate) fn of(request: &Request) -> Option<Route> {
        let path = request.url.path();
        let (tree, rest) = if let Some((_, rest)) = path.split_once("/upload/storage/v1/b/") {
            (Tree::Upload, rest)
        } else if let Some((_, rest)) = path.split_once("/download/storage/v1/b/") {
            (Tree::Download, rest)
        } else if let Some((_, rest)) = path.split_once("/storage/v1/b/") {
            (Tree::Json, rest)
        } else {
            return None;
        };
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let (bucket, after) = rest.split_once("/o").unwrap_or((rest, ""));
        let object = after
            .strip_prefix('/')
            .filter(|o| !o.is_empty())
            .map(decode);
        Some(Route {
            tree,
            bucket: decode(bucket),
            object,
        })
    }

    fn call(&self, request: &Request) -> StorageCall {
        let q = |name: &str| query(request, name);
        let bucket = self.bucket.clone();
        let method = request.method.as_str();
        match (self.tree, method, &self.object) {
            (Tree::Upload, "POST", None) => {
                let upload_type = q("uploadType").unwrap_or_default();
                let (resource, size) = match upload_type.as_str() {
                    "multipart" => multipart(request)
                        .map(|(r, data)| (r, data.len()))
                        .unwrap_or_default(),
                    "resumable" => (serde_json::from_slice(&request.body).unwrap_or_default(), 0),
                    _ => (serde_json::Value::Null, request.body.len()),
                };
                let content_type = match upload_type.as_str() {
                    "media" => header_text(request, "content-type"),
                    "resumable" => header_text(request, "x-upload-content-type"),
                    _ => resource["contentType"].as_str().map(str::to_owned),
                };
                StorageCall::Upload {
                    bucket,
                    name: q("name")
                        .or_else(|| resource["name"].as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    upload_type,
                    content_type,
                    metadata: metadata_of(&resource),
                    size,
                    if_generation_match: q("ifGenerationMatch").and_then(|g| g.parse().ok()),
                }
            }
            (Tree::Upload, "PUT", None) => StorageCall::UploadChunk {
                upload_id: q("upload_id").unwrap_or_default(),
                content_range: header_text(request, "content-range").unwrap_or_default(),
                size: request.body.len(),
            },
            (Tree::Upload, "DELETE", None) => StorageCall::CancelUpload {
                upload_id: q("upload_id").unwrap_or_default(),
            },
            (Tree::Json, "GET", None) => StorageCall::List {
                bucket,
                prefix: q("prefix"),
                delimiter: q("delimiter"),
                max_results: q("maxResults").and_then(|n| n.parse().ok()),
                page_token: q("pageToken"),
            },
            (Tree::Json | Tree::Download, "GET", Some(name))
                if self.tree == Tree::Download || q("alt").as_deref() == Some("media") =>
            {
                StorageCall::Download {
                    bucket,
                    name: name.clone(),
                    range: header_text(request, "range"),
                    generation: q("generation").and_then(|g| g.parse().ok()),
                }
            }
            (Tree::Json, "GET", Some(name)) => StorageCall::Metadata {
                bucket,
                name: name.clone(),
            },
            (Tree::Json, "DELETE", Some(name)) => StorageCall::Delete {
                bucket,
                name: name.clone(),
                if_generation_match: q("ifGenerationMatch").and_then(|g| g.parse().ok()),
            },
            _ => StorageCall::Other,
        }
    }
}

/// A query parameter, decoded.
pub(crate) fn query(request: &Request, name: &str) -> Option<String> {
    request
        .url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The custom `metadata` of a JSON resource.
pub(crate) fn metadata_of(resource: &serde_json::Value) -> BTreeMap<String, String> {
    resource["metadata"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// A `multipart/related` upload body: the JSON resource and the media bytes.
pub(crate) fn multipart(request: &Request) -> Option<(serde_json::Value, Vec<u8>)> {
    let content_type = header_text(request, "content-type")?;
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let delimiter = format!("--{boundary}");
    let body = &request.body;
    let parts: Vec<&[u8]> = split(body, delimiter.as_bytes());
    // parts: [preamble, resource part, media part, "--\r\n"]
    let part_body = |part: &[u8]| -> Option<Vec<u8>> {
        let start = find(part, b"\r\n\r\n")? + 4;
        let end = part.len().checked_sub(2).filter(|e| *e >= start)?;
        Some(part[start..end].to_vec())
    };
    let resource = serde_json::from_slice(&part_body(parts.get(1)?)?).ok()?;
    let media = part_body(parts.get(2)?)?;
    Some((resource, media))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn split<'a>(mut rest: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    while let Some(at) = find(rest, delimiter) {
        parts.push(&rest[..at]);
        rest = &rest[at + delimiter.len()..];
    }
    parts.push(rest);
    parts
}
