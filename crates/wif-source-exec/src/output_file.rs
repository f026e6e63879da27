//! Reading the executable's `output_file`: the cached response read before the command runs,
//! and the response read after it when it printed nothing on stdout.
//!
//! The path comes from the configuration and the file from the executable, so it is read like
//! any local input: a regular file only — a FIFO is refused at once instead of blocking the read
//! until a writer shows up (forever, if none does), a device instead of being read without end
//! — at most [`MAX_OUTPUT_BYTES`](crate::MAX_OUTPUT_BYTES), and within the executable's
//! `timeout_millis`.

use std::fmt;
use std::path::Path;
use std::time::Instant;

use wif_core::local_file::{self, LocalFileError, LocalFileErrorKind};

/// Why the output file gave no response.
#[derive(Debug)]
pub(crate) enum OutputFileError {
    /// Missing, unreadable, not a regular file, or too large.
    Read(LocalFileError),
    /// The deadline passed before the file was read.
    TimedOut,
}

impl fmt::Display for OutputFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputFileError::Read(e) => f.write_str(&e.problem()),
            OutputFileError::TimedOut => f.write_str("not read within the executable's timeout"),
        }
    }
}

impl std::error::Error for OutputFileError {}

impl OutputFileError {
    /// The operating system's words, where ours ("could not be read") say little: not for a
    /// missing or unreadable file, a refusal, or a timeout, which the message already names.
    pub(crate) fn os_error(&self) -> Option<&std::io::Error> {
        match self {
            OutputFileError::Read(e) if e.kind() == LocalFileErrorKind::Other => e.io_error(),
            _ => None,
        }
    }
}

/// Reads `path` (at most `limit` bytes, a regular file only) before `deadline`.
pub(crate) async fn read_output_file(
    path: &Path,
    limit: usize,
    deadline: Instant,
) -> Result<Vec<u8>, OutputFileError> {
    // A spent deadline reads nothing: `timeout_at` would still give the read one poll.
    if Instant::now() >= deadline {
        return Err(OutputFileError::TimedOut);
    }
    let read = local_file::read_bounded_async(path.to_owned(), limit, "output file");
    match tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), read).await {
        Ok(result) => result.map_err(OutputFileError::Read),
        Err(_) => Err(OutputFileError::TimedOut),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::time::Duration;

    use super::*;

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[tokio::test]
    async fn a_regular_file_is_read_up_to_the_limit() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("out.json");
        std::fs::write(&path, b"{\"version\":1}").expect("write");
        assert_eq!(
            read_output_file(&path, 64, later()).await.expect("read"),
            b"{\"version\":1}"
        );
        match read_output_file(&path, 4, later()).await {
            Err(OutputFileError::Read(e)) => assert_eq!(e.kind(), LocalFileErrorKind::TooLarge),
            other => panic!("expected too large, got {other:?}"),
        }
    }

    /// The hang: a FIFO as `output_file` blocked the source forever, past
    /// `timeout_millis`. (Without the fix this test hangs.)
    #[tokio::test]
    async fn a_fifo_is_refused_at_once() {
        let dir = tempfile::tempdir().expect("dir");
        let fifo = wif_core::testing::fifo_at(dir.path().join("out.json"));
        match read_output_file(&fifo, 1024, later()).await {
            Err(e @ OutputFileError::Read(_)) => {
                assert_eq!(e.to_string(), "is a FIFO (named pipe), not a regular file");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    /// `timeout_millis` covers the read too: with the deadline spent, nothing is read.
    #[tokio::test]
    async fn a_spent_deadline_reads_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("out.json");
        std::fs::write(&path, b"{}").expect("write");
        assert!(matches!(
            read_output_file(&path, 64, Instant::now()).await,
            Err(OutputFileError::TimedOut)
        ));
    }
}
