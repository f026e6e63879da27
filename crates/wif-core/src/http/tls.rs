//! The TLS of every HTTP client wif builds: which rustls crypto provider does the cryptography,
//! and which certificate authorities are trusted.
//!
//! reqwest is built without a crypto provider of its own (its `rustls` feature would build
//! aws-lc-sys, a C library), so each client is handed a complete rustls configuration from here:
//!
//! * **Provider**: the process-wide default if the application installed one
//!   ([`CryptoProvider::install_default`], e.g. a FIPS provider); otherwise aws-lc-rs, which
//!   offers the post-quantum hybrid key exchange X25519MLKEM768 first, when wif-core's
//!   `aws-lc-rs` feature is on; otherwise ring, whose key exchange is classical only (ring has
//!   no ML-KEM). Why ring is the default: `docs/architecture.md`, section "TLS".
//! * **Trust**: the Mozilla root set compiled into the binary (webpki-roots), the same on every
//!   machine whatever its CA bundle, plus the caller's extra roots (a private CA in front of
//!   Google, a test server). The operating system's trust store is not read.
//! * **Protocol**: TLS 1.2 and 1.3, HTTP/1.1 (the only HTTP version wif's clients speak).

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

pub use rustls::pki_types::CertificateDer;

use crate::{Error, ErrorKind, Step};

/// The crypto provider of wif's TLS connections: the application's process-wide default if it
/// installed one, else the one this build carries (aws-lc-rs with the `aws-lc-rs` feature,
/// ring without).
pub fn crypto_provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(built_in_provider)
}

/// aws-lc-rs with rustls' defaults: X25519MLKEM768 offered first, classical groups after it.
#[cfg(feature = "aws-lc-rs")]
fn built_in_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// ring. rustls (from 0.23.48) marks it deprecated because ring has no post-quantum key
/// exchange; it stays the default on purpose (no C library beyond ring's, a smaller binary and
/// `wif token` footprint; the secrets on these connections are tokens that expire within the
/// hour), and the `aws-lc-rs` feature is the way to post-quantum key exchange. `allow`, not
/// `expect`: the build stays warning-free whichever 0.23 release a downstream lock resolves.
#[cfg(not(feature = "aws-lc-rs"))]
fn built_in_provider() -> Arc<CryptoProvider> {
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    Arc::new(provider)
}

/// The trust anchors: the webpki-roots set plus `extra_roots`.
///
/// ```
/// let roots = wif_core::http::root_store(&[])?;
/// assert!(!roots.is_empty());
/// # Ok::<(), wif_core::Error>(())
/// ```
pub fn root_store(extra_roots: &[CertificateDer<'static>]) -> Result<rustls::RootCertStore, Error> {
    let mut roots =
        rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for (i, root) in extra_roots.iter().enumerate() {
        roots.add(root.clone()).map_err(|e| {
            Error::config(
                "root_certificates",
                format!("certificate {} is not a usable trust anchor: {e}", i + 1),
            )
        })?;
    }
    Ok(roots)
}

/// The first steps of every client configuration: [`crypto_provider`], TLS 1.2 and 1.3. The
/// caller adds the trust anchors and the client authentication (the X.509 source presents its
/// certificate).
pub fn tls_config_builder()
-> Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier>, Error> {
    rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| {
            // Only a process-wide provider the application installed can get here: the
            // built-in ones support both versions.
            Error::new(Step::Config, ErrorKind::Internal, "could not configure TLS")
                .with_source(e)
                .with_hint(
                    "the rustls crypto provider installed as the process default offers no \
                     usable cipher suite or key exchange for TLS 1.2 or 1.3",
                )
        })
}

/// The configuration of a client that presents no certificate: [`tls_config_builder`],
/// [`root_store`] with `extra_roots`, HTTP/1.1.
pub fn tls_config(extra_roots: &[CertificateDer<'static>]) -> Result<rustls::ClientConfig, Error> {
    let mut config = tls_config_builder()?
        .with_root_certificates(root_store(extra_roots)?)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
