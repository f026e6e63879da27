//! The `testing` fakes are public API: each responder and the recorder, tested against
//! `UrlSource` itself.

#![allow(clippy::expect_used)]

use std::time::{Duration, SystemTime};

use wif_core::jwt::UnverifiedJwt;
use wif_core::secrecy::ExposeSecret;
use wif_core::{RetryPolicy, SourceContext, SubjectToken, SubjectTokenSource, TokenFormat};
use wif_source_url::UrlSource;
use wif_source_url::testing::{
    FakeTokenEndpoint, TEST_ISSUER, TokenEndpointError, TokenEndpointResponder, mount, mount_next,
    token_endpoint_requests,
};
use wiremock::MockServer;

fn ctx() -> SourceContext {
    SourceContext::new(
        "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/u",
        "urn:ietf:params:oauth:token-type:jwt",
    )
}

fn json() -> TokenFormat {
    TokenFormat::Json {
        subject_token_field_name: "access_token".into(),
    }
}

fn attempts(n: u32) -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(n)
        .with_backoff(Duration::from_millis(1), Duration::from_millis(2))
        .without_jitter()
}

fn source(url: &str, format: TokenFormat) -> UrlSource {
    UrlSource::new(url, format)
        .expect("valid url")
        .with_retry_policy(attempts(1))
}

fn claims(token: &SubjectToken) -> UnverifiedJwt {
    UnverifiedJwt::decode(token.secret().expose_secret()).expect("a JWT")
}

#[tokio::test]
async fn jwts_are_fresh_numbered_and_readable() {
    let endpoint = FakeTokenEndpoint::start().await;
    let source = source(&endpoint.url(), TokenFormat::Text);
    let first = claims(&source.subject_token(&ctx()).await.expect("a token"));
    let second = claims(&source.subject_token(&ctx()).await.expect("a token"));
    assert_eq!(first.issuer.as_deref(), Some(TEST_ISSUER));
    assert_eq!(first.subject.as_deref(), Some("workload-1"));
    assert_eq!(second.subject.as_deref(), Some("workload-2"));
    assert!(!first.is_expired_at(SystemTime::now()));
}

#[tokio::test]
async fn a_fixed_token_in_json_form() {
    let endpoint =
        FakeTokenEndpoint::start_with(TokenEndpointResponder::fixed("SAML-assertion==", json()))
            .await;
    let token = source(&endpoint.url(), json())
        .subject_token(&ctx())
        .await
        .expect("a token");
    assert_eq!(token.secret().expose_secret(), "SAML-assertion==");
}

#[tokio::test]
async fn every_error_reaches_the_source_with_its_status_and_hint() {
    for error in TokenEndpointError::ALL {
        let endpoint = FakeTokenEndpoint::start_with(
            TokenEndpointResponder::jwts(TokenFormat::Text).failing_first(u64::MAX, error),
        )
        .await;
        let err = source(&endpoint.url(), TokenFormat::Text)
            .subject_token(&ctx())
            .await
            .expect_err("refused");
        assert_eq!(err.status(), Some(error.status()), "{error:?}");
        let transient = matches!(
            error,
            TokenEndpointError::TooManyRequests | TokenEndpointError::Unavailable
        );
        assert_eq!(err.is_retryable(), transient, "{error:?}");
        assert_eq!(err.hint().is_some(), !transient, "{error:?}: {err}");
    }
}

#[tokio::test]
async fn a_required_header_is_enforced_like_azure() {
    let endpoint = FakeTokenEndpoint::start_with(
        TokenEndpointResponder::jwts(json()).requiring_header("Metadata", "True"),
    )
    .await;
    let err = source(&endpoint.url(), json())
        .subject_token(&ctx())
        .await
        .expect_err("no header");
    assert_eq!(err.status(), Some(400));
    assert!(
        err.hint().is_some_and(|h| h.contains("Metadata: True")),
        "{err}"
    );
    source(&endpoint.url(), json())
        .with_headers([("Metadata".to_owned(), "True".to_owned())])
        .expect("valid header")
        .subject_token(&ctx())
        .await
        .expect("with the header");
}

#[tokio::test]
async fn flaky_slow_and_expired_then_valid() {
    let responder = TokenEndpointResponder::jwts(TokenFormat::Text).flaky(2);
    let kept = responder.clone();
    let endpoint = FakeTokenEndpoint::start_with(responder).await;
    source(&endpoint.url(), TokenFormat::Text)
        .with_retry_policy(attempts(3))
        .subject_token(&ctx())
        .await
        .expect("the third attempt");
    assert_eq!((kept.answered(), kept.served()), (3, 1));

    let slow = FakeTokenEndpoint::start_with(
        TokenEndpointResponder::jwts(TokenFormat::Text).slow(Duration::from_secs(30)),
    )
    .await;
    let err = source(&slow.url(), TokenFormat::Text)
        .with_timeout(Duration::from_millis(100))
        .subject_token(&ctx())
        .await
        .expect_err("times out");
    assert!(err.is_timeout(), "{err}");

    let rotating = FakeTokenEndpoint::start_with(TokenEndpointResponder::expired_then_valid(
        TokenFormat::Text,
    ))
    .await;
    let source = source(&rotating.url(), TokenFormat::Text);
    let now = SystemTime::now();
    let first = claims(&source.subject_token(&ctx()).await.expect("first"));
    let second = claims(&source.subject_token(&ctx()).await.expect("second"));
    assert!(first.is_expired_at(now), "{first:?}");
    assert!(!second.is_expired_at(now), "{second:?}");
}

#[tokio::test]
async fn the_recorder_keeps_header_and_query_values_secret() {
    let endpoint = FakeTokenEndpoint::start().await;
    let url = format!("{}?api-version=2018-02-01&sig=query-SECRET", endpoint.url());
    source(&url, TokenFormat::Text)
        .with_headers([(
            "Authorization".to_owned(),
            "Bearer header-SECRET".to_owned(),
        )])
        .expect("valid header")
        .subject_token(&ctx())
        .await
        .expect("a token");
    let sent = endpoint.requests().await;
    assert_eq!(sent.len(), 1);
    let request = &sent[0];
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/token");
    assert_eq!(
        request.header("authorization").map(|v| v.expose_secret()),
        Some("Bearer header-SECRET")
    );
    assert_eq!(
        request.query_param("sig").map(|v| v.expose_secret()),
        Some("query-SECRET")
    );
    assert!(request.header("metadata").is_none());
    let shown = format!("{sent:?}");
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(shown.contains("authorization"), "{shown}");
}

#[tokio::test]
async fn fail_next_and_shared_servers() {
    let endpoint = FakeTokenEndpoint::start().await;
    endpoint.fail_next(1, TokenEndpointError::NotFound).await;
    let source_of = |url: &str| source(url, TokenFormat::Text);
    let err = source_of(&endpoint.url())
        .subject_token(&ctx())
        .await
        .expect_err("injected");
    assert_eq!(err.status(), Some(404));
    source_of(&endpoint.url())
        .subject_token(&ctx())
        .await
        .expect("then served");

    let server = MockServer::start().await;
    mount(
        &server,
        "/oidc/token",
        TokenEndpointResponder::fixed("t0k3n", TokenFormat::Text),
    )
    .await;
    mount_next(&server, "/oidc/token", 1, TokenEndpointError::Unavailable).await;
    let token = source(&format!("{}/oidc/token", server.uri()), TokenFormat::Text)
        .with_retry_policy(attempts(2))
        .subject_token(&ctx())
        .await
        .expect("retried");
    assert_eq!(token.secret().expose_secret(), "t0k3n");
    assert_eq!(
        token_endpoint_requests(&server, "/oidc/token").await.len(),
        2
    );
    assert!(token_endpoint_requests(&server, "/other").await.is_empty());
}
