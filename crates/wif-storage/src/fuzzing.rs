//! Entry points for the coverage-guided fuzz targets in the repository's `fuzz/` directory: the
//! range headers of resumable uploads (a 308's `Range`) and ranged downloads (a 206's
//! `Content-Range`) without a network. Only with the `fuzzing` feature (which `fuzz/Cargo.toml`
//! turns on) and in this crate's own tests; not part of the API: hidden from the documentation, and
//! free to change.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header};
use wif_core::{Error, Step};

use crate::client::Call;

/// Applies a 308's `Range` header value (absent when `None`) to an upload that sent
/// `pending_len` bytes from `offset`: the offset the server confirmed.
pub fn resumable_308(range: Option<&[u8]>, offset: u64, pending_len: usize) -> Result<u64, Error> {
    let url = url::Url::parse("https://storage.googleapis.com/upload/storage/v1/b/bucket/o")
        .map_err(|e| Error::invalid_response(Step::Api, e.to_string()))?;
    let call = Call::new("PUT", &url, true);
    let mut headers = HeaderMap::new();
    if let Some(range) = range {
        // What hyper would have refused before we ever saw it.
        let value = HeaderValue::from_bytes(range)
            .map_err(|_| Error::invalid_response(Step::Api, "not a header value"))?;
        headers.insert(header::RANGE, value);
    }
    crate::resumable::offset_after_308(&call, &headers, offset, Bytes::from(vec![0; pending_len]))
}

/// Reads a 206's `Content-Range` value as a download does: the first byte, the end (exclusive)
/// and the object size when known.
pub fn partial_content(content_range: &[u8]) -> Option<(u64, u64, Option<u64>)> {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_RANGE,
        HeaderValue::from_bytes(content_range).ok()?,
    );
    crate::download::content_range(&headers).map(|(first, last, size)| (first, last + 1, size))
}
