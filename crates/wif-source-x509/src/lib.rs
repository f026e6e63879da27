//! # wif-source-x509 — X.509 certificates as the workload's identity
//!
//! The chain's source step ([`Step::Source`](wif_core::Step::Source), a [`SubjectTokenSource`]) for
//! Google's identity-pool `credential_source` of the certificate shape, and the mTLS client the
//! exchange then needs:
//!
//! ```json
//! { "certificate": { "use_default_certificate_config": true,
//!                    "trust_chain_path": "/etc/workload/chain.pem" } }
//! ```
//!
//! The workload holds a certificate issued by a CA that the workload identity pool provider
//! trusts. A *certificate configuration* (`certificate_config.json`, found by the lookup in
//! [`CertificateConfigLocation`]) names the certificate and its key:
//!
//! ```json
//! { "cert_configs": { "workload": { "cert_path": "/etc/workload/cert.pem",
//!                                   "key_path": "/etc/workload/key.pem" } } }
//! ```
//!
//! * The **subject token** is a JSON array of the standard-base64 DER certificates, leaf first,
//!   then the `trust_chain_path` certificates (`["MIIB…", "MIIC…"]`), with
//!   `subject_token_type` `urn:ietf:params:oauth:token-type:mtls`.
//! * The **STS call goes over mTLS**: the client presents the same certificate in the TLS
//!   handshake, at `https://sts.mtls.{universe_domain}/v1/token` ([`mtls_token_url`]). Build
//!   that client with [`X509Source::mtls_client`]; the `wif` facade does it for you.
//! * Files are read afresh for every exchange, so a rotated certificate is used from the next
//!   token on; the handshake always presents the certificate the subject token was built from.
//!
//! ```no_run
//! use wif_core::{SourceContext, SubjectTokenSource};
//! use wif_source_x509::{CertificateConfigLocation, X509Source};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wif_core::Error> {
//! let source = X509Source::new(CertificateConfigLocation::Default)
//!     .with_trust_chain("/etc/workload/chain.pem");
//! let sts_client = source.mtls_client()?; // give this to the STS exchange
//! let ctx = SourceContext::new(
//!     "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/x509",
//!     "urn:ietf:params:oauth:token-type:mtls",
//! );
//! let token = source.subject_token(&ctx).await?;
//! println!("{} certificates, {} bytes", source.certificate_count().unwrap_or(0), token.len());
//! # let _ = sts_client; Ok(()) }
//! ```
//!
//! Private key material never appears in `Debug`, errors or logs; errors name the file, where
//! its path came from, and the field. Not implemented: the agent-identity
//! `bindCertFingerprint` STS option of Python.
//!
//! The shape and the behaviour: `docs/protocol.md#x509-source` in the repository.
//!
//! ## Features
//!
//! * `testing` (off by default): the `testing` module, for your suites and ours: `TestPki` (a
//!   throwaway root, intermediate and leaf generated with rcgen) and `MtlsStsServer` (an STS and
//!   IAM Credentials fake on 127.0.0.1 that requires a client certificate).

#![cfg_attr(docsrs, feature(doc_cfg))]

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use wif_core::{
    Environment, Error, OsEnvironment, SourceContext, SubjectToken, SubjectTokenSource, async_trait,
};

mod config;
mod files;
// The fuzz targets' entry points: behind the `fuzzing` feature, and compiled into the crate's
// own tests, which exercise them.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod material;
#[cfg(any(test, feature = "testing"))]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod tls;

pub use config::{
    CERTIFICATE_CONFIG_ENV, CERTIFICATE_CONFIG_FILE_NAME, CONTEXT_AWARE_CERTIFICATE_CONFIG_ENV,
    CertificateConfigLocation, ConfigOrigin, ResolvedConfig, WorkloadCertPaths,
};
pub use files::MAX_FILE_BYTES;
pub use rustls::pki_types::CertificateDer;
pub use tls::parse_root_certificates;

use material::Material;

/// The `subject_token_type` of this source.
pub use wif_core::protocol::MTLS_SUBJECT_TOKEN_TYPE;

/// Google STS's mTLS endpoint in a universe: `https://sts.mtls.{universe_domain}/v1/token`.
/// An empty domain means `googleapis.com`.
///
/// ```
/// assert_eq!(
///     wif_source_x509::mtls_token_url("googleapis.com"),
///     "https://sts.mtls.googleapis.com/v1/token"
/// );
/// ```
pub fn mtls_token_url(universe_domain: &str) -> String {
    wif_core::protocol::sts_mtls_token_url(universe_domain)
}

/// Subject tokens made of the workload's X.509 certificate chain, and the matching mTLS client.
///
/// Cheap to clone; clones share the latest load, so a client made by one clone presents the
/// certificate another clone last read. `Debug` shows paths only.
#[derive(Clone)]
pub struct X509Source {
    location: CertificateConfigLocation,
    trust_chain_path: Option<PathBuf>,
    env: Arc<dyn Environment>,
    current: Arc<RwLock<Option<Arc<Material>>>>,
}

impl fmt::Debug for X509Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("X509Source")
            .field("location", &self.location)
            .field("trust_chain_path", &self.trust_chain_path)
            .field("current", &self.current())
            .finish()
    }
}

impl X509Source {
    /// A source reading the certificate configuration at `location`. Nothing is read until a
    /// subject token (or a handshake) needs it.
    pub fn new(location: CertificateConfigLocation) -> Self {
        X509Source {
            location,
            trust_chain_path: None,
            env: Arc::new(OsEnvironment),
            current: Arc::default(),
        }
    }

    /// Appends the PEM certificates of this file (intermediates) to the subject token.
    pub fn with_trust_chain(mut self, path: impl Into<PathBuf>) -> Self {
        self.trust_chain_path = Some(path.into());
        self.current = Arc::default();
        self
    }

    /// Where the lookup's environment variables come from (default: the process environment).
    pub fn with_environment(mut self, env: Arc<dyn Environment>) -> Self {
        self.env = env;
        self.current = Arc::default();
        self
    }

    /// The configured location of the certificate configuration.
    pub fn location(&self) -> &CertificateConfigLocation {
        &self.location
    }

    /// The trust chain file, if any.
    pub fn trust_chain_path(&self) -> Option<&Path> {
        self.trust_chain_path.as_deref()
    }

    /// Runs the certificate-configuration lookup now (reads no file).
    pub fn resolve_certificate_config(&self) -> Result<ResolvedConfig, Error> {
        config::resolve(&self.location, &*self.env)
    }

    /// Reads the certificate configuration, certificate, key and trust chain now, and makes
    /// them the ones the mTLS client presents. Returns the subject token they make.
    pub fn load(&self) -> Result<SubjectToken, Error> {
        Ok(SubjectToken::new(self.reload()?.subject_token.clone()))
    }

    /// How many certificates the latest subject token carries (`None` before the first load).
    pub fn certificate_count(&self) -> Option<usize> {
        self.current().map(|m| m.token_certificates)
    }

    /// A `reqwest::Identity` (certificate chain and key) of the current files, for callers who
    /// build their own HTTP client. It is a snapshot: prefer [`mtls_client`](Self::mtls_client),
    /// which follows rotation.
    ///
    /// reqwest's own TLS setup (`ClientBuilder::identity`) needs a rustls crypto provider: wif
    /// builds reqwest without one, so install one process-wide first (for example
    /// `wif_core::http::crypto_provider()`, with `rustls::crypto::CryptoProvider::install_default`)
    /// unless the application enables reqwest's `rustls` feature.
    pub fn mtls_identity(&self) -> Result<reqwest::Identity, Error> {
        tls::identity(self)
    }

    /// The HTTP client for the STS (and IAM) calls: [`wif_core::http::default_client`]'s
    /// settings, presenting this source's certificate.
    pub fn mtls_client(&self) -> Result<reqwest::Client, Error> {
        build(self.mtls_client_builder(&[])?)
    }

    /// Like [`mtls_client`](Self::mtls_client), as a builder, trusting `extra_roots` beside the
    /// public web roots (a private CA in front of STS, or a test server). Adjust timeouts or a
    /// proxy on it, but not TLS settings: the client's TLS configuration is preconfigured.
    pub fn mtls_client_builder(
        &self,
        extra_roots: &[CertificateDer<'static>],
    ) -> Result<reqwest::ClientBuilder, Error> {
        tls::client_builder(self, extra_roots)
    }

    fn current(&self) -> Option<Arc<Material>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Reads everything afresh and publishes it to the mTLS client.
    fn reload(&self) -> Result<Arc<Material>, Error> {
        let loaded = Arc::new(material::load(
            &self.location,
            self.trust_chain_path.as_deref(),
            &*self.env,
        )?);
        tracing::debug!(
            certificate_config = %loaded.config.path.display(),
            from = %loaded.config.origin,
            cert_path = %loaded.paths.cert_path.display(),
            certificates = loaded.token_certificates,
            "loaded the X.509 workload certificate"
        );
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(loaded.clone());
        Ok(loaded)
    }
}

#[async_trait]
impl SubjectTokenSource for X509Source {
    async fn subject_token(&self, _ctx: &SourceContext) -> Result<SubjectToken, Error> {
        self.load()
    }

    fn kind(&self) -> &'static str {
        "x509"
    }
}

fn build(builder: reqwest::ClientBuilder) -> Result<reqwest::Client, Error> {
    builder.build().map_err(|e| {
        Error::new(
            wif_core::Step::Config,
            wif_core::ErrorKind::Internal,
            "could not build the mTLS HTTP client",
        )
        .with_source(e)
    })
}

#[cfg(test)]
mod tests;
