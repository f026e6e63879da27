//! The emulator's mTLS listener and X.509 federation: a handshake needs a client certificate
//! from the configured CA, Google STS takes the `mtls` subject token only when its leaf is the
//! certificate of the handshake, and the whole chain (exchange, then impersonation, both over
//! mTLS) runs through `wif::Credentials`. Certificates come from `wif_source_x509::testing`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::ExposeSecret;
use serde_json::Value;
use support::{start_default, status_and_json, tokeninfo};
use wif::{Credentials, MapEnvironment, RetryPolicy};
use wif_emulator::config::DEFAULT_SERVICE_ACCOUNT;
use wif_emulator::configs::certificate_config;
use wif_emulator::{Emulator, EmulatorConfig, Endpoint, MtlsConfig, RunningEmulator};
use wif_source_x509::testing::{TestFiles, TestPki};
use wif_source_x509::{CertificateConfigLocation, X509Source};

const MTLS: &str = "urn:ietf:params:oauth:token-type:mtls";

struct World {
    pki: TestPki,
    files: TestFiles,
    emulator: RunningEmulator,
    dir: tempfile::TempDir,
}

/// An emulator serving mTLS with the PKI's server certificate, trusting the PKI's root for
/// client certificates; the workload's files written.
async fn world() -> World {
    let pki = TestPki::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = pki.write_files(&dir.path().join("pki")).unwrap();
    let emulator = Emulator::new(EmulatorConfig::default())
        .with_mtls(mtls_config(&pki))
        .start_local()
        .await
        .unwrap();
    World {
        pki,
        files,
        emulator,
        dir,
    }
}

fn mtls_config(pki: &TestPki) -> MtlsConfig {
    MtlsConfig::new(
        pki.server.cert_pem.clone(),
        pki.server.key_pem.clone(),
        pki.root_pem(),
    )
}

impl World {
    fn mtls_url(&self, path: &str) -> String {
        format!("{}{path}", self.emulator.mtls_base_url().unwrap())
    }

    /// The real mTLS client of the certificate source, presenting the workload's leaf.
    fn source_and_client(&self) -> (X509Source, reqwest::Client) {
        let source = X509Source::new(CertificateConfigLocation::Path(
            self.files.certificate_config.clone(),
        ))
        .with_trust_chain(&self.files.trust_chain)
        .with_environment(Arc::new(MapEnvironment::new()));
        let client = self.mtls_client(&source);
        (source, client)
    }

    /// An mTLS client presenting `source`'s certificate and trusting the PKI's root.
    fn mtls_client(&self, source: &X509Source) -> reqwest::Client {
        let roots =
            wif_source_x509::parse_root_certificates(self.pki.root_pem().as_bytes()).unwrap();
        source.mtls_client_builder(&roots).unwrap().build().unwrap()
    }

    fn form(&self, subject_token: &str) -> Vec<(&'static str, String)> {
        vec![
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange".into(),
            ),
            (
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:access_token".into(),
            ),
            ("subject_token_type", MTLS.into()),
            ("subject_token", subject_token.into()),
            ("audience", self.emulator.config().x509_audience()),
            (
                "scope",
                "https://www.googleapis.com/auth/cloud-platform".into(),
            ),
        ]
    }
}

async fn post(client: &reqwest::Client, url: &str, form: &[(&str, String)]) -> (u16, Value) {
    status_and_json(client.post(url).form(form).send().await.unwrap()).await
}

/// Asserts Google STS refused the exchange with `error` and a description containing `words`.
fn assert_refused(status: u16, body: &Value, error: &str, words: &str) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], error);
    assert!(
        body["error_description"].as_str().unwrap().contains(words),
        "{body}"
    );
}

fn token_of(certs: &[&[u8]]) -> String {
    serde_json::to_string(&certs.iter().map(|c| STANDARD.encode(c)).collect::<Vec<_>>()).unwrap()
}

#[tokio::test]
async fn the_presented_certificate_gets_a_federated_token() {
    let world = world().await;
    let (source, client) = world.source_and_client();
    let subject_token = source.load().unwrap();
    let (status, body) = post(
        &client,
        &world.mtls_url("/v1/token"),
        &world.form(subject_token.secret().expose_secret()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    assert!(token.starts_with("emu-federated."), "{body}");

    // The federated identity is the leaf's common name, and the token works on either port.
    let info = tokeninfo(&world.emulator, token).await;
    assert_eq!(
        info["principal"],
        world.emulator.config().principal_for_subject("workload-1")
    );
    assert_eq!(world.emulator.requests(Endpoint::GoogleSts), 1);
}

#[tokio::test]
async fn a_subject_token_of_another_leaf_is_refused() {
    let world = world().await;
    let (source, client) = world.source_and_client();
    source.load().unwrap(); // the handshake presents this leaf…
    let other = world.pki.issue_leaf("workload-2").unwrap();
    // …and the token names another one, from the same trusted CA.
    let token = token_of(&[&other.cert_der, &world.pki.intermediate.cert_der]);
    let (status, body) = post(&client, &world.mtls_url("/v1/token"), &world.form(&token)).await;
    assert_refused(
        status,
        &body,
        "invalid_grant",
        "not the client certificate presented in the mTLS handshake",
    );
}

#[tokio::test]
async fn the_plain_port_refuses_mtls_subject_tokens() {
    let world = world().await;
    let token = token_of(&[&world.pki.leaf.cert_der]);
    let (status, body) = post(
        &wif::layers::core::http::default_client().unwrap(),
        &format!("{}/v1/token", world.emulator.base_url()),
        &world.form(&token),
    )
    .await;
    assert_refused(status, &body, "invalid_request", "only over mTLS");
}

#[tokio::test]
async fn a_handshake_needs_a_client_certificate_from_the_ca() {
    let world = world().await;
    let root = wif_source_x509::parse_root_certificates(world.pki.root_pem().as_bytes()).unwrap();
    let anonymous = wif::layers::core::http::client_builder_with_roots(&root)
        .unwrap()
        .build()
        .unwrap();
    let form = world.form(&token_of(&[&world.pki.leaf.cert_der]));
    let err = anonymous
        .post(world.mtls_url("/v1/token"))
        .form(&form)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect() || err.is_request(), "{err:?}");

    // A certificate from another CA is no better.
    let stranger = TestPki::new().unwrap();
    let files = stranger
        .write_files(&world.dir.path().join("stranger"))
        .unwrap();
    let source = X509Source::new(CertificateConfigLocation::Path(files.certificate_config))
        .with_environment(Arc::new(MapEnvironment::new()));
    let client = world.mtls_client(&source);
    let token = source.load().unwrap();
    let form = world.form(token.secret().expose_secret());
    assert!(
        client
            .post(world.mtls_url("/v1/token"))
            .form(&form)
            .send()
            .await
            .is_err()
    );
    assert_eq!(
        world.emulator.requests(Endpoint::GoogleSts),
        0,
        "no request got past the handshake"
    );
}

#[tokio::test]
async fn credentials_exchange_and_impersonate_over_mtls() {
    let world = world().await;
    let config = certificate_config(
        &world.emulator,
        &world.files.certificate_config,
        Some(&world.files.trust_chain),
    )
    .unwrap();
    let mtls_base = world.emulator.mtls_base_url().unwrap();
    assert_eq!(config["token_url"], format!("{mtls_base}/v1/token"));
    let credentials = Credentials::builder()
        .config_json(&config.to_string())
        .unwrap()
        .add_root_certificates_pem(world.pki.root_pem())
        .environment(Arc::new(MapEnvironment::new()))
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    let token = credentials.token().await.unwrap();
    let token = token.secret().expose_secret();
    assert!(token.starts_with("emu-sa."), "{token}");
    let info = tokeninfo(&world.emulator, token).await;
    assert_eq!(info["principal"], DEFAULT_SERVICE_ACCOUNT);
    assert_eq!(world.emulator.requests(Endpoint::GoogleSts), 1);
    assert_eq!(world.emulator.requests(Endpoint::IamCredentials), 1);
}

#[tokio::test]
async fn without_mtls_there_is_no_second_port_and_bad_material_fails_start() {
    let plain = start_default().await;
    assert!(plain.mtls_base_url().is_none());
    assert!(plain.mtls_addr().is_none());
    assert!(certificate_config(&plain, std::path::Path::new("/x"), None).is_none());

    let pki = TestPki::new().unwrap();
    let err = Emulator::new(EmulatorConfig::default())
        .with_mtls(MtlsConfig::new(
            pki.server.cert_pem.clone(),
            pki.server.key_pem.clone(),
            "no CA here",
        ))
        .start_local()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("client CA"), "{err}");
}

#[tokio::test]
async fn shutdown_closes_the_mtls_port() {
    let world = world().await;
    let addr = world.emulator.mtls_addr().unwrap();
    assert!(
        world
            .emulator
            .mtls_base_url()
            .unwrap()
            .starts_with("https://127.0.0.1:")
    );
    tokio::net::TcpStream::connect(addr).await.unwrap();
    world.emulator.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
