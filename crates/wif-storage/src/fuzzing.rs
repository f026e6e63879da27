//! Entry points for the coverage-guided fuzz targets in the repository's `fuzz/` directory: the
//! range headers of resumable uploads (a 308's `Range`) and ranged downloads (a 206's
//! `Content-Range`) without a network, and the state files that make transfers resumable (an
//! upload's kept session, a partial download's object and generation) without a file system. Only with the `fuzzing` feature (which `fuzz/Cargo.toml`
//! turns on) and in this crate's own tests; not part of the API: hidden from the documentation, and
//! free to change.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header};
use wif_core::{Error, Step};

use secrecy::{ExposeSecret as _, SecretString};

use crate::UploadKey;
use crate::client::Call;
use crate::partial::PartialState;
use crate::upload_sessions::{Saved, saved_session};

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

/// Reads an upload session state file's content, for a fixed upload and for the upload the file
/// names itself (the only way random input reaches the accepting path), and checks what is
/// accepted: the file written again reads back the same session, and no `Debug` shows the
/// session URI. The session read for the upload the file names; `Err` says what broke.
pub fn upload_session_state(bytes: &[u8]) -> Result<Option<SecretString>, String> {
    let fixed: UploadKey = serde_json::from_str(
        r#"{"source":"/fuzz/source.bin","size":3,"modified_ns":1,"bucket":"bkt","object":"obj"}"#,
    )
    .map_err(|e| e.to_string())?;
    let for_fixed = saved_session(bytes, &fixed);
    let Ok(saved) = serde_json::from_slice::<Saved>(bytes) else {
        return match for_fixed {
            Some(_) => Err("a session was read from a file that does not parse".to_owned()),
            None => Ok(None),
        };
    };
    if for_fixed.is_some() != (saved.key == fixed) {
        return Err("the session was read for another upload's key".to_owned());
    }
    let uri = saved_session(bytes, &saved.key)
        .ok_or("a state file was not read back for the upload it names")?;
    if uri.expose_secret() != saved.session_uri {
        return Err("the session read is not the one saved".to_owned());
    }
    let rewritten = serde_json::to_vec(&saved).map_err(|e| e.to_string())?;
    let again = saved_session(&rewritten, &saved.key).map(|u| u.expose_secret().to_owned());
    if again.as_deref() != Some(uri.expose_secret()) {
        return Err("a state file written again does not read back the same".to_owned());
    }
    // Hidden means: printed as any other secret is, whatever the URI (a short URI may be a word
    // the placeholder itself contains).
    let shown = format!("{uri:?}");
    if shown != format!("{:?}", SecretString::from("-")) {
        return Err(format!("Debug shows the session URI: {shown}"));
    }
    Ok(Some(uri))
}

/// Reads a partial download's state file content for `bucket/object`: the generation, the
/// object's size and CRC32C it names, when it is one a download would continue from.
pub fn partial_download_state(
    bytes: &[u8],
    bucket: &str,
    object: &str,
) -> Option<(i64, u64, Option<u32>)> {
    PartialState::read(bytes, bucket, object).map(|s| (s.generation, s.size, s.crc32c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_files_are_read_for_their_own_upload_only() {
        let file = br#"{"key":{"source":"/fuzz/source.bin","size":3,"modified_ns":1,"bucket":"bkt","object":"obj"},"session_uri":"http://127.0.0.1:1/u?upload_id=x"}"#;
        let uri = upload_session_state(file)
            .expect("consistent")
            .expect("a session");
        assert_eq!(uri.expose_secret(), "http://127.0.0.1:1/u?upload_id=x");
        assert!(upload_session_state(b"{}").expect("consistent").is_none());
        let state = br#"{"bucket":"b","object":"o","generation":5,"size":9,"crc32c":7}"#;
        assert_eq!(
            partial_download_state(state, "b", "o"),
            Some((5, 9, Some(7)))
        );
        assert_eq!(partial_download_state(state, "b", "p"), None);
    }
}
