//! X.509 workload identity federation through the facade: a credential configuration with
//! `credential_source.certificate` obtains a token from an STS fake on 127.0.0.1 that requires
//! a client certificate (`wif_source_x509::testing::MtlsStsServer`), with certificates generated
//! at test time.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use std::sync::Arc;

use serde_json::{Value, json};
use wif::secrecy::ExposeSecret;
use wif::{Credentials, CredentialsBuilder, MapEnvironment, RetryPolicy, Step};
use wif_source_x509::testing::{MtlsStsServer, TestFiles, TestPki};
use wif_source_x509::{CertificateConfigLocation, X509Source};

const AUDIENCE: &str = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/pool/providers/x509";
const MTLS: &str = "urn:ietf:params:oauth:token-type:mtls";
const EMAIL: &str = "writer@proj.iam.gserviceaccount.com";

struct World {
    pki: TestPki,
    files: TestFiles,
    sts: MtlsStsServer,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let pki = TestPki::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = pki.write_files(dir.path()).unwrap();
    let sts = MtlsStsServer::start(&pki).await.unwrap();
    World {
        pki,
        files,
        sts,
        _dir: dir,
    }
}

impl World {
    /// What gcloud writes for an X.509 provider, pointed at the fake.
    fn config(&self, impersonate: bool) -> Value {
        let mut v = json!({
            "type": "external_account",
            "audience": AUDIENCE,
            "subject_token_type": MTLS,
            "token_url": self.sts.token_url(),
            "credential_source": {
                "certificate": {
                    "certificate_config_location": self.files.certificate_config,
                    "trust_chain_path": self.files.trust_chain,
                }
            }
        });
        if impersonate {
            v["service_account_impersonation_url"] = json!(self.sts.impersonation_url(EMAIL));
        }
        v
    }

    /// A builder for `config`, trusting the fake's private CA, with no retries.
    fn builder(&self, config: &Value) -> CredentialsBuilder {
        Credentials::builder()
            .config_json(&config.to_string())
            .unwrap()
            .add_root_certificates_pem(self.pki.root_pem())
            .environment(Arc::new(MapEnvironment::new()))
            .retry_policy(RetryPolicy::never())
    }

    fn credentials(&self, config: &Value) -> Credentials {
        self.builder(config).build().unwrap()
    }

    /// Asserts `creds` fail at the exchange with no request reaching the fake: the TLS
    /// handshake itself failed.
    async fn assert_exchange_fails_in_the_handshake(&self, creds: &Credentials) {
        let err = creds.token().await.unwrap_err();
        assert_eq!(err.step(), Step::Exchange, "{err}");
        assert!(self.sts.requests().is_empty());
    }
}

fn decode(token: &str) -> Vec<Vec<u8>> {
    wif_source_x509::testing::certificates_in(token).expect("an mtls subject token")
}

#[tokio::test]
async fn a_certificate_configuration_gets_a_token_over_mtls() {
    let w = world().await;
    let creds = w.credentials(&w.config(false));
    assert_eq!(creds.info().source_kind, "x509");
    assert_eq!(
        creds.info().token_url.as_deref(),
        Some(w.sts.token_url().as_str())
    );

    let token = creds.token().await.unwrap();
    assert_eq!(token.secret().expose_secret(), "mtls-federated-1");

    let requests = w.sts.requests();
    assert_eq!(requests.len(), 1);
    let sts = &requests[0];
    assert_eq!(
        (sts.method.as_str(), sts.path.as_str()),
        ("POST", "/v1/token")
    );
    assert_eq!(
        sts.client_certificates[0].as_ref(),
        w.pki.leaf.cert_der.as_ref(),
        "the handshake presented the workload certificate"
    );
    assert_eq!(
        decode(&sts.form_value("subject_token").unwrap()),
        [
            w.pki.leaf.cert_der.to_vec(),
            w.pki.intermediate.cert_der.to_vec()
        ],
        "subject token: leaf, then the trust chain"
    );
    assert_eq!(sts.form_value("subject_token_type").as_deref(), Some(MTLS));
    assert_eq!(sts.form_value("audience").as_deref(), Some(AUDIENCE));
    assert_eq!(
        sts.form_value("grant_type").as_deref(),
        Some("urn:ietf:params:oauth:grant-type:token-exchange")
    );
    let metrics = sts.header("x-goog-api-client").unwrap();
    assert!(metrics.contains("source/x509"), "{metrics}");
    assert!(
        w.sts.handshake_failures().is_empty(),
        "{:?}",
        w.sts.handshake_failures()
    );

    let subject = creds.subject_token().await.unwrap();
    assert_eq!(decode(subject.secret().expose_secret()).len(), 2);
}

#[tokio::test]
async fn impersonation_goes_over_the_same_mtls_client() {
    let w = world().await;
    let creds = w.credentials(&w.config(true));
    let token = creds.token().await.unwrap();
    assert_eq!(token.secret().expose_secret(), "mtls-impersonated-2");

    let requests = w.sts.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/v1/token",
            "/v1/projects/-/serviceAccounts/writer@proj.iam.gserviceaccount.com:generateAccessToken"
        ]
    );
    assert_eq!(
        requests[1].header("authorization"),
        Some("Bearer mtls-federated-1")
    );
    for r in &requests {
        assert_eq!(
            r.client_certificates[0].as_ref(),
            w.pki.leaf.cert_der.as_ref(),
            "{}",
            r.path
        );
    }
}

#[tokio::test]
async fn without_the_certificate_wiring_the_handshake_fails() {
    let w = world().await;
    // The same source plugged in by hand: the builder no longer knows it is a certificate
    // source, so the STS client presents no certificate and the server refuses the handshake.
    let source = X509Source::new(CertificateConfigLocation::Path(
        w.files.certificate_config.clone(),
    ))
    .with_environment(Arc::new(MapEnvironment::new()));
    let creds = Credentials::builder()
        .config_json(&w.config(false).to_string())
        .unwrap()
        .source(source)
        .add_root_certificates_pem(w.pki.root_pem())
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    w.assert_exchange_fails_in_the_handshake(&creds).await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(
        w.sts.handshake_failures().len(),
        1,
        "{:?}",
        w.sts.handshake_failures()
    );
}

#[tokio::test]
async fn without_the_private_ca_the_server_is_not_trusted() {
    let w = world().await;
    let creds = Credentials::builder()
        .config_json(&w.config(false).to_string())
        .unwrap()
        .environment(Arc::new(MapEnvironment::new()))
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    w.assert_exchange_fails_in_the_handshake(&creds).await;
}

#[tokio::test]
async fn a_missing_certificate_configuration_fails_before_any_request() {
    let w = world().await;
    let mut config = w.config(false);
    config["credential_source"]["certificate"]["certificate_config_location"] =
        json!("/nonexistent/certificate_config.json");
    let err = w.credentials(&config).token().await.unwrap_err();
    assert_eq!(err.step(), Step::Source, "{err}");
    let shown = err.to_string();
    assert!(
        shown.contains("/nonexistent/certificate_config.json"),
        "{shown}"
    );
    assert!(shown.contains("certificate_config_location"), "{shown}");
    assert!(w.sts.requests().is_empty());
}

#[test]
fn the_default_sts_endpoint_becomes_the_mtls_one() {
    let pem = TestPki::new().unwrap().root.cert_pem;
    let info = |config: Value, token_url: Option<&str>| {
        let mut b = Credentials::builder()
            .config_json(&config.to_string())
            .unwrap()
            .add_root_certificates_pem(pem.clone());
        if let Some(u) = token_url {
            b = b.token_url(u);
        }
        b.build().unwrap().info().token_url.clone().unwrap()
    };
    let base = json!({
        "type": "external_account",
        "audience": AUDIENCE,
        "subject_token_type": MTLS,
        "credential_source": { "certificate": { "use_default_certificate_config": true } }
    });
    assert_eq!(
        info(base.clone(), None),
        "https://sts.mtls.googleapis.com/v1/token"
    );

    let mut written = base.clone();
    written["token_url"] = json!("https://sts.googleapis.com/v1/token");
    assert_eq!(
        info(written, None),
        "https://sts.mtls.googleapis.com/v1/token"
    );

    let mut universe = base.clone();
    universe["universe_domain"] = json!("example-universe.net");
    assert_eq!(
        info(universe, None),
        "https://sts.mtls.example-universe.net/v1/token"
    );

    let mut regional = base.clone();
    regional["token_url"] = json!("https://sts.us-east1.rep.googleapis.com/v1/token");
    assert_eq!(
        info(regional, None),
        "https://sts.us-east1.rep.googleapis.com/v1/token",
        "another endpoint in the configuration is kept"
    );

    assert_eq!(
        info(base, Some("https://sts.googleapis.com/v1/token")),
        "https://sts.googleapis.com/v1/token",
        "an endpoint set on the builder is kept"
    );
}

#[test]
fn root_certificate_bundles_are_checked_at_build() {
    let base = json!({
        "type": "external_account",
        "audience": AUDIENCE,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "credential_source": { "file": "/var/run/secrets/token" }
    });
    let err = Credentials::builder()
        .config_json(&base.to_string())
        .unwrap()
        .add_root_certificates_pem("not a certificate")
        .build()
        .unwrap_err();
    assert!(err.is_config(), "{err}");
    assert!(err.to_string().contains("root_certificates"), "{err}");
}

/// Step by step (what `wif explain` does): the chain's exchange step presents the workload
/// certificate too, so a diagnosis of an X.509 chain can run the exchange.
#[tokio::test]
async fn the_chain_runs_the_mtls_exchange_step_by_step() {
    let w = world().await;
    let chain = w.builder(&w.config(true)).build_chain().unwrap();
    assert_eq!(chain.info().source_kind, "x509");
    assert!(chain.impersonates());

    let subject = chain.subject_token().await.unwrap();
    let federated = chain.exchange(&subject).await.unwrap();
    assert_eq!(federated.secret().expose_secret(), "mtls-federated-1");
    let requests = w.sts.requests();
    assert_eq!(requests.len(), 1, "one STS call, nothing else yet");
    assert_eq!(
        requests[0].client_certificates[0].as_ref(),
        w.pki.leaf.cert_der.as_ref(),
        "the exchange step presented the workload certificate"
    );

    let token = chain.impersonate(&federated).await.unwrap();
    assert!(!token.secret().expose_secret().is_empty());
    let requests = w.sts.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests[1].path.ends_with(":generateAccessToken"));
}
