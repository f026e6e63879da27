//! A process-wide crypto provider that can make no TLS configuration fails client construction
//! with an error that says so, never a panic (its own test binary: the process default can be
//! installed once).

use wif_core::http::{client_builder, crypto_provider, default_client};
use wif_core::testing::assert_hint_says;
use wif_core::{ErrorKind, Step};

#[test]
fn a_provider_without_cipher_suites_is_an_error_not_a_panic() {
    let mut unusable = (*crypto_provider()).clone();
    unusable.cipher_suites.clear();
    unusable.install_default().unwrap();

    let err = default_client().unwrap_err();
    assert_eq!(err.step(), Step::Config);
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert!(err.to_string().contains("could not configure TLS"), "{err}");
    assert_hint_says(&err, "process default");
    // The infallible builder defers the failure to build().
    assert!(client_builder().build().is_err());
}
