//! Reading the small local files the chain is configured with — credential configurations, CA
//! bundles, subject-token files, an executable's `output_file`, certificates and keys — with a
//! bound on what is read and without ever blocking on something that is not a file.
//!
//! Every such file is a few KiB. A path that names something else is a mistake or an attack:
//! `/dev/zero` or `/dev/urandom` never end, and a FIFO (named pipe) blocks the reader until some
//! writer shows up, which may be never. So the file is opened **non-blocking** (on Unix; opening
//! a FIFO for reading then returns at once), the opened descriptor is checked with `fstat` — the
//! very file that will be read, so nothing can be swapped in between a check and the open — and
//! anything but a regular file is refused. A regular file is read up to the caller's limit and
//! refused, not truncated, when it is larger.
//!
//! ```
//! use wif_core::local_file::{self, LocalFileErrorKind, MAX_LOCAL_FILE_BYTES};
//!
//! let dir = std::env::temp_dir().join(format!("wif-local-file-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let config = dir.join("wif.json");
//! std::fs::write(&config, br#"{"type": "external_account"}"#).unwrap();
//!
//! let json = local_file::read_bounded(&config, MAX_LOCAL_FILE_BYTES, "credential configuration")?;
//! assert!(json.starts_with(b"{"));
//!
//! // A directory (like a FIFO or a device) is refused before anything is read.
//! let err = local_file::read_bounded(&dir, MAX_LOCAL_FILE_BYTES, "credential configuration")
//!     .unwrap_err();
//! assert_eq!(err.kind(), LocalFileErrorKind::NotRegular);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), wif_core::local_file::LocalFileError>(())
//! ```

use std::fmt;
use std::fs::File;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use crate::{Error, ErrorKind, Step};

/// The bound for configuration-sized files (1 MiB): credential configurations, CA bundles,
/// subject tokens, certificates and keys are a few KiB, so a larger file is the wrong file.
/// Go's x/oauth2 bounds subject-token files the same way.
pub const MAX_LOCAL_FILE_BYTES: usize = 1024 * 1024;

/// What went wrong reading a local file, for callers that word their own messages or hints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LocalFileErrorKind {
    /// The path does not exist.
    NotFound,
    /// The file exists but this process may not read it.
    PermissionDenied,
    /// The path names a directory, FIFO, device or socket: refused before reading.
    NotRegular,
    /// The file is larger than the limit: refused, not truncated.
    TooLarge,
    /// Any other I/O failure.
    Other,
}

/// A local file that could not be read. Its message names the file (what it is for, and its
/// path) and the problem; never the file's content.
#[derive(Debug)]
pub struct LocalFileError {
    what: String,
    path: PathBuf,
    problem: Problem,
}

#[derive(Debug)]
enum Problem {
    Io(io::Error),
    NotRegular(&'static str),
    TooLarge(usize),
}

impl LocalFileError {
    /// The kind of failure.
    pub fn kind(&self) -> LocalFileErrorKind {
        match &self.problem {
            Problem::Io(e) => match e.kind() {
                io::ErrorKind::NotFound => LocalFileErrorKind::NotFound,
                io::ErrorKind::PermissionDenied => LocalFileErrorKind::PermissionDenied,
                _ => LocalFileErrorKind::Other,
            },
            Problem::NotRegular(_) => LocalFileErrorKind::NotRegular,
            Problem::TooLarge(_) => LocalFileErrorKind::TooLarge,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The I/O error behind a [`NotFound`](LocalFileErrorKind::NotFound),
    /// [`PermissionDenied`](LocalFileErrorKind::PermissionDenied) or
    /// [`Other`](LocalFileErrorKind::Other) failure.
    pub fn io_error(&self) -> Option<&io::Error> {
        match &self.problem {
            Problem::Io(e) => Some(e),
            _ => None,
        }
    }

    /// This failure as an [`ErrorKind::Io`] error of `step`, with a hint for the refusals (a
    /// non-regular file, a file over the limit). Callers with a better hint for a missing or
    /// unreadable file add it to the result.
    pub fn into_error(self, step: Step) -> Error {
        let message = self.to_string();
        let hint = match &self.problem {
            Problem::NotRegular(_) => Some(format!(
                "give the path of a regular file: the {} is read whole, and pipes, devices and \
                 directories are refused because reading them could block or never end",
                self.what
            )),
            Problem::TooLarge(_) => Some(format!(
                "a {} is a few KiB; check that the path names the right file",
                self.what
            )),
            Problem::Io(_) => None,
        };
        let err = Error::new(step, ErrorKind::Io, message);
        match (hint, self.problem) {
            (Some(hint), _) => err.with_hint(hint),
            // The message already says "not found" / "permission denied"; other failures keep
            // the OS error as the source.
            (None, Problem::Io(e))
                if !matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
                ) =>
            {
                err.with_source(e)
            }
            (None, _) => err,
        }
    }

    /// The problem alone, for callers that name the file their own way: `not found`,
    /// `is a FIFO (named pipe), not a regular file`, `is larger than 1 MiB (1048576 bytes)`.
    pub fn problem(&self) -> String {
        match &self.problem {
            Problem::Io(e) => match e.kind() {
                io::ErrorKind::NotFound => "not found".to_owned(),
                io::ErrorKind::PermissionDenied => "not readable: permission denied".to_owned(),
                _ => "could not be read".to_owned(),
            },
            Problem::NotRegular(kind) => format!("is {kind}, not a regular file"),
            Problem::TooLarge(limit) => format!("is larger than {}", describe_limit(*limit)),
        }
    }

    fn new(what: &str, path: &Path, problem: Problem) -> Self {
        LocalFileError {
            what: what.to_owned(),
            path: path.to_owned(),
            problem,
        }
    }
}

impl fmt::Display for LocalFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} `{}`: {}",
            self.what,
            self.path.display(),
            self.problem()
        )
    }
}

impl std::error::Error for LocalFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.problem {
            Problem::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// `1 MiB (1048576 bytes)`, or `N bytes` for a limit that is not a whole number of MiB.
fn describe_limit(limit: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if limit >= MIB && limit.is_multiple_of(MIB) {
        format!("{} MiB ({limit} bytes)", limit / MIB)
    } else {
        format!("{limit} bytes")
    }
}

/// Opens `path` for reading, refusing anything but a regular file (`what` names the file in
/// errors, e.g. "credential configuration"). On Unix the open is non-blocking, so a FIFO is
/// refused at once instead of waiting for a writer.
///
/// For callers that stream a file of unbounded size themselves (e.g. `wif bq insert` reading
/// rows line by line); everything else uses [`read_bounded`].
pub fn open_regular(path: &Path, what: &str) -> Result<File, LocalFileError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // Reads of a regular file ignore O_NONBLOCK; it only keeps the open itself from waiting
        // for a FIFO's writer.
        options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    }
    let file = options
        .open(path)
        .map_err(|e| LocalFileError::new(what, path, Problem::Io(e)))?;
    // fstat of the descriptor just opened: the file checked is the file read.
    let file_type = file
        .metadata()
        .map_err(|e| LocalFileError::new(what, path, Problem::Io(e)))?
        .file_type();
    if !file_type.is_file() {
        return Err(LocalFileError::new(
            what,
            path,
            Problem::NotRegular(describe_file_type(&file_type)),
        ));
    }
    Ok(file)
}

/// Reads the regular file at `path` whole, refusing it when it holds more than `limit` bytes
/// and refusing anything that is not a regular file (see [`open_regular`]). `what` names the
/// file in errors ("credential configuration", "CA bundle").
pub fn read_bounded(path: &Path, limit: usize, what: &str) -> Result<Vec<u8>, LocalFileError> {
    let file = open_regular(path, what)?;
    let too_large = || LocalFileError::new(what, path, Problem::TooLarge(limit));
    let len = file
        .metadata()
        .map_err(|e| LocalFileError::new(what, path, Problem::Io(e)))?
        .len();
    if len > limit as u64 {
        return Err(too_large());
    }
    // The size can change between the fstat and the read (a writer appending): bound the read
    // itself, one byte past the limit to tell "exactly the limit" from "more".
    let mut content = Vec::with_capacity(usize::try_from(len).unwrap_or(0).min(limit));
    file.take(limit as u64 + 1)
        .read_to_end(&mut content)
        .map_err(|e| LocalFileError::new(what, path, Problem::Io(e)))?;
    if content.len() > limit {
        return Err(too_large());
    }
    Ok(content)
}

/// [`read_bounded`] for async code: the read runs on Tokio's blocking pool, as `tokio::fs`
/// does.
pub async fn read_bounded_async(
    path: PathBuf,
    limit: usize,
    what: &str,
) -> Result<Vec<u8>, LocalFileError> {
    let owned_what = what.to_owned();
    let owned_path = path.clone();
    match tokio::task::spawn_blocking(move || read_bounded(&owned_path, limit, &owned_what)).await {
        Ok(result) => result,
        Err(join) => Err(LocalFileError::new(
            what,
            &path,
            Problem::Io(io::Error::other(join.to_string())),
        )),
    }
}

#[cfg(unix)]
fn describe_file_type(file_type: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

#[cfg(not(unix))]
fn describe_file_type(file_type: &std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "wif-core-local-file-{}-{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn regular_files_are_read_up_to_the_limit() {
        let dir = temp_dir();
        let path = dir.join("config.json");
        std::fs::write(&path, b"0123456789").expect("write");
        assert_eq!(
            read_bounded(&path, 10, "configuration").expect("at the limit"),
            b"0123456789"
        );
        let err = read_bounded(&path, 9, "configuration").expect_err("over the limit");
        assert_eq!(err.kind(), LocalFileErrorKind::TooLarge);
        let text = err.to_string();
        assert!(
            text.contains("configuration `") && text.contains("config.json"),
            "{text}"
        );
        assert!(text.contains("larger than 9 bytes"), "{text}");
        let err = err.into_error(Step::Config);
        assert_eq!(err.kind(), ErrorKind::Io);
        assert!(err.hint().is_some_and(|h| h.contains("a few KiB")), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_files_and_directories_are_named() {
        let dir = temp_dir();
        let missing = read_bounded(&dir.join("nope"), 10, "CA bundle").expect_err("missing");
        assert_eq!(missing.kind(), LocalFileErrorKind::NotFound);
        assert!(missing.to_string().ends_with("`: not found"), "{missing}");
        let is_dir = read_bounded(&dir, 10, "CA bundle").expect_err("a directory");
        assert_eq!(is_dir.kind(), LocalFileErrorKind::NotRegular);
        assert!(
            is_dir
                .to_string()
                .ends_with("is a directory, not a regular file"),
            "{is_dir}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn limits_are_shown_in_mib_when_whole() {
        assert_eq!(
            describe_limit(MAX_LOCAL_FILE_BYTES),
            "1 MiB (1048576 bytes)"
        );
        assert_eq!(describe_limit(1000), "1000 bytes");
    }

    /// `/dev/zero` never ends: reading it whole grew `wif token --credentials /dev/zero` to
    /// gigabytes. It is refused by its type, before any read.
    #[cfg(unix)]
    #[test]
    fn devices_are_refused_without_reading() {
        let err = read_bounded(
            Path::new("/dev/zero"),
            MAX_LOCAL_FILE_BYTES,
            "configuration",
        )
        .expect_err("a device");
        assert_eq!(err.kind(), LocalFileErrorKind::NotRegular);
        assert!(err.to_string().contains("a character device"), "{err}");
    }

    /// A FIFO with no writer blocked a plain `open` forever; the non-blocking open returns and
    /// the type check refuses it. (Without the fix this test hangs.)
    #[cfg(unix)]
    #[test]
    fn fifos_are_refused_without_blocking() {
        let dir = temp_dir();
        let fifo = dir.join("pipe");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .expect("mkfifo");
        let err =
            read_bounded(&fifo, MAX_LOCAL_FILE_BYTES, "subject token file").expect_err("a FIFO");
        assert_eq!(err.kind(), LocalFileErrorKind::NotRegular);
        assert!(err.to_string().contains("a FIFO (named pipe)"), "{err}");
        let err = open_regular(&fifo, "rows file").expect_err("a FIFO");
        assert_eq!(err.kind(), LocalFileErrorKind::NotRegular);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn the_async_read_is_the_same_read() {
        let dir = temp_dir();
        let path = dir.join("token");
        std::fs::write(&path, b"abc").expect("write");
        assert_eq!(
            read_bounded_async(path.clone(), 3, "token file")
                .await
                .expect("read"),
            b"abc"
        );
        let err = read_bounded_async(path, 2, "token file")
            .await
            .expect_err("too large");
        assert_eq!(err.kind(), LocalFileErrorKind::TooLarge);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
