//! The provider against scripted token providers: headers, entity tags, errors, secrets.

use std::collections::VecDeque;
use std::error::Error as _;
use std::sync::Mutex;

use async_trait::async_trait;
use google_cloud_auth::credentials::{AccessTokenCredentials, Credentials};
use wif_core::{ErrorKind, StaticTokenProvider, Step};

use super::*;

/// Hands out the scripted results in order, then keeps repeating the last token.
#[derive(Debug)]
struct Script {
    results: Mutex<VecDeque<Result<AccessToken, Error>>>,
}

impl Script {
    fn new(results: Vec<Result<AccessToken, Error>>) -> Self {
        Script {
            results: Mutex::new(results.into()),
        }
    }
}

#[async_trait]
impl TokenProvider for Script {
    async fn token(&self) -> Result<AccessToken, Error> {
        let mut results = self.results.lock().unwrap_or_else(|e| e.into_inner());
        match results.len() {
            0 => Err(Error::new(
                Step::Exchange,
                ErrorKind::Internal,
                "script ended",
            )),
            1 => results[0].clone(),
            _ => results.pop_front().unwrap_or_else(|| unreachable!()),
        }
    }
}

fn header<'a>(headers: &'a CacheableResource<HeaderMap>, name: &str) -> Option<&'a str> {
    match headers {
        CacheableResource::New { data, .. } => data.get(name).and_then(|v| v.to_str().ok()),
        CacheableResource::NotModified => None,
    }
}

fn tag_of(headers: &CacheableResource<HeaderMap>) -> EntityTag {
    match headers {
        CacheableResource::New { entity_tag, .. } => entity_tag.clone(),
        CacheableResource::NotModified => panic!("expected new headers, got NotModified"),
    }
}

fn with_tag(tag: &EntityTag) -> Extensions {
    let mut extensions = Extensions::new();
    extensions.insert(tag.clone());
    extensions
}

#[tokio::test]
async fn headers_carry_the_bearer_token_and_the_quota_project() {
    let provider = WifCredentialsProvider::from_token_provider(StaticTokenProvider::new(
        AccessToken::new("ya29.first"),
    ))
    .with_quota_project_id("billing-project");
    let credentials = Credentials::from(provider);

    let headers = credentials
        .headers(Extensions::new())
        .await
        .expect("headers");
    assert_eq!(header(&headers, "authorization"), Some("Bearer ya29.first"));
    assert_eq!(
        header(&headers, "x-goog-user-project"),
        Some("billing-project")
    );
    let CacheableResource::New { data, .. } = &headers else {
        unreachable!()
    };
    assert!(data["authorization"].is_sensitive(), "{data:?}");
    assert_eq!(data.len(), 2, "{data:?}");
}

#[tokio::test]
async fn without_a_quota_project_only_authorization_is_sent() {
    let provider = WifCredentialsProvider::from_token_provider(StaticTokenProvider::new(
        AccessToken::new("ya29.first"),
    ));
    let headers = provider.headers(Extensions::new()).await.expect("headers");
    let CacheableResource::New { data, .. } = &headers else {
        panic!("{headers:?}")
    };
    assert_eq!(
        data.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
        ["authorization"]
    );
}

#[tokio::test]
async fn the_entity_tag_stays_until_the_token_changes() {
    let provider = WifCredentialsProvider::from_token_provider(Script::new(vec![
        Ok(AccessToken::new("ya29.first")),
        Ok(AccessToken::new("ya29.first")),
        Ok(AccessToken::new("ya29.first")),
        Ok(AccessToken::new("ya29.second")),
    ]));

    let first = provider.headers(Extensions::new()).await.expect("first");
    let tag = tag_of(&first);
    // Without a tag the caller always gets the headers, with the same tag.
    let again = provider.headers(Extensions::new()).await.expect("again");
    assert_eq!(tag_of(&again), tag);
    assert_eq!(header(&again, "authorization"), Some("Bearer ya29.first"));
    // With the tag, and the same token: not modified.
    let unchanged = provider.headers(with_tag(&tag)).await.expect("unchanged");
    assert_eq!(unchanged, CacheableResource::NotModified);
    // A new token: new headers under a new tag, even for the holder of the old tag.
    let changed = provider.headers(with_tag(&tag)).await.expect("changed");
    assert_eq!(
        header(&changed, "authorization"),
        Some("Bearer ya29.second")
    );
    assert_ne!(tag_of(&changed), tag);
}

#[tokio::test]
async fn a_foreign_entity_tag_gets_new_headers() {
    let provider = WifCredentialsProvider::from_token_provider(StaticTokenProvider::new(
        AccessToken::new("ya29.first"),
    ));
    let headers = provider
        .headers(with_tag(&EntityTag::new()))
        .await
        .expect("headers");
    assert_eq!(header(&headers, "authorization"), Some("Bearer ya29.first"));
}

#[tokio::test]
async fn retryable_wif_errors_are_transient_others_permanent() {
    let retryable = Error::new(
        Step::Exchange,
        ErrorKind::Http,
        "Google STS answered 503 Service Unavailable",
    )
    .retryable(true);
    let permanent = Error::new(
        Step::Exchange,
        ErrorKind::Http,
        "Google STS refused the subject token: invalid_grant",
    );
    assert!(!permanent.is_retryable());
    for (wif_error, transient) in [(retryable, true), (permanent, false)] {
        let message = wif_error.to_string();
        let provider =
            WifCredentialsProvider::from_token_provider(Script::new(vec![Err(wif_error)]));
        let credentials = Credentials::from(provider.clone());

        let err = credentials
            .headers(Extensions::new())
            .await
            .expect_err("the token failed");
        assert_eq!(err.is_transient(), transient, "{err}");
        assert!(err.to_string().contains(&message), "{err} lacks {message}");
        let source = err
            .source()
            .and_then(|s| s.downcast_ref::<Error>())
            .expect("the wif error is the source");
        assert_eq!(source.step(), Step::Exchange);

        let err = provider.access_token().await.expect_err("the token failed");
        assert_eq!(err.is_transient(), transient, "{err}");
    }
}

#[tokio::test]
async fn access_token_credentials_hand_out_the_value() {
    let provider = WifCredentialsProvider::from_token_provider(StaticTokenProvider::new(
        AccessToken::new("ya29.value"),
    ));
    let credentials = AccessTokenCredentials::from(provider);
    let token = credentials.access_token().await.expect("token");
    assert_eq!(token.token, "ya29.value");
}

#[tokio::test]
async fn a_quota_project_that_is_not_a_header_value_is_a_permanent_error() {
    let provider = WifCredentialsProvider::from_token_provider(StaticTokenProvider::new(
        AccessToken::new("ya29.value"),
    ))
    .with_quota_project_id("bad\nproject");
    let err = provider
        .headers(Extensions::new())
        .await
        .expect_err("bad header");
    assert!(!err.is_transient());
    assert!(err.to_string().contains("bad\\nproject"), "{err}");
}

#[tokio::test]
async fn wif_credentials_bring_their_quota_project_and_universe() {
    let config = serde_json::json!({
        "type": "external_account",
        "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": "https://sts.googleapis.com/v1/token",
        "credential_source": {"file": "/nonexistent/token"},
        "quota_project_id": "billing-project",
    });
    let wif = wif::Credentials::from_json(&config.to_string()).expect("config");
    let provider = WifCredentialsProvider::from(wif);
    assert_eq!(provider.quota_project_id(), Some("billing-project"));
    assert_eq!(
        provider.universe_domain().await.as_deref(),
        Some("googleapis.com")
    );
    // The file does not exist: a permanent error naming the source step, before any network.
    let err = provider
        .headers(Extensions::new())
        .await
        .expect_err("no subject token");
    assert!(!err.is_transient(), "{err}");
}

#[tokio::test]
async fn nothing_shows_the_token() {
    let provider = WifCredentialsProvider::from_token_provider(StaticTokenProvider::new(
        AccessToken::new("ya29.secret-value-123"),
    ));
    let headers = provider.headers(Extensions::new()).await.expect("headers");
    let access = provider.access_token().await.expect("token");
    let shown = format!("{provider:?} {headers:?} {access:?}");
    assert!(!shown.contains("secret-value-123"), "{shown}");
}

/// Counts `invalidate_all` calls; hands out one static token.
#[derive(Debug, Default)]
struct Invalidations(std::sync::atomic::AtomicU32);

#[async_trait]
impl TokenProvider for Invalidations {
    async fn token(&self) -> Result<AccessToken, Error> {
        Ok(AccessToken::new("ya29.x"))
    }
    fn invalidate_all(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_first_401_refreshes_and_retries_once_then_the_wrapped_policy_decides() {
    use google_cloud_gax::error::Error as GaxError;
    use google_cloud_gax::retry_policy::{NeverRetry, RetryPolicy};
    use google_cloud_gax::retry_result::RetryResult;
    use google_cloud_gax::retry_state::RetryState;

    let counter = Arc::new(Invalidations::default());
    let provider = WifCredentialsProvider::from_token_provider(counter.clone());
    let policy = provider.refresh_on_unauthorized(NeverRetry);
    let unauthorized = || GaxError::http(401, HeaderMap::new(), bytes::Bytes::new());
    let invalidations = || counter.0.load(std::sync::atomic::Ordering::SeqCst);

    // Not idempotent, and still retried: a refused request had no effect.
    let first = RetryState::new(false).set_attempt_count(1u32);
    assert!(matches!(
        policy.on_error(&first, unauthorized()),
        RetryResult::Continue(_)
    ));
    assert_eq!(invalidations(), 1);
    // Refused again with the new token: the wrapped policy's verdict, no more refreshing.
    let second = RetryState::new(false).set_attempt_count(2u32);
    assert!(!matches!(
        policy.on_error(&second, unauthorized()),
        RetryResult::Continue(_)
    ));
    // Anything else goes to the wrapped policy too.
    let not_found = GaxError::http(404, HeaderMap::new(), bytes::Bytes::new());
    assert!(!matches!(
        policy.on_error(&first, not_found),
        RetryResult::Continue(_)
    ));
    assert_eq!(invalidations(), 1);
}
