//! HTTPS for the real-network run: a certificate authority made at run time, one server
//! certificate naming every Google host, and the TLS endpoint the Google links lead to. It
//! completes each client's handshake (counting them, full or resumed, per server name) and passes
//! the plain HTTP on to the counting proxy in front of the emulator, so request accounting works
//! as on loopback.
//!
//! TLS 1.3 and 1.2, ALPN `http/1.1` (the emulator speaks HTTP/1.1), rustls on ring as the clients'
//! own stacks. The endpoint runs on a thread of its own, like the proxy, so an in-process client
//! keeping the bench's runtime busy never delays a handshake.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::proxy::LoopbackServer;

/// The CA clients are told to trust, and the server side's configuration.
pub struct Pki {
    /// The CA certificate, PEM.
    pub ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

impl Pki {
    /// A new CA and a server certificate for `hosts`.
    pub fn new(hosts: &[&str]) -> Result<Pki, String> {
        let error = |e: rcgen::Error| format!("bench PKI: {e}");
        let ca_key = KeyPair::generate().map_err(error)?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(error)?;
        ca.distinguished_name
            .push(DnType::CommonName, "wif-rs bench network CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).map_err(error)?;
        let issuer = Issuer::new(ca, ca_key);

        let mut leaf =
            CertificateParams::new(hosts.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>())
                .map_err(error)?;
        leaf.distinguished_name
            .push(DnType::CommonName, "wif-rs bench Google");
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_key = KeyPair::generate().map_err(error)?;
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(error)?;

        // ring, as wif's clients by default: rustls (from 0.23.48) deprecates it for its lack of
        // post-quantum key exchange, which a loopback bench endpoint does not need. `allow`,
        // not `expect`: warning-free whichever 0.23 release the lock resolves.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("bench TLS: {e}"))?
            .with_no_client_auth()
            .with_single_cert(
                vec![
                    leaf_cert.der().clone(),
                    CertificateDer::from(ca_cert.der().to_vec()),
                ],
                key,
            )
            .map_err(|e| format!("bench TLS: {e}"))?;
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Pki {
            ca_pem: ca_cert.pem(),
            server: Arc::new(server),
        })
    }
}

/// One completed handshake.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The server name the client asked for (SNI).
    pub server_name: String,
    /// A resumed session (no certificate exchange) rather than a full handshake.
    pub resumed: bool,
}

/// The running TLS endpoint; dropping it stops accepting.
pub struct TlsEndpoint {
    server: LoopbackServer,
    log: Arc<Mutex<Vec<Handshake>>>,
}

impl TlsEndpoint {
    /// Listens on a free loopback port; every connection is decrypted and relayed to `upstream`.
    pub fn start(pki: &Pki, upstream: SocketAddr) -> std::io::Result<TlsEndpoint> {
        let acceptor = TlsAcceptor::from(pki.server.clone());
        let log = Arc::new(Mutex::new(Vec::new()));
        let accept_log = log.clone();
        let server = LoopbackServer::start("bench-tls", move |client| {
            terminate(client, acceptor.clone(), upstream, accept_log.clone())
        })?;
        Ok(TlsEndpoint { server, log })
    }

    /// Where the Google links deliver.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The handshakes since the last call.
    pub fn take(&self) -> Vec<Handshake> {
        std::mem::take(&mut *self.log.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

async fn terminate(
    client: TcpStream,
    acceptor: TlsAcceptor,
    upstream: SocketAddr,
    log: Arc<Mutex<Vec<Handshake>>>,
) {
    let _ = client.set_nodelay(true);
    let Ok(mut tls) = acceptor.accept(client).await else {
        return;
    };
    {
        let connection = tls.get_ref().1;
        log.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Handshake {
                server_name: connection.server_name().unwrap_or("").to_owned(),
                resumed: connection.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
            });
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = server.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
}
