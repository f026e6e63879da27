//! Uploads (`objects.insert` through the upload endpoint): what to upload, with which options,
//! and the choice between one request and a resumable session.
//!
//! Below the resumable threshold the data goes in one request: `uploadType=media` (raw bytes,
//! the name in the query) or, when there is custom metadata, `uploadType=multipart`
//! (`multipart/related`: a JSON metadata part, then the media part). From the threshold on, and
//! for streams of unknown length that outgrow it, a resumable session streams the data in chunks
//! (see [`crate::ResumableUpload`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncSeekExt as _};
use tracing::Instrument as _;
use wif_core::{Error, ErrorKind, Step};

use crate::client::{Call, DATA_CALL_TIMEOUT, Storage};
use crate::names::{check_bucket, check_object};
use crate::object::Object;
use crate::progress::{Progress, Reporter};

/// The default `Content-Type` of uploaded data.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// What to upload.
pub enum UploadSource {
    /// Bytes already in memory.
    Bytes(Bytes),
    /// A local regular file, read as it is sent (never loaded whole for resumable uploads); a
    /// pipe or a device is refused.
    File(PathBuf),
    /// Any reader; `length` is its exact size when known. Of unknown length, it is buffered up to
    /// the resumable threshold (or one chunk, if smaller) to decide how to send it.
    Reader {
        /// The data.
        reader: Box<dyn AsyncRead + Send + Unpin>,
        /// The exact number of bytes it yields, if known.
        length: Option<u64>,
    },
}

impl UploadSource {
    /// Bytes in memory.
    pub fn bytes(data: impl Into<Bytes>) -> Self {
        UploadSource::Bytes(data.into())
    }

    /// A local file.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        UploadSource::File(path.into())
    }

    /// A reader of `length` bytes (`None` when unknown).
    pub fn reader(reader: impl AsyncRead + Send + Unpin + 'static, length: Option<u64>) -> Self {
        UploadSource::Reader {
            reader: Box::new(reader),
            length,
        }
    }

    /// Opens the source positioned `skip` bytes in (where a resumed upload continues): a
    /// reader and the source's whole length, if known.
    pub(crate) async fn open(self, skip: u64) -> Result<Opened, Error> {
        match self {
            UploadSource::Bytes(b) => {
                let rest = usize::try_from(skip)
                    .ok()
                    .and_then(|skip| b.get(skip..).map(|_| b.slice(skip..)))
                    .ok_or_else(|| short_source(b.len() as u64, skip))?;
                Ok(Opened {
                    length: Some(b.len() as u64),
                    reader: Box::new(std::io::Cursor::new(rest.clone())),
                    in_memory: Some(rest),
                })
            }
            UploadSource::File(path) => {
                // A regular file only: a FIFO would block the open, a device never end.
                let file = wif_core::local_file::open_regular(&path, "upload source")
                    .map_err(|e| e.into_error(Step::Api))?;
                let mut file = tokio::fs::File::from_std(file);
                let length = file
                    .metadata()
                    .await
                    .map_err(|e| io_error(format!("could not stat {}", path.display()), e))?
                    .len();
                if skip > length {
                    return Err(short_source(length, skip));
                }
                if skip > 0 {
                    file.seek(std::io::SeekFrom::Start(skip))
                        .await
                        .map_err(|e| {
                            io_error(format!("could not seek in {}", path.display()), e)
                        })?;
                }
                Ok(Opened {
                    reader: Box::new(file),
                    length: Some(length),
                    in_memory: None,
                })
            }
            UploadSource::Reader { mut reader, length } => {
                if skip > 0 {
                    // A plain reader cannot seek: read past what the server already has.
                    let skipped =
                        tokio::io::copy(&mut (&mut reader).take(skip), &mut tokio::io::sink())
                            .await
                            .map_err(|e| {
                                io_error("could not read the upload source".to_owned(), e)
                            })?;
                    if skipped < skip {
                        return Err(short_source(skipped, skip));
                    }
                }
                Ok(Opened {
                    reader,
                    length,
                    in_memory: None,
                })
            }
        }
    }
}

impl fmt::Debug for UploadSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UploadSource::Bytes(b) => write!(f, "UploadSource::Bytes(<{} bytes>)", b.len()),
            UploadSource::File(p) => f.debug_tuple("UploadSource::File").field(p).finish(),
            UploadSource::Reader { length, .. } => f
                .debug_struct("UploadSource::Reader")
                .field("length", length)
                .finish_non_exhaustive(),
        }
    }
}

/// An opened source.
pub(crate) struct Opened {
    pub(crate) reader: Box<dyn AsyncRead + Send + Unpin>,
    pub(crate) length: Option<u64>,
    /// The data itself when it already is in memory (sent without copying).
    pub(crate) in_memory: Option<Bytes>,
}

pub(crate) fn io_error(what: String, e: std::io::Error) -> Error {
    Error::new(Step::Api, ErrorKind::Io, what).with_source(e)
}

/// How to upload.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct UploadOptions {
    /// The object's `Content-Type` (default `application/octet-stream`).
    pub content_type: Option<String>,
    /// Only if the live object's generation is this; `0` = only if the object does not exist.
    /// Setting it also makes the upload safe to retry.
    pub if_generation_match: Option<i64>,
    /// Only if the live object's metageneration is this.
    pub if_metageneration_match: Option<i64>,
    /// Custom metadata (`x-goog-meta-*`).
    pub metadata: BTreeMap<String, String>,
    /// Receives progress (bytes the server confirmed).
    pub progress: Option<Arc<dyn Progress>>,
}

impl UploadOptions {
    /// Defaults: `application/octet-stream`, no preconditions, no metadata.
    pub fn new() -> Self {
        Self::default()
    }

    wif_core::builder_setters! {
        /// Sets the `Content-Type`.
        pub fn content_type(content_type: impl Into<String>) => Some(content_type);

        /// Only if the live object's generation is `generation` (`0`: create-only).
        pub fn if_generation_match(generation: i64) => Some(if_generation_match);

        /// Only if the live object's metageneration is `metageneration`.
        pub fn if_metageneration_match(metageneration: i64) => Some(if_metageneration_match);

        /// Reports progress to `progress`.
        pub fn progress(progress: Arc<dyn Progress>) => Some(progress);
    }

    /// Adds a custom metadata entry.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Only if no live object exists (`ifGenerationMatch=0`).
    pub fn create_only(self) -> Self {
        self.if_generation_match(0)
    }

    pub(crate) fn content_type_or_default(&self) -> &str {
        self.content_type.as_deref().unwrap_or(DEFAULT_CONTENT_TYPE)
    }

    /// The JSON metadata resource sent with multipart and resumable uploads.
    pub(crate) fn resource(&self, name: &str) -> serde_json::Value {
        let mut resource = serde_json::json!({
            "name": name,
            "contentType": self.content_type_or_default(),
        });
        if !self.metadata.is_empty() {
            resource["metadata"] = serde_json::json!(self.metadata);
        }
        resource
    }

    /// Adds the preconditions to an upload URL.
    pub(crate) fn apply_preconditions(&self, url: &mut url::Url) {
        let mut q = url.query_pairs_mut();
        if let Some(g) = self.if_generation_match {
            q.append_pair("ifGenerationMatch", &g.to_string());
        }
        if let Some(m) = self.if_metageneration_match {
            q.append_pair("ifMetagenerationMatch", &m.to_string());
        }
    }
}

impl fmt::Debug for UploadOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UploadOptions")
            .field("content_type", &self.content_type)
            .field("if_generation_match", &self.if_generation_match)
            .field("if_metageneration_match", &self.if_metageneration_match)
            .field("metadata", &self.metadata)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl Storage {
    /// Uploads `source` as `bucket/name` and returns the new object's metadata.
    ///
    /// Sizes below the resumable threshold go in one request (retried only with
    /// `if_generation_match`); larger ones, and streams that outgrow the threshold, go through
    /// a resumable session in chunks, resumed from the server's confirmed offset after any
    /// failure. Use [`Storage::start_resumable`] to keep the session URI for a later resume.
    pub async fn upload(
        &self,
        bucket: &str,
        name: &str,
        source: UploadSource,
        options: UploadOptions,
    ) -> Result<Object, Error> {
        check_bucket(bucket)?;
        check_object(name)?;
        let mut opened = source.open(0).await?;
        let threshold = self.inner.resumable_threshold;
        let span = tracing::debug_span!(
            "gcs.upload",
            method = "POST",
            bucket,
            object = name,
            bytes = opened.length,
            resumable = tracing::field::Empty,
        );
        async move {
            let progress = Reporter::new(options.progress.clone());
            match opened.length {
                Some(len) if len < threshold => {
                    tracing::Span::current().record("resumable", false);
                    let data = match opened.in_memory.take() {
                        Some(b) => b,
                        None => read_exactly(&mut opened.reader, len).await?,
                    };
                    progress.start(Some(len));
                    let object = self.upload_single(bucket, name, data, &options).await?;
                    progress.update(len);
                    progress.finish();
                    Ok(object)
                }
                Some(len) => {
                    tracing::Span::current().record("resumable", true);
                    let session = self
                        .start_resumable(bucket, name, &options, Some(len))
                        .await?;
                    session
                        .send_from(opened.reader, Vec::new(), 0, &progress)
                        .await
                }
                None => {
                    // Unknown length: read up to the threshold (at most one chunk) to learn
                    // whether one request will do.
                    let probe = threshold.min(self.inner.chunk_size as u64);
                    let head = read_up_to(&mut opened.reader, probe).await?;
                    if (head.len() as u64) < probe {
                        tracing::Span::current().record("resumable", false);
                        let len = head.len() as u64;
                        progress.start(Some(len));
                        let object = self
                            .upload_single(bucket, name, Bytes::from(head), &options)
                            .await?;
                        progress.update(len);
                        progress.finish();
                        return Ok(object);
                    }
                    tracing::Span::current().record("resumable", true);
                    let session = self.start_resumable(bucket, name, &options, None).await?;
                    session.send_from(opened.reader, head, 0, &progress).await
                }
            }
        }
        .instrument(span)
        .await
    }

    /// One request: `uploadType=media`, or `multipart` when there is custom metadata.
    async fn upload_single(
        &self,
        bucket: &str,
        name: &str,
        data: Bytes,
        options: &UploadOptions,
    ) -> Result<Object, Error> {
        let mut url = self.inner.endpoints.upload(bucket);
        let multipart = !options.metadata.is_empty();
        url.query_pairs_mut()
            .append_pair("uploadType", if multipart { "multipart" } else { "media" });
        if !multipart {
            url.query_pairs_mut().append_pair("name", name);
        }
        options.apply_preconditions(&mut url);
        // Without a generation precondition a retry after a lost response could overwrite a
        // newer object written in between: GCS calls such inserts non-idempotent.
        let idempotent = options.if_generation_match.is_some();
        let call = Call::new("POST", &url, idempotent).timeout(DATA_CALL_TIMEOUT);
        if multipart {
            let boundary = format!(
                "wif_storage_{:016x}{:016x}",
                fastrand::u64(..),
                fastrand::u64(..)
            );
            let body = multipart_body(
                &boundary,
                &options.resource(name),
                options.content_type_or_default(),
                &data,
            );
            let content_type = format!("multipart/related; boundary={boundary}");
            self.execute_json(&call, &|c| {
                c.post(url.clone())
                    .header(http::header::CONTENT_TYPE, content_type.as_str())
                    .body(body.clone())
            })
            .await
        } else {
            let content_type = options.content_type_or_default().to_owned();
            self.execute_json(&call, &|c| {
                c.post(url.clone())
                    .header(http::header::CONTENT_TYPE, content_type.as_str())
                    .body(data.clone())
            })
            .await
        }
    }
}

/// A `multipart/related` body: the JSON resource, then the media.
fn multipart_body(
    boundary: &str,
    resource: &serde_json::Value,
    content_type: &str,
    data: &[u8],
) -> Bytes {
    let head = format!(
        "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{resource}\r\n--{boundary}\r\nContent-Type: {content_type}\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let mut body = Vec::with_capacity(head.len() + data.len() + tail.len());
    body.extend_from_slice(head.as_bytes());
    body.extend_from_slice(data);
    body.extend_from_slice(tail.as_bytes());
    Bytes::from(body)
}

/// Reads exactly `len` bytes (a declared length the reader must honour).
async fn read_exactly(
    reader: &mut (dyn AsyncRead + Send + Unpin),
    len: u64,
) -> Result<Bytes, Error> {
    let data = read_up_to(reader, len).await?;
    if (data.len() as u64) < len {
        return Err(short_source(data.len() as u64, len));
    }
    Ok(Bytes::from(data))
}

/// Reads until `limit` bytes or the end.
pub(crate) async fn read_up_to(
    reader: &mut (dyn AsyncRead + Send + Unpin),
    limit: u64,
) -> Result<Vec<u8>, Error> {
    let mut data = Vec::with_capacity(usize::try_from(limit).unwrap_or(0).min(64 << 20));
    reader
        .take(limit)
        .read_to_end(&mut data)
        .await
        .map_err(|e| io_error("could not read the upload source".to_owned(), e))?;
    Ok(data)
}

pub(crate) fn short_source(got: u64, declared: u64) -> Error {
    Error::new(
        Step::Api,
        ErrorKind::Io,
        format!(
            "the upload source ended after {got} bytes, but its length was given as {declared}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_bodies_follow_rfc_2387() {
        let resource = serde_json::json!({"name": "a b", "contentType": "text/plain"});
        let body = multipart_body("XYZ", &resource, "text/plain", b"hello");
        let text = String::from_utf8(body.to_vec()).expect("utf8");
        assert_eq!(
            text,
            "--XYZ\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{\"contentType\":\"text/plain\",\"name\":\"a b\"}\r\n--XYZ\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XYZ--\r\n"
        );
    }

    #[test]
    fn debug_shows_sizes_not_data() {
        let s = UploadSource::bytes(&b"secret-bytes"[..]);
        let shown = format!("{s:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("12 bytes"), "{shown}");
        let o = UploadOptions::new().metadata("k", "v").create_only();
        let shown = format!("{o:?}");
        assert!(shown.contains("if_generation_match: Some(0)"), "{shown}");
    }

    #[test]
    fn the_resource_carries_name_type_and_metadata() {
        let o = UploadOptions::new();
        assert_eq!(
            o.resource("n"),
            serde_json::json!({"name": "n", "contentType": "application/octet-stream"})
        );
        let o = UploadOptions::new()
            .content_type("text/csv")
            .metadata("k", "v");
        assert_eq!(
            o.resource("n"),
            serde_json::json!({"name": "n", "contentType": "text/csv", "metadata": {"k": "v"}})
        );
    }
}
