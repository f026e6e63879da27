//! The fake's Cloud Storage: objects kept in memory, answered as the JSON API answers — media,
//! multipart and resumable uploads (308 with `Range` until complete), metadata, downloads with
//! `Range` (206 and `Content-Range`), listing with prefix, delimiter and pages, deletes, and the
//! `ifGenerationMatch` / `ifMetagenerationMatch` preconditions.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use wiremock::{Request, Respond, ResponseTemplate};

use super::recorded::{Route, Tree, metadata_of, multipart, query};
use super::responder::StorageError;
use wif_core::testing::header_text;

/// One stored object.
#[derive(Clone, Debug)]
pub(crate) struct Stored {
    pub(crate) data: Vec<u8>,
    pub(crate) generation: i64,
    pub(crate) metageneration: i64,
    pub(crate) content_type: String,
    pub(crate) metadata: BTreeMap<String, String>,
}

/// An open resumable session.
struct Session {
    bucket: String,
    name: String,
    content_type: String,
    metadata: BTreeMap<String, String>,
    preconditions: Preconditions,
    data: Vec<u8>,
}

#[derive(Clone, Copy, Default)]
struct Preconditions {
    generation: Option<i64>,
    metageneration: Option<i64>,
}

#[derive(Default)]
struct Contents {
    objects: BTreeMap<(String, String), Stored>,
    sessions: HashMap<String, Session>,
}

/// The objects and sessions, shared by clones.
#[derive(Clone, Default)]
pub(crate) struct Store {
    contents: Arc<Mutex<Contents>>,
    generations: Arc<AtomicI64>,
    pub(crate) anonymous: bool,
}

impl Store {
    fn lock(&self) -> MutexGuard<'_, Contents> {
        self.contents.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn next_generation(&self) -> i64 {
        1_000_000 + self.generations.fetch_add(1, Ordering::SeqCst)
    }

    /// Stores `data` as `bucket/name`, a new generation.
    pub(crate) fn put(&self, bucket: &str, name: &str, data: Vec<u8>, content_type: &str) {
        let stored = Stored {
            data,
            generation: self.next_generation(),
            metageneration: 1,
            content_type: content_type.to_owned(),
            metadata: BTreeMap::new(),
        };
        self.lock()
            .objects
            .insert((bucket.to_owned(), name.to_owned()), stored);
    }

    /// The object `bucket/name`, if stored.
    pub(crate) fn get(&self, bucket: &str, name: &str) -> Option<Stored> {
        self.lock()
            .objects
            .get(&(bucket.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Whether `pre` holds for `current` (GCS answers 412 `conditionNotMet` when not).
    fn holds(current: Option<&Stored>, pre: Preconditions) -> bool {
        let generation_ok = match pre.generation {
            None => true,
            Some(0) => current.is_none(),
            Some(g) => current.is_some_and(|c| c.generation == g),
        };
        let metageneration_ok = pre
            .metageneration
            .is_none_or(|m| current.is_some_and(|c| c.metageneration == m));
        generation_ok && metageneration_ok
    }

    /// Stores an upload, checking the preconditions under the same lock.
    fn insert(
        &self,
        origin: &str,
        bucket: &str,
        name: &str,
        stored: Stored,
        pre: Preconditions,
    ) -> ResponseTemplate {
        let mut contents = self.lock();
        let key = (bucket.to_owned(), name.to_owned());
        if !Store::holds(contents.objects.get(&key), pre) {
            return StorageError::PreconditionFailed.response();
        }
        let answer = resource(origin, bucket, name, &stored);
        contents.objects.insert(key, stored);
        ResponseTemplate::new(200).set_body_json(answer)
    }

    fn upload(&self, request: &Request, origin: &str, bucket: &str) -> ResponseTemplate {
        let pre = preconditions(request);
        let upload_type = query(request, "uploadType").unwrap_or_default();
        let (resource_in, data) = match upload_type.as_str() {
            "media" => (Value::Null, request.body.clone()),
            "multipart" => match multipart(request) {
                Some(parts) => parts,
                None => return StorageError::Invalid.response(),
            },
            "resumable" => {
                let resource_in: Value = serde_json::from_slice(&request.body).unwrap_or_default();
                return self.start_session(request, origin, bucket, resource_in, pre);
            }
            _ => return StorageError::Invalid.response(),
        };
        let Some(name) = query(request, "name")
            .or_else(|| resource_in["name"].as_str().map(str::to_owned))
            .filter(|n| !n.is_empty())
        else {
            return StorageError::Invalid.response();
        };
        let content_type = match upload_type.as_str() {
            "media" => header_text(request, "content-type"),
            _ => resource_in["contentType"].as_str().map(str::to_owned),
        }
        .unwrap_or_else(|| "application/octet-stream".to_owned());
        let stored = Stored {
            data,
            generation: self.next_generation(),
            metageneration: 1,
            content_type,
            metadata: metadata_of(&resource_in),
        };
        self.insert(origin, bucket, &name, stored, pre)
    }

    fn start_session(
        &self,
        request: &Request,
        origin: &str,
        bucket: &str,
        resource_in: Value,
        preconditions: Preconditions,
    ) -> ResponseTemplate {
        let Some(name) = query(request, "name")
            .or_else(|| resource_in["name"].as_str().map(str::to_owned))
            .filter(|n| !n.is_empty())
        else {
            return StorageError::Invalid.response();
        };
        let upload_id = format!("fake-upload-{}", self.next_generation());
        let session = Session {
            bucket: bucket.to_owned(),
            name,
            content_type: header_text(request, "x-upload-content-type")
                .or_else(|| resource_in["contentType"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "application/octet-stream".to_owned()),
            metadata: metadata_of(&resource_in),
            preconditions,
            data: Vec::new(),
        };
        self.lock().sessions.insert(upload_id.clone(), session);
        let location = format!(
            "{origin}/upload/storage/v1/b/{}/o?uploadType=resumable&upload_id={upload_id}",
            encode(bucket)
        );
        ResponseTemplate::new(200)
            .insert_header("location", location.as_str())
            .insert_header("x-guploader-uploadid", upload_id.as_str())
    }

    /// A chunk or status query: 308 with the persisted `Range` until the declared total
    /// arrives, then the object.
    fn chunk(&self, request: &Request, origin: &str) -> ResponseTemplate {
        let Some(upload_id) = query(request, "upload_id") else {
            return StorageError::NotFound.response();
        };
        let Some((span, total)) = header_text(request, "content-range").and_then(|r| {
            r.strip_prefix("bytes ")?
                .split_once('/')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
        }) else {
            return StorageError::Invalid.response();
        };
        let total: Option<usize> = total.parse().ok();
        let mut contents = self.lock();
        let Some(session) = contents.sessions.get_mut(&upload_id) else {
            return StorageError::NotFound.response();
        };
        if span != "*" {
            let Some(first) = span
                .split_once('-')
                .and_then(|(f, _)| f.parse::<usize>().ok())
            else {
                return StorageError::Invalid.response();
            };
            if first > session.data.len() {
                return StorageError::Invalid.response();
            }
            // Bytes already persisted are skipped, as GCS does for an overlapping chunk.
            let skip = session.data.len() - first;
            session
                .data
                .extend_from_slice(request.body.get(skip..).unwrap_or_default());
        }
        let persisted = session.data.len();
        if total != Some(persisted) {
            let answer = ResponseTemplate::new(308);
            return if persisted == 0 {
                answer
            } else {
                answer.insert_header("range", format!("bytes=0-{}", persisted - 1).as_str())
            };
        }
        let Some(session) = contents.sessions.remove(&upload_id) else {
            return StorageError::NotFound.response();
        };
        drop(contents);
        let stored = Stored {
            data: session.data,
            generation: self.next_generation(),
            metageneration: 1,
            content_type: session.content_type,
            metadata: session.metadata,
        };
        self.insert(
            origin,
            &session.bucket,
            &session.name,
            stored,
            session.preconditions,
        )
    }

    fn download(&self, request: &Request, bucket: &str, name: &str) -> ResponseTemplate {
        let Some(stored) = self.get(bucket, name) else {
            return StorageError::NotFound.response();
        };
        if query(request, "generation")
            .and_then(|g| g.parse::<i64>().ok())
            .is_some_and(|g| g != stored.generation)
        {
            return StorageError::NotFound.response();
        }
        let size = stored.data.len();
        let whole = |template: ResponseTemplate| {
            template
                .insert_header("x-goog-generation", stored.generation.to_string().as_str())
                .insert_header("x-goog-metageneration", "1")
                .insert_header("x-goog-stored-content-length", size.to_string().as_str())
        };
        let Some(range) = header_text(request, "range") else {
            return whole(ResponseTemplate::new(200))
                .set_body_raw(stored.data.clone(), &stored.content_type);
        };
        let Some((first, last)) = byte_range(&range, size) else {
            return ResponseTemplate::new(416);
        };
        whole(ResponseTemplate::new(206))
            .insert_header(
                "content-range",
                format!("bytes {first}-{last}/{size}").as_str(),
            )
            .set_body_raw(stored.data[first..=last].to_vec(), &stored.content_type)
    }

    fn list(&self, request: &Request, origin: &str, bucket: &str) -> ResponseTemplate {
        let prefix = query(request, "prefix").unwrap_or_default();
        let delimiter = query(request, "delimiter").filter(|d| !d.is_empty());
        let max = query(request, "maxResults")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(1000);
        let after = query(request, "pageToken").unwrap_or_default();
        let contents = self.lock();
        let mut items = Vec::new();
        let mut prefixes = BTreeSet::new();
        // Names sort so that a prefix's objects are contiguous: a page ends before a name that
        // would be a new entry, never inside a prefix already listed.
        let mut last = None;
        let mut more = false;
        let names = contents
            .objects
            .iter()
            .filter(|((b, n), _)| b == bucket && n.starts_with(&prefix) && *n > after);
        for ((_, name), stored) in names {
            let rest = &name[prefix.len()..];
            let group = delimiter.as_deref().and_then(|d| {
                rest.find(d)
                    .map(|i| format!("{prefix}{}", &rest[..i + d.len()]))
            });
            let new_entry = group.as_ref().is_none_or(|g| !prefixes.contains(g));
            if new_entry && items.len() + prefixes.len() >= max {
                more = true;
                break;
            }
            match group {
                Some(g) => {
                    prefixes.insert(g);
                }
                None => items.push(resource(origin, bucket, name, stored)),
            }
            last = Some(name.clone());
        }
        let mut page = json!({"kind": "storage#objects", "items": items});
        if !prefixes.is_empty() {
            page["prefixes"] = json!(prefixes);
        }
        if more && let Some(last) = last {
            page["nextPageToken"] = json!(last);
        }
        ResponseTemplate::new(200).set_body_json(page)
    }

    fn delete(&self, request: &Request, bucket: &str, name: &str) -> ResponseTemplate {
        let mut contents = self.lock();
        let key = (bucket.to_owned(), name.to_owned());
        let Some(current) = contents.objects.get(&key) else {
            return StorageError::NotFound.response();
        };
        if !Store::holds(Some(current), preconditions(request)) {
            return StorageError::PreconditionFailed.response();
        }
        contents.objects.remove(&key);
        ResponseTemplate::new(204)
    }
}

impl Respond for Store {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if !self.anonymous && wif_core::testing::bearer_token(request).is_none() {
            return StorageError::Unauthenticated.response();
        }
        let Some(route) = Route::of(request) else {
            return StorageError::NotFound.response();
        };
        let origin = origin(request);
        let media = query(request, "alt").as_deref() == Some("media");
        match (route.tree, request.method.as_str(), &route.object) {
            (Tree::Upload, "POST", None) => self.upload(request, &origin, &route.bucket),
            (Tree::Upload, "PUT", None) => self.chunk(request, &origin),
            (Tree::Upload, "DELETE", None) => {
                if let Some(id) = query(request, "upload_id") {
                    self.lock().sessions.remove(&id);
                }
                ResponseTemplate::new(499)
            }
            (Tree::Json, "GET", None) => self.list(request, &origin, &route.bucket),
            (Tree::Download, "GET", Some(name)) => self.download(request, &route.bucket, name),
            (Tree::Json, "GET", Some(name)) if media => self.download(request, &route.bucket, name),
            (Tree::Json, "GET", Some(name)) => match self.get(&route.bucket, name) {
                Some(stored) => ResponseTemplate::new(200).set_body_json(resource(
                    &origin,
                    &route.bucket,
                    name,
                    &stored,
                )),
                None => StorageError::NotFound.response(),
            },
            (Tree::Json, "DELETE", Some(name)) => self.delete(request, &route.bucket, name),
            _ => StorageError::NotFound.response(),
        }
    }
}

fn preconditions(request: &Request) -> Preconditions {
    Preconditions {
        generation: query(request, "ifGenerationMatch").and_then(|g| g.parse().ok()),
        metageneration: query(request, "ifMetagenerationMatch").and_then(|g| g.parse().ok()),
    }
}

/// `http://host:port` of the request (its `Host`), for the URLs the fake hands back.
fn origin(request: &Request) -> String {
    let host = header_text(request, "host").unwrap_or_else(|| {
        let url = &request.url;
        match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or("")),
            None => url.host_str().unwrap_or("").to_owned(),
        }
    });
    format!("http://{host}")
}

/// Everything but RFC 3986's unreserved characters, as GCS's clients encode a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn encode(segment: &str) -> String {
    utf8_percent_encode(segment, SEGMENT).to_string()
}

/// The `Object` resource, 64-bit numbers as strings as GCS sends them.
fn resource(origin: &str, bucket: &str, name: &str, stored: &Stored) -> Value {
    json!({
        "kind": "storage#object",
        "name": name,
        "bucket": bucket,
        "generation": stored.generation.to_string(),
        "metageneration": stored.metageneration.to_string(),
        "size": stored.data.len().to_string(),
        "contentType": stored.content_type,
        "storageClass": "STANDARD",
        "mediaLink": format!(
            "{origin}/download/storage/v1/b/{}/o/{}?generation={}&alt=media",
            encode(bucket), encode(name), stored.generation
        ),
        "metadata": stored.metadata,
    })
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` within `size`, as inclusive offsets.
fn byte_range(header: &str, size: usize) -> Option<(usize, usize)> {
    let spec = header.strip_prefix("bytes=")?;
    let (first, last) = spec.split_once('-')?;
    if size == 0 {
        return None;
    }
    let (first, last) = match (first.parse::<usize>().ok(), last.parse::<usize>().ok()) {
        (Some(f), Some(l)) => (f, l.min(size - 1)),
        (Some(f), None) if last.is_empty() => (f, size - 1),
        (None, Some(n)) if first.is_empty() && n > 0 => (size.saturating_sub(n), size - 1),
        _ => return None,
    };
    (first <= last && first < size).then_some((first, last))
}
