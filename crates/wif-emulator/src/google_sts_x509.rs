//! Google STS for X.509 federation: the `urn:ietf:params:oauth:token-type:mtls` subject token
//! (`docs/protocol.md#x509-source`) is a JSON array of standard-base64 DER certificates, leaf
//! first. It proves nothing by itself (certificates are public), so it only counts over mTLS:
//! the leaf must be the certificate the client presented in the handshake, whose chain the
//! listener already verified against the pool's CA.
//!
//! `google.subject` is mapped from the leaf as [`X509SubjectMapping`] says: the subject common
//! name by default (`assertion.subject.dn.cn`), or the first URI SAN (`assertion.san.uri`, a
//! SPIFFE ID). Google's exact error texts for these failures are not on record; the emulator's
//! name the cause.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::{StsError, check_subject_size, reject};
use crate::config::{EmulatorConfig, X509SubjectMapping};
use crate::mtls::ClientCertificates;
use crate::x509_names::subject_names;

const NOT_OVER_MTLS: &str = "An mtls subject token is accepted only over mTLS: this request presented no client certificate. Send the exchange to the mTLS endpoint (https://sts.mtls.googleapis.com/v1/token) with the subject token's leaf certificate as the TLS client certificate.";
const LEAF_MISMATCH: &str = "The leaf certificate of the mtls subject token is not the client certificate presented in the mTLS handshake. The subject token and the TLS client certificate must come from the same certificate.";

/// Checks the mtls subject `token` against the `presented` handshake chain and maps the leaf
/// to `google.subject`.
pub(super) fn subject(
    config: &EmulatorConfig,
    presented: Option<&ClientCertificates>,
    token: &str,
) -> Result<String, StsError> {
    let Some(presented_leaf) = presented.and_then(ClientCertificates::leaf) else {
        return Err(reject("invalid_request", NOT_OVER_MTLS));
    };
    let chain = parse_subject_token(token).map_err(invalid_subject_token)?;
    let leaf = chain.first().map(Vec::as_slice).unwrap_or_default();
    if leaf != presented_leaf.as_ref() {
        return Err(reject("invalid_grant", LEAF_MISMATCH));
    }
    let names = subject_names(leaf).map_err(invalid_subject_token)?;
    let (subject, attribute) = match config.x509_subject_mapping {
        X509SubjectMapping::CommonName => (names.common_name, "assertion.subject.dn.cn"),
        X509SubjectMapping::SanUri => (names.uris.into_iter().next(), "assertion.san.uri"),
    };
    let subject = subject.filter(|s| !s.is_empty()).ok_or_else(|| {
        reject(
            "invalid_grant",
            format!(
                "The mapped attribute google.subject is empty: the leaf certificate has no {attribute}."
            ),
        )
    })?;
    check_subject_size(&subject)?;
    Ok(subject)
}

/// Google's answer to an `mtls` subject token that is not a chain of certificates with a usable
/// subject.
fn invalid_subject_token(why: impl std::fmt::Display) -> StsError {
    reject(
        "invalid_request",
        format!("Invalid mtls subject token: {why}."),
    )
}

/// The DER certificates of the token, leaf first. The error never quotes the token.
fn parse_subject_token(token: &str) -> Result<Vec<Vec<u8>>, String> {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(token.trim()) else {
        return Err(
            "it is not a JSON array of base64 DER certificates, leaf first (e.g. [\"MIIB…\"])"
                .into(),
        );
    };
    if items.is_empty() {
        return Err("the certificate array is empty".into());
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_str()
                .and_then(|s| STANDARD.decode(s).ok())
                .filter(|der| !der.is_empty())
                .ok_or_else(|| format!("element {} is not a standard-base64 certificate", i + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use wif_source_x509::testing::TestPki;

    use super::*;
    use crate::x509_names::test_certs::with_names;

    fn token(certs: &[&[u8]]) -> String {
        serde_json::to_string(&certs.iter().map(|c| STANDARD.encode(c)).collect::<Vec<_>>())
            .unwrap()
    }

    fn presented(certs: &[&[u8]]) -> ClientCertificates {
        ClientCertificates(
            certs
                .iter()
                .map(|c| rustls::pki_types::CertificateDer::from(c.to_vec()))
                .collect::<Arc<[_]>>(),
        )
    }

    #[test]
    fn maps_the_presented_leaf() {
        let pki = TestPki::new().unwrap();
        let leaf = pki.leaf.cert_der.as_ref();
        let chain = presented(&[leaf, &pki.intermediate.cert_der]);
        let token = token(&[leaf, &pki.intermediate.cert_der]);
        let mut config = EmulatorConfig::default();
        assert_eq!(
            subject(&config, Some(&chain), &token).unwrap(),
            "workload-1"
        );
        // The TestPki leaf's SANs are DNS names: no URI to map.
        config.x509_subject_mapping = X509SubjectMapping::SanUri;
        let err = subject(&config, Some(&chain), &token).unwrap_err();
        assert_eq!(err.error, "invalid_grant");
        assert!(err.description.contains("assertion.san.uri"), "{err:?}");

        let spiffe = with_names(None, &["spiffe://wif-rs.test/ns/prod/sa/writer"]);
        let spiffe_token = self::token(&[&spiffe]);
        assert_eq!(
            subject(&config, Some(&presented(&[&spiffe])), &spiffe_token).unwrap(),
            "spiffe://wif-rs.test/ns/prod/sa/writer"
        );
        config.x509_subject_mapping = X509SubjectMapping::CommonName;
        let err = subject(&config, Some(&presented(&[&spiffe])), &spiffe_token).unwrap_err();
        assert!(
            err.description.contains("assertion.subject.dn.cn"),
            "{err:?}"
        );

        // google.subject's 127-byte limit holds here too.
        let long = with_names(Some(&"w".repeat(128)), &[]);
        let err = subject(&config, Some(&presented(&[&long])), &self::token(&[&long])).unwrap_err();
        assert_eq!(err.description, super::super::SUBJECT_TOO_LONG);
    }

    #[test]
    fn refuses_what_the_handshake_did_not_prove() {
        let pki = TestPki::new().unwrap();
        let config = EmulatorConfig::default();
        let leaf = pki.leaf.cert_der.as_ref();
        let other = pki.issue_leaf("workload-2").unwrap();

        let err = subject(&config, None, &token(&[leaf])).unwrap_err();
        assert_eq!(err.error, "invalid_request");
        assert!(err.description.contains("only over mTLS"), "{err:?}");

        let err = subject(
            &config,
            Some(&presented(&[leaf])),
            &token(&[&other.cert_der]),
        )
        .unwrap_err();
        assert_eq!(err.error, "invalid_grant");
        assert!(
            err.description.contains("not the client certificate"),
            "{err:?}"
        );

        // The presented leaf further down the token's chain is no better.
        let err = subject(
            &config,
            Some(&presented(&[leaf])),
            &token(&[&other.cert_der, leaf]),
        )
        .unwrap_err();
        assert_eq!(err.error, "invalid_grant");
    }

    #[test]
    fn malformed_tokens() {
        let pki = TestPki::new().unwrap();
        let config = EmulatorConfig::default();
        let chain = presented(&[&pki.leaf.cert_der]);
        for (bad, why) in [
            ("MIIB", "not a JSON array"),
            ("{}", "not a JSON array"),
            ("[]", "empty"),
            ("[1]", "element 1"),
            ("[\"%%%\"]", "element 1"),
            ("[\"\"]", "element 1"),
        ] {
            let err = subject(&config, Some(&chain), bad).unwrap_err();
            assert_eq!(err.error, "invalid_request", "{bad}");
            assert!(err.description.contains(why), "{bad}: {err:?}");
        }
    }
}
