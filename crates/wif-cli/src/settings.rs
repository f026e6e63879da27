//! The chain's settings from the command line: `--credentials` (else Application Default
//! Credentials), `--ca-certs`, `--deadline` and `--scopes`, handed to the facade's `CredentialsBuilder`. Every
//! command that runs the chain (`token`, `subject-token`, `explain`, `gcs`, `bq`) starts here, so
//! they all resolve the same plan; nothing here decides a value of its own.

use std::sync::Arc;

use wif::{Credentials, CredentialsBuilder, Environment, Error};

use crate::Common;

/// A builder with the configuration and `--ca-certs` of `common`, reading the environment
/// through `env`.
pub(crate) fn builder(
    common: &Common,
    env: Arc<dyn Environment>,
) -> Result<CredentialsBuilder, Error> {
    let builder = Credentials::builder().environment(env);
    let builder = match &common.credentials {
        Some(path) => builder.config_file(path)?,
        None => builder.adc()?,
    };
    let builder = match common.deadline {
        Some(deadline) => builder.chain_deadline(deadline),
        None => builder,
    };
    match &common.ca_certs {
        // The builder parses the bundle and refuses one without a certificate.
        Some(path) => Ok(builder.add_root_certificates_pem(crate::read_ca_certs(path)?)),
        None => Ok(builder),
    }
}

/// `--scopes "a, b,"` means a and b: stray spaces and commas are not scopes; none at all leaves
/// the default.
pub(crate) fn with_scopes(builder: CredentialsBuilder, scopes: &[String]) -> CredentialsBuilder {
    let scopes: Vec<&str> = scopes
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if scopes.is_empty() {
        builder
    } else {
        builder.scopes(scopes)
    }
}

/// The plan's warnings on stderr: a user sees them without `RUST_LOG`.
pub(crate) fn print_warnings(warnings: &[wif::plan::Warning]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}
