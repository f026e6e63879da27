//! The mTLS side of the X.509 source: the HTTP client that presents the workload certificate to
//! Google STS (`https://sts.mtls.{universe}/v1/token`) and IAM Credentials.
//!
//! The client certificate is not fixed when the client is built. A rustls client-certificate
//! resolver presents the certificate of the source's **latest load**, the same read the subject
//! token came from, so a rotated certificate is picked up by the next exchange and the TLS
//! certificate always matches the token's leaf. For that to hold on every exchange the client
//! keeps no idle connections and resumes no TLS sessions (a resumed session would carry the
//! identity of the old handshake); an exchange happens about once an hour, so the extra
//! handshake costs nothing that matters.

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;
use secrecy::ExposeSecret;
use wif_core::{Error, ErrorKind, Step};

use crate::X509Source;
use crate::material::parse_certificates;

/// Presents the source's current certificate; loads it on first use if nothing is loaded yet.
#[derive(Debug)]
pub(crate) struct ClientCertResolver {
    pub(crate) source: X509Source,
}

impl rustls::client::ResolvesClientCert for ClientCertResolver {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        if let Some(current) = self.source.current() {
            return Some(current.certified.clone());
        }
        // Only a client used before any subject token was produced gets here (the STS exchange
        // always asks for the subject token first).
        match self.source.reload() {
            Ok(m) => Some(m.certified.clone()),
            Err(e) => {
                tracing::warn!(error = %e, "no client certificate to present in the mTLS handshake");
                None
            }
        }
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The rustls configuration of the mTLS client: wif-core's crypto provider and trust anchors
/// (webpki roots plus `extra_roots`), the rotating client certificate, no session resumption,
/// HTTP/1.1.
pub(crate) fn client_config(
    source: &X509Source,
    extra_roots: &[CertificateDer<'static>],
) -> Result<rustls::ClientConfig, Error> {
    let mut config = wif_core::http::tls_config_builder()?
        .with_root_certificates(wif_core::http::root_store(extra_roots)?)
        .with_client_cert_resolver(Arc::new(ClientCertResolver {
            source: source.clone(),
        }));
    config.resumption = rustls::client::Resumption::disabled();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The mTLS client builder: [`wif_core::http::client_builder`] (timeouts, no redirects,
/// user agent) with the rustls configuration above and no idle connections kept.
pub(crate) fn client_builder(
    source: &X509Source,
    extra_roots: &[CertificateDer<'static>],
) -> Result<reqwest::ClientBuilder, Error> {
    let config = client_config(source, extra_roots)?;
    Ok(wif_core::http::client_builder()
        // Replaces client_builder()'s TLS configuration: the last one given wins.
        .tls_backend_preconfigured(config)
        .pool_max_idle_per_host(0))
}

/// A `reqwest::Identity` of the source's current files.
pub(crate) fn identity(source: &X509Source) -> Result<reqwest::Identity, Error> {
    let material = source.reload()?;
    reqwest::Identity::from_pem(material.identity_pem.expose_secret()).map_err(|_| {
        // reqwest's message is about the PEM; it is dropped anyway, in case it quotes the key.
        Error::new(
            Step::Source,
            ErrorKind::InvalidConfig,
            format!(
                "could not make a TLS identity of `{}` and `{}`",
                material.paths.cert_path.display(),
                material.paths.key_path.display()
            ),
        )
    })
}

/// Parses a PEM bundle of root certificates (for private CAs and test servers).
///
/// ```
/// let roots = wif_source_x509::parse_root_certificates(b"")?;
/// assert!(roots.is_empty());
/// # Ok::<(), wif_core::Error>(())
/// ```
pub fn parse_root_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    parse_certificates(pem).map_err(|problem| Error::config("root_certificates", problem))
}
