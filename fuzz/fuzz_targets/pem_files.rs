//! PEM files: the CA bundle of `--ca-certs` / `WIF_CA_CERTS` /
//! `CredentialsBuilder::add_root_certificates_pem` (`parse_root_certificates`, the same parser the
//! X.509 source uses for `cert_path` and the trust chain), and the X.509 source's `key_path`
//! private key. Both are local files of at most 1 MiB, read before any network call.
//!
//! Beyond "no panic": every certificate accepted is one DER SEQUENCE, the certificates together
//! are smaller than the text they came from, and no error quotes a line of the file (a key file's
//! line is key material).

#![no_main]

use libfuzzer_sys::fuzz_target;

/// The longest message an error may have: fixed words and a category, never the file.
const MAX_MESSAGE: usize = 300;

fuzz_target!(|data: &[u8]| {
    match wif_source_x509::parse_root_certificates(data) {
        Ok(certificates) => {
            let der: usize = certificates.iter().map(|c| c.as_ref().len()).sum();
            assert!(der <= data.len(), "{der} DER bytes out of {}", data.len());
            for c in &certificates {
                assert_eq!(c.as_ref().first(), Some(&0x30), "not a DER SEQUENCE");
            }
        }
        Err(e) => check_quotes_nothing(&format!("{e} {e:?}"), data),
    }
    if let Err(problem) = wif_source_x509::fuzzing::private_key(data) {
        check_quotes_nothing(&problem, data);
    }
});

fn check_quotes_nothing(shown: &str, data: &[u8]) {
    assert!(
        shown.len() <= 2 * MAX_MESSAGE,
        "{} bytes: {shown}",
        shown.len()
    );
    let text = String::from_utf8_lossy(data);
    for line in text.lines().map(str::trim).filter(|l| l.len() >= 16) {
        assert!(!shown.contains(line), "the error quotes {line:?}: {shown}");
    }
}
