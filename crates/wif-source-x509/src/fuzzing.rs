//! Entry points for the coverage-guided fuzz targets in the repository's `fuzz/` directory: the
//! local files of the X.509 source read from bytes, without touching the file system — the
//! certificate configuration (`certificate_config.json`) and the PEM private key. (PEM
//! certificates, of `cert_path`, the trust chain and CA bundles, go through the public
//! [`parse_root_certificates`](crate::parse_root_certificates).) Only with the `fuzzing` feature
//! (which `fuzz/Cargo.toml` turns on) and in this crate's own tests; not part of the API: hidden
//! from the documentation, and free to change.

use std::path::PathBuf;

use wif_core::Error;

use crate::{ConfigOrigin, ResolvedConfig, WorkloadCertPaths};

/// Where the fuzzed certificate configuration is said to come from, in its errors.
pub const CONFIG_PATH: &str = "/fuzz/certificate_config.json";

/// Reads `cert_configs.workload` of a certificate configuration's content.
pub fn certificate_config(bytes: &[u8]) -> Result<WorkloadCertPaths, Error> {
    let config = ResolvedConfig {
        path: PathBuf::from(CONFIG_PATH),
        origin: ConfigOrigin::CertificateConfigEnv,
    };
    crate::config::parse_workload_paths(bytes, &config)
}

/// Reads a `key_path` file's content as the source does; the error is the problem's
/// description (which names the file's parts, never quotes them).
pub fn private_key(pem: &[u8]) -> Result<(), String> {
    crate::material::parse_private_key(pem).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_points_read_what_the_files_would_hold() {
        let paths = certificate_config(
            br#"{"cert_configs": {"workload": {"cert_path": "/c.pem", "key_path": "/k.pem"}}}"#,
        )
        .expect("a workload section");
        assert_eq!(paths.key_path, PathBuf::from("/k.pem"));
        let err = certificate_config(b"{\"cert_configs\": 1}").expect_err("not an object");
        assert!(err.to_string().contains(CONFIG_PATH), "{err}");
        let problem = private_key(b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n").expect_err("no END");
        assert_eq!(problem, "a PEM section has no END line");
    }
}
