//! # wif-source-file — subject tokens read from a file
//!
//! The chain's source step ([`Step::Source`], a [`SubjectTokenSource`]) for Google's identity-pool
//! `credential_source` of the file shape:
//!
//! ```json
//! { "file": "/var/run/secrets/tokens/gcp-token", "format": { "type": "text" } }
//! ```
//!
//! The platform writes an OIDC or SAML token into a file (a Kubernetes projected service account
//! token, a GitHub Actions OIDC step, a sidecar) and rotates it there; [`FileSource`] reads it
//! afresh for every STS exchange. The content is parsed by [`TokenFormat`] (`text`, or `json`
//! with `subject_token_field_name`), trimmed of surrounding whitespace as Go's x/oauth2 does.
//!
//! Files larger than [`MAX_TOKEN_FILE_BYTES`] are refused rather than buffered: a subject token is
//! a few KiB, so a bigger file is the wrong file. So is anything but a regular file: a FIFO
//! would block the read until some writer appears, a device may never end; both are refused
//! before reading (see [`wif_core::local_file`]).
//!
//! ```no_run
//! use wif_core::{SourceContext, SubjectTokenSource, TokenFormat};
//! use wif_source_file::FileSource;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wif_core::Error> {
//! let source = FileSource::new("/var/run/secrets/tokens/gcp-token", TokenFormat::Text);
//! let ctx = SourceContext::new(
//!     "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/k8s",
//!     "urn:ietf:params:oauth:token-type:jwt",
//! );
//! let token = source.subject_token(&ctx).await?;
//! println!("read a subject token of {} bytes", token.len());
//! # Ok(()) }
//! ```
//!
//! The shape and how Google's Python and Go libraries read it: `docs/protocol.md` in the
//! repository, sections `#credential-source-shapes` and `#file-and-url-sources`.

use std::path::{Path, PathBuf};

use tracing::Instrument;
use wif_core::local_file::{self, LocalFileError, LocalFileErrorKind};
use wif_core::{
    Error, ErrorKind, SourceContext, Step, SubjectToken, SubjectTokenSource, TokenFormat,
    async_trait,
};

/// Largest token file read (1 MiB, the same bound as Go's x/oauth2); larger files are refused.
pub const MAX_TOKEN_FILE_BYTES: usize = local_file::MAX_LOCAL_FILE_BYTES;

/// Why a token file is usually missing or unreadable: someone else writes it.
const PLATFORM_HINT: &str = "this file is written by the platform that issues the token \
(e.g. a Kubernetes projected service account token volume, or a GitHub Actions OIDC step); \
check that it is mounted at this path before the workload starts and that \
`credential_source.file` names it";

/// A subject token read from a file, re-read on every call because the platform rotates it.
///
/// Holds only the path and format, so `Debug` shows no token material.
#[derive(Clone, Debug)]
pub struct FileSource {
    path: PathBuf,
    format: TokenFormat,
}

impl FileSource {
    /// A source reading `path` and extracting the token according to `format`.
    ///
    /// Nothing is read until [`SubjectTokenSource::subject_token`] is called: the file may not
    /// exist yet when the credentials are built.
    pub fn new(path: impl Into<PathBuf>, format: TokenFormat) -> Self {
        FileSource {
            path: path.into(),
            format,
        }
    }

    /// The file the token is read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The format the token is extracted with.
    pub fn format(&self) -> &TokenFormat {
        &self.format
    }

    /// Reads at most [`MAX_TOKEN_FILE_BYTES`] of the file, mapping every failure to a
    /// [`Step::Source`] error that names the path (never the content). Anything but a regular
    /// file — a FIFO, which would block the read until a writer shows up, or a device — is
    /// refused before reading.
    async fn read(&self) -> Result<Vec<u8>, Error> {
        let content = local_file::read_bounded_async(
            self.path.clone(),
            MAX_TOKEN_FILE_BYTES,
            "subject token file",
        )
        .await
        .map_err(|e| read_error(&self.path, e))?;
        tracing::debug!(path = %self.path.display(), bytes = content.len(), "read subject token file");
        Ok(content)
    }
}

#[async_trait]
impl SubjectTokenSource for FileSource {
    async fn subject_token(&self, _ctx: &SourceContext) -> Result<SubjectToken, Error> {
        let span = tracing::debug_span!("file_subject_token", path = %self.path.display());
        async {
            let content = self.read().await?;
            self.format
                .extract(&content, &self.path.display().to_string())
        }
        .instrument(span)
        .await
    }

    fn kind(&self) -> &'static str {
        "file"
    }
}

fn read_error(path: &Path, e: LocalFileError) -> Error {
    let shown = path.display();
    match e.kind() {
        LocalFileErrorKind::NotFound => Error::new(
            Step::Source,
            ErrorKind::Io,
            format!("subject token file `{shown}` not found"),
        )
        .with_hint(PLATFORM_HINT),
        LocalFileErrorKind::PermissionDenied => Error::new(
            Step::Source,
            ErrorKind::Io,
            format!("subject token file `{shown}` is not readable: permission denied"),
        )
        .with_hint(
            "the workload's user must be allowed to read the token file; for a Kubernetes \
             projected token, set the pod's `securityContext.fsGroup` or the volume's `defaultMode`",
        ),
        LocalFileErrorKind::NotRegular => Error::new(Step::Source, ErrorKind::Io, e.to_string())
            .with_hint(
                "`credential_source.file` must name the token file itself: a regular file, not \
                 its directory, a pipe or a device",
            ),
        LocalFileErrorKind::TooLarge => too_large(path),
        _ => Error::new(
            Step::Source,
            ErrorKind::Io,
            format!("could not read subject token file `{shown}`"),
        )
        .with_source(e),
    }
}

fn too_large(path: &Path) -> Error {
    Error::new(
        Step::Source,
        ErrorKind::InvalidToken,
        format!(
            "subject token file `{}` is larger than {MAX_TOKEN_FILE_BYTES} bytes; refusing to read it",
            path.display()
        ),
    )
    .with_hint("a subject token is a few KiB at most: check that `credential_source.file` names the token file")
}

#[cfg(test)]
mod tests;
