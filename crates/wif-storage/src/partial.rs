//! Downloads to a file that survive an interruption: what arrived is kept in a partial file
//! beside the destination, and the next run continues from its end instead of from byte 0.
//!
//! Beside `report.csv` live, while a download is unfinished:
//!
//! * `.report.csv.wif-partial` — the bytes received so far;
//! * `.report.csv.wif-partial.json` — which object they are: bucket, name, **generation**,
//!   size and the object's **CRC32C**.
//!
//! A later run for the same object and destination continues only when the saved generation is
//! still there: the request for the rest is pinned to it (`generation=`), so an object replaced
//! in between can never be spliced onto the old bytes — its old generation answers 404 and the
//! download starts over. When the last byte is in, the CRC32C of the whole file (the kept bytes
//! and the new ones) must equal the object's before the file is renamed into place; a mismatch
//! discards both files. A failure that retrying cannot fix (403, 404, a checksum mismatch, a
//! full disk) also removes them; a transient one (a cut connection after the retries ran out,
//! Ctrl-C) keeps them for the next run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};
use wif_core::local_file;
use wif_core::{Error, ErrorKind, Step};

use crate::client::Storage;
use crate::download::{ByteRange, Download, keep_permissions};
use crate::names::{check_bucket, check_object};
use crate::progress::{Progress, Reporter};
use crate::upload::io_error;

/// Which object a partial file holds the beginning of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PartialState {
    bucket: String,
    object: String,
    pub(crate) generation: i64,
    pub(crate) size: u64,
    pub(crate) crc32c: Option<u32>,
}

impl PartialState {
    /// A state file's content, when it is one for `bucket/object` with a generation Cloud
    /// Storage could have given (positive): anything else is stale, and the download starts
    /// over.
    pub(crate) fn read(bytes: &[u8], bucket: &str, object: &str) -> Option<PartialState> {
        let state: PartialState = serde_json::from_slice(bytes).ok()?;
        (state.bucket == bucket && state.object == object && state.generation > 0).then_some(state)
    }
}

/// The partial file and its state file beside `path`.
struct PartialFiles {
    data: PathBuf,
    state: PathBuf,
}

impl PartialFiles {
    fn beside(path: &Path) -> Result<PartialFiles, Error> {
        let name = path
            .file_name()
            .ok_or_else(|| Error::config("path", format!("{} names no file", path.display())))?
            .to_string_lossy();
        Ok(PartialFiles {
            data: path.with_file_name(format!(".{name}.wif-partial")),
            state: path.with_file_name(format!(".{name}.wif-partial.json")),
        })
    }

    /// The saved state, if it is readable and names `bucket/object` (anything else is stale).
    fn load(&self, bucket: &str, object: &str) -> Option<PartialState> {
        let bytes =
            local_file::read_bounded(&self.state, 64 * 1024, "partial download state").ok()?;
        PartialState::read(&bytes, bucket, object)
    }

    async fn save(&self, state: &PartialState) -> Result<(), Error> {
        let json = serde_json::to_vec(state).map_err(|e| {
            Error::new(Step::Api, ErrorKind::Internal, "could not encode the state").with_source(e)
        })?;
        tokio::fs::write(&self.state, json)
            .await
            .map_err(|e| io_error(format!("could not write {}", self.state.display()), e))
    }

    async fn remove(&self) {
        let _ = tokio::fs::remove_file(&self.data).await;
        let _ = tokio::fs::remove_file(&self.state).await;
    }
}

/// Where a download starts.
struct Start {
    download: Option<Download>,
    state: Option<PartialState>,
    /// Bytes already in the partial file.
    offset: u64,
    /// The CRC32C of those bytes.
    crc: u32,
}

impl Storage {
    /// Downloads `bucket/name` into the file at `path`, continuing an earlier interrupted
    /// download of the same object generation, and returns the object's size.
    ///
    /// The data goes to `.NAME.wif-partial` beside `path`, which is renamed into place once the
    /// whole object is in and its CRC32C matches (an existing file at `path` keeps its
    /// permission bits). After a transient failure the partial file is kept, with a small
    /// `.NAME.wif-partial.json` naming the object and generation, and calling this again
    /// continues from its end; after a final failure both are removed.
    pub async fn download_to_file_resumable(
        &self,
        bucket: &str,
        name: &str,
        path: impl AsRef<Path>,
        progress: Option<Arc<dyn Progress>>,
    ) -> Result<u64, Error> {
        check_bucket(bucket)?;
        check_object(name)?;
        let path = path.as_ref();
        let files = PartialFiles::beside(path)?;
        let progress = Reporter::new(progress);
        let result = match self.start(bucket, name, &files).await {
            Ok(start) => write_rest(start, &files, path, &progress).await,
            Err(e) => Err(e),
        };
        match &result {
            Ok(_) => progress.finish(),
            Err(e) if e.is_retryable() && tokio::fs::metadata(&files.state).await.is_ok() => {}
            Err(_) => files.remove().await,
        }
        result
    }

    /// Continues the saved download when it still can, or starts afresh.
    async fn start(&self, bucket: &str, name: &str, files: &PartialFiles) -> Result<Start, Error> {
        if let Some(state) = files.load(bucket, name)
            && let Ok(meta) = tokio::fs::metadata(&files.data).await
            && meta.is_file()
            && meta.len() <= state.size
        {
            let offset = meta.len();
            let crc = crc_of_file(&files.data, offset).await?;
            if offset == state.size {
                // Everything arrived before the last run ended; only the check and the rename
                // are left.
                return Ok(Start {
                    download: None,
                    state: Some(state),
                    offset,
                    crc,
                });
            }
            let range = Some(ByteRange::From(offset));
            match self
                .download_generation(bucket, name, state.generation, range)
                .await
            {
                Ok(download) if download.start() == offset => {
                    tracing::info!(
                        offset,
                        generation = state.generation,
                        "continuing an interrupted download"
                    );
                    return Ok(Start {
                        download: Some(download),
                        state: Some(state),
                        offset,
                        crc,
                    });
                }
                // That generation is gone (the object was replaced or deleted): start over.
                Err(e) if matches!(e.status(), Some(404 | 416)) => {
                    tracing::info!(
                        generation = state.generation,
                        "the partial download's generation is gone; starting over"
                    );
                }
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        files.remove().await;
        let download = self.download(bucket, name, None).await?;
        // Without a generation a later run could not tell the object was replaced: such a
        // download is not resumable, and its partial file is removed on any failure.
        let state = match (download.generation(), download.object_size()) {
            (Some(generation), Some(size)) => {
                let state = PartialState {
                    bucket: bucket.to_owned(),
                    object: name.to_owned(),
                    generation,
                    size,
                    crc32c: download.crc32c(),
                };
                files.save(&state).await?;
                Some(state)
            }
            _ => None,
        };
        Ok(Start {
            download: Some(download),
            state,
            offset: 0,
            crc: 0,
        })
    }
}

/// Appends the rest of the object to the partial file, checks it, and renames it to `path`.
async fn write_rest(
    start: Start,
    files: &PartialFiles,
    path: &Path,
    progress: &Reporter,
) -> Result<u64, Error> {
    let Start {
        download,
        state,
        offset,
        mut crc,
    } = start;
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&files.data)
        .await
        .map_err(|e| io_error(format!("could not open {}", files.data.display()), e))?;
    // Whatever is past `offset` was never counted (a run cut mid-write): drop it.
    file.set_len(offset)
        .await
        .map_err(|e| io_error(format!("could not write {}", files.data.display()), e))?;
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(|e| io_error(format!("could not write {}", files.data.display()), e))?;
    let expected_crc = state
        .as_ref()
        .and_then(|s| s.crc32c)
        .or_else(|| download.as_ref().and_then(Download::crc32c));
    let total = state.as_ref().map(|s| s.size);
    progress.start(total);
    progress.update(offset);
    let mut written = offset;
    if let Some(mut download) = download {
        let received = async {
            while let Some(chunk) = download.next_chunk().await? {
                file.write_all(&chunk).await.map_err(|e| {
                    io_error(format!("could not write {}", files.data.display()), e)
                })?;
                crc = crc32c::crc32c_append(crc, &chunk);
                written += chunk.len() as u64;
                progress.update(written);
            }
            Ok::<(), Error>(())
        }
        .await;
        if let Err(e) = received {
            let _ = file.flush().await;
            return Err(match &state {
                Some(_) if e.is_retryable() => e.context(format!(
                    "download stopped after {written} bytes, kept in {}; run it again to continue from there",
                    files.data.display()
                )),
                _ => e,
            });
        }
    }
    if let Some(total) = total
        && written != total
    {
        return Err(Error::invalid_response(
            Step::Api,
            format!("the download ended after {written} of {total} bytes"),
        )
        .retryable(true));
    }
    if let Some(expected) = expected_crc
        && expected != crc
    {
        return Err(Error::invalid_response(
            Step::Api,
            format!(
                "the downloaded data does not match the object's CRC32C (got {crc:08x}, the object has {expected:08x}); the partial download was discarded"
            ),
        )
        .with_hint("run the download again; if it keeps failing, the object or the path to it corrupts data"));
    }
    file.sync_all()
        .await
        .map_err(|e| io_error(format!("could not write {}", files.data.display()), e))?;
    drop(file);
    keep_permissions(path, &files.data).await?;
    tokio::fs::rename(&files.data, path).await.map_err(|e| {
        io_error(
            format!("could not move the download to {}", path.display()),
            e,
        )
    })?;
    let _ = tokio::fs::remove_file(&files.state).await;
    Ok(written)
}

/// The CRC32C of the first `len` bytes of `path`.
async fn crc_of_file(path: &Path, len: u64) -> Result<u32, Error> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| io_error(format!("could not read {}", path.display()), e))?
        .take(len);
    let mut crc = 0u32;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .await
            .map_err(|e| io_error(format!("could not read {}", path.display()), e))?;
        if n == 0 {
            return Ok(crc);
        }
        crc = crc32c::crc32c_append(crc, &buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_files_sit_beside_the_destination() {
        let files = PartialFiles::beside(Path::new("/data/out/report.csv")).expect("a file");
        assert_eq!(files.data, Path::new("/data/out/.report.csv.wif-partial"));
        assert_eq!(
            files.state,
            Path::new("/data/out/.report.csv.wif-partial.json")
        );
        assert!(PartialFiles::beside(Path::new("/")).is_err());
    }

    #[tokio::test]
    async fn state_for_another_object_is_stale() {
        let dir = tempfile::tempdir().expect("dir");
        let files = PartialFiles::beside(&dir.path().join("f")).expect("files");
        let state = PartialState {
            bucket: "b".into(),
            object: "o".into(),
            generation: 7,
            size: 10,
            crc32c: Some(1),
        };
        files.save(&state).await.expect("save");
        assert_eq!(files.load("b", "o"), Some(state));
        assert_eq!(files.load("b", "other"), None);
        assert_eq!(files.load("other", "o"), None);
        std::fs::write(&files.state, "not json").expect("write");
        assert_eq!(files.load("b", "o"), None);
    }

    /// A generation no object has (0, negative) would only fetch an error: start over instead.
    #[test]
    fn a_state_without_a_real_generation_is_stale() {
        let state = |generation: i64| {
            format!(
                r#"{{"bucket":"b","object":"o","generation":{generation},"size":3,"crc32c":null}}"#
            )
        };
        assert!(PartialState::read(state(1).as_bytes(), "b", "o").is_some());
        for generation in [0, -1, i64::MIN] {
            assert_eq!(
                PartialState::read(state(generation).as_bytes(), "b", "o"),
                None
            );
        }
    }

    #[tokio::test]
    async fn crc_of_a_prefix() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("f");
        std::fs::write(&path, b"123456789tail").expect("write");
        assert_eq!(crc_of_file(&path, 9).await.expect("crc"), 0xE306_9283);
        assert_eq!(crc_of_file(&path, 0).await.expect("crc"), 0);
    }
}
