//! `wif::testing` is public API: FakeGoogle composes the STS and IAM Credentials fakes of the
//! layer crates on one server; its recorders, responders and fault injection, through the
//! whole chain.

#![allow(clippy::expect_used)]

use std::time::Duration;

use wif::secrecy::ExposeSecret;
use wif::testing::{
    FAKE_AUDIENCE, FakeGoogle, IamCredentialsResponder, IamError, StaticSubjectToken, StsError,
    StsResponder, static_credentials,
};
use wif::{Credentials, CredentialsBuilder, RetryPolicy};

const EMAIL: &str = "writer@my-project.iam.gserviceaccount.com";
const SUBJECT: &str = "eyJhbGciOi.SECRET-subject.sig";
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

fn fast(n: u32) -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(n)
        .with_backoff(Duration::from_millis(1), Duration::from_millis(2))
        .without_jitter()
}

fn builder(google: &FakeGoogle) -> CredentialsBuilder {
    Credentials::builder()
        .source(StaticSubjectToken::new(SUBJECT))
        .audience(FAKE_AUDIENCE)
        .subject_token_type(JWT)
        .token_url(google.token_url())
        .retry_policy(fast(1))
}

fn secret(token: &wif::AccessToken) -> String {
    token.secret().expose_secret().to_owned()
}

#[tokio::test]
async fn the_recorders_decode_both_calls_of_the_chain() {
    let google = FakeGoogle::start().await;
    let creds = builder(&google)
        .impersonation_url(google.impersonation_url(EMAIL))
        .scopes(["https://www.googleapis.com/auth/devstorage.read_only"])
        .token_lifetime(Duration::from_secs(1800))
        .build()
        .expect("valid");
    assert_eq!(
        secret(&creds.token().await.expect("token")),
        "impersonated-1"
    );

    let exchanges = google.sts_requests().await;
    assert_eq!(exchanges.len(), 1);
    assert_eq!(exchanges[0].audience, FAKE_AUDIENCE);
    assert_eq!(exchanges[0].subject_token.secret().expose_secret(), SUBJECT);
    assert_eq!(exchanges[0].subject_token_type, JWT);
    assert_eq!(
        exchanges[0].scopes,
        ["https://www.googleapis.com/auth/cloud-platform"],
        "STS is asked for cloud-platform when impersonating"
    );

    let impersonations = google.iam_requests().await;
    assert_eq!(impersonations.len(), 1);
    assert_eq!(impersonations[0].service_account, EMAIL);
    assert_eq!(impersonations[0].lifetime, Some(Duration::from_secs(1800)));
    assert_eq!(
        impersonations[0].scopes,
        ["https://www.googleapis.com/auth/devstorage.read_only"]
    );
    assert_eq!(
        impersonations[0].bearer.as_ref().map(secret).as_deref(),
        Some("federated-1"),
        "the federated token authenticates the impersonation"
    );
    assert_eq!((google.sts_calls().await, google.iam_calls().await), (1, 1));
    let shown = format!("{exchanges:?} {impersonations:?}");
    assert!(
        !shown.contains("SECRET") && !shown.contains("federated-1"),
        "{shown}"
    );
}

#[tokio::test]
async fn responders_and_injected_faults_reach_the_chain() {
    let google = FakeGoogle::start_with(
        StsResponder::new("fed", Duration::from_secs(3600)).flaky(1),
        IamCredentialsResponder::new("sa").failing_first(1, IamError::PermissionDenied),
    )
    .await;
    let creds = builder(&google)
        .impersonation_url(google.impersonation_url(EMAIL))
        .retry_policy(fast(2))
        .build()
        .expect("valid");
    let err = creds.token().await.expect_err("IAM refuses first");
    assert!(
        err.hint()
            .is_some_and(|h| h.contains("roles/iam.workloadIdentityUser")),
        "{err}"
    );
    assert_eq!(secret(&creds.token().await.expect("then works")), "sa-1");
    assert_eq!(google.sts_calls().await, 2, "one 503 retried, then cached");

    google
        .fail_sts_next(1, StsError::AttributeConditionRejected)
        .await;
    google.fail_iam_next(1, IamError::NotFound).await;
    let fresh = builder(&google).build().expect("valid");
    let err = fresh.token().await.expect_err("injected");
    assert!(
        err.hint()
            .is_some_and(|h| h.contains("attribute condition")),
        "{err}"
    );
}

#[tokio::test]
async fn static_credentials_never_call_out() {
    let creds = static_credentials("ya29.static");
    assert_eq!(secret(&creds.token().await.expect("static")), "ya29.static");
    assert_eq!(creds.info().source_kind, "programmatic");
}

#[tokio::test]
async fn the_layer_fakes_are_reachable_through_wif() {
    let imds = wif::testing::aws::FakeImds::start().await;
    let endpoint = wif::testing::url_source::FakeTokenEndpoint::start().await;
    let config = serde_json::json!({
        "type": "external_account",
        "audience": FAKE_AUDIENCE,
        "subject_token_type": JWT,
        "token_url": "http://127.0.0.1:1/v1/token",
        "credential_source": {"url": endpoint.url()},
    });
    let creds = Credentials::builder()
        .config_json(&config.to_string())
        .expect("valid")
        .build()
        .expect("valid");
    creds
        .subject_token()
        .await
        .expect("read from the fake endpoint");
    assert_eq!(endpoint.requests().await.len(), 1);
    assert!(imds.requests().await.is_empty());
}
