//! The RSA key the emulated IAM signs with for every service account (`signBlob`), and that the
//! emulated Cloud Storage verifies V4 signed URLs against.
//!
//! A fixed 2048-bit key, shipped with the crate: the emulator is a test double, and a fixed key
//! makes its signatures reproducible. It signs nothing outside an emulator. RSA PKCS#1 v1.5 with
//! SHA-256 (what `signBlob` and `GOOG4-RSA-SHA256` use), through ring, which rustls already builds.

use std::sync::OnceLock;

use ring::signature::{
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey,
};

/// PKCS#8 DER, generated once with `openssl genpkey -algorithm RSA` for this emulator.
const KEY_PKCS8: &[u8] = include_bytes!("../keys/service-account-signing-key.pk8");

/// The `keyId` `signBlob` reports.
pub(crate) const KEY_ID: &str = "wif-emulator-signing-key-1";

fn key() -> Option<&'static RsaKeyPair> {
    static KEY: OnceLock<Option<RsaKeyPair>> = OnceLock::new();
    KEY.get_or_init(|| RsaKeyPair::from_pkcs8(KEY_PKCS8).ok())
        .as_ref()
}

/// The signature of `message`, or `None` if the key could not be loaded (it always can: a
/// unit test checks it).
pub(crate) fn sign(message: &[u8]) -> Option<Vec<u8>> {
    let key = key()?;
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        message,
        &mut signature,
    )
    .ok()?;
    Some(signature)
}

/// Whether `signature` is this key's signature of `message`.
pub(crate) fn verify(message: &[u8], signature: &[u8]) -> bool {
    key().is_some_and(|key| {
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public().as_ref())
            .verify(message, signature)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn signs_and_verifies_and_refuses_a_changed_message() {
        let signature = super::sign(b"string to sign").expect("the shipped key loads");
        assert_eq!(signature.len(), 256);
        assert!(super::verify(b"string to sign", &signature));
        assert!(!super::verify(b"string to sigN", &signature));
        let mut bent = signature.clone();
        bent[10] ^= 1;
        assert!(!super::verify(b"string to sign", &bent));
    }
}
