//! Application Default Credentials discovery: which credential file to use when the caller
//! names none (`docs/protocol.md#application-default-credentials`; Python `google.auth._default` and `_cloud_sdk`).
//!
//! Order: `GOOGLE_APPLICATION_CREDENTIALS` (an empty value counts as unset), then gcloud's
//! well-known file `application_default_credentials.json` in gcloud's configuration directory:
//! `$CLOUDSDK_CONFIG` if set, else `$HOME/.config/gcloud` (`%APPDATA%\gcloud` on Windows). The
//! metadata-server fallbacks of other libraries (GAE, GCE) are not part of wif-rs.
//!
//! Environment variables come through an injected [`Environment`], so tests never touch the
//! process environment.

use std::path::{Path, PathBuf};

use wif_core::local_file::{self, MAX_LOCAL_FILE_BYTES};
use wif_core::{Environment, Error, ErrorKind, Step, gcloud_config_dir};

/// The variable that names a credential file explicitly.
pub const CREDENTIALS_ENV_VAR: &str = "GOOGLE_APPLICATION_CREDENTIALS";
/// The variable that overrides gcloud's configuration directory.
pub const CLOUDSDK_CONFIG_ENV_VAR: &str = "CLOUDSDK_CONFIG";
/// The file name gcloud writes Application Default Credentials to.
pub const WELL_KNOWN_FILE_NAME: &str = "application_default_credentials.json";

/// Finds the credential file Application Default Credentials point at.
///
/// * `GOOGLE_APPLICATION_CREDENTIALS` set (non-empty): that path, which must be an existing
///   file; otherwise a configuration error naming the variable.
/// * Else gcloud's well-known file, if it exists.
/// * Else `Ok(None)`.
///
/// ```
/// use wif::MapEnvironment;
///
/// let env = MapEnvironment::new().with("HOME", "/nonexistent-home");
/// assert_eq!(wif::adc::find_credentials_file(&env)?, None);
/// # Ok::<(), wif::Error>(())
/// ```
pub fn find_credentials_file(env: &dyn Environment) -> Result<Option<PathBuf>, Error> {
    find(env, cfg!(windows))
}

/// gcloud's well-known ADC file path, whether or not it exists (`None` when no home or config
/// directory can be determined).
pub fn well_known_file(env: &dyn Environment) -> Option<PathBuf> {
    gcloud_config_dir(env, cfg!(windows)).map(|dir| dir.join(WELL_KNOWN_FILE_NAME))
}

fn find(env: &dyn Environment, windows: bool) -> Result<Option<PathBuf>, Error> {
    if let Some(explicit) = env.non_empty_var(CREDENTIALS_ENV_VAR) {
        let path = PathBuf::from(explicit);
        return match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => Ok(Some(path)),
            Ok(_) => Err(Error::config(
                CREDENTIALS_ENV_VAR,
                format!("{} is not a file", path.display()),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::config(
                CREDENTIALS_ENV_VAR,
                format!("{} does not exist", path.display()),
            )
            .with_hint(
                "set it to the configuration written by `gcloud iam workload-identity-pools create-cred-config`, or unset it",
            )),
            Err(e) => Err(unreadable(&path, e).context(CREDENTIALS_ENV_VAR)),
        };
    }
    let Some(path) = gcloud_config_dir(env, windows).map(|d| d.join(WELL_KNOWN_FILE_NAME)) else {
        return Ok(None);
    };
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_file() => Ok(Some(path)),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        // Permission problems are reported rather than skipped: silently falling through would
        // leave the user guessing why their gcloud credentials are not used.
        Err(e) => Err(unreadable(&path, e)),
    }
}

fn unreadable(path: &Path, e: std::io::Error) -> Error {
    Error::new(
        Step::Config,
        ErrorKind::Io,
        format!("cannot access {}", path.display()),
    )
    .with_source(e)
}

/// Reads a credential configuration file as text: a regular file of at most
/// [`MAX_LOCAL_FILE_BYTES`] (1 MiB). A pipe or device (`/dev/zero`, a FIFO) or a larger file is
/// refused before anything is read, with a [`Step::Config`] error naming the path.
///
/// [`CredentialsBuilder::config_file`](crate::CredentialsBuilder::config_file),
/// [`Credentials::from_file`](crate::Credentials::from_file), its untrusted variant and ADC all
/// read through it.
pub fn read_credentials_file(path: &Path) -> Result<String, Error> {
    let bytes = local_file::read_bounded(path, MAX_LOCAL_FILE_BYTES, "credential configuration")
        .map_err(|e| e.into_error(Step::Config))?;
    String::from_utf8(bytes).map_err(|_| {
        Error::config(
            "credentials",
            format!(
                "credential configuration `{}` is not UTF-8 text",
                path.display()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use wif_core::MapEnvironment;

    use super::*;

    #[test]
    fn windows_uses_appdata() {
        let dir = tempfile::tempdir().unwrap();
        let gcloud = dir.path().join("gcloud");
        std::fs::create_dir(&gcloud).unwrap();
        std::fs::write(gcloud.join(WELL_KNOWN_FILE_NAME), "{}").unwrap();
        let env = MapEnvironment::new()
            .with("APPDATA", dir.path().to_string_lossy())
            .with("HOME", "/nonexistent");
        assert_eq!(
            find(&env, true).unwrap(),
            Some(gcloud.join(WELL_KNOWN_FILE_NAME))
        );
        // Where APPDATA and friends are unset: wif_core::gcloud_config_dir's tests.
    }

    #[test]
    fn credential_files_are_bounded_and_must_be_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.json");
        std::fs::write(&big, vec![b' '; MAX_LOCAL_FILE_BYTES + 1]).unwrap();
        let err = read_credentials_file(&big).unwrap_err();
        assert_eq!(err.step(), Step::Config);
        assert!(err.to_string().contains("larger than 1 MiB"), "{err}");
        let err = read_credentials_file(dir.path()).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let latin1 = dir.path().join("latin1.json");
        std::fs::write(&latin1, b"{\"type\": \"\xe9\"}").unwrap();
        assert!(read_credentials_file(&latin1).unwrap_err().is_config());
    }
}
