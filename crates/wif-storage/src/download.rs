//! Downloads (`objects.get` with `alt=media`): whole objects or byte ranges, as a stream.
//!
//! When the connection breaks mid-body, the download continues where it stopped with a new
//! `Range` request **pinned to the generation** first served (`generation=`), so an object
//! overwritten meanwhile can never splice two versions together: that generation is gone, the
//! request fails with 404, and the stream ends with that error.

use std::fmt;
use std::ops::{Range, RangeFrom};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use futures::stream::BoxStream;
use tokio::io::{AsyncWrite, AsyncWriteExt as _};
use tracing::Instrument as _;
use url::Url;
use wif_core::{Error, Step};

use crate::backoff::Backoff;
use crate::client::{Call, DOWNLOAD_TIMEOUT, Storage, ensure_success};
use crate::names::{check_bucket, check_object};
use crate::progress::{Progress, Reporter};
use crate::upload::io_error;

/// A byte range of an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteRange {
    /// Bytes `start..end` (`end` exclusive, like a Rust range).
    Span {
        /// First byte.
        start: u64,
        /// One past the last byte.
        end: u64,
    },
    /// From `start` to the end of the object.
    From(u64),
    /// The last `n` bytes.
    Last(u64),
}

impl From<Range<u64>> for ByteRange {
    fn from(r: Range<u64>) -> Self {
        ByteRange::Span {
            start: r.start,
            end: r.end,
        }
    }
}

impl From<RangeFrom<u64>> for ByteRange {
    fn from(r: RangeFrom<u64>) -> Self {
        ByteRange::From(r.start)
    }
}

impl ByteRange {
    /// The `Range` header value (RFC 9110 §14.1.2).
    fn header(&self) -> Result<String, Error> {
        match *self {
            ByteRange::Span { start, end } if end > start => {
                Ok(format!("bytes={start}-{}", end - 1))
            }
            ByteRange::Span { start, end } => Err(Error::config(
                "range",
                format!("{start}..{end} is empty; the end is exclusive"),
            )),
            ByteRange::From(start) => Ok(format!("bytes={start}-")),
            ByteRange::Last(0) => Err(Error::config("range", "the last 0 bytes is empty")),
            ByteRange::Last(n) => Ok(format!("bytes=-{n}")),
        }
    }
}

/// A download in progress: a stream of the object's bytes, plus what the server said about it.
pub struct Download {
    generation: Option<i64>,
    crc32c: Option<u32>,
    object_size: Option<u64>,
    start: u64,
    len: Option<u64>,
    content_type: Option<String>,
    stream: BoxStream<'static, Result<Bytes, Error>>,
    progress: Reporter,
    yielded: u64,
    finished: bool,
}

impl fmt::Debug for Download {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Download")
            .field("generation", &self.generation)
            .field("crc32c", &self.crc32c)
            .field("object_size", &self.object_size)
            .field("start", &self.start)
            .field("len", &self.len)
            .field("content_type", &self.content_type)
            .field("yielded", &self.yielded)
            .finish_non_exhaustive()
    }
}

impl Download {
    /// The generation being read (every resumed request is pinned to it).
    pub fn generation(&self) -> Option<i64> {
        self.generation
    }

    /// The whole object's CRC32C (Castagnoli), when the server said (`x-goog-hash`): the
    /// checksum of every byte of the object, also when only a range is downloaded.
    pub fn crc32c(&self) -> Option<u32> {
        self.crc32c
    }

    /// The whole object's size, when the server said.
    pub fn object_size(&self) -> Option<u64> {
        self.object_size
    }

    /// The offset of the first byte this download yields.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// How many bytes this download yields, when known.
    pub fn len(&self) -> Option<u64> {
        self.len
    }

    /// True when the download is known to yield nothing.
    pub fn is_empty(&self) -> bool {
        self.len == Some(0)
    }

    /// The object's `Content-Type`.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// Reports progress (bytes yielded so far) to `progress`.
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        progress.start(self.len);
        self.progress = Reporter::new(Some(progress));
        self
    }

    /// The next piece of data; `Ok(None)` at the end (the same as polling the [`Stream`]).
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, Error> {
        use futures::TryStreamExt as _;
        self.try_next().await
    }

    /// Writes everything to `writer` and flushes it; returns the bytes written.
    pub async fn write_to<W: AsyncWrite + Unpin>(mut self, writer: &mut W) -> Result<u64, Error> {
        let mut written = 0u64;
        while let Some(chunk) = self.next_chunk().await? {
            writer
                .write_all(&chunk)
                .await
                .map_err(|e| io_error("could not write the downloaded data".to_owned(), e))?;
            written += chunk.len() as u64;
        }
        writer
            .flush()
            .await
            .map_err(|e| io_error("could not write the downloaded data".to_owned(), e))?;
        Ok(written)
    }

    /// Writes everything to the file at `path` (through a temporary file beside it, renamed
    /// into place only when complete; an existing file keeps its permission bits); returns the
    /// bytes written.
    pub async fn save_to(self, path: impl AsRef<Path>) -> Result<u64, Error> {
        write_file(self, path.as_ref()).await
    }

    /// Collects everything in memory (for small objects).
    pub async fn into_bytes(self) -> Result<Bytes, Error> {
        let mut out = Vec::with_capacity(
            self.len
                .and_then(|l| usize::try_from(l).ok())
                .unwrap_or(0)
                .min(64 << 20),
        );
        self.write_to(&mut out).await?;
        Ok(Bytes::from(out))
    }
}

impl Stream for Download {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = std::task::ready!(self.stream.as_mut().poll_next(cx));
        match &item {
            Some(Ok(chunk)) => {
                self.yielded += chunk.len() as u64;
                let yielded = self.yielded;
                self.progress.update(yielded);
            }
            None if !self.finished => {
                self.finished = true;
                self.progress.finish();
            }
            _ => {}
        }
        Poll::Ready(item)
    }
}

impl Storage {
    /// Downloads `bucket/name` (or `range` of it) as a stream of bytes. Returns once the server
    /// has answered (errors like 404 surface here); the body streams as it is consumed, and a
    /// broken connection is resumed from the last byte received.
    pub async fn download(
        &self,
        bucket: &str,
        name: &str,
        range: Option<ByteRange>,
    ) -> Result<Download, Error> {
        self.download_pinned(bucket, name, None, range).await
    }

    /// Like [`download`](Self::download), of one `generation` of the object: a 404 when that
    /// generation is no longer the live one (or, with versioning, was deleted). This is how an
    /// interrupted download continues later without splicing two versions of an object.
    pub async fn download_generation(
        &self,
        bucket: &str,
        name: &str,
        generation: i64,
        range: Option<ByteRange>,
    ) -> Result<Download, Error> {
        self.download_pinned(bucket, name, Some(generation), range)
            .await
    }

    async fn download_pinned(
        &self,
        bucket: &str,
        name: &str,
        pinned: Option<i64>,
        range: Option<ByteRange>,
    ) -> Result<Download, Error> {
        check_bucket(bucket)?;
        check_object(name)?;
        let range_header = range.as_ref().map(ByteRange::header).transpose()?;
        let mut url = self.inner.endpoints.object(bucket, name);
        url.query_pairs_mut().append_pair("alt", "media");
        if let Some(g) = pinned {
            url.query_pairs_mut()
                .append_pair("generation", &g.to_string());
        }
        let call = Call::new("GET", &url, true).timeout(DOWNLOAD_TIMEOUT);
        let span = tracing::debug_span!("gcs.download", method = "GET", bucket, object = name);
        let response = self
            .execute(&call, &|c| {
                let request = c.get(url.clone());
                match &range_header {
                    Some(h) => request.header(http::header::RANGE, h.as_str()),
                    None => request,
                }
            })
            .instrument(span.clone())
            .await?;
        let headers = response.headers();
        let generation = header_int(headers, "x-goog-generation").or(pinned);
        let crc32c = crc32c_of(headers);
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let content_length = header_int::<u64>(headers, http::header::CONTENT_LENGTH.as_str());
        let (body_pos, start, end, object_size) = if response.status().as_u16() == 206 {
            let (first, last, size) = content_range(headers).ok_or_else(|| {
                Error::invalid_response(
                    Step::Api,
                    format!(
                        "{}: a 206 answer without a readable Content-Range",
                        call.what
                    ),
                )
            })?;
            (first, first, Some(last + 1), size)
        } else {
            // The whole object; when a range was asked for and ignored, cut it out here.
            let size = content_length;
            let (start, end) = match range {
                None => (0, size),
                Some(ByteRange::Span { start, end }) => {
                    (start, Some(size.map_or(end, |s| s.min(end))))
                }
                Some(ByteRange::From(start)) => (start, size),
                Some(ByteRange::Last(n)) => match size {
                    Some(s) => (s.saturating_sub(n), Some(s)),
                    None => {
                        return Err(Error::invalid_response(
                            Step::Api,
                            format!(
                                "{}: the server ignored the Range and sent no length",
                                call.what
                            ),
                        ));
                    }
                },
            };
            (0, start, end, size)
        };
        let len = end.map(|e| e.saturating_sub(start));
        let body = Body {
            storage: self.clone(),
            url: self.inner.endpoints.object(bucket, name),
            response: Some(response),
            body_pos,
            pos: start,
            end,
            generation,
            backoff: Backoff::new(self.inner.retry),
            failed: false,
            span,
        };
        let stream = futures::stream::unfold(body, |mut body| async move {
            let span = body.span.clone();
            let item = body.next_chunk().instrument(span).await?;
            Some((item, body))
        });
        Ok(Download {
            generation,
            crc32c,
            object_size,
            start,
            len,
            content_type,
            stream: Box::pin(stream),
            progress: Reporter::default(),
            yielded: 0,
            finished: false,
        })
    }

    /// Downloads `bucket/name` into the file at `path`, returning the bytes written. The data
    /// goes to a temporary file beside it, renamed into place only when complete, so a failed
    /// download never leaves a truncated file at `path`.
    pub async fn download_to_file(
        &self,
        bucket: &str,
        name: &str,
        path: impl AsRef<Path>,
    ) -> Result<u64, Error> {
        self.download(bucket, name, None).await?.save_to(path).await
    }
}

/// Writes `download` to `path` through a temporary sibling file.
async fn write_file(download: Download, path: &Path) -> Result<u64, Error> {
    let file_name = path
        .file_name()
        .ok_or_else(|| Error::config("path", format!("{} names no file", path.display())))?;
    let temp = path.with_file_name(format!(
        ".{}.wif-partial-{:08x}",
        file_name.to_string_lossy(),
        fastrand::u32(..)
    ));
    let result = async {
        let mut file = tokio::fs::File::create(&temp)
            .await
            .map_err(|e| io_error(format!("could not create {}", temp.display()), e))?;
        let written = download.write_to(&mut file).await?;
        file.sync_all()
            .await
            .map_err(|e| io_error(format!("could not write {}", temp.display()), e))?;
        drop(file);
        keep_permissions(path, &temp).await?;
        tokio::fs::rename(&temp, path).await.map_err(|e| {
            io_error(
                format!("could not move the download to {}", path.display()),
                e,
            )
        })?;
        Ok(written)
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&temp).await;
    }
    result
}

/// The body of a download, resumed after transient failures.
struct Body {
    storage: Storage,
    /// The media URL without query (`alt` and `generation` are added per request).
    url: Url,
    response: Option<reqwest::Response>,
    /// Offset of the next byte the current response delivers.
    body_pos: u64,
    /// Offset of the next byte to yield.
    pos: u64,
    /// One past the last byte to yield, when known.
    end: Option<u64>,
    generation: Option<i64>,
    backoff: Backoff,
    failed: bool,
    span: tracing::Span,
}

impl Body {
    async fn next_chunk(&mut self) -> Option<Result<Bytes, Error>> {
        if self.failed {
            return None;
        }
        loop {
            if self.end.is_some_and(|end| self.pos >= end) {
                self.response = None;
                return None;
            }
            let failure = match self.response.as_mut() {
                None => match self.reopen().await {
                    Ok(()) => continue,
                    Err(e) => e,
                },
                Some(response) => match response.chunk().await {
                    Ok(Some(chunk)) => {
                        if let Some(piece) = self.trim(chunk) {
                            self.backoff.progressed();
                            return Some(Ok(piece));
                        }
                        continue;
                    }
                    Ok(None) if self.end.is_none() => {
                        self.response = None;
                        return None;
                    }
                    Ok(None) => Error::new(
                        Step::Api,
                        wif_core::ErrorKind::Transport,
                        format!(
                            "GET {}: the connection closed at byte {} of {}",
                            wif_core::http::describe_url(&self.url),
                            self.pos,
                            self.end.unwrap_or_default()
                        ),
                    ),
                    Err(e) => wif_core::http::transport_error(
                        Step::Api,
                        &format!("GET {}", wif_core::http::describe_url(&self.url)),
                        e,
                    ),
                },
            };
            self.response = None;
            if !failure.is_retryable() {
                self.failed = true;
                return Some(Err(failure));
            }
            if let Err(e) = self.backoff.wait(failure).await {
                self.failed = true;
                return Some(Err(e));
            }
            tracing::info!(
                pos = self.pos,
                generation = self.generation,
                "resuming the download"
            );
        }
    }

    /// The part of `chunk` (which starts at `body_pos`) inside `pos..end`.
    fn trim(&mut self, chunk: Bytes) -> Option<Bytes> {
        let chunk_start = self.body_pos;
        let chunk_end = chunk_start + chunk.len() as u64;
        self.body_pos = chunk_end;
        let from = self.pos.max(chunk_start);
        let to = self.end.map_or(chunk_end, |e| e.min(chunk_end));
        if from >= to {
            return None;
        }
        let piece = chunk.slice((from - chunk_start) as usize..(to - chunk_start) as usize);
        self.pos = to;
        Some(piece)
    }

    /// Asks for the rest, pinned to the generation first served.
    async fn reopen(&mut self) -> Result<(), Error> {
        let mut url = self.url.clone();
        url.query_pairs_mut().append_pair("alt", "media");
        if let Some(g) = self.generation {
            url.query_pairs_mut()
                .append_pair("generation", &g.to_string());
        }
        let range = match self.end {
            Some(end) => format!("bytes={}-{}", self.pos, end - 1),
            None => format!("bytes={}-", self.pos),
        };
        let call = Call::new("GET", &url, true).timeout(DOWNLOAD_TIMEOUT);
        let response = self
            .storage
            .send(&call, &|c| {
                c.get(url.clone())
                    .header(http::header::RANGE, range.as_str())
            })
            .await?;
        let response = ensure_success(&call, response).await?;
        let served = header_int::<i64>(response.headers(), "x-goog-generation");
        if let (Some(want), Some(got)) = (self.generation, served)
            && want != got
        {
            return Err(Error::invalid_response(
                Step::Api,
                format!("{}: asked for generation {want}, got {got}", call.what),
            ));
        }
        self.body_pos = if response.status().as_u16() == 206 {
            content_range(response.headers())
                .map(|(first, _, _)| first)
                .ok_or_else(|| {
                    Error::invalid_response(
                        Step::Api,
                        format!(
                            "{}: a 206 answer without a readable Content-Range",
                            call.what
                        ),
                    )
                })?
        } else {
            0
        };
        self.response = Some(response);
        Ok(())
    }
}

/// Gives `new` (about to replace `existing`) the permission bits of `existing`, if it exists:
/// replacing a file's content must not widen or narrow who may read it.
pub(crate) async fn keep_permissions(existing: &Path, new: &Path) -> Result<(), Error> {
    let Ok(meta) = tokio::fs::metadata(existing).await else {
        return Ok(());
    };
    if !meta.is_file() {
        return Ok(());
    }
    tokio::fs::set_permissions(new, meta.permissions())
        .await
        .map_err(|e| {
            io_error(
                format!("could not copy the permissions of {}", existing.display()),
                e,
            )
        })
}

/// The object's CRC32C from `x-goog-hash` (`crc32c=<base64 of 4 bytes>`, possibly beside
/// `md5=…`, in one header or several).
pub(crate) fn crc32c_of(headers: &http::HeaderMap) -> Option<u32> {
    use base64::Engine as _;
    headers
        .get_all("x-goog-hash")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|part| part.trim().strip_prefix("crc32c="))
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .and_then(|bytes| <[u8; 4]>::try_from(bytes.as_slice()).ok())
        .map(u32::from_be_bytes)
}

fn header_int<T: std::str::FromStr>(headers: &http::HeaderMap, name: &str) -> Option<T> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// `Content-Range: bytes FIRST-LAST/SIZE` (`SIZE` may be `*`).
pub(crate) fn content_range(headers: &http::HeaderMap) -> Option<(u64, u64, Option<u64>)> {
    let value = headers.get(http::header::CONTENT_RANGE)?.to_str().ok()?;
    let (span, size) = value.trim().strip_prefix("bytes ")?.split_once('/')?;
    let (first, last) = span.split_once('-')?;
    let (first, last): (u64, u64) = (first.parse().ok()?, last.parse().ok()?);
    // `last` must leave room for the exclusive end the callers compute (`last + 1`): a server
    // saying `bytes 0-18446744073709551615/*` would otherwise overflow it (found by the fuzz
    // target `gcs_range`).
    if last < first || last == u64::MAX {
        return None;
    }
    Some((first, last, size.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_headers() {
        assert_eq!(
            ByteRange::from(0..10).header().ok().as_deref(),
            Some("bytes=0-9")
        );
        assert_eq!(
            ByteRange::from(5..).header().ok().as_deref(),
            Some("bytes=5-")
        );
        assert_eq!(
            ByteRange::Last(3).header().ok().as_deref(),
            Some("bytes=-3")
        );
        assert!(
            ByteRange::from(4..4)
                .header()
                .expect_err("empty")
                .is_config()
        );
        assert!(ByteRange::Last(0).header().is_err());
    }

    #[test]
    fn crc32c_is_read_from_x_goog_hash() {
        let mut h = http::HeaderMap::new();
        assert_eq!(crc32c_of(&h), None);
        // The Castagnoli check value of "123456789" is 0xE3069283.
        h.append(
            "x-goog-hash",
            http::HeaderValue::from_static("md5=XrY7u+Ae7tCTyyK7j1rNww=="),
        );
        h.append(
            "x-goog-hash",
            http::HeaderValue::from_static("crc32c=4waSgw=="),
        );
        assert_eq!(crc32c_of(&h), Some(0xE306_9283));
        let mut one = http::HeaderMap::new();
        one.insert(
            "x-goog-hash",
            http::HeaderValue::from_static("crc32c=4waSgw==,md5=XrY7u+Ae7tCTyyK7j1rNww=="),
        );
        assert_eq!(crc32c_of(&one), Some(0xE306_9283));
        one.insert("x-goog-hash", http::HeaderValue::from_static("crc32c=AAAA"));
        assert_eq!(crc32c_of(&one), None, "three bytes are not a CRC32C");
    }

    #[test]
    fn content_ranges_parse() {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::CONTENT_RANGE,
            http::HeaderValue::from_static("bytes 10-19/100"),
        );
        assert_eq!(content_range(&h), Some((10, 19, Some(100))));
        h.insert(
            http::header::CONTENT_RANGE,
            http::HeaderValue::from_static("bytes 0-0/*"),
        );
        assert_eq!(content_range(&h), Some((0, 0, None)));
        for bad in [
            "bytes */100",
            "items 0-1/2",
            "bytes 5-1/9",
            "bytes x-1/2",
            "bytes 0-18446744073709551615/*",
        ] {
            h.insert(
                http::header::CONTENT_RANGE,
                http::HeaderValue::from_static(bad),
            );
            assert_eq!(content_range(&h), None, "{bad}");
        }
    }
}
