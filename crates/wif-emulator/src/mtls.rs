//! The emulator's optional mTLS listener: Google's `sts.mtls.googleapis.com` (and the mTLS
//! IAM Credentials twin) for X.509 workload identity federation (`docs/protocol.md#x509-source`).
//!
//! A second port serves the very router of the plain port over TLS, and completes a handshake
//! only with a client certificate chaining to the configured CA (as a workload identity pool
//! provider trusts its CA). The verified chain the client presented, leaf first, rides on every
//! request (a `ClientCertificates` request extension); Google STS compares it with the
//! `urn:ietf:params:oauth:token-type:mtls` subject token.
//!
//! HTTP/1.1 only (ALPN `http/1.1`), as the wif mTLS client speaks it. A handshake gets
//! [`HANDSHAKE_TIMEOUT`]; a refused handshake is logged at `info` with rustls's reason.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// How long a client may take to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The TLS material of the mTLS listener, all PEM: the server's certificate chain (leaf first)
/// and key, and the CA bundle that client certificates must chain to.
///
/// `Debug` never shows the key.
#[derive(Clone)]
pub struct MtlsConfig {
    server_cert_chain_pem: String,
    server_key_pem: String,
    client_ca_pem: String,
}

impl fmt::Debug for MtlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MtlsConfig")
            .field(
                "server_cert_chain_pem_len",
                &self.server_cert_chain_pem.len(),
            )
            .field("server_key_pem", &"[REDACTED]")
            .field("client_ca_pem_len", &self.client_ca_pem.len())
            .finish()
    }
}

impl MtlsConfig {
    /// Serve with `server_cert_chain_pem` (the leaf must name the listening address, e.g.
    /// `127.0.0.1`) and `server_key_pem` (PKCS#8, PKCS#1 or SEC1); accept clients whose
    /// certificate chains to a CA of `client_ca_pem`.
    pub fn new(
        server_cert_chain_pem: impl Into<String>,
        server_key_pem: impl Into<String>,
        client_ca_pem: impl Into<String>,
    ) -> Self {
        MtlsConfig {
            server_cert_chain_pem: server_cert_chain_pem.into(),
            server_key_pem: server_key_pem.into(),
            client_ca_pem: client_ca_pem.into(),
        }
    }

    /// The rustls configuration: ring, client certificates required and verified against the
    /// client CA, HTTP/1.1. Bad PEM is an `InvalidInput` error naming the part.
    fn server_config(&self) -> io::Result<rustls::ServerConfig> {
        // rustls (from 0.23.48) deprecates ring's provider for its lack of post-quantum key
        // exchange. Kept on purpose for this loopback test server: classical key exchange is
        // all it needs, and aws-lc-rs would be a C build for the emulator alone. `allow`, not
        // `expect`: warning-free whichever 0.23 release a lock resolves.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for ca in certificates(&self.client_ca_pem, "client CA")? {
            roots
                .add(ca)
                .map_err(|e| invalid(format!("mTLS client CA: {e}")))?;
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .map_err(|e| invalid(format!("mTLS client verifier: {e}")))?;
        let chain = certificates(&self.server_cert_chain_pem, "server certificate chain")?;
        // The key's parse error is not shown: it might quote the key.
        let key = PrivateKeyDer::from_pem_slice(self.server_key_pem.as_bytes())
            .map_err(|_| invalid("mTLS server key: no PEM private key".into()))?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(format!("mTLS protocol versions: {e}")))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(|e| invalid(format!("mTLS server certificate: {e}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

fn certificates(pem: &str, what: &str) -> io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("mTLS {what}: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(format!(
            "mTLS {what}: no PEM certificate (-----BEGIN CERTIFICATE-----)"
        )));
    }
    Ok(certs)
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// The certificate chain a client presented in the mTLS handshake, leaf first, already verified
/// against the client CA. A request extension on the mTLS port only.
#[derive(Clone, Debug)]
pub(crate) struct ClientCertificates(pub(crate) Arc<[CertificateDer<'static>]>);

impl ClientCertificates {
    /// The leaf: the certificate whose key the client proved it holds.
    pub(crate) fn leaf(&self) -> Option<&CertificateDer<'static>> {
        self.0.first()
    }
}

/// A bound mTLS listener, ready to serve.
pub(crate) struct MtlsListener {
    listener: TcpListener,
    acceptor: TlsAcceptor,
}

impl MtlsListener {
    /// Binds `addr` with `config`'s TLS material (checked here, before anything serves).
    pub(crate) async fn bind(addr: SocketAddr, config: &MtlsConfig) -> io::Result<Self> {
        let acceptor = TlsAcceptor::from(Arc::new(config.server_config()?));
        let listener = TcpListener::bind(addr).await?;
        Ok(MtlsListener { listener, acceptor })
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves `app` until `stopped` fires (or its sender is dropped); then open connections
    /// are dropped with the task.
    pub(crate) async fn serve(self, app: Router, mut stopped: oneshot::Receiver<()>) {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        connections.spawn(connection(self.acceptor.clone(), tcp, peer, app.clone()));
                    }
                    Err(e) => {
                        // Out of descriptors or the like: pause instead of spinning.
                        tracing::warn!(error = %e, "mTLS accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                // Reap finished connections so the set does not grow with every request.
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    }
}

async fn connection(
    acceptor: TlsAcceptor,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
) {
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::info!(%peer, error = %e, "mTLS handshake refused");
            return;
        }
        Err(_) => {
            tracing::info!(%peer, "mTLS handshake timed out");
            return;
        }
    };
    let presented: Arc<[CertificateDer<'static>]> = tls
        .get_ref()
        .1
        .peer_certificates()
        .unwrap_or_default()
        .iter()
        .map(|c| c.clone().into_owned())
        .collect();
    let certificates = ClientCertificates(presented);
    let app = TowerToHyperService::new(app);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(certificates.clone());
        hyper::service::Service::call(&app, request)
    });
    if let Err(e) = Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(tls), service)
        .await
    {
        tracing::debug!(%peer, error = %e, "mTLS connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_key() {
        let config = MtlsConfig::new("CHAIN", "KEY-MATERIAL-7f3", "CA");
        let shown = format!("{config:?}");
        assert!(!shown.contains("KEY-MATERIAL-7f3"), "{shown}");
        assert!(shown.contains("REDACTED"), "{shown}");
    }

    #[test]
    fn bad_pem_is_refused_naming_the_part() {
        let pki = wif_source_x509::testing::TestPki::new().unwrap();
        let good = MtlsConfig::new(
            pki.server.cert_pem.clone(),
            pki.server.key_pem.clone(),
            pki.root_pem(),
        );
        good.server_config().unwrap();

        let cases = [
            (
                MtlsConfig::new(pki.server.cert_pem.clone(), pki.server.key_pem.clone(), ""),
                "client CA",
            ),
            (
                MtlsConfig::new("", pki.server.key_pem.clone(), pki.root_pem()),
                "server certificate chain",
            ),
            (
                MtlsConfig::new(pki.server.cert_pem.clone(), "not a key", pki.root_pem()),
                "server key",
            ),
            // A key that is not the certificate's.
            (
                MtlsConfig::new(
                    pki.server.cert_pem.clone(),
                    pki.leaf.key_pem.clone(),
                    pki.root_pem(),
                ),
                "server certificate",
            ),
        ];
        for (config, part) in cases {
            let err = config.server_config().unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{part}");
            assert!(err.to_string().contains(part), "{part}: {err}");
            assert!(!err.to_string().contains("PRIVATE KEY"), "{part}: {err}");
        }
    }
}
