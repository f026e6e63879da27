//! The `testing` fakes are public API: each responder and the recorder, tested against the real
//! client.

#![allow(clippy::expect_used)]

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use wif_core::testing::{assert_hint_says, quick_retries};
use wif_core::{TokenCache, TokenProvider};
use wif_sts::testing::{
    AUDIENCE, FakeSts, StaticSubjectToken, StsError, StsResponder, mount, mount_next, sts_requests,
};
use wif_sts::{StsExchange, StsExchangeBuilder};
use wiremock::MockServer;

const SUBJECT: &str = "subject-SECRET-token-0123456789";
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

fn builder(token_url: String) -> StsExchangeBuilder {
    StsExchange::builder()
        .source(StaticSubjectToken::new(SUBJECT))
        .audience(AUDIENCE)
        .subject_token_type(JWT)
        .token_url(token_url)
        .retry_policy(quick_retries(1))
}

fn secret(token: &wif_core::AccessToken) -> String {
    token.secret().expose_secret().to_owned()
}

#[tokio::test]
async fn success_issues_numbered_tokens_that_live_an_hour() {
    let sts = FakeSts::start().await;
    let exchange = builder(sts.token_url()).build().expect("valid");
    let first = exchange.token().await.expect("exchanged");
    let second = exchange.token().await.expect("exchanged");
    assert_eq!(secret(&first), "federated-1");
    assert_eq!(secret(&second), "federated-2");
    let left = first.remaining().expect("has an expiry");
    assert!(
        left > Duration::from_secs(3500) && left <= Duration::from_secs(3600),
        "{left:?}"
    );
}

#[tokio::test]
async fn every_documented_error_reaches_the_client_with_its_words_and_hint() {
    for error in StsError::ALL {
        let sts = FakeSts::start_with(StsResponder::error(error)).await;
        let exchange = builder(sts.token_url()).build().expect("valid");
        let err = exchange.token().await.expect_err("the fake refuses");
        assert_eq!(err.status(), Some(error.status()), "{error:?}: {err}");
        let server = err.server_error().expect("STS's words are kept");
        assert_eq!(server.code.as_deref(), Some(error.code()), "{error:?}");
        assert_eq!(
            err.is_retryable(),
            matches!(error, StsError::QuotaExceeded | StsError::Unavailable),
            "{error:?}"
        );
        // Every error but the plain outage names a cause to check.
        assert_eq!(
            err.hint().is_some(),
            error != StsError::Unavailable,
            "{error:?}: {err}"
        );
    }
}

#[tokio::test]
async fn flaky_fails_the_first_requests_then_succeeds() {
    let responder = StsResponder::success().flaky(2);
    let kept = responder.clone();
    let sts = FakeSts::start_with(responder).await;
    let exchange = builder(sts.token_url())
        .retry_policy(quick_retries(3))
        .build()
        .expect("valid");
    let token = exchange.token().await.expect("the third attempt succeeds");
    assert_eq!(secret(&token), "federated-1");
    assert_eq!(kept.answered(), 3);
    assert_eq!(kept.issued(), 1);
    assert_eq!(sts.requests().await.len(), 3);
}

#[tokio::test]
async fn failing_first_steps_play_in_the_order_added() {
    let sts = FakeSts::start_with(
        StsResponder::success()
            .failing_first(1, StsError::AttributeConditionRejected)
            .failing_first(1, StsError::QuotaExceeded),
    )
    .await;
    let exchange = builder(sts.token_url()).build().expect("valid");
    let first = exchange.token().await.expect_err("first step");
    assert_eq!(
        first.server_error().and_then(|s| s.code.clone()).as_deref(),
        Some("unauthorized_client")
    );
    let second = exchange.token().await.expect_err("second step");
    assert_eq!(second.status(), Some(429));
    exchange.token().await.expect("then success");
}

#[tokio::test]
async fn slow_answers_outlast_a_shorter_timeout() {
    let sts = FakeSts::start_with(StsResponder::success().slow(Duration::from_secs(30))).await;
    let exchange = builder(sts.token_url())
        .timeout(Duration::from_millis(100))
        .build()
        .expect("valid");
    let err = exchange.token().await.expect_err("times out");
    assert!(err.is_timeout(), "{err}");
}

#[tokio::test]
async fn expired_then_valid_makes_a_cache_exchange_again() {
    let sts = FakeSts::start_with(StsResponder::expired_then_valid()).await;
    let cache = TokenCache::new(builder(sts.token_url()).build().expect("valid"));
    let first = cache.token().await.expect("first exchange");
    assert_eq!(secret(&first), "federated-1");
    assert!(first.remaining() <= Some(Duration::from_secs(1)));
    let second = cache.token().await.expect("exchanged again");
    assert_eq!(secret(&second), "federated-2");
    let third = cache.token().await.expect("cached");
    assert_eq!(secret(&third), "federated-2", "the valid token is cached");
    assert_eq!(sts.requests().await.len(), 2);
}

#[tokio::test]
async fn the_fake_checks_the_form_like_sts() {
    let sts = FakeSts::start().await;
    let bad_audience = builder(sts.token_url())
        .audience("projects/123/locations/global/workloadIdentityPools/p/providers/q");
    let bad_type = builder(sts.token_url()).subject_token_type("urn:example:not-a-type");
    for (refused, hint) in [
        (bad_audience, "project number"),
        (bad_type, "provider kind"),
    ] {
        let exchange = refused.build().expect("valid locally");
        let err = exchange.token().await.expect_err("STS refuses");
        assert_hint_says(&err, hint);
    }
    assert_eq!(sts.requests().await.len(), 2, "both reached the fake");
}

#[tokio::test]
async fn the_recorder_decodes_the_exchange() {
    let sts = FakeSts::start().await;
    let workforce = "//iam.googleapis.com/locations/global/workforcePools/staff/providers/oidc";
    builder(sts.token_url())
        .audience(workforce)
        .scopes([
            "https://www.googleapis.com/auth/cloud-platform",
            "https://x/y",
        ])
        .workforce_pool_user_project("123456")
        .source(StaticSubjectToken::new(SUBJECT).with_kind("file"))
        .build()
        .expect("valid")
        .token()
        .await
        .expect("exchanged");
    builder(sts.token_url())
        .client_auth("my-client", Some(SecretString::from("client-SECRET-pw")))
        .build()
        .expect("valid")
        .token()
        .await
        .expect("exchanged");

    let sent = sts.requests().await;
    assert_eq!(sent.len(), 2);
    let first = &sent[0];
    assert_eq!(first.audience, workforce);
    assert_eq!(first.subject_token.secret().expose_secret(), SUBJECT);
    assert_eq!(first.subject_token_type, JWT);
    assert_eq!(
        first.grant_type,
        "urn:ietf:params:oauth:grant-type:token-exchange"
    );
    assert_eq!(
        first.requested_token_type,
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(
        first.scopes,
        [
            "https://www.googleapis.com/auth/cloud-platform",
            "https://x/y"
        ]
    );
    assert_eq!(
        first.options,
        Some(serde_json::json!({"userProject": "123456"}))
    );
    assert!(first.client_auth.is_none());
    assert!(
        first
            .api_client
            .as_deref()
            .is_some_and(|h| h.contains(" source/file ")),
        "{:?}",
        first.api_client
    );

    let second = &sent[1];
    assert!(second.scopes.is_empty(), "no scope field without scopes");
    assert_eq!(second.options, None);
    let auth = second.client_auth.as_ref().expect("Basic auth decoded");
    assert_eq!(auth.client_id, "my-client");
    assert_eq!(auth.client_secret.expose_secret(), "client-SECRET-pw");

    let shown = format!("{sent:?}");
    assert!(!shown.contains("SECRET"), "Debug shows no secret: {shown}");
    assert!(shown.contains(workforce), "{shown}");
}

#[tokio::test]
async fn pythons_twice_encoded_options_are_decoded() {
    let sts = FakeSts::start().await;
    // Python's google-auth: json.dumps, urllib.parse.quote, then the form encoding.
    let form = format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&audience={}&requested_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&subject_token=t&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt&options=%257B%2522userProject%2522%253A%2520%2522p%2522%257D",
        url::form_urlencoded::byte_serialize(AUDIENCE.as_bytes()).collect::<String>()
    );
    let response = wif_core::http::default_client()
        .expect("the default client")
        .post(sts.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);
    let sent = sts.requests().await;
    assert_eq!(
        sent[0].options,
        Some(serde_json::json!({"userProject": "p"}))
    );
}

#[tokio::test]
async fn fail_next_injects_errors_into_a_running_fake() {
    let sts = FakeSts::start().await;
    let exchange = builder(sts.token_url()).build().expect("valid");
    sts.fail_next(2, StsError::InvalidTarget).await;
    for _ in 0..2 {
        let err = exchange.token().await.expect_err("injected");
        assert_hint_says(&err, "disabled");
    }
    let token = exchange.token().await.expect("the fake answers again");
    assert_eq!(secret(&token), "federated-1");
}

#[tokio::test]
async fn mount_and_record_on_a_shared_server() {
    let server = MockServer::start().await;
    mount(
        &server,
        StsResponder::new("shared", Duration::from_secs(600)),
    )
    .await;
    mount_next(&server, 1, StsError::Unavailable).await;
    let exchange = builder(format!("{}/v1/token", server.uri()))
        .retry_policy(quick_retries(2))
        .build()
        .expect("valid");
    let token = exchange
        .token()
        .await
        .expect("retried past the injected 503");
    assert_eq!(secret(&token), "shared-1");
    let sent = sts_requests(&server).await;
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|s| s.audience == AUDIENCE));
}
