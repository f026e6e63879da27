//! PEM files: the CA bundle of `--ca-certs` / `WIF_CA_CERTS` /
//! `CredentialsBuilder::add_root_certificates_pem` (`parse_root_certificates`, the same parser the
//! X.509 source uses for `cert_path` and the trust chain), and the X.509 source's `key_path`
//! private key. Both are local files of at most 1 MiB, read before any network call. Input: the
//! file, where each 0xFF byte stands for a piece of secret key material (base64, so that it can
//! sit in a PEM section).
//!
//! Beyond "no panic": every certificate accepted is one DER SEQUENCE, the certificates together
//! are smaller than the text they came from, and no error is long or shows the key material (a
//! key file's line is key material).

#![no_main]

use libfuzzer_sys::fuzz_target;

/// The longest message an error may have: fixed words and a category, never the file.
const MAX_MESSAGE: usize = 300;
/// What each 0xFF byte of the input becomes.
const KEY_MATERIAL: &str = "c2VjcmV0LWtleS1tYXRlcmlhbC05YzQx";

fuzz_target!(|input: &[u8]| {
    let mut data = Vec::with_capacity(input.len());
    for &b in input {
        match b {
            0xFF => data.extend_from_slice(KEY_MATERIAL.as_bytes()),
            _ => data.push(b),
        }
    }
    match wif_source_x509::parse_root_certificates(&data) {
        Ok(certificates) => {
            let der: usize = certificates.iter().map(|c| c.as_ref().len()).sum();
            assert!(der <= data.len(), "{der} DER bytes out of {}", data.len());
            for c in &certificates {
                assert_eq!(c.as_ref().first(), Some(&0x30), "not a DER SEQUENCE");
            }
        }
        Err(e) => check_shows_nothing(&format!("{e} {e:?}")),
    }
    if let Err(problem) = wif_source_x509::fuzzing::private_key(&data) {
        check_shows_nothing(&problem);
    }
});

/// Errors are fixed words and a category: short, and never the file's content. (Checked with a
/// marker rather than by looking for the file's lines in the message: the fuzzer learns the
/// message's own words from that comparison and feeds them back as a line.)
fn check_shows_nothing(shown: &str) {
    assert!(
        shown.len() <= 2 * MAX_MESSAGE,
        "{} bytes: {shown}",
        shown.len()
    );
    assert!(
        !shown.contains(KEY_MATERIAL),
        "the error shows the file: {shown}"
    );
}
