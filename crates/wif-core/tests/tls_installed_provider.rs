//! A crypto provider the application installed process-wide is the one wif's clients use (its
//! own test binary: the process default can be installed once).

mod support;

use std::sync::Arc;

use rustls::NamedGroup;
use support::TlsServer;
use wif_core::http::{client_builder_with_roots, crypto_provider};

#[tokio::test]
async fn the_applications_process_default_provider_is_used() {
    let built_in = crypto_provider();
    // The application's choice, told apart by its key exchange: P-256 only. wif's own provider
    // offers another group first (X25519 with ring, X25519MLKEM768 with aws-lc-rs), and the
    // server, which supports them all, would take that one.
    assert_ne!(built_in.kx_groups[0].name(), NamedGroup::secp256r1);
    let mut p256_only = (*built_in).clone();
    p256_only
        .kx_groups
        .retain(|group| group.name() == NamedGroup::secp256r1);
    assert_eq!(p256_only.kx_groups.len(), 1);
    p256_only.install_default().unwrap();

    let server = TlsServer::start(built_in).await;
    let client = client_builder_with_roots(std::slice::from_ref(&server.root))
        .unwrap()
        .build()
        .unwrap();
    let response = client.get(&server.url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        server.handshakes()[0].key_exchange,
        Some(NamedGroup::secp256r1)
    );
    assert!(Arc::ptr_eq(
        &crypto_provider(),
        rustls::crypto::CryptoProvider::get_default().unwrap()
    ));
}
