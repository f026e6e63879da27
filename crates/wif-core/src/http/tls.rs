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
//!   no ML-KEM). Why ring is the default: `docs/architecture.md`, section "TLS". Either way
//!   X25519 is offered before P-384, which rustls' own defaults put first and which costs ring
//!   several times the CPU of a handshake (see `p384_last`).
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

/// aws-lc-rs with rustls' defaults: X25519MLKEM768 offered first, then the classical groups,
/// [X25519 before P-384](p384_last).
#[cfg(feature = "aws-lc-rs")]
fn built_in_provider() -> Arc<CryptoProvider> {
    Arc::new(p384_last(rustls::crypto::aws_lc_rs::default_provider()))
}

/// ring. rustls (from 0.23.48) marks it deprecated because ring has no post-quantum key
/// exchange; it stays the default on purpose (no C library beyond ring's, a smaller binary and
/// `wif token` footprint; the secrets on these connections are tokens that expire within the
/// hour), and the `aws-lc-rs` feature is the way to post-quantum key exchange. `allow`, not
/// `expect`: the build stays warning-free whichever 0.23 release a downstream lock resolves.
/// Its key exchange: X25519, then P-256, then P-384 ([`p384_last`]).
#[cfg(not(feature = "aws-lc-rs"))]
fn built_in_provider() -> Arc<CryptoProvider> {
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    Arc::new(p384_last(provider))
}

/// `provider` with secp384r1 moved behind every other key exchange group, the others keeping
/// their order.
///
/// rustls 0.23.48 put secp384r1 first in both built-in providers' defaults, so a client offers
/// (and sends its key share for) P-384 and every server that supports it takes it. With ring
/// that is expensive: its P-384 is generic big-number code, while X25519 and P-256 have
/// optimized implementations. Measured in-process on a 2-core AMD EPYC (ring 0.17, medians of
/// 200 full TLS 1.3 handshakes): the client's part 639 µs with P-384 against 170 µs with X25519,
/// and a ring server's 1207 µs against 100 µs. A cold chain makes two handshakes, one on the
/// critical path, and a small Lambda has a fraction of a core. Google's front ends accept X25519
/// (and X25519MLKEM768, which aws-lc-rs offers first). Moving P-384 last rather than dropping it
/// keeps it available to a server that supports nothing else.
///
/// An application's own provider, installed process-wide, is used as it is.
fn p384_last(mut provider: CryptoProvider) -> CryptoProvider {
    // A stable sort: only P-384 moves.
    provider
        .kx_groups
        .sort_by_key(|group| group.name() == rustls::NamedGroup::secp384r1);
    provider
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

#[cfg(test)]
mod tests {
    use rustls::NamedGroup;

    use super::*;

    fn names(provider: &CryptoProvider) -> Vec<NamedGroup> {
        provider.kx_groups.iter().map(|g| g.name()).collect()
    }

    #[test]
    fn the_built_in_provider_offers_x25519_before_p384_and_keeps_every_group() {
        let ours = names(&built_in_provider());
        let x25519 = ours.iter().position(|g| *g == NamedGroup::X25519);
        let p384 = ours.iter().position(|g| *g == NamedGroup::secp384r1);
        assert!(
            matches!((x25519, p384), (Some(x), Some(p)) if x < p),
            "{ours:?}"
        );
        assert_eq!(p384, Some(ours.len() - 1), "{ours:?}");
        if cfg!(feature = "aws-lc-rs") {
            assert_eq!(ours[0], NamedGroup::X25519MLKEM768, "{ours:?}");
        } else {
            assert_eq!(ours[0], NamedGroup::X25519, "{ours:?}");
        }
    }

    #[test]
    fn p384_last_moves_only_p384() {
        #[allow(deprecated)]
        let mut provider = rustls::crypto::ring::default_provider();
        provider.kx_groups = vec![
            rustls::crypto::ring::kx_group::SECP384R1,
            rustls::crypto::ring::kx_group::SECP256R1,
            rustls::crypto::ring::kx_group::X25519,
        ];
        assert_eq!(
            names(&p384_last(provider)),
            [
                NamedGroup::secp256r1,
                NamedGroup::X25519,
                NamedGroup::secp384r1
            ]
        );
    }
}
