//! Bounded reads of the small local files this source uses (certificate configuration,
//! certificates, key, trust chain), and their errors.
//!
//! The reads are synchronous on purpose: the files are a few KiB, and the TLS client-certificate
//! resolver, which may have to load them, is called synchronously inside the handshake.

use std::path::Path;

use wif_core::local_file::{self, LocalFileError, LocalFileErrorKind};
use wif_core::{Error, ErrorKind, Step};

/// Largest file read (1 MiB): certificates and keys are a few KiB, so a bigger file is the
/// wrong file.
pub const MAX_FILE_BYTES: usize = local_file::MAX_LOCAL_FILE_BYTES;

/// Reads at most [`MAX_FILE_BYTES`] of `path`, refusing a larger file and anything but a
/// regular file (a FIFO would block the TLS handshake that loads it; a device never ends).
pub(crate) fn read_bounded(path: &Path) -> Result<Vec<u8>, LocalFileError> {
    local_file::read_bounded(path, MAX_FILE_BYTES, "file")
}

/// Maps a read failure of `path` (described as `what`) to a [`Step::Source`] error naming it.
/// The file's content is never part of the message.
pub(crate) fn io_error(what: &str, path: &Path, e: LocalFileError) -> Error {
    let shown = path.display();
    let problem = e.problem();
    // `what` already names the path for the certificate configuration itself.
    let message = if what.contains(&shown.to_string()) {
        format!("{what}: {problem}")
    } else {
        format!("{what} `{shown}`: {problem}")
    };
    let err = Error::new(Step::Source, ErrorKind::Io, message);
    match e.kind() {
        LocalFileErrorKind::Other => err.with_source(e),
        _ => err,
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// A FIFO as `cert_path` or `key_path` blocked the read — inside the TLS handshake — until
    /// a writer came; now it is refused by type at once. (Without the fix this test hangs.)
    #[test]
    fn fifos_and_devices_are_refused_at_once() {
        let dir = tempfile::tempdir().expect("dir");
        let fifo = wif_core::testing::fifo_at(dir.path().join("cert.pem"));
        for (path, want) in [
            (fifo.as_path(), "is a FIFO (named pipe), not a regular file"),
            (
                Path::new("/dev/zero"),
                "is a character device, not a regular file",
            ),
        ] {
            let e = read_bounded(path).expect_err(want);
            let err = io_error("`cert_path` certificate file", path, e);
            assert_eq!(err.step(), Step::Source);
            assert!(
                err.to_string().contains(&format!(
                    "`cert_path` certificate file `{}`: {want}",
                    path.display()
                )),
                "{err}"
            );
        }
    }
}
