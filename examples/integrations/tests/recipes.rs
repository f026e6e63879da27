//! Each recipe's foreign trait hands out wif's token, obtained through the wif chain of the
//! emulator's AWS Lambda configuration, and the emulated Google APIs accept it; opendal's GCS
//! service, unmodified (its documented `endpoint` override), writes and reads the emulated Cloud
//! Storage with it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

use std::sync::{Arc, Mutex};

use opendal::{Buffer, HttpBody, HttpTransport, HttpTransporter, Operator};
use opendal_http_transport_reqwest::ReqwestTransport;
use secrecy::ExposeSecret;
use wif::Credentials;
use wif::testing::credentials_in;
use wif_emulator::configs::{aws_lambda_env, write_configs};
use wif_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use wif_example_integrations::bigquery_client_recipe::WifAuthenticator;
use wif_example_integrations::gcp_auth_recipe::WifGcpAuth;
use wif_example_integrations::google_apis_recipe::WifGetToken;
use wif_example_integrations::opendal_recipe::{gcs_operator, transfer_client};

async fn chain() -> (RunningEmulator, Credentials, tempfile::TempDir) {
    let emulator = Emulator::new(EmulatorConfig::default())
        .start_local()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let configs = write_configs(&emulator, dir.path()).unwrap();
    let credentials = credentials_in(aws_lambda_env(&emulator), &configs.aws_lambda).unwrap();
    (emulator, credentials, dir)
}

/// The emulator's verdict on `token`: 200 for a live token its chain issued.
async fn accepted(emulator: &RunningEmulator, token: &str) -> bool {
    wif::layers::core::http::default_client()
        .unwrap()
        .get(format!("{}/_emulator/tokeninfo", emulator.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        == 200
}

async fn wif_token(credentials: &Credentials) -> String {
    credentials
        .token()
        .await
        .unwrap()
        .secret()
        .expose_secret()
        .to_owned()
}

#[tokio::test]
async fn gcp_auth_token_provider_hands_out_wifs_token() {
    let (emulator, credentials, _dir) = chain().await;
    let provider: Arc<dyn gcp_auth::TokenProvider> = Arc::new(WifGcpAuth(credentials.clone()));
    let token = provider
        .token(&["https://www.googleapis.com/auth/cloud-platform"])
        .await
        .unwrap();
    assert!(!token.has_expired(), "the expiry came across");
    assert_eq!(token.as_str(), wif_token(&credentials).await);
    assert!(accepted(&emulator, token.as_str()).await);
}

#[tokio::test]
async fn google_apis_get_token_hands_out_wifs_token() {
    let (emulator, credentials, _dir) = chain().await;
    let auth: Box<dyn google_apis_common::GetToken> = Box::new(WifGetToken(credentials.clone()));
    let token = auth.get_token(&[]).await.unwrap().unwrap();
    assert_eq!(token, wif_token(&credentials).await);
    assert!(accepted(&emulator, &token).await);
}

#[tokio::test]
async fn gcp_bigquery_client_reads_the_emulated_bigquery_with_wifs_token() {
    let (emulator, credentials, _dir) = chain().await;
    emulator.create_dataset("recipes", "EU");
    let client = gcp_bigquery_client::client_builder::ClientBuilder::new()
        .with_v2_base_url(
            emulator
                .bigquery_base_url()
                .trim_end_matches('/')
                .to_owned(),
        )
        .build_from_authenticator(Arc::new(WifAuthenticator(credentials)))
        .await
        .unwrap();
    let dataset = client.dataset().get("wif-demo", "recipes").await.unwrap();
    assert_eq!(dataset.location.as_deref(), Some("EU"));
}

/// opendal's transport, recording the `Authorization` header of every request it sends.
#[derive(Clone)]
struct RecordingTransport {
    inner: ReqwestTransport,
    authorizations: Arc<Mutex<Vec<String>>>,
}

impl HttpTransport for RecordingTransport {
    async fn fetch(
        &self,
        request: http::Request<Buffer>,
    ) -> opendal::Result<http::Response<HttpBody>> {
        let authorization = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        self.authorizations.lock().unwrap().push(authorization);
        self.inner.fetch(request).await
    }
}

/// The recipe's operator, its requests recorded (on the recipe's own client).
fn recorded(operator: Operator) -> (Operator, Arc<Mutex<Vec<String>>>) {
    let authorizations = Arc::new(Mutex::new(Vec::new()));
    let transport = RecordingTransport {
        inner: ReqwestTransport::new(transfer_client().unwrap()),
        authorizations: authorizations.clone(),
    };
    let context = operator
        .context()
        .with_http_transport(HttpTransporter::new(transport));
    (operator.with_context(context), authorizations)
}

const MIB: usize = 1024 * 1024;

/// opendal's operator on the emulator's bucket `lake`, signing with `credentials`.
fn lake_operator(emulator: &RunningEmulator, credentials: Credentials) -> Operator {
    gcs_operator(credentials, "lake", Some(emulator.storage_base_url())).expect("an operator")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opendal_writes_and_reads_back_on_wifs_token() {
    let (emulator, credentials, _dir) = chain().await;
    emulator.create_bucket("lake");
    let operator = lake_operator(&emulator, credentials.clone());
    let (operator, authorizations) = recorded(operator);

    operator.write("reports/a.csv", "x,y\n1,2\n").await.unwrap();
    let back = operator.read("reports/a.csv").await.unwrap();
    assert_eq!(back.to_vec(), b"x,y\n1,2\n");
    let (_, stored) = emulator
        .state()
        .storage_object("lake", "reports/a.csv")
        .unwrap();
    assert_eq!(stored, b"x,y\n1,2\n");

    // Larger than one chunk: opendal's multipart upload (the XML API), then a ranged read
    // across the first part's end.
    let big: Vec<u8> = (0..11 * MIB).map(|i| (i % 251) as u8).collect();
    operator
        .write_with("data/big.bin", big.clone())
        .chunk(5 * MIB)
        .await
        .unwrap();
    let range = operator
        .read_with("data/big.bin")
        .range(5 * MIB as u64 - 10..5 * MIB as u64 + 10)
        .await
        .unwrap();
    assert_eq!(range.to_vec(), &big[5 * MIB - 10..5 * MIB + 10]);
    assert_eq!(
        emulator
            .state()
            .storage_object("lake", "data/big.bin")
            .unwrap()
            .1,
        big
    );

    // Every request carried wif's token, and the emulator (no anonymous access) accepted it.
    let token = wif_token(&credentials).await;
    let authorizations = authorizations.lock().unwrap().clone();
    assert!(
        authorizations.len() >= 6,
        "{} requests",
        authorizations.len()
    );
    assert!(
        authorizations
            .iter()
            .all(|a| *a == format!("Bearer {token}")),
        "a request went without wif's token"
    );
    assert!(accepted(&emulator, &token).await);
}

/// opendal keeps its copy of a token until it nears its expiry and never retries a 401: once
/// the emulator refuses the token, the operator's calls fail, and a new operator after
/// `invalidate` gets a fresh one through the chain. (This is also the proof that the emulator
/// checks the token opendal sends.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opendal_after_a_refused_token_recovers_with_a_new_operator() {
    let (emulator, credentials, _dir) = chain().await;
    emulator.create_bucket("lake");
    let operator = lake_operator(&emulator, credentials.clone());
    operator.write("a.txt", "a").await.unwrap();
    let first = wif_token(&credentials).await;

    emulator.expire_tokens();
    let refused = operator.read("a.txt").await.unwrap_err();
    assert!(refused.to_string().contains("401"), "{refused}");

    credentials.invalidate();
    let operator = lake_operator(&emulator, credentials.clone());
    assert_eq!(operator.read("a.txt").await.unwrap().to_vec(), b"a");
    assert_ne!(wif_token(&credentials).await, first, "a fresh token");
}

/// A wif failure fails the operation: opendal's own credential search is off, so nothing else
/// (the metadata server, `GOOGLE_APPLICATION_CREDENTIALS`) is tried, and no request is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opendal_fails_when_wif_does_and_sends_nothing() {
    let (emulator, credentials, _dir) = chain().await;
    emulator.create_bucket("lake");
    // Google STS refuses the exchange (400: retrying cannot help).
    emulator.set_fault(
        wif_emulator::Endpoint::GoogleSts,
        wif_emulator::Fault::fail_next(100, 400),
    );
    let operator = lake_operator(&emulator, credentials);
    let (operator, authorizations) = recorded(operator);
    let error = operator.write("a.txt", "a").await.unwrap_err();
    assert!(error.to_string().contains("signing"), "{error}");
    assert!(
        authorizations.lock().unwrap().is_empty(),
        "a request was sent"
    );
    assert_eq!(emulator.requests(wif_emulator::Endpoint::Storage), 0);
}
