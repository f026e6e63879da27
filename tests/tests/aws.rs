//! The facade with AWS configurations: a user-supplied AWS credentials provider (what ECS, EKS
//! or code that calls AssumeRole plugs in) replaces the environment and metadata lookups.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use secrecy::ExposeSecret;
use serde_json::{Value, json};
use wif::testing::{FAKE_AUDIENCE, FakeGoogle};
use wif::{Credentials, MapEnvironment};
use wiremock::MockServer;

fn aws_config(google: &FakeGoogle, imds: &MockServer) -> String {
    json!({
        "type": "external_account",
        "audience": FAKE_AUDIENCE,
        "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
        "token_url": google.token_url(),
        "credential_source": {
            "environment_id": "aws1",
            "region_url": format!("{}/latest/meta-data/placement/availability-zone", imds.uri()),
            "url": format!("{}/latest/meta-data/iam/security-credentials", imds.uri()),
            "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
            "imdsv2_session_token_url": format!("{}/latest/api/token", imds.uri()),
        }
    })
    .to_string()
}

/// Static AWS keys and the `us-east-1` region in the environment.
fn env_with_keys(access_key_id: &str, secret_access_key: &str) -> MapEnvironment {
    MapEnvironment::new()
        .with("AWS_ACCESS_KEY_ID", access_key_id)
        .with("AWS_SECRET_ACCESS_KEY", secret_access_key)
        .with("AWS_REGION", "us-east-1")
}

fn signed_request(subject_token: &str) -> Value {
    let decoded: String = url::form_urlencoded::parse(format!("t={subject_token}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned();
    serde_json::from_str(&decoded).unwrap()
}

fn header<'a>(req: &'a Value, name: &str) -> Option<&'a str> {
    req["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["key"] == name)
        .and_then(|h| h["value"].as_str())
}

#[tokio::test]
async fn a_custom_aws_credentials_provider_replaces_env_and_metadata() {
    let google = FakeGoogle::start().await;
    let imds = MockServer::start().await;
    // The environment has other credentials; the provider must win over them.
    let env = env_with_keys("AKIAFROMTHEENVIRONMENT", "env-secret");
    let assumed = aws_credential_types::Credentials::new(
        "ASIAASSUMEDROLE00001",
        "assumed-secret",
        Some("assumed-session-token".to_owned()),
        None,
        "assume-role-in-code",
    );
    let creds = Credentials::builder()
        .environment(Arc::new(env))
        .config_json(&aws_config(&google, &imds))
        .unwrap()
        .aws_credentials_provider(assumed)
        .aws_region("ca-central-1")
        .build()
        .unwrap();
    assert_eq!(creds.info().source_kind, "aws");

    let subject = creds.subject_token().await.unwrap();
    let req = signed_request(subject.secret().expose_secret());
    assert_eq!(
        req["url"],
        "https://sts.ca-central-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
    );
    let auth = header(&req, "Authorization").unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=ASIAASSUMEDROLE00001/"),
        "{auth}"
    );
    assert_eq!(
        header(&req, "x-amz-security-token"),
        Some("assumed-session-token")
    );

    let token = creds.token().await.unwrap();
    assert_eq!(token.secret().expose_secret(), "federated-1");
    assert!(
        imds.received_requests().await.unwrap().is_empty(),
        "no metadata lookups"
    );
}

#[tokio::test]
async fn each_refresh_signs_afresh() {
    let google = FakeGoogle::start().await;
    let imds = MockServer::start().await;
    let env = env_with_keys("AKIAEXAMPLEEXAMPLE01", "secret");
    let creds = Credentials::builder()
        .environment(Arc::new(env))
        .config_json(&aws_config(&google, &imds))
        .unwrap()
        .build()
        .unwrap();
    creds.token().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    creds.invalidate();
    creds.token().await.unwrap();
    let requests = google.server().received_requests().await.unwrap();
    let tokens: Vec<String> = requests
        .iter()
        .map(|r| {
            url::form_urlencoded::parse(&r.body)
                .find(|(k, _)| k == "subject_token")
                .unwrap()
                .1
                .into_owned()
        })
        .collect();
    assert_eq!(tokens.len(), 2);
    assert_ne!(
        tokens[0], tokens[1],
        "a fresh signature (new x-amz-date) per exchange"
    );
}
