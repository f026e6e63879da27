//! Each recipe's foreign trait hands out wif's token, obtained through the wif chain of the
//! emulator's AWS Lambda configuration, and the emulated Google APIs accept it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

use std::sync::Arc;

use secrecy::ExposeSecret;
use wif::{Credentials, MapEnvironment};
use wif_emulator::configs::{read_env_file, write_configs};
use wif_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use wif_example_integrations::bigquery_client_recipe::WifAuthenticator;
use wif_example_integrations::gcp_auth_recipe::WifGcpAuth;
use wif_example_integrations::google_apis_recipe::WifGetToken;

async fn chain() -> (RunningEmulator, Credentials, tempfile::TempDir) {
    let emulator = Emulator::new(EmulatorConfig::default())
        .start_local()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let configs = write_configs(&emulator, dir.path()).unwrap();
    let env = read_env_file(&configs.aws_lambda_env)
        .unwrap()
        .into_iter()
        .collect::<MapEnvironment>();
    let credentials = Credentials::builder()
        .environment(Arc::new(env))
        .config_file(&configs.aws_lambda)
        .unwrap()
        .build()
        .unwrap();
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
