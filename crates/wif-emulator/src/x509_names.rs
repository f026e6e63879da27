//! What an X.509 workload certificate says it is, for Google STS's attribute mapping of the
//! mTLS subject token: the subject's common name (`assertion.subject.dn.cn`) and the URI
//! subject alternative names (`assertion.san.uri`, where SPIFFE IDs live).
//!
//! A minimal DER walk over the RFC 5280 `TBSCertificate`, enough for these two fields; no
//! signature is checked here (the TLS handshake verified the chain). Any malformed input is an
//! error, never a panic.

/// `2.5.4.3` (id-at-commonName).
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// `2.5.29.17` (id-ce-subjectAltName).
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const BOOLEAN: u8 = 0x01;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
/// `[0] EXPLICIT Version`.
const VERSION: u8 = 0xa0;
/// `[3] EXPLICIT Extensions`.
const EXTENSIONS: u8 = 0xa3;
/// GeneralName `uniformResourceIdentifier [6] IMPLICIT IA5String`.
const URI_NAME: u8 = 0x86;

/// The names of a certificate's subject.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SubjectNames {
    /// The (first) common name of the subject, if any.
    pub(crate) common_name: Option<String>,
    /// The URI subject alternative names, in order.
    pub(crate) uris: Vec<String>,
}

/// Reads the subject names of a DER certificate.
pub(crate) fn subject_names(der: &[u8]) -> Result<SubjectNames, &'static str> {
    const MALFORMED: &str = "the certificate is not DER X.509";
    let mut outer = Reader(der);
    let certificate = outer.expect(SEQUENCE).ok_or(MALFORMED)?;
    let tbs = Reader(certificate).expect(SEQUENCE).ok_or(MALFORMED)?;
    let mut tbs = Reader(tbs);
    let mut field = tbs.next().ok_or(MALFORMED)?;
    if field.0 == VERSION {
        field = tbs.next().ok_or(MALFORMED)?;
    }
    if field.0 != INTEGER {
        return Err(MALFORMED);
    }
    // signature algorithm, issuer, validity, then the subject.
    for _ in 0..3 {
        tbs.expect(SEQUENCE).ok_or(MALFORMED)?;
    }
    let subject = tbs.expect(SEQUENCE).ok_or(MALFORMED)?;
    tbs.expect(SEQUENCE).ok_or(MALFORMED)?; // subjectPublicKeyInfo
    let mut names = SubjectNames {
        common_name: common_name(subject).ok_or(MALFORMED)?,
        uris: Vec::new(),
    };
    // issuerUniqueID [1] and subjectUniqueID [2] may precede the extensions.
    while let Some((tag, content)) = tbs.next() {
        if tag == EXTENSIONS {
            names.uris = uri_names(content).ok_or(MALFORMED)?;
        }
    }
    Ok(names)
}

/// `Name ::= SEQUENCE OF SET OF AttributeTypeAndValue`: the first CN, `Some(None)` when there
/// is none, `None` when malformed.
fn common_name(name: &[u8]) -> Option<Option<String>> {
    let mut rdns = Reader(name);
    while !rdns.is_empty() {
        let mut attributes = Reader(rdns.expect(SET)?);
        while !attributes.is_empty() {
            let mut attribute = Reader(attributes.expect(SEQUENCE)?);
            let oid = attribute.expect(OID)?;
            let (tag, value) = attribute.next()?;
            if oid == COMMON_NAME {
                return Some(Some(directory_string(tag, value)?));
            }
        }
    }
    Some(None)
}

/// `Extensions ::= SEQUENCE OF Extension`: the URIs of the subjectAltName extension.
fn uri_names(extensions: &[u8]) -> Option<Vec<String>> {
    let mut list = Reader(Reader(extensions).expect(SEQUENCE)?);
    let mut uris = Vec::new();
    while !list.is_empty() {
        let mut extension = Reader(list.expect(SEQUENCE)?);
        let oid = extension.expect(OID)?;
        let mut value = extension.next()?;
        if value.0 == BOOLEAN {
            value = extension.next()?; // critical
        }
        if value.0 != OCTET_STRING {
            return None;
        }
        if oid != SUBJECT_ALT_NAME {
            continue;
        }
        let mut general_names = Reader(Reader(value.1).expect(SEQUENCE)?);
        while let Some((tag, name)) = general_names.next() {
            if tag == URI_NAME {
                uris.push(String::from_utf8(name.to_vec()).ok()?);
            }
        }
        if !general_names.is_empty() {
            return None;
        }
    }
    Some(uris)
}

/// A `DirectoryString` (or IA5String) as text.
fn directory_string(tag: u8, value: &[u8]) -> Option<String> {
    match tag {
        // UTF8String, PrintableString, IA5String
        0x0c | 0x13 | 0x16 => String::from_utf8(value.to_vec()).ok(),
        // TeletexString: Latin-1 in practice.
        0x14 => Some(value.iter().map(|&b| char::from(b)).collect()),
        // BMPString: UTF-16BE.
        0x1e if value.len().is_multiple_of(2) => {
            let units: Vec<u16> = value
                .chunks_exact(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

/// A cursor over DER TLVs (definite lengths up to 4 length bytes).
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The next `(tag, content)`, or `None` at the end or on a malformed TLV (which also ends
    /// the walk: the cursor is emptied).
    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let parsed = self.parse();
        if parsed.is_none() {
            self.0 = &[];
        }
        parsed
    }

    fn parse(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.0.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (length, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return None;
            }
            let (bytes, rest) = rest.split_at(count);
            let length = bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            (length, rest)
        };
        if rest.len() < length {
            return None;
        }
        let (content, rest) = rest.split_at(length);
        self.0 = rest;
        Some((tag, content))
    }

    /// The content of the next TLV if its tag is `tag`.
    fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        match self.next()? {
            (t, content) if t == tag => Some(content),
            _ => None,
        }
    }
}

/// Certificates with chosen names, for tests.
#[cfg(test)]
pub(crate) mod test_certs {
    use rcgen::{CertificateParams, DnType, KeyPair, SanType};

    /// A self-signed certificate (DER) with `common_name` (if any), a DNS SAN and `uris`.
    pub(crate) fn with_names(common_name: Option<&str>, uris: &[&str]) -> Vec<u8> {
        let mut params = CertificateParams::new(vec!["workload.wif-rs.test".to_owned()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "wif-rs");
        if let Some(cn) = common_name {
            params.distinguished_name.push(DnType::CommonName, cn);
        }
        for uri in uris {
            params
                .subject_alt_names
                .push(SanType::URI((*uri).try_into().unwrap()));
        }
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::test_certs::with_names;
    use super::*;
    use wif_source_x509::testing::TestPki;

    #[test]
    fn reads_the_common_name_and_uri_sans() {
        let der = with_names(
            Some("workload-1"),
            &[
                "spiffe://wif-rs.test/ns/prod/sa/writer",
                "https://example.test/id",
            ],
        );
        assert_eq!(
            subject_names(&der).unwrap(),
            SubjectNames {
                common_name: Some("workload-1".into()),
                uris: vec![
                    "spiffe://wif-rs.test/ns/prod/sa/writer".into(),
                    "https://example.test/id".into()
                ],
            }
        );
        // No CN, no URI: both absent (the DNS SAN is not a URI).
        assert_eq!(
            subject_names(&with_names(None, &[])).unwrap(),
            SubjectNames::default()
        );
        // Certificates of a CA chain: a v3 leaf with extensions, CAs without SANs.
        let pki = TestPki::new().unwrap();
        let leaf = subject_names(&pki.leaf.cert_der).unwrap();
        assert_eq!(leaf.common_name.as_deref(), Some("workload-1"));
        assert!(
            leaf.uris.is_empty(),
            "rcgen makes DNS names of its SAN strings: {leaf:?}"
        );
        let root = subject_names(&pki.root.cert_der).unwrap();
        assert_eq!(root.common_name.as_deref(), Some("wif-rs test root CA"));
        assert!(root.uris.is_empty());
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let cert = with_names(Some("w"), &["spiffe://wif-rs.test/w"]);
        let der = cert.as_slice();
        // Every truncation: the outer length no longer fits.
        for end in 0..der.len() {
            assert!(subject_names(&der[..end]).is_err(), "truncated at {end}");
        }
        // Every single-byte corruption: an error or some names, never a panic.
        for at in 0..der.len() {
            let mut bad = der.to_vec();
            bad[at] ^= 0xff;
            let _ = subject_names(&bad);
        }
        for junk in [
            &b""[..],
            b"\x30",
            b"\x30\x84\xff\xff\xff\xff",
            b"\x30\x80\x00\x00",
        ] {
            assert!(subject_names(junk).is_err(), "{junk:?}");
        }
    }

    #[test]
    fn directory_strings() {
        assert_eq!(directory_string(0x0c, "é".as_bytes()).as_deref(), Some("é"));
        assert_eq!(directory_string(0x13, b"abc").as_deref(), Some("abc"));
        assert_eq!(directory_string(0x14, &[0xe9]).as_deref(), Some("é"));
        assert_eq!(
            directory_string(0x1e, &[0x00, 0x61, 0x00, 0xe9]).as_deref(),
            Some("aé")
        );
        assert_eq!(directory_string(0x1e, &[0x00]), None);
        assert_eq!(directory_string(0x0c, &[0xff]), None);
        assert_eq!(directory_string(0x04, b"abc"), None);
    }
}
