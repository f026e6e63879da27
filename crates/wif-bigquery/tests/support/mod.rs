//! Shared pieces of the wif-bigquery suites: a token provider that counts refreshes, a fast
//! retry policy, and a client pointed at a mock server.

#![allow(dead_code)] // each test binary uses a different subset
#![allow(clippy::expect_used)] // test support: a malformed request should fail the test loudly

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;
use wif_bigquery::BigQuery;
use wif_core::{AccessToken, Error, RetryPolicy, TokenProvider, async_trait};
use wiremock::{MockServer, Request};

/// Hands out `tok-1`, and `tok-2` after one `invalidate`, … and counts both.
#[derive(Debug, Default)]
pub struct CountingProvider {
    invalidations: AtomicU32,
    fetches: AtomicU32,
}

impl CountingProvider {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn invalidations(&self) -> u32 {
        self.invalidations.load(Ordering::SeqCst)
    }

    pub fn fetches(&self) -> u32 {
        self.fetches.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl TokenProvider for CountingProvider {
    async fn token(&self) -> Result<AccessToken, Error> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let n = self.invalidations.load(Ordering::SeqCst) + 1;
        Ok(AccessToken::new(format!("tok-{n}")))
    }

    fn invalidate(&self) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
    }
}

/// Retries quickly so suites stay fast (real time: wiremock needs real I/O).
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(4)
        .with_backoff(Duration::from_millis(1), Duration::from_millis(5))
        .with_deadline(Duration::from_secs(10))
        .without_jitter()
}

pub fn client(server: &MockServer, provider: Arc<CountingProvider>) -> BigQuery {
    BigQuery::new(provider, "proj")
        .with_base_url(&format!("{}/bigquery/v2/", server.uri()))
        .with_retry_policy(fast_retries())
}

pub fn json_body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).expect("the request body is JSON")
}

pub fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

/// A google.rpc error body with a BigQuery reason.
pub fn rpc_error(code: u16, reason: &str, message: &str) -> Value {
    serde_json::json!({"error": {
        "code": code,
        "message": message,
        "errors": [{"message": message, "domain": "global", "reason": reason}],
        "status": "WHATEVER",
    }})
}
