//! A TLS server on 127.0.0.1 with a throwaway CA, recording what each handshake negotiated, for
//! the tests of the clients' TLS configuration.

// Test support: a failed set-up fails the test loudly; each test binary uses part of it.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::{Arc, Mutex, PoisonError};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::NamedGroup;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What one completed handshake negotiated.
#[derive(Clone, Debug)]
pub struct Handshake {
    pub key_exchange: Option<NamedGroup>,
    /// Full, full after a HelloRetryRequest (the client's key share was for another group), or
    /// resumed.
    pub kind: Option<rustls::HandshakeKind>,
    pub alpn: Option<Vec<u8>>,
}

/// The server: answers every request `200 OK` over TLS with a certificate of its own CA.
pub struct TlsServer {
    pub url: String,
    /// The CA that issued the server's certificate: not among the public roots.
    pub root: CertificateDer<'static>,
    handshakes: Arc<Mutex<Vec<Handshake>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsServer {
    /// Starts a server whose TLS runs on `provider` (every key exchange group it offers).
    pub async fn start(provider: Arc<CryptoProvider>) -> TlsServer {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().unwrap();
        let server_cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&server_key, &issuer)
            .unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![server_cert.der().clone()], key)
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}/", listener.local_addr().unwrap());
        let handshakes = Arc::new(Mutex::new(Vec::new()));
        let seen = handshakes.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, seen) = (acceptor.clone(), seen.clone());
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        answer(tls, &seen).await;
                    }
                });
            }
        });
        TlsServer {
            url,
            root: ca_cert.der().clone(),
            handshakes,
            task,
        }
    }

    /// The completed handshakes, in order.
    pub fn handshakes(&self) -> Vec<Handshake> {
        lock(&self.handshakes).clone()
    }
}

async fn answer(
    mut tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    seen: &Mutex<Vec<Handshake>>,
) {
    let connection = tls.get_ref().1;
    lock(seen).push(Handshake {
        key_exchange: connection.negotiated_key_exchange_group().map(|g| g.name()),
        kind: connection.handshake_kind(),
        alpn: connection.alpn_protocol().map(<[u8]>::to_vec),
    });
    // The request head is all a GET sends.
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match tls.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    let _ = tls
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        .await;
    let _ = tls.shutdown().await;
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
