//! Tests of the source against real files and a real mTLS handshake (certificates generated at
//! test time with rcgen; the server is `testing::MtlsStsServer` on 127.0.0.1).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use secrecy::ExposeSecret;
use wif_core::{ErrorKind, MapEnvironment, SourceContext, Step, SubjectTokenSource};

use super::*;
use crate::testing::{MtlsStsServer, TestFiles, TestPki, certificate_config_json};

fn ctx() -> SourceContext {
    SourceContext::new(
        "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x509",
        MTLS_SUBJECT_TOKEN_TYPE,
    )
}

fn b64(der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(der)
}

struct World {
    pki: TestPki,
    files: TestFiles,
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let pki = TestPki::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let files = pki.write_files(&dir.path().join("pki")).unwrap();
        World { pki, files, dir }
    }

    fn source(&self) -> X509Source {
        X509Source::new(CertificateConfigLocation::Path(
            self.files.certificate_config.clone(),
        ))
        .with_environment(Arc::new(MapEnvironment::new()))
    }

    fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    fn roots(&self) -> Vec<CertificateDer<'static>> {
        parse_root_certificates(self.pki.root_pem().as_bytes()).unwrap()
    }

    /// The test CA's root as a reqwest trust anchor.
    fn root_certificate(&self) -> reqwest::Certificate {
        reqwest::Certificate::from_pem(self.pki.root_pem().as_bytes()).unwrap()
    }

    /// A client presenting `source`'s certificate and trusting this world's CA.
    fn mtls_client(&self, source: &X509Source) -> reqwest::Client {
        source
            .mtls_client_builder(&self.roots())
            .unwrap()
            .build()
            .unwrap()
    }

    /// A new world, an mTLS STS stand-in trusting its CA, the world's source and a client
    /// presenting that source's certificate.
    async fn connected() -> (World, MtlsStsServer, X509Source, reqwest::Client) {
        let w = World::new();
        let sts = MtlsStsServer::start(&w.pki).await.unwrap();
        let source = w.source();
        let client = w.mtls_client(&source);
        (w, sts, source, client)
    }

    /// Asserts the first request `sts` saw presented this world's leaf certificate.
    fn assert_first_request_presented_the_leaf(&self, sts: &MtlsStsServer) {
        assert_eq!(
            sts.requests()[0].client_certificates[0].as_ref(),
            self.pki.leaf.cert_der.as_ref()
        );
    }
}

/// Decodes the subject token: a JSON array of base64 DER certificates.
fn decode(token: &str) -> Vec<Vec<u8>> {
    crate::testing::certificates_in(token).expect("an mtls subject token")
}

async fn token_of(source: &X509Source) -> String {
    source
        .subject_token(&ctx())
        .await
        .unwrap()
        .secret()
        .expose_secret()
        .to_owned()
}

#[tokio::test]
async fn subject_token_is_the_leaf_then_the_trust_chain_in_python_format() {
    let w = World::new();
    let source = w.source().with_trust_chain(&w.files.trust_chain);
    assert_eq!(source.kind(), "x509");
    let token = token_of(&source).await;
    assert_eq!(
        decode(&token),
        [
            w.pki.leaf.cert_der.to_vec(),
            w.pki.intermediate.cert_der.to_vec()
        ]
    );
    // Python's json.dumps separators, byte for byte.
    assert_eq!(
        token,
        format!(
            "[\"{}\", \"{}\"]",
            b64(&w.pki.leaf.cert_der),
            b64(&w.pki.intermediate.cert_der)
        )
    );
    assert_eq!(source.certificate_count(), Some(2));
}

#[tokio::test]
async fn without_trust_chain_only_the_leaf_even_if_cert_path_holds_more() {
    let w = World::new();
    // cert.pem holds leaf + intermediate (what TLS presents); the token takes the leaf only.
    let token = token_of(&w.source()).await;
    assert_eq!(decode(&token), [w.pki.leaf.cert_der.to_vec()]);
    assert_eq!(token, format!("[\"{}\"]", b64(&w.pki.leaf.cert_der)));
}

#[tokio::test]
async fn trust_chain_rules() {
    let w = World::new();
    let (leaf, inter, root) = (&w.pki.leaf, &w.pki.intermediate, &w.pki.root);

    let full = w.write(
        "full.pem",
        format!("{}{}{}", leaf.cert_pem, inter.cert_pem, root.cert_pem),
    );
    let token = token_of(&w.source().with_trust_chain(&full)).await;
    assert_eq!(
        decode(&token),
        [
            leaf.cert_der.to_vec(),
            inter.cert_der.to_vec(),
            root.cert_der.to_vec()
        ],
        "a chain file starting with the leaf does not repeat it"
    );

    let misplaced = w.write(
        "misplaced.pem",
        format!("{}{}", inter.cert_pem, leaf.cert_pem),
    );
    let err = w
        .source()
        .with_trust_chain(&misplaced)
        .subject_token(&ctx())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("the leaf certificate must be at the top of the trust chain file"),
        "{err}"
    );
    assert_eq!(err.step(), Step::Source);

    let with_key = w.write(
        "with-key.pem",
        format!("{}{}", inter.cert_pem, w.pki.intermediate.key_pem),
    );
    let token = token_of(&w.source().with_trust_chain(&with_key)).await;
    assert_eq!(
        decode(&token).len(),
        2,
        "non-certificate PEM sections are skipped"
    );
    let shown = format!("{:?}", w.source().with_trust_chain(&with_key));
    assert!(!shown.contains("PRIVATE"), "{shown}");

    let empty = w.write("empty.pem", "");
    let err = w.source().with_trust_chain(&empty).load().unwrap_err();
    assert!(
        err.to_string().contains("contains no PEM certificate"),
        "{err}"
    );
    assert!(err.to_string().contains("trust_chain_path"), "{err}");
    assert!(err.to_string().contains("empty.pem"), "{err}");

    let missing = w.dir.path().join("nope.pem");
    let err = w.source().with_trust_chain(&missing).load().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.to_string().contains("trust_chain_path"), "{err}");
    assert!(err.to_string().contains("nope.pem`: not found"), "{err}");
}

#[tokio::test]
async fn default_lookup_follows_the_environment() {
    let w = World::new();
    let want = vec![w.pki.leaf.cert_der.to_vec()];
    let default = || X509Source::new(CertificateConfigLocation::Default);

    let env = MapEnvironment::new().with(
        CERTIFICATE_CONFIG_ENV,
        w.files.certificate_config.to_str().unwrap(),
    );
    let s = default().with_environment(Arc::new(env));
    assert_eq!(decode(&token_of(&s).await), want);
    assert_eq!(
        s.resolve_certificate_config().unwrap().origin,
        ConfigOrigin::CertificateConfigEnv
    );

    let env = MapEnvironment::new().with(
        CONTEXT_AWARE_CERTIFICATE_CONFIG_ENV,
        w.files.certificate_config.to_str().unwrap(),
    );
    let s = default().with_environment(Arc::new(env));
    assert_eq!(decode(&token_of(&s).await), want);

    // gcloud's well-known file under HOME.
    let home = w.dir.path().join("home");
    let gcloud = home.join(".config").join("gcloud");
    std::fs::create_dir_all(&gcloud).unwrap();
    std::fs::copy(
        &w.files.certificate_config,
        gcloud.join(CERTIFICATE_CONFIG_FILE_NAME),
    )
    .unwrap();
    let env = MapEnvironment::new().with("HOME", home.to_str().unwrap());
    let s = default().with_environment(Arc::new(env));
    assert_eq!(decode(&token_of(&s).await), want);
    assert_eq!(
        s.resolve_certificate_config().unwrap().origin,
        ConfigOrigin::GcloudDefault
    );

    // An explicit variable naming a missing file does not fall through to gcloud's file.
    let env = MapEnvironment::new()
        .with("HOME", home.to_str().unwrap())
        .with(CERTIFICATE_CONFIG_ENV, "/nonexistent/cc.json");
    let err = default()
        .with_environment(Arc::new(env))
        .load()
        .unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains("/nonexistent/cc.json"), "{shown}");
    assert!(
        shown.contains("(from GOOGLE_API_CERTIFICATE_CONFIG)"),
        "{shown}"
    );
    assert!(shown.contains("not found"), "{shown}");

    // Nothing anywhere: gcloud's path is named, with a hint.
    let env = MapEnvironment::new().with("HOME", w.dir.path().join("empty-home").to_str().unwrap());
    let err = default()
        .with_environment(Arc::new(env))
        .load()
        .unwrap_err();
    assert!(
        err.to_string().contains("gcloud's default location"),
        "{err}"
    );
    assert!(
        err.hint().unwrap_or("").contains("create-cred-config"),
        "{err}"
    );
}

#[tokio::test]
async fn missing_and_malformed_files_are_named() {
    let w = World::new();
    let config_at = |name: &str, cert: &Path, key: &Path| -> X509Source {
        let cc = w.write(name, certificate_config_json(cert, key));
        X509Source::new(CertificateConfigLocation::Path(cc))
            .with_environment(Arc::new(MapEnvironment::new()))
    };
    let nowhere = w.dir.path().join("missing.pem");

    let err = config_at("cc1.json", &nowhere, &w.files.key)
        .load()
        .unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains("`cert_path` certificate file"), "{shown}");
    assert!(shown.contains("missing.pem"), "{shown}");
    assert!(
        shown.contains("cc1.json"),
        "names the certificate configuration: {shown}"
    );
    assert_eq!(err.kind(), ErrorKind::Io);

    let err = config_at("cc2.json", &w.files.cert, &nowhere)
        .load()
        .unwrap_err();
    assert!(
        err.to_string().contains("`key_path` private key file"),
        "{err}"
    );
    assert!(err.to_string().contains("missing.pem"), "{err}");

    let text = w.write("text.pem", "not a certificate");
    let err = config_at("cc3.json", &text, &w.files.key)
        .load()
        .unwrap_err();
    assert!(
        err.to_string().contains("contains no PEM certificate"),
        "{err}"
    );
    assert!(err.is_config(), "{err}");

    // The key of another certificate.
    let other = w.pki.issue_leaf("other").unwrap();
    let other_key = w.write("other-key.pem", &other.key_pem);
    let err = config_at("cc4.json", &w.files.cert, &other_key)
        .load()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("does not belong to the certificate"),
        "{err}"
    );
    assert!(
        err.hint().unwrap_or("").contains("replaced together"),
        "{err}"
    );

    // A key file with garbage: the message describes, never quotes.
    let garbage = w.write(
        "garbage-key.pem",
        "-----BEGIN PRIVATE KEY-----\nSUPERSECRETKEYMATERIAL!!\n-----END PRIVATE KEY-----\n",
    );
    let err = config_at("cc5.json", &w.files.cert, &garbage)
        .load()
        .unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("SUPERSECRET"), "{shown}");
    assert!(shown.contains("garbage-key.pem"), "{shown}");

    let err = X509Source::new(CertificateConfigLocation::Path(
        w.write("bad.json", "{\"cert_configs\": {}}"),
    ))
    .load()
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("`cert_configs.workload` is missing"),
        "{err}"
    );
    assert!(err.to_string().contains("bad.json"), "{err}");
    assert!(
        err.to_string().contains("certificate_config_location"),
        "{err}"
    );

    let err = X509Source::new(CertificateConfigLocation::Path(w.dir.path().to_path_buf()))
        .load()
        .unwrap_err();
    assert!(err.to_string().contains("is a directory"), "{err}");
}

#[tokio::test]
async fn key_material_never_reaches_debug_errors_or_logs() {
    let logs = wif_core::testing::LogCapture::global();
    let w = World::new();
    let source = w.source().with_trust_chain(&w.files.trust_chain);
    source.load().unwrap();
    let key_body: String = w
        .pki
        .leaf
        .key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let marker = &key_body[10..40];
    let shown = format!("{source:?}");
    assert!(!shown.contains(marker), "{shown}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    assert!(shown.contains("cert.pem"), "paths are shown: {shown}");
    assert!(shown.contains("[REDACTED]"), "{shown}");
    let _ = source.mtls_identity().unwrap();
    let _ = source.mtls_client().unwrap();
    assert!(
        !logs.contents().contains(marker),
        "a log line holds key material"
    );
}

#[tokio::test]
async fn mtls_client_presents_the_leaf_and_the_server_sees_it() {
    let w = World::new();
    let sts = MtlsStsServer::start(&w.pki).await.unwrap();
    let source = w.source().with_trust_chain(&w.files.trust_chain);
    let client = w.mtls_client(&source);

    let subject = token_of(&source).await;
    let response = client
        .post(sts.token_url())
        .form(&[("subject_token", subject.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["access_token"], "mtls-federated-1");

    let requests = sts.requests();
    assert_eq!(requests.len(), 1);
    let seen = &requests[0].client_certificates;
    assert_eq!(seen.len(), 2, "leaf and intermediate presented");
    assert_eq!(seen[0].as_ref(), w.pki.leaf.cert_der.as_ref());
    assert_eq!(seen[1].as_ref(), w.pki.intermediate.cert_der.as_ref());
    assert_eq!(
        requests[0].form_value("subject_token").as_deref(),
        Some(subject.as_str())
    );
    assert!(
        sts.handshake_failures().is_empty(),
        "{:?}",
        sts.handshake_failures()
    );
}

#[tokio::test]
async fn the_handshake_fails_without_a_client_certificate_or_with_a_foreign_one() {
    let w = World::new();
    let sts = MtlsStsServer::start(&w.pki).await.unwrap();

    // The public roots plus the test CA, but no identity.
    let plain = wif_core::http::client_builder_with_roots(&w.roots())
        .unwrap()
        .build()
        .unwrap();
    let err = plain
        .post(sts.token_url())
        .body("x")
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_status(), "{err}");
    assert!(sts.requests().is_empty());

    // A certificate from another CA.
    let foreign = World::new();
    let client = w.mtls_client(&foreign.source());
    foreign.source().load().unwrap();
    assert!(client.post(sts.token_url()).body("x").send().await.is_err());
    assert!(sts.requests().is_empty());

    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let failures = sts.handshake_failures();
    assert_eq!(failures.len(), 2, "{failures:?}");
}

#[tokio::test]
async fn a_client_used_before_any_token_loads_the_certificate_itself() {
    let (w, sts, _source, client) = World::connected().await;
    let response = client.post(sts.token_url()).body("x").send().await.unwrap();
    assert_eq!(response.status(), 200);
    w.assert_first_request_presented_the_leaf(&sts);
}

#[tokio::test]
async fn a_rotated_certificate_is_used_by_the_next_token_and_handshake() {
    let (w, sts, source, client) = World::connected().await;

    let first = token_of(&source).await;
    client.post(sts.token_url()).body("1").send().await.unwrap();

    let rotated = w.pki.issue_leaf("workload-2").unwrap();
    std::fs::write(
        &w.files.cert,
        format!("{}{}", rotated.cert_pem, w.pki.intermediate.cert_pem),
    )
    .unwrap();
    std::fs::write(&w.files.key, &rotated.key_pem).unwrap();

    let second = token_of(&source).await;
    assert_ne!(first, second);
    assert_eq!(decode(&second)[0], rotated.cert_der.to_vec());
    client.post(sts.token_url()).body("2").send().await.unwrap();

    let seen: Vec<Vec<u8>> = sts
        .requests()
        .iter()
        .map(|r| r.client_certificates[0].to_vec())
        .collect();
    assert_eq!(
        seen,
        [w.pki.leaf.cert_der.to_vec(), rotated.cert_der.to_vec()],
        "each exchange presents the certificate its subject token was built from"
    );
}

#[tokio::test]
async fn mtls_identity_works_with_reqwests_own_tls() {
    let w = World::new();
    let sts = MtlsStsServer::start(&w.pki).await.unwrap();
    // reqwest's own rustls setup needs a process-wide crypto provider when reqwest carries none
    // (wif builds it so): what an application that builds its own client installs. The same
    // provider wif's clients use, so the other tests of this binary see no difference.
    let _ = Arc::unwrap_or_clone(wif_core::http::crypto_provider()).install_default();
    let client = reqwest::Client::builder()
        .identity(w.source().mtls_identity().unwrap())
        .tls_certs_only([w.root_certificate()])
        .build()
        .unwrap();
    let response = client.post(sts.token_url()).body("x").send().await.unwrap();
    assert_eq!(response.status(), 200);
    w.assert_first_request_presented_the_leaf(&sts);
}

#[test]
fn root_certificates_parse_and_reject_garbage() {
    let w = World::new();
    assert_eq!(w.roots().len(), 1);
    let err =
        parse_root_certificates(b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n")
            .unwrap_err();
    assert!(err.is_config(), "{err}");
    assert!(err.to_string().contains("root_certificates"), "{err}");
}

#[test]
fn mtls_token_url_per_universe() {
    assert_eq!(
        mtls_token_url(""),
        "https://sts.mtls.googleapis.com/v1/token"
    );
    assert_eq!(
        mtls_token_url("example-universe.net"),
        "https://sts.mtls.example-universe.net/v1/token"
    );
}
