//! Bounded reads of the small local files this source uses (certificate configuration,
//! certificates, key, trust chain), and their errors.
//!
//! The reads are synchronous on purpose: the files are a few KiB, and the TLS client-certificate
//! resolver, which may have to load them, is called synchronously inside the handshake.

use std::io::{self, Read};
use std::path::Path;

use wif_core::{Error, ErrorKind, Step};

/// Largest file read (1 MiB): certificates and keys are a few KiB, so a bigger file is the
/// wrong file.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// Reads at most [`MAX_FILE_BYTES`] of `path`; a larger file is an error (`InvalidData`).
pub(crate) fn read_bounded(path: &Path) -> io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let metadata = file.metadata()?;
    if metadata.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory",
        ));
    }
    let mut content = Vec::new();
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut content)?;
    if content.len() > MAX_FILE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {MAX_FILE_BYTES} bytes"),
        ));
    }
    Ok(content)
}

/// Maps a read failure of `path` (described as `what`) to a [`Step::Source`] error naming it.
/// The file's content is never part of the message.
pub(crate) fn io_error(what: &str, path: &Path, e: io::Error) -> Error {
    let shown = path.display();
    let problem = match e.kind() {
        io::ErrorKind::NotFound => "not found".to_owned(),
        io::ErrorKind::PermissionDenied => "not readable: permission denied".to_owned(),
        io::ErrorKind::IsADirectory => "is a directory, not a file".to_owned(),
        io::ErrorKind::InvalidData => format!("is larger than {MAX_FILE_BYTES} bytes"),
        _ => "could not be read".to_owned(),
    };
    // `what` already names the path for the certificate configuration itself.
    let message = if what.contains(&shown.to_string()) {
        format!("{what}: {problem}")
    } else {
        format!("{what} `{shown}`: {problem}")
    };
    let err = Error::new(Step::Source, ErrorKind::Io, message);
    match e.kind() {
        io::ErrorKind::NotFound
        | io::ErrorKind::PermissionDenied
        | io::ErrorKind::IsADirectory
        | io::ErrorKind::InvalidData => err,
        _ => err.with_source(e),
    }
}
