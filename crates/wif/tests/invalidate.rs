//! `invalidate()` drops the outer token; `invalidate_all()` the whole chain's, so the next
//! `token()` exchanges at STS again.

#![allow(clippy::expect_used)]

use wif::secrecy::ExposeSecret;
use wif::testing::{FAKE_AUDIENCE, FakeGoogle, StaticSubjectToken};
use wif::{Credentials, CredentialsBuilder, TokenProvider};

const EMAIL: &str = "writer@my-project.iam.gserviceaccount.com";

fn builder(google: &FakeGoogle) -> CredentialsBuilder {
    Credentials::builder()
        .source(StaticSubjectToken::new("subject-token"))
        .audience(FAKE_AUDIENCE)
        .subject_token_type("urn:ietf:params:oauth:token-type:jwt")
        .token_url(google.token_url())
}

async fn token(creds: &Credentials) -> String {
    creds
        .token()
        .await
        .expect("a token")
        .secret()
        .expose_secret()
        .to_owned()
}

async fn calls(google: &FakeGoogle) -> (usize, usize) {
    (google.sts_calls().await, google.iam_calls().await)
}

#[tokio::test]
async fn invalidate_all_makes_the_next_token_call_sts_again() {
    let google = FakeGoogle::start().await;
    let creds = builder(&google)
        .impersonation_url(google.impersonation_url(EMAIL))
        .build()
        .expect("valid");
    assert_eq!(token(&creds).await, "impersonated-1");
    assert_eq!(token(&creds).await, "impersonated-1", "cached");
    assert_eq!(calls(&google).await, (1, 1));

    creds.invalidate();
    assert_eq!(token(&creds).await, "impersonated-2");
    assert_eq!(
        calls(&google).await,
        (1, 2),
        "invalidate: the federated token stays cached, one IAM call"
    );

    creds.invalidate_all();
    assert_eq!(token(&creds).await, "impersonated-3");
    assert_eq!(calls(&google).await, (2, 3), "invalidate_all: STS again");
    let exchanges = google.sts_requests().await;
    let impersonations = google.iam_requests().await;
    assert_eq!(
        impersonations[2]
            .bearer
            .as_ref()
            .map(|t| t.secret().expose_secret().to_owned())
            .as_deref(),
        Some("federated-2"),
        "the new federated token was used: {exchanges:?}"
    );
}

#[tokio::test]
async fn invalidate_all_without_impersonation_and_through_the_trait() {
    let google = FakeGoogle::start().await;
    let creds = builder(&google).build().expect("valid");
    assert_eq!(token(&creds).await, "federated-1");
    let shared: std::sync::Arc<dyn TokenProvider> = std::sync::Arc::new(creds.clone());
    shared.invalidate_all();
    assert_eq!(token(&creds).await, "federated-2");
    assert_eq!(calls(&google).await, (2, 0));
}
