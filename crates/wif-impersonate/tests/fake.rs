//! The `testing` fakes are public API: each responder and the recorder, tested against the real
//! client.

#![allow(clippy::expect_used)]

use std::time::Duration;

use secrecy::ExposeSecret;
use wif_core::{AccessToken, RetryPolicy, StaticTokenProvider, TokenCache, TokenProvider};
use wif_impersonate::testing::{
    FakeIamCredentials, IamCredentialsResponder, IamError, iam_requests, impersonation_url, mount,
    mount_next,
};
use wif_impersonate::{Impersonation, ImpersonationBuilder};
use wiremock::MockServer;

const EMAIL: &str = "writer@my-project.iam.gserviceaccount.com";
const FEDERATED: &str = "federated-SECRET-token";

fn attempts(n: u32) -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(n)
        .with_backoff(Duration::from_millis(1), Duration::from_millis(2))
        .without_jitter()
}

fn builder(url: String) -> ImpersonationBuilder {
    Impersonation::builder()
        .federated(StaticTokenProvider::new(AccessToken::new(FEDERATED)))
        .url(url)
        .retry_policy(attempts(1))
}

fn secret(token: &AccessToken) -> String {
    token.secret().expose_secret().to_owned()
}

#[tokio::test]
async fn success_issues_numbered_tokens_for_the_requested_lifetime() {
    let iam = FakeIamCredentials::start().await;
    let provider = builder(iam.impersonation_url(EMAIL))
        .lifetime(Duration::from_secs(900))
        .build()
        .expect("valid");
    let first = provider.token().await.expect("impersonated");
    assert_eq!(secret(&first), "impersonated-1");
    let left = first.remaining().expect("has an expiry");
    assert!(
        left > Duration::from_secs(800) && left <= Duration::from_secs(900),
        "{left:?}"
    );
    let second = provider.token().await.expect("impersonated");
    assert_eq!(secret(&second), "impersonated-2");
}

#[tokio::test]
async fn every_documented_error_reaches_the_client_with_its_words_and_hint() {
    for error in IamError::ALL {
        let iam = FakeIamCredentials::start_with(IamCredentialsResponder::error(error)).await;
        let provider = builder(iam.impersonation_url(EMAIL))
            .build()
            .expect("valid");
        let err = provider.token().await.expect_err("the fake refuses");
        assert_eq!(err.status(), Some(error.status()), "{error:?}: {err}");
        let server = err.server_error().expect("IAM's words are kept");
        assert_eq!(
            server.code.as_deref(),
            Some(error.rpc_status()),
            "{error:?}"
        );
        assert_eq!(
            server.message.as_deref(),
            Some(error.message()),
            "{error:?}"
        );
        assert_eq!(server.reason.as_deref(), error.reason(), "{error:?}");
        assert_eq!(
            err.is_retryable(),
            matches!(error, IamError::ResourceExhausted | IamError::Unavailable),
            "{error:?}"
        );
        assert_eq!(
            err.hint().is_some(),
            !matches!(error, IamError::ResourceExhausted | IamError::Unavailable),
            "{error:?}: {err}"
        );
    }
}

#[tokio::test]
async fn flaky_fails_the_first_requests_then_succeeds() {
    let responder = IamCredentialsResponder::success().flaky(2);
    let kept = responder.clone();
    let iam = FakeIamCredentials::start_with(responder).await;
    let provider = builder(iam.impersonation_url(EMAIL))
        .retry_policy(attempts(3))
        .build()
        .expect("valid");
    assert_eq!(
        secret(&provider.token().await.expect("third attempt")),
        "impersonated-1"
    );
    assert_eq!((kept.answered(), kept.issued()), (3, 1));
}

#[tokio::test]
async fn slow_answers_outlast_a_shorter_timeout() {
    let iam = FakeIamCredentials::start_with(
        IamCredentialsResponder::success().slow(Duration::from_secs(30)),
    )
    .await;
    let provider = builder(iam.impersonation_url(EMAIL))
        .timeout(Duration::from_millis(100))
        .build()
        .expect("valid");
    let err = provider.token().await.expect_err("times out");
    assert!(err.is_timeout(), "{err}");
}

#[tokio::test]
async fn expired_then_valid_makes_a_cache_impersonate_again() {
    let iam = FakeIamCredentials::start_with(IamCredentialsResponder::expired_then_valid()).await;
    let cache = TokenCache::new(
        builder(iam.impersonation_url(EMAIL))
            .build()
            .expect("valid"),
    );
    let first = cache.token().await.expect("first call");
    assert_eq!(secret(&first), "impersonated-1");
    assert!(
        first.remaining() <= Some(Duration::from_secs(5)),
        "all but expired: {:?}",
        first.remaining()
    );
    let second = cache.token().await.expect("impersonated again");
    assert_eq!(secret(&second), "impersonated-2");
    assert_eq!(
        secret(&cache.token().await.expect("cached")),
        "impersonated-2"
    );
    assert_eq!(iam.requests().await.len(), 2);
}

#[tokio::test]
async fn the_fake_checks_requests_like_iam() {
    let iam = FakeIamCredentials::start().await;
    let client = wif_core::http::default_client().expect("the default client");
    let url = iam.impersonation_url(EMAIL);
    let cases = [
        (None, r#"{"scope":["s"],"lifetime":"3600s"}"#, 401),
        (Some("Bearer t"), r#"{"scope":[],"lifetime":"3600s"}"#, 400),
        (
            Some("Bearer t"),
            r#"{"scope":["s"],"lifetime":"43201s"}"#,
            400,
        ),
        (
            Some("Bearer t"),
            r#"{"scope":["s"],"lifetime":"soon"}"#,
            400,
        ),
        (Some("Bearer t"), "not json", 400),
        (Some("Bearer t"), r#"{"scope":["s"]}"#, 200),
    ];
    for (auth, body, want) in cases {
        let mut request = client.post(&url).body(body);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let status = request.send().await.expect("answered").status();
        assert_eq!(status.as_u16(), want, "{auth:?} {body}");
    }
}

#[tokio::test]
async fn the_recorder_decodes_the_call() {
    let iam = FakeIamCredentials::start().await;
    builder(iam.impersonation_url(EMAIL))
        .scopes(["https://www.googleapis.com/auth/bigquery"])
        .lifetime(Duration::from_secs(1200))
        .delegates(["relay@my-project.iam.gserviceaccount.com"])
        .quota_project("billing-project")
        .build()
        .expect("valid")
        .token()
        .await
        .expect("impersonated");
    let sent = iam.requests().await;
    assert_eq!(sent.len(), 1);
    let call = &sent[0];
    assert_eq!(call.service_account, EMAIL);
    assert_eq!(call.scopes, ["https://www.googleapis.com/auth/bigquery"]);
    assert_eq!(call.lifetime, Some(Duration::from_secs(1200)));
    assert_eq!(
        call.delegates,
        ["projects/-/serviceAccounts/relay@my-project.iam.gserviceaccount.com"]
    );
    assert_eq!(call.quota_project.as_deref(), Some("billing-project"));
    assert_eq!(call.bearer.as_ref().map(secret).as_deref(), Some(FEDERATED));
    let shown = format!("{sent:?}");
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(shown.contains(EMAIL), "{shown}");
}

#[tokio::test]
async fn fail_next_and_shared_servers() {
    let iam = FakeIamCredentials::start().await;
    let provider = builder(iam.impersonation_url(EMAIL))
        .build()
        .expect("valid");
    iam.fail_next(1, IamError::NotFound).await;
    let err = provider.token().await.expect_err("injected");
    assert!(
        err.hint().is_some_and(|h| h.contains("does not exist")),
        "{err}"
    );
    provider.token().await.expect("the fake answers again");

    let server = MockServer::start().await;
    mount(&server, IamCredentialsResponder::new("shared")).await;
    mount_next(&server, 1, IamError::Unavailable).await;
    let provider = builder(impersonation_url(&server, EMAIL))
        .retry_policy(attempts(2))
        .build()
        .expect("valid");
    assert_eq!(
        secret(&provider.token().await.expect("retried")),
        "shared-1"
    );
    assert_eq!(iam_requests(&server).await.len(), 2);
}
