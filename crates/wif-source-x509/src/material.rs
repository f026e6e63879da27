//! The certificate material of one load: the client certificate chain and key for the mTLS
//! handshake and the subject token built from the same read, so the certificate STS sees in
//! the TLS handshake is always the leaf of the subject token (`docs/protocol.md#x509-source`).
//!
//! Subject token (Python `_X509Supplier.get_subject_token`): a JSON array of the standard-base64
//! DER certificates, leaf first, written with Python's `json.dumps` separators
//! (`["MIIB…", "MIIC…"]`). The leaf is the first certificate of `cert_path`. The certificates
//! of `trust_chain_path` follow; its first certificate is skipped when it is the leaf, and the
//! leaf anywhere else in it is an error ("the leaf certificate must be at the top of the trust
//! chain file").

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use secrecy::{ExposeSecret, SecretSlice};
use wif_core::{Environment, Error, ErrorKind, Step};

use crate::config::{self, CertificateConfigLocation, ResolvedConfig, WorkloadCertPaths};
use crate::files;

/// One consistent read of the certificate configuration, certificate, key and trust chain.
pub(crate) struct Material {
    pub(crate) config: ResolvedConfig,
    pub(crate) paths: WorkloadCertPaths,
    /// `cert_path`'s certificates (the leaf first) and the key, for the TLS handshake.
    pub(crate) certified: Arc<CertifiedKey>,
    /// `cert_path` and `key_path` PEM, concatenated, for `reqwest::Identity::from_pem`.
    pub(crate) identity_pem: SecretSlice<u8>,
    /// The JSON array of base64 DER certificates.
    pub(crate) subject_token: String,
    /// How many certificates the subject token carries.
    pub(crate) token_certificates: usize,
}

impl fmt::Debug for Material {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Material")
            .field("config", &self.config)
            .field("cert_path", &self.paths.cert_path)
            .field("key_path", &self.paths.key_path)
            .field("tls_chain_len", &self.certified.cert.len())
            .field("token_certificates", &self.token_certificates)
            .field("key", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// Reads everything afresh: resolves the certificate configuration, reads its workload paths,
/// the certificate, the key (checked against the certificate) and the trust chain.
pub(crate) fn load(
    location: &CertificateConfigLocation,
    trust_chain_path: Option<&Path>,
    env: &dyn Environment,
) -> Result<Material, Error> {
    let config = config::resolve(location, env)?;
    let paths = config::read_workload_paths(&config)?;
    let origin = config.describe();

    let cert_pem = files::read_bounded(&paths.cert_path).map_err(|e| {
        files::io_error("`cert_path` certificate file", &paths.cert_path, e).context(&origin)
    })?;
    let chain = parse_certificates(&cert_pem).map_err(|problem| {
        cert_file_error("`cert_path` certificate file", &paths.cert_path, problem).context(&origin)
    })?;
    let Some(leaf) = chain.first().cloned() else {
        return Err(cert_file_error(
            "`cert_path` certificate file",
            &paths.cert_path,
            "contains no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned(),
        )
        .context(&origin));
    };

    let key_pem: SecretSlice<u8> = files::read_bounded(&paths.key_path)
        .map_err(|e| {
            files::io_error("`key_path` private key file", &paths.key_path, e).context(&origin)
        })?
        .into();
    let key = parse_private_key(key_pem.expose_secret())
        .map_err(|problem| key_error(&paths.key_path, problem).context(&origin))?;
    let certified = certified_key(chain, key, &paths).map_err(|e| e.context(&origin))?;

    let trust_chain = match trust_chain_path {
        None => Vec::new(),
        Some(path) => read_trust_chain(path)?,
    };
    let certificates = token_certificates(&leaf, &trust_chain)?;
    let subject_token = encode_subject_token(&certificates);

    let mut identity_pem = Vec::with_capacity(cert_pem.len() + key_pem.expose_secret().len() + 1);
    identity_pem.extend_from_slice(&cert_pem);
    identity_pem.push(b'\n');
    identity_pem.extend_from_slice(key_pem.expose_secret());

    Ok(Material {
        config,
        paths,
        certified: Arc::new(certified),
        identity_pem: identity_pem.into(),
        subject_token,
        token_certificates: certificates.len(),
    })
}

/// The certificates of the subject token, leaf first, by Python's rules for the trust chain.
pub(crate) fn token_certificates<'a>(
    leaf: &'a CertificateDer<'static>,
    trust_chain: &'a [CertificateDer<'static>],
) -> Result<Vec<&'a CertificateDer<'static>>, Error> {
    let mut out = vec![leaf];
    for (i, cert) in trust_chain.iter().enumerate() {
        if cert.as_ref() == leaf.as_ref() {
            if i == 0 {
                // A chain file that starts with the leaf (a "full chain" file) is accepted.
                continue;
            }
            return Err(Error::new(
                Step::Source,
                ErrorKind::InvalidConfig,
                format!(
                    "the leaf certificate must be at the top of the trust chain file (it is certificate {} of `trust_chain_path`)",
                    i + 1
                ),
            )
            .with_hint("list the leaf first (or not at all) in `trust_chain_path`, then the intermediates, each signing the one before"));
        }
        out.push(cert);
    }
    Ok(out)
}

/// `["b64", "b64"]`, exactly as Python's `json.dumps` writes a list of strings (standard base64
/// never needs JSON escaping).
pub(crate) fn encode_subject_token(certificates: &[&CertificateDer<'static>]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let items: Vec<String> = certificates
        .iter()
        .map(|c| format!("\"{}\"", b64.encode(c.as_ref())))
        .collect();
    format!("[{}]", items.join(", "))
}

fn read_trust_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let what = "`credential_source.certificate.trust_chain_path` file";
    let pem = files::read_bounded(path).map_err(|e| files::io_error(what, path, e))?;
    let chain = parse_certificates(&pem).map_err(|problem| cert_file_error(what, path, problem))?;
    if chain.is_empty() {
        return Err(cert_file_error(
            what,
            path,
            "contains no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned(),
        )
        .with_hint("the trust chain file holds the intermediate certificates as PEM; remove `trust_chain_path` if there are none"));
    }
    Ok(chain)
}

/// Every `CERTIFICATE` section of a PEM file (other sections are skipped), each checked to be
/// one DER SEQUENCE. The problem is described without quoting the file.
pub(crate) fn parse_certificates(pem_bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut out = Vec::new();
    for (i, item) in CertificateDer::pem_slice_iter(pem_bytes).enumerate() {
        let cert = item.map_err(|e| pem_problem(&e))?;
        if !is_der_sequence(cert.as_ref()) {
            return Err(format!(
                "certificate {} is not a DER X.509 certificate",
                i + 1
            ));
        }
        out.push(cert);
    }
    Ok(out)
}

pub(crate) fn parse_private_key(pem_bytes: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    match PrivateKeyDer::from_pem_slice(pem_bytes) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) => {
            if contains(pem_bytes, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
                Err("holds an encrypted private key; an unencrypted PEM key is needed (decrypt it with `openssl pkey -in KEY -out KEY.plain`)".to_owned())
            } else {
                Err(
                    "contains no PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"
                        .to_owned(),
                )
            }
        }
        Err(e) => Err(pem_problem(&e)),
    }
}

fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    paths: &WorkloadCertPaths,
) -> Result<CertifiedKey, Error> {
    // The provider of the TLS connection the key will sign in.
    let provider = wif_core::http::crypto_provider();
    CertifiedKey::from_der(chain, key, &provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => Error::new(
            Step::Source,
            ErrorKind::InvalidConfig,
            format!(
                "the private key `{}` (`key_path`) does not belong to the certificate `{}` (`cert_path`)",
                paths.key_path.display(),
                paths.cert_path.display()
            ),
        )
        .with_hint("point `key_path` at the key the certificate was issued for; after a rotation, both files must be replaced together"),
        rustls::Error::InvalidCertificate(_) => cert_file_error(
            "`cert_path` certificate file",
            &paths.cert_path,
            "its first certificate is not a valid X.509 certificate".to_owned(),
        ),
        // The key provider's errors name the key types it tried, never the key.
        _ => key_error(
            &paths.key_path,
            "is not a usable key (RSA, ECDSA P-256/P-384 or Ed25519 are supported)".to_owned(),
        ),
    })
}

fn cert_file_error(what: &str, path: &Path, problem: String) -> Error {
    Error::new(
        Step::Source,
        ErrorKind::InvalidConfig,
        format!("{what} `{}`: {problem}", path.display()),
    )
}

fn key_error(path: &Path, problem: String) -> Error {
    Error::new(
        Step::Source,
        ErrorKind::InvalidConfig,
        format!(
            "`key_path` private key file `{}`: {problem}",
            path.display()
        ),
    )
}

/// A PEM error, by category: pki-types' messages can quote a line of the file, and for the key
/// file that line could be key material.
fn pem_problem(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { .. } => "a PEM section has no END line".to_owned(),
        pem::Error::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed".to_owned(),
        pem::Error::Base64Decode(_) => "a PEM section is not valid base64".to_owned(),
        pem::Error::SectionTooLarge => "a PEM section is too large".to_owned(),
        _ => "not valid PEM".to_owned(),
    }
}

/// True when `der` is exactly one DER SEQUENCE (tag 0x30, definite length covering the rest):
/// catches text or truncated data in a PEM section without a full X.509 parser.
fn is_der_sequence(der: &[u8]) -> bool {
    let [0x30, first, rest @ ..] = der else {
        return false;
    };
    let (len, body) = if *first < 0x80 {
        (usize::from(*first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return false;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    len == body.len()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der(bytes: &[u8]) -> CertificateDer<'static> {
        CertificateDer::from(bytes.to_vec())
    }

    #[test]
    fn chain_rules_match_python() {
        let leaf = der(b"leaf");
        let a = der(b"intermediate-a");
        let b = der(b"intermediate-b");
        let names = |v: Vec<&CertificateDer<'static>>| -> Vec<Vec<u8>> {
            v.into_iter().map(|c| c.as_ref().to_vec()).collect()
        };
        assert_eq!(
            names(token_certificates(&leaf, &[]).unwrap()),
            [b"leaf".to_vec()]
        );
        assert_eq!(
            names(token_certificates(&leaf, &[a.clone(), b.clone()]).unwrap()),
            [
                b"leaf".to_vec(),
                b"intermediate-a".to_vec(),
                b"intermediate-b".to_vec()
            ],
            "chain without the leaf: appended"
        );
        assert_eq!(
            names(token_certificates(&leaf, &[leaf.clone(), a.clone()]).unwrap()),
            [b"leaf".to_vec(), b"intermediate-a".to_vec()],
            "chain starting with the leaf: the leaf is not repeated"
        );
        let err = token_certificates(&leaf, &[a.clone(), leaf.clone()]).unwrap_err();
        assert!(
            err.to_string()
                .contains("the leaf certificate must be at the top of the trust chain file"),
            "{err}"
        );
        assert!(err.to_string().contains("certificate 2"), "{err}");
    }

    #[test]
    fn subject_token_uses_python_separators() {
        let a = der(&[0x30, 0x01, 0xff]);
        let b = der(&[0x30, 0x00]);
        assert_eq!(encode_subject_token(&[&a]), r#"["MAH/"]"#);
        assert_eq!(encode_subject_token(&[&a, &b]), r#"["MAH/", "MAA="]"#);
    }

    #[test]
    fn der_sequence_check() {
        assert!(is_der_sequence(&[0x30, 0x00]));
        assert!(is_der_sequence(&[0x30, 0x02, 1, 2]));
        let mut long = vec![0x30, 0x82, 0x01, 0x00];
        long.extend(std::iter::repeat_n(0u8, 256));
        assert!(is_der_sequence(&long));
        long.pop();
        assert!(!is_der_sequence(&long), "truncated");
        for bad in [
            &b""[..],
            b"hello",
            &[0x30],
            &[0x30, 0x03, 1],
            &[0x31, 0x00],
            &[0x30, 0x80],
        ] {
            assert!(!is_der_sequence(bad), "{bad:?}");
        }
    }

    #[test]
    fn pem_problems_never_quote_the_file() {
        let key_like = b"-----BEGIN PRIVATE KEY-----\nSECRETSECRET!!!\n-----END PRIVATE KEY-----\n";
        let problem = parse_private_key(key_like).unwrap_err();
        assert!(!problem.contains("SECRET"), "{problem}");
        assert!(problem.contains("base64"), "{problem}");
        let unterminated = b"-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkq\n";
        let problem = parse_private_key(unterminated).unwrap_err();
        assert!(!problem.contains("MIIB"), "{problem}");
        let encrypted =
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(
            parse_private_key(encrypted)
                .unwrap_err()
                .contains("encrypted")
        );
        assert!(
            parse_private_key(b"just text")
                .unwrap_err()
                .contains("no PEM private key")
        );
        let not_der = b"-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n";
        assert!(
            parse_certificates(not_der)
                .unwrap_err()
                .contains("certificate 1 is not a DER X.509 certificate")
        );
        assert_eq!(parse_certificates(b"no pem here").unwrap().len(), 0);
    }
}
