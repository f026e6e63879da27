//! Resumable uploads: a session URI, then chunks PUT with explicit byte positions.
//!
//! Protocol (GCS JSON API, `uploadType=resumable`):
//! 1. `POST …/upload/storage/v1/b/{bucket}/o?uploadType=resumable&name=…` with the JSON resource
//!    answers a `Location` — the session URI, a capability that needs no other credential, so
//!    it is kept in a [`SecretString`] and never logged.
//! 2. `PUT {session}` with `Content-Range: bytes A-B/TOTAL` (`/*` while the total is unknown).
//!    Every chunk but the last is a multiple of 256 KiB. `308` with `Range: bytes=0-N` means
//!    bytes `0..=N` are persisted — **possibly fewer than sent**, so the next chunk starts at
//!    `N+1`, not where the client thinks it is. `200`/`201` carries the finished object.
//! 3. After a failure, `PUT` an empty body with `Content-Range: bytes */TOTAL` (the status
//!    query) to learn where to continue; `404`/`410` means the session is gone.
//!
//! At most one chunk of data is held in memory: the reader is consumed chunk by chunk, and only
//! the unconfirmed part of the current chunk is kept for a resend.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncRead, AsyncReadExt as _};
use tracing::Instrument as _;
use url::Url;
use wif_core::{Error, Step};

use crate::backoff::Backoff;
use crate::client::{Call, DATA_CALL_TIMEOUT, Storage, ensure_success, error_from, read_json};
use crate::names::{check_bucket, check_object};
use crate::object::Object;
use crate::progress::{Progress, Reporter};
use crate::upload::{UploadOptions, UploadSource, io_error, short_source};

/// Where a resumable session stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UploadStatus {
    /// The server holds the first `persisted` bytes; the upload continues from there.
    Incomplete {
        /// Bytes the server has persisted.
        persisted: u64,
    },
    /// The upload finished; the object exists.
    Complete(Box<Object>),
}

/// A resumable upload session.
///
/// Keep [`session_uri`](Self::session_uri) somewhere safe to continue the upload from another
/// process with [`Storage::resume`] (sessions live for a week). The URI is a credential for
/// this one upload: anyone holding it can write the object.
pub struct ResumableUpload {
    storage: Storage,
    session: SecretString,
    url: Url,
    what: String,
    total: Option<u64>,
    progress: Reporter,
}

impl fmt::Debug for ResumableUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResumableUpload")
            .field("session", &self.what)
            .field("session_uri", &"[REDACTED]")
            .field("total", &self.total)
            .field("progress", &self.progress)
            .finish()
    }
}

impl Storage {
    /// Starts a resumable session for `bucket/name` (the data is sent later, by
    /// [`ResumableUpload::upload`]). `length` is the object's size when known. Options
    /// (content type, metadata, preconditions) are fixed now and checked at completion.
    ///
    /// Starting a session writes nothing, so it is retried like a read.
    pub async fn start_resumable(
        &self,
        bucket: &str,
        name: &str,
        options: &UploadOptions,
        length: Option<u64>,
    ) -> Result<ResumableUpload, Error> {
        check_bucket(bucket)?;
        check_object(name)?;
        let mut url = self.inner.endpoints.upload(bucket);
        url.query_pairs_mut()
            .append_pair("uploadType", "resumable")
            .append_pair("name", name);
        options.apply_preconditions(&mut url);
        let call = Call::new("POST", &url, true);
        let resource = options.resource(name).to_string();
        let content_type = options.content_type_or_default().to_owned();
        let span = tracing::debug_span!(
            "gcs.resumable.start",
            method = "POST",
            bucket,
            object = name,
            bytes = length
        );
        let response = self
            .execute(&call, &|c| {
                let mut request = c
                    .post(url.clone())
                    .header(
                        http::header::CONTENT_TYPE,
                        "application/json; charset=UTF-8",
                    )
                    .header("x-upload-content-type", content_type.as_str())
                    .body(resource.clone());
                if let Some(len) = length {
                    request = request.header("x-upload-content-length", len);
                }
                request
            })
            .instrument(span)
            .await?;
        let location = response
            .headers()
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Error::invalid_response(
                    Step::Api,
                    format!(
                        "{}: no Location header (the session URI) in the answer",
                        call.what
                    ),
                )
            })?;
        // An emulator may answer a relative Location; resolve it against the request.
        let session = url.join(location).map_err(|_| {
            Error::invalid_response(
                Step::Api,
                format!("{}: the session URI is not a URL", call.what),
            )
        })?;
        if !self.inner.endpoints.same_origin(&session) {
            return Err(Error::invalid_response(
                Step::Api,
                format!(
                    "{}: the session URI points at {}; refusing to send credentials there",
                    call.what,
                    wif_core::http::describe_url(&session)
                ),
            ));
        }
        self.session(session, length, Reporter::new(options.progress.clone()))
    }

    /// Continues a session started earlier (possibly by another process) from its URI.
    /// `length` is the object's total size when known. The URI must point at this client's
    /// host: the bearer token is sent with every chunk.
    pub fn resume(
        &self,
        session_uri: impl Into<String>,
        length: Option<u64>,
    ) -> Result<ResumableUpload, Error> {
        let uri = SecretString::from(session_uri.into());
        let url = Url::parse(uri.expose_secret())
            .map_err(|_| Error::config("session_uri", "is not a URL"))?;
        self.session(url, length, Reporter::default())
    }

    fn session(
        &self,
        url: Url,
        total: Option<u64>,
        progress: Reporter,
    ) -> Result<ResumableUpload, Error> {
        if !self.inner.endpoints.same_origin(&url) {
            return Err(Error::config(
                "session_uri",
                format!(
                    "points at {}, not at this client's {}; refusing to send credentials there",
                    wif_core::http::describe_url(&url),
                    self.base_url()
                ),
            ));
        }
        Ok(ResumableUpload {
            storage: self.clone(),
            session: SecretString::from(url.as_str().to_owned()),
            what: format!("PUT {}", wif_core::http::describe_url(&url)),
            url,
            total,
            progress,
        })
    }
}

impl ResumableUpload {
    /// The session URI: store it to resume later. It is a credential for this upload.
    pub fn session_uri(&self) -> &SecretString {
        &self.session
    }

    /// The object's total size, when known.
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    /// Reports progress to `progress`.
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = Reporter::new(Some(progress));
        self
    }

    /// Asks the server how much it holds (`Content-Range: bytes */TOTAL`), retrying transient
    /// failures.
    pub async fn status(&self) -> Result<UploadStatus, Error> {
        let call = Call::new("PUT", &self.url, true);
        let policy = self.storage.inner.retry;
        policy
            .run(Step::Api, &self.what, |_| {
                let call = &call;
                async move { self.query_status(call).await }
            })
            .await
    }

    /// Uploads `source` — the **whole** object's data — continuing after whatever the server
    /// already holds (asked first), and returns the finished object.
    pub async fn upload(&self, source: UploadSource) -> Result<Object, Error> {
        let persisted = match self.status().await? {
            UploadStatus::Complete(object) => return Ok(*object),
            UploadStatus::Incomplete { persisted } => persisted,
        };
        let opened = source.open(persisted).await?;
        if let (Some(declared), Some(actual)) = (self.total, opened.length)
            && declared != actual
        {
            return Err(Error::config(
                "source",
                format!("has {actual} bytes, but the upload was started for {declared}"),
            ));
        }
        let mut session = self.clone_handle();
        session.total = self.total.or(opened.length);
        session
            .send_from(opened.reader, Vec::new(), persisted, &self.progress)
            .await
    }

    /// Abandons the session (`DELETE`; GCS answers 499). The object is not created.
    pub async fn cancel(self) -> Result<(), Error> {
        let call = Call::new("DELETE", &self.url, true);
        let url = self.url.clone();
        let response = self.storage.send(&call, &|c| c.delete(url.clone())).await?;
        if response.status().as_u16() == 499 || response.status().is_success() {
            return Ok(());
        }
        Err(error_from(&call, response).await)
    }

    fn clone_handle(&self) -> ResumableUpload {
        ResumableUpload {
            storage: self.storage.clone(),
            session: self.session.clone(),
            url: self.url.clone(),
            what: self.what.clone(),
            total: self.total,
            progress: self.progress.clone(),
        }
    }

    /// One status query, no retries.
    async fn query_status(&self, call: &Call) -> Result<UploadStatus, Error> {
        let range = match self.total {
            Some(total) => format!("bytes */{total}"),
            None => "bytes */*".to_owned(),
        };
        let url = self.url.clone();
        let response = self
            .storage
            .send(call, &|c| {
                c.put(url.clone())
                    .header(http::header::CONTENT_LENGTH, 0)
                    .header(http::header::CONTENT_RANGE, range.as_str())
            })
            .await?;
        if response.status().as_u16() == 308 {
            let persisted = persisted_bytes(call, response.headers())?;
            return Ok(UploadStatus::Incomplete { persisted });
        }
        let response = ensure_success(call, response).await.map_err(session_gone)?;
        Ok(UploadStatus::Complete(Box::new(
            read_json(call, response).await?,
        )))
    }

    /// Streams `reader` (positioned at byte `offset` of the object; `head` holds data already
    /// read from it) in chunks until the server has everything.
    pub(crate) async fn send_from(
        &self,
        mut reader: Box<dyn AsyncRead + Send + Unpin>,
        head: Vec<u8>,
        offset: u64,
        progress: &Reporter,
    ) -> Result<Object, Error> {
        let chunk_size = self.storage.inner.chunk_size;
        let span = tracing::debug_span!(
            "gcs.resumable",
            method = "PUT",
            session = %self.what,
            bytes = self.total,
            chunks = tracing::field::Empty,
        );
        async move {
            let mut window = Window {
                pending: Bytes::from(head),
                offset,
                eof: false,
            };
            let mut backoff = Backoff::new(self.storage.inner.retry);
            let mut need_status = false;
            let mut chunks = 0u32;
            progress.start(self.total);
            progress.update(offset);
            loop {
                if need_status {
                    let call = Call::new("PUT", &self.url, true);
                    match self.query_status(&call).await {
                        Ok(UploadStatus::Complete(object)) => return Ok(self.done(*object, progress)),
                        Ok(UploadStatus::Incomplete { persisted }) => {
                            window.confirm(persisted, &self.what)?;
                            progress.update(window.offset);
                            need_status = false;
                        }
                        Err(e) if e.is_retryable() => {
                            backoff.wait(e).await?;
                            continue;
                        }
                        Err(e) => return Err(e),
                    }
                }
                window.fill(&mut reader, chunk_size, self.total).await?;
                let (range, end) = window.content_range(self.total);
                let body = window.pending.clone();
                let call = Call::new("PUT", &self.url, true).timeout(DATA_CALL_TIMEOUT);
                chunks += 1;
                tracing::debug!(offset = window.offset, len = body.len(), last = window.eof, "sending chunk");
                let url = self.url.clone();
                let sent = self
                    .storage
                    .send(&call, &|c| {
                        c.put(url.clone())
                            .header(http::header::CONTENT_RANGE, range.as_str())
                            .header(http::header::CONTENT_LENGTH, body.len())
                            .body(body.clone())
                    })
                    .await;
                let response = match sent {
                    Ok(r) => r,
                    Err(e) if e.is_retryable() => {
                        backoff.wait(e).await?;
                        need_status = true;
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                let status = response.status().as_u16();
                if status == 308 {
                    let persisted = persisted_bytes(&call, response.headers())?;
                    let before = window.offset;
                    window.confirm(persisted, &self.what)?;
                    progress.update(window.offset);
                    if window.offset > before {
                        backoff.progressed();
                    } else {
                        // A server that keeps confirming nothing would otherwise loop forever.
                        backoff
                            .wait(Error::invalid_response(
                                Step::Api,
                                format!("{}: the server persisted none of the chunk at byte {before}", self.what),
                            ).retryable(true))
                            .await?;
                    }
                    continue;
                }
                if (200..300).contains(&status) {
                    tracing::Span::current().record("chunks", chunks);
                    let object: Object = read_json(&call, response).await?;
                    if end != object.size {
                        tracing::warn!(sent = end, stored = object.size, "the finished object's size differs from the bytes sent");
                    }
                    return Ok(self.done(object, progress));
                }
                let err = session_gone(error_from(&call, response).await);
                if !err.is_retryable() {
                    return Err(err);
                }
                backoff.wait(err).await?;
                need_status = true;
            }
        }
        .instrument(span)
        .await
    }

    fn done(&self, object: Object, progress: &Reporter) -> Object {
        progress.update(object.size);
        progress.finish();
        object
    }
}

/// The unconfirmed part of the upload: `pending` holds the object's bytes from `offset` (what
/// the server has confirmed) on.
struct Window {
    pending: Bytes,
    offset: u64,
    /// The reader is exhausted: `pending` ends the object.
    eof: bool,
}

impl Window {
    /// Tops `pending` up to a full chunk from `reader` (never reading past `total`).
    async fn fill(
        &mut self,
        reader: &mut (dyn AsyncRead + Send + Unpin),
        chunk_size: usize,
        total: Option<u64>,
    ) -> Result<(), Error> {
        let target = match total {
            Some(t) => {
                let left = t.saturating_sub(self.offset);
                usize::try_from(left).map_or(chunk_size, |l| l.min(chunk_size))
            }
            None => chunk_size,
        };
        if self.pending.len() < target && !self.eof {
            let mut buf = Vec::with_capacity(target);
            buf.extend_from_slice(&self.pending);
            let mut filled = buf.len();
            buf.resize(target, 0);
            while filled < target {
                let n = reader
                    .read(&mut buf[filled..target])
                    .await
                    .map_err(|e| io_error("could not read the upload source".to_owned(), e))?;
                if n == 0 {
                    self.eof = true;
                    break;
                }
                filled += n;
            }
            buf.truncate(filled);
            self.pending = Bytes::from(buf);
        }
        if let Some(t) = total {
            let have = self.offset + self.pending.len() as u64;
            if have == t {
                self.eof = true;
            } else if self.eof {
                return Err(short_source(have, t));
            }
        }
        Ok(())
    }

    /// The `Content-Range` of sending `pending`, and the end offset (exclusive).
    fn content_range(&self, total: Option<u64>) -> (String, u64) {
        let end = self.offset + self.pending.len() as u64;
        let total = match (self.eof, total) {
            (true, _) => end.to_string(),
            (false, Some(t)) => t.to_string(),
            (false, None) => "*".to_owned(),
        };
        let range = if self.pending.is_empty() {
            // Nothing left to send: this finalizes an upload whose size just became known.
            format!("bytes */{total}")
        } else {
            format!("bytes {}-{}/{total}", self.offset, end - 1)
        };
        (range, end)
    }

    /// The server holds `persisted` bytes: drop them from `pending`.
    fn confirm(&mut self, persisted: u64, what: &str) -> Result<(), Error> {
        let end = self.offset + self.pending.len() as u64;
        if persisted < self.offset || persisted > end {
            return Err(Error::invalid_response(
                Step::Api,
                format!(
                    "{what}: the server reports {persisted} bytes persisted, outside the {}..={end} this upload can continue from",
                    self.offset
                ),
            )
            .with_hint("the session no longer matches this data: start a new upload"));
        }
        let consumed = usize::try_from(persisted - self.offset).unwrap_or(self.pending.len());
        self.pending = self.pending.slice(consumed..);
        self.offset = persisted;
        Ok(())
    }
}

/// Bytes persisted according to a 308's `Range: bytes=0-N` (none without the header).
fn persisted_bytes(call: &Call, headers: &http::HeaderMap) -> Result<u64, Error> {
    let Some(value) = headers.get(http::header::RANGE) else {
        return Ok(0);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().strip_prefix("bytes=0-"))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .and_then(|last| last.checked_add(1))
        .ok_or_else(|| {
            Error::invalid_response(
                Step::Api,
                format!("{}: unreadable Range header in the 308 answer", call.what),
            )
        })
}

/// Where an upload stands after a 308 answering `pending` bytes sent from `offset`: the new
/// confirmed offset. The way in for the fuzz targets (see `crate::fuzzing`).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn offset_after_308(
    call: &Call,
    headers: &http::HeaderMap,
    offset: u64,
    pending: Bytes,
) -> Result<u64, Error> {
    let persisted = persisted_bytes(call, headers)?;
    let mut window = Window {
        pending,
        offset,
        eof: false,
    };
    window.confirm(persisted, &call.what)?;
    Ok(window.offset)
}

/// 404 and 410 on a session mean it expired or was cancelled.
fn session_gone(err: Error) -> Error {
    match err.status() {
        Some(404 | 410) => err.with_hint(
            "the upload session expired (sessions last a week) or was cancelled: start a new upload",
        ),
        _ => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(offset: u64, data: &'static [u8], eof: bool) -> Window {
        Window {
            pending: Bytes::from_static(data),
            offset,
            eof,
        }
    }

    #[test]
    fn content_ranges_follow_the_protocol() {
        assert_eq!(
            window(0, b"abcd", false).content_range(None).0,
            "bytes 0-3/*"
        );
        assert_eq!(window(4, b"ef", true).content_range(None).0, "bytes 4-5/6");
        assert_eq!(
            window(0, b"abcd", false).content_range(Some(10)).0,
            "bytes 0-3/10"
        );
        assert_eq!(window(8, b"", true).content_range(None).0, "bytes */8");
        assert_eq!(window(0, b"", true).content_range(Some(0)).0, "bytes */0");
    }

    #[test]
    fn confirm_keeps_only_unpersisted_bytes() {
        let mut w = window(10, b"abcdef", false);
        w.confirm(12, "PUT x").expect("inside");
        assert_eq!((w.offset, &w.pending[..]), (12, &b"cdef"[..]));
        w.confirm(12, "PUT x").expect("no progress is allowed");
        assert!(
            w.confirm(11, "PUT x").is_err(),
            "going back past what we hold"
        );
        assert!(w.confirm(17, "PUT x").is_err(), "more than was sent");
        w.confirm(16, "PUT x").expect("everything");
        assert!(w.pending.is_empty());
    }

    #[test]
    fn range_headers_parse() {
        let call = Call::new("PUT", &Url::parse("http://h/x").expect("url"), true);
        let mut h = http::HeaderMap::new();
        assert_eq!(persisted_bytes(&call, &h).ok(), Some(0));
        h.insert(
            http::header::RANGE,
            http::HeaderValue::from_static("bytes=0-262143"),
        );
        assert_eq!(persisted_bytes(&call, &h).ok(), Some(262_144));
        h.insert(
            http::header::RANGE,
            http::HeaderValue::from_static("bytes=5-9"),
        );
        assert!(persisted_bytes(&call, &h).is_err());
    }

    #[tokio::test]
    async fn fill_never_reads_past_the_declared_total() {
        let mut reader: Box<dyn AsyncRead + Send + Unpin> = Box::new(&b"0123456789extra"[..]);
        let mut w = window(0, b"", false);
        w.fill(&mut reader, 4, Some(10)).await.expect("fill");
        assert_eq!((&w.pending[..], w.eof), (&b"0123"[..], false));
        w.confirm(4, "x").expect("confirm");
        w.fill(&mut reader, 4, Some(10)).await.expect("fill");
        w.confirm(8, "x").expect("confirm");
        w.fill(&mut reader, 4, Some(10)).await.expect("fill");
        assert_eq!((&w.pending[..], w.eof), (&b"89"[..], true));

        let mut short: Box<dyn AsyncRead + Send + Unpin> = Box::new(&b"012"[..]);
        let mut w = window(0, b"", false);
        let err = w
            .fill(&mut short, 4, Some(10))
            .await
            .expect_err("short source");
        assert!(err.to_string().contains("ended after 3 bytes"), "{err}");
    }
}
