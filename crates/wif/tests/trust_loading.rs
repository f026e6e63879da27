//! Loading untrusted configurations: `from_json_untrusted` / the builder's `trust_policy`, what
//! explicit builder settings exempt, the unchanged trusted loaders, and that a refusal comes
//! before any network call (wiremock proves nothing is contacted).

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use serde_json::json;
use support::{JWT, WORKLOAD, assert_policy_error, file_config, with};
use wif::secrecy::ExposeSecret;
use wif::{Credentials, TrustPolicy};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

// ---------------------------------------------------------------------------------------------
// Builder: explicit settings are the caller's and exempt what they replace.

#[test]
fn explicit_builder_settings_replace_what_they_exempt() {
    let hostile = with(
        file_config(),
        &[
            ("token_url", json!("https://collector.example/v1/token")),
            (
                "service_account_impersonation_url",
                json!("https://collector.example/v1/projects/-/serviceAccounts/a@p.iam.gserviceaccount.com:generateAccessToken"),
            ),
        ],
    )
    .to_string();
    let err = Credentials::builder()
        .trust_policy(TrustPolicy::strict())
        .config_json(&hostile)
        .unwrap()
        .token_url("https://sts.googleapis.com/v1/token")
        .build()
        .unwrap_err();
    assert_policy_error(&err, "service_account_impersonation_url", "google-endpoint");

    let creds = Credentials::builder()
        .trust_policy(TrustPolicy::strict())
        .config_json(&hostile)
        .unwrap()
        .token_url("https://sts.googleapis.com/v1/token")
        .impersonate("writer@proj.iam.gserviceaccount.com")
        .build()
        .unwrap();
    assert_eq!(
        creds.info().impersonation_url.as_deref(),
        Some(
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/writer@proj.iam.gserviceaccount.com:generateAccessToken"
        )
    );

    let exe = with(
        file_config(),
        &[(
            "credential_source",
            json!({"executable": {"command": "/bin/true"}}),
        )],
    )
    .to_string();
    let creds = Credentials::builder()
        .trust_policy(TrustPolicy::strict())
        .config_json(&exe)
        .unwrap()
        .source(wif::layers::source_file::FileSource::new(
            "/var/run/secrets/t",
            wif::TokenFormat::Text,
        ))
        .build()
        .unwrap();
    assert_eq!(creds.info().source_kind, "file");
}

#[test]
fn trusted_loaders_are_unchanged() {
    // The same hostile file loads with `from_json`: that loader is for your own files.
    let hostile = with(
        file_config(),
        &[
            ("token_url", json!("https://collector.example/v1/token")),
            ("credential_source.file", json!("/etc/hostname")),
        ],
    );
    let creds = Credentials::from_json(&hostile.to_string()).unwrap();
    assert_eq!(
        creds.info().token_url.as_deref(),
        Some("https://collector.example/v1/token")
    );
    let err = Credentials::from_json_untrusted(&hostile.to_string()).unwrap_err();
    assert_policy_error(&err, "token_url", "google-endpoint");
}

// ---------------------------------------------------------------------------------------------
// No network call before the policy has spoken.

fn url_source_config(server: &MockServer, token_url: &str) -> String {
    json!({
        "type": "external_account",
        "audience": WORKLOAD,
        "subject_token_type": JWT,
        "token_url": token_url,
        "credential_source": {
            "url": format!("{}/token", server.uri()),
            "headers": { "Metadata": "True" }
        }
    })
    .to_string()
}

/// The URL source's endpoint: `GET /token` answers `subject-jwt`.
fn subject_source() -> Mock {
    Mock::given(method("GET"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_string("subject-jwt"))
}

#[tokio::test]
async fn a_hostile_token_url_is_refused_before_the_source_is_contacted() {
    let server = MockServer::start().await;
    subject_source().mount(&server).await;
    let json = url_source_config(&server, "https://collector.example/v1/token");

    let err = Credentials::builder()
        .trust_policy(TrustPolicy::strict().allow_loopback())
        .config_json(&json)
        .unwrap()
        .build()
        .unwrap_err();
    assert_policy_error(&err, "token_url", "google-endpoint");
    assert!(server.received_requests().await.unwrap().is_empty());

    // Control: trusted, the same configuration would fetch the subject token from the source.
    let trusted = Credentials::from_json(&json).unwrap();
    let token = trusted.subject_token().await.unwrap();
    assert_eq!(token.secret().expose_secret(), "subject-jwt");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn loopback_endpoints_work_only_after_the_opt_in() {
    let server = MockServer::start().await;
    subject_source().expect(1).mount(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/token"))
        .and(body_string_contains("subject_token=subject-jwt"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "ya29.federated",
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer",
            "expires_in": 3600
        })))
        .expect(1)
        .mount(&server)
        .await;
    let json = url_source_config(&server, &format!("{}/v1/token", server.uri()));

    let err = Credentials::from_json_untrusted(&json).unwrap_err();
    assert_policy_error(&err, "token_url", "loopback");
    assert!(server.received_requests().await.unwrap().is_empty());

    let creds = Credentials::builder()
        .trust_policy(TrustPolicy::strict().allow_loopback())
        .config_json(&json)
        .unwrap()
        .build()
        .unwrap();
    let token = creds.token().await.unwrap();
    assert_eq!(token.secret().expose_secret(), "ya29.federated");
}
