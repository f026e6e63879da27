//! An untrusted configuration as text, before it is parsed: its size, its duplicate keys, and
//! reading it from a file without unbounded reads or blocking.

use std::io::Read as _;
use std::path::Path;

use wif_core::{Error, ErrorKind, Step};

use super::{Rule, refuse};

/// The largest untrusted configuration accepted, in bytes (1 MiB, as for token files). gcloud's
/// are under 2 KiB; the cap keeps a hostile one from costing memory and parse time.
pub const MAX_UNTRUSTED_CONFIG_BYTES: usize = 1024 * 1024;

/// What the trust policy checks on the text: the size cap first (before anything reads the
/// text), then that no object holds a key twice.
pub(crate) fn check_text(json: &str) -> Result<(), Error> {
    if json.len() > MAX_UNTRUSTED_CONFIG_BYTES {
        return Err(too_large());
    }
    match crate::config::first_duplicate_key(json) {
        None => Ok(()),
        Some(path) => Err(refuse(
            &path,
            Rule::UniqueKeys,
            "appears twice in one object; parsers disagree on which value wins",
        )),
    }
}

/// Reads an untrusted configuration file: regular files only (a FIFO or a device would block or
/// never end), at most [`MAX_UNTRUSTED_CONFIG_BYTES`] read, UTF-8.
///
/// The file type is checked before opening, so a FIFO is never opened; a file swapped for one in
/// between is the environment's doing, which the policy trusts.
pub(crate) fn read_untrusted_file(path: &Path) -> Result<String, Error> {
    let shown = path.display();
    let io_error = |e: std::io::Error| {
        Error::new(
            Step::Config,
            ErrorKind::Io,
            format!("could not read credential configuration {shown}"),
        )
        .with_source(e)
    };
    let metadata = std::fs::metadata(path).map_err(io_error)?;
    if !metadata.is_file() {
        return Err(Error::new(
            Step::Config,
            ErrorKind::InvalidConfig,
            format!(
                "credential configuration {shown} is not a regular file (a directory, FIFO or device)"
            ),
        ));
    }
    if metadata.len() > MAX_UNTRUSTED_CONFIG_BYTES as u64 {
        return Err(too_large().context(shown));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| {
            f.take(MAX_UNTRUSTED_CONFIG_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
        })
        .map_err(io_error)?;
    // The file may have grown since it was measured.
    if bytes.len() > MAX_UNTRUSTED_CONFIG_BYTES {
        return Err(too_large().context(shown));
    }
    String::from_utf8(bytes).map_err(|_| {
        Error::new(
            Step::Config,
            ErrorKind::InvalidConfig,
            format!("credential configuration {shown} is not UTF-8 text"),
        )
    })
}

fn too_large() -> Error {
    Error::new(
        Step::Config,
        ErrorKind::InvalidConfig,
        format!(
            "refused by the trust policy (rule `{}`): the credential configuration is larger than {MAX_UNTRUSTED_CONFIG_BYTES} bytes (1 MiB)",
            Rule::SizeLimit
        ),
    )
    .with_hint(Rule::SizeLimit.hint())
}
