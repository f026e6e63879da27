//! The endpoint override: production code that says `.impersonate(email)` (or loads gcloud's
//! configuration, which names Google's hosts) runs unchanged against a fake when the builder or
//! the environment points every Google endpoint at one base URL.

#![allow(clippy::expect_used)]

use std::sync::Arc;

use wif::secrecy::ExposeSecret;
use wif::testing::{FAKE_AUDIENCE, FakeGoogle, StaticSubjectToken};
use wif::{
    Credentials, CredentialsBuilder, ENDPOINT_BASE_URL_VAR, Error, MapEnvironment, TokenProvider,
};

const EMAIL: &str = "writer@my-project.iam.gserviceaccount.com";
const SUBJECT: &str = "subject-token-from-the-idp";

/// What the application does in production, untouched by the tests.
fn production(builder: CredentialsBuilder) -> Result<Credentials, Error> {
    builder.impersonate(EMAIL).build()
}

/// The application's builder before `production` finishes it: its own identity source.
fn application_builder() -> CredentialsBuilder {
    Credentials::builder()
        .source(StaticSubjectToken::new(SUBJECT))
        .audience(FAKE_AUDIENCE)
        .subject_token_type("urn:ietf:params:oauth:token-type:jwt")
        .environment(Arc::new(MapEnvironment::new()))
}

#[tokio::test]
async fn impersonate_runs_unchanged_against_the_fake() {
    // In production: Google's hosts.
    let real = production(application_builder()).expect("valid");
    assert_eq!(
        real.info().impersonation_url.as_deref(),
        Some(
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/writer@my-project.iam.gserviceaccount.com:generateAccessToken"
        )
    );
    assert_eq!(real.info().endpoint_base_url, None);
    assert_eq!(real.endpoint_base_url(), None);

    // In the test: the same function, the builder pointed at the fake.
    let google = FakeGoogle::start().await;
    let creds =
        production(application_builder().endpoint_base_url(google.base_url())).expect("valid");
    let token = creds.token().await.expect("a token from the fake");
    assert_eq!(token.secret().expose_secret(), "impersonated-1");
    assert_eq!(creds.endpoint_base_url(), Some(google.base_url().as_str()));

    let exchange = &google.sts_requests().await[0];
    assert_eq!(exchange.audience, FAKE_AUDIENCE);
    assert_eq!(exchange.subject_token.secret().expose_secret(), SUBJECT);
    assert_eq!(google.iam_requests().await[0].service_account, EMAIL);
}

#[tokio::test]
async fn the_environment_moves_a_gcloud_configuration_too() {
    let google = FakeGoogle::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, SUBJECT).expect("write");
    // What gcloud writes: Google's hosts.
    let config = serde_json::json!({
        "type": "external_account",
        "audience": FAKE_AUDIENCE,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": "https://sts.googleapis.com/v1/token",
        "service_account_impersonation_url": format!(
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{EMAIL}:generateAccessToken"
        ),
        "credential_source": {"file": token_file},
    });
    let env = MapEnvironment::new().with(ENDPOINT_BASE_URL_VAR, google.base_url().as_str());
    let creds = Credentials::builder()
        .environment(Arc::new(env))
        .config_json(&config.to_string())
        .expect("valid")
        .build()
        .expect("valid");
    assert_eq!(
        creds.info().token_url.as_deref(),
        Some(google.token_url().as_str())
    );
    creds.token().await.expect("a token from the fake");
    assert_eq!((google.sts_calls().await, google.iam_calls().await), (1, 1));
}

#[tokio::test]
async fn an_explicit_token_url_is_kept_and_the_builder_wins_over_the_environment() {
    let google = FakeGoogle::start().await;
    let elsewhere = FakeGoogle::start().await;
    let env = MapEnvironment::new().with(ENDPOINT_BASE_URL_VAR, "http://127.0.0.1:1");
    let creds = application_builder()
        .environment(Arc::new(env))
        .endpoint_base_url(google.base_url())
        .token_url(elsewhere.token_url())
        .impersonate(EMAIL)
        .build()
        .expect("valid");
    creds
        .token()
        .await
        .expect("STS elsewhere, IAM at the override");
    assert_eq!(elsewhere.sts_calls().await, 1);
    assert_eq!((google.sts_calls().await, google.iam_calls().await), (0, 1));
}

#[test]
fn only_https_or_loopback_and_before_any_network_call() {
    for (base, from_env) in [
        ("http://192.0.2.10:8787", false),
        ("http://example.com", true),
    ] {
        let mut builder = application_builder();
        if from_env {
            builder = builder.environment(Arc::new(
                MapEnvironment::new().with(ENDPOINT_BASE_URL_VAR, base),
            ));
        } else {
            builder = builder.endpoint_base_url(base);
        }
        let err = production(builder).expect_err("refused");
        assert!(err.is_config(), "{err}");
        let field = if from_env {
            ENDPOINT_BASE_URL_VAR
        } else {
            "endpoint_base_url"
        };
        assert!(err.to_string().contains(field), "{err}");
        assert!(err.to_string().contains("must use https"), "{err}");
    }
}

#[test]
fn impersonate_and_impersonation_url_together_are_refused() {
    for builder in [
        application_builder()
            .impersonate(EMAIL)
            .impersonation_url("http://127.0.0.1:9/v1/projects/-/serviceAccounts/other@p.iam.gserviceaccount.com:generateAccessToken"),
        application_builder()
            .impersonation_url("http://127.0.0.1:9/v1/projects/-/serviceAccounts/other@p.iam.gserviceaccount.com:generateAccessToken")
            .impersonate(EMAIL),
    ] {
        let err = builder.build().expect_err("both given");
        assert!(err.is_config(), "{err}");
        let shown = err.to_string();
        assert!(shown.contains(".impersonate(email)"), "{shown}");
        assert!(shown.contains(".impersonation_url(url)"), "{shown}");
    }
}
