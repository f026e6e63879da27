//! The catalogue of known causes: the ones the facade recognises (finding and reading the
//! configuration), and [`catalogue`], every cause of every layer, each with its section of
//! `docs/troubleshooting.md`. A cause ([`Cause`](wif_core::Cause)) reaches your code on the error
//! ([`Error::known_cause`](crate::Error::known_cause)); compare it with these constants.
//!
//! ```
//! use wif::{Credentials, MapEnvironment};
//! use std::sync::Arc;
//!
//! let err = Credentials::builder()
//!     .environment(Arc::new(MapEnvironment::new()))
//!     .adc()
//!     .unwrap_err();
//! assert_eq!(err.known_cause(), Some(&wif::causes::CREDENTIALS_NOT_FOUND));
//! ```

wif_core::causes! {
    /// Application Default Credentials found no configuration.
    CREDENTIALS_NOT_FOUND = ("credentials_not_found", "no credential configuration found", "create a configuration with `gcloud iam workload-identity-pools create-cred-config … --output-file=wif.json`, then set GOOGLE_APPLICATION_CREDENTIALS=wif.json (or pass --credentials wif.json to `wif`)");
    /// The configuration was refused before any network call (the error names the field).
    INVALID_CONFIG = ("invalid_config", "the credential configuration is invalid", "fix the named field, or regenerate the file with `gcloud iam workload-identity-pools create-cred-config`");
    /// The configuration selects something this build cannot do.
    UNSUPPORTED_SOURCE = ("unsupported_source", "this credential source is not supported by this build", "use a file, URL, AWS, executable or certificate source, or plug your own SubjectTokenSource into Credentials::builder()");
}

/// Every cause any layer of the chain names: the shared ones of `wif_core`, then the AWS
/// source's, STS's, impersonation's and the facade's. Ids are unique.
pub fn catalogue() -> Vec<&'static wif_core::Cause> {
    [
        wif_core::causes::ALL,
        wif_source_aws::causes::ALL,
        wif_sts::causes::ALL,
        wif_impersonate::causes::ALL,
        ALL,
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_snake_case_and_summaries_lower_case() {
        let all = catalogue();
        let mut ids: Vec<&str> = all.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), before, "duplicate ids");
        for c in all {
            assert!(
                c.id.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                c.id
            );
            assert!(!c.summary.is_empty() && !c.fix.is_empty(), "{}", c.id);
        }
    }
}
