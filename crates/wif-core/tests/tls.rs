//! The TLS of every client wif builds (`wif_core::http`), against a real rustls server on
//! 127.0.0.1: which CAs it trusts, which key exchange it negotiates, which protocol it offers.

mod support;

use rustls::NamedGroup;
use support::TlsServer;
use wif_core::http::{self, client_builder, client_builder_with_roots, crypto_provider};
use wif_core::{ErrorKind, Step};

async fn get(client: &reqwest::Client, server: &TlsServer) -> Result<u16, wif_core::Error> {
    let response = http::send(Step::Exchange, "GET test server", client.get(&server.url)).await?;
    Ok(response.status)
}

/// A test server with wif's TLS provider, after one successful request from a client that
/// trusts its CA (the server recorded that handshake).
#[allow(clippy::expect_used)] // a test helper: panicking with a message is how it reports
async fn after_one_trusted_get() -> TlsServer {
    let server = TlsServer::start(crypto_provider()).await;
    let client = client_builder_with_roots(std::slice::from_ref(&server.root))
        .expect("the test CA is a certificate")
        .build()
        .expect("the client builds");
    let status = get(&client, &server).await.expect("the CA is trusted");
    assert_eq!(status, 200);
    server
}

#[tokio::test]
async fn a_private_ca_is_trusted_only_when_given() {
    let server = TlsServer::start(crypto_provider()).await;

    let err = get(&http::default_client().unwrap(), &server)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport, "{err:?}");
    assert!(err.to_string().contains("TLS handshake failed"), "{err}");
    assert!(!err.is_retryable(), "a certificate problem recurs: {err:?}");
    assert_eq!(server.handshakes().len(), 0);

    let trusting = client_builder_with_roots(std::slice::from_ref(&server.root))
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(get(&trusting, &server).await.unwrap(), 200);
    assert_eq!(server.handshakes().len(), 1);
}

/// The builder's TLS configuration is complete: reqwest's own root setting does not reach it
/// (the documented reason `client_builder_with_roots` exists).
#[tokio::test]
async fn reqwests_own_root_setting_does_not_reach_the_default_builder() {
    let server = TlsServer::start(crypto_provider()).await;
    let root = reqwest::Certificate::from_der(&server.root).unwrap();
    let client = client_builder().add_root_certificate(root).build().unwrap();
    let err = get(&client, &server).await.unwrap_err();
    assert!(err.to_string().contains("TLS handshake failed"), "{err}");
    assert_eq!(server.handshakes().len(), 0);
}

/// With aws-lc-rs the clients offer the post-quantum hybrid X25519MLKEM768 first and a server
/// that supports it agrees; ring has no ML-KEM, so its first classical group.
#[tokio::test]
async fn the_key_exchange_is_post_quantum_where_the_provider_offers_it() {
    let server = after_one_trusted_get().await;

    let offered: Vec<NamedGroup> = crypto_provider()
        .kx_groups
        .iter()
        .map(|g| g.name())
        .collect();
    let negotiated = server.handshakes()[0].key_exchange;
    if cfg!(feature = "aws-lc-rs") {
        assert_eq!(negotiated, Some(NamedGroup::X25519MLKEM768));
    } else {
        assert!(
            !offered.contains(&NamedGroup::X25519MLKEM768),
            "{offered:?}"
        );
        assert_eq!(negotiated, Some(offered[0]), "{offered:?}");
    }
}

/// A server that supports P-384 and lists it first (rustls' own defaults from 0.23.48) still
/// gets X25519 (X25519MLKEM768 with aws-lc-rs) from wif's clients, in one flight: the client's
/// key share is for the group it offers first, and P-384 is offered last.
#[tokio::test]
async fn a_server_preferring_p384_negotiates_the_clients_fast_group_without_a_retry() {
    let mut p384_first = (*crypto_provider()).clone();
    p384_first
        .kx_groups
        .sort_by_key(|group| group.name() != NamedGroup::secp384r1);
    assert_eq!(p384_first.kx_groups[0].name(), NamedGroup::secp384r1);
    let server = TlsServer::start(std::sync::Arc::new(p384_first)).await;
    let client = client_builder_with_roots(std::slice::from_ref(&server.root))
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(get(&client, &server).await.unwrap(), 200);

    let handshake = &server.handshakes()[0];
    let expected = if cfg!(feature = "aws-lc-rs") {
        NamedGroup::X25519MLKEM768
    } else {
        NamedGroup::X25519
    };
    assert_eq!(handshake.key_exchange, Some(expected));
    assert_eq!(handshake.kind, Some(rustls::HandshakeKind::Full));
}

/// wif's clients speak HTTP/1.1 and say so: a server that prefers h2 must not pick it.
#[tokio::test]
async fn the_clients_offer_http1_only() {
    let server = after_one_trusted_get().await;
    assert_eq!(
        server.handshakes()[0].alpn.as_deref(),
        Some(&b"http/1.1"[..])
    );
}

#[test]
fn an_extra_root_that_is_not_a_certificate_is_a_config_error() {
    let not_a_certificate = http::CertificateDer::from(b"not DER".to_vec());
    let err = http::root_store(&[not_a_certificate]).unwrap_err();
    assert_eq!(err.step(), Step::Config);
    assert!(err.to_string().contains("certificate 1"), "{err}");
}
