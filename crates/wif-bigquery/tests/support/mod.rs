//! Shared pieces of the wif-bigquery suites: a token provider that counts refreshes, a fast
//! retry policy, and a client pointed at a mock server.

#![allow(dead_code)] // each test binary uses a different subset
#![allow(clippy::expect_used)] // test support: a malformed request should fail the test loudly

use std::time::Duration;

use serde_json::Value;
use wif_bigquery::{BigQuery, BigQueryBuilder, QueryRequest};
use wif_core::{MapEnvironment, RetryPolicy, TokenProvider};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub use wif_core::testing::{CountingProvider, quick_retries, server_with};

/// Four quick attempts within 10 s, so suites stay fast (real time: wiremock needs real I/O).
pub fn fast_retries() -> RetryPolicy {
    quick_retries(4).with_deadline(Duration::from_secs(10))
}

/// A client of project `proj` on `server`'s `/bigquery/v2/`, with [`fast_retries`].
pub fn client(server: &MockServer, provider: impl TokenProvider + 'static) -> BigQuery {
    builder(server, provider).build().expect("a valid client")
}

/// [`client`]'s settings, to add to.
pub fn builder(server: &MockServer, provider: impl TokenProvider + 'static) -> BigQueryBuilder {
    BigQuery::builder()
        .provider(provider)
        .project("proj")
        .base_url(format!("{}/bigquery/v2/", server.uri()))
        .environment(MapEnvironment::new())
        .retry_policy(fast_retries())
}

/// Runs `request` on `bq` and collects every row of every page, failing the test if the query
/// or a row fails.
pub async fn all_rows(bq: &BigQuery, request: QueryRequest) -> Vec<Value> {
    bq.query(request)
        .await
        .expect("the query runs")
        .collect_rows()
        .await
        .expect("every row arrives and decodes")
}

pub fn json_body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).expect("the request body is JSON")
}

pub fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Every request of `http_method` gets `response`.
pub fn answers(http_method: &str, response: ResponseTemplate) -> Mock {
    Mock::given(method(http_method)).respond_with(response)
}

/// The first `failures` requests of `http_method` get `failure`, ahead of every other mock;
/// later ones fall through to them.
pub fn fails_first(http_method: &str, failures: u64, failure: ResponseTemplate) -> Mock {
    answers(http_method, failure)
        .up_to_n_times(failures)
        .with_priority(1)
}

/// A mock server answering with `mocks`, and a [`client`] of it with a fresh
/// [`CountingProvider`].
pub async fn client_serving(mocks: impl IntoIterator<Item = Mock>) -> (MockServer, BigQuery) {
    let server = server_with(mocks).await;
    let bq = client(&server, CountingProvider::new());
    (server, bq)
}

/// A `status` answer carrying [`rpc_error`]`(status, reason, message)`.
pub fn rpc_error_response(status: u16, reason: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(rpc_error(status, reason, message))
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
