//! Test support (feature `testing`): BigQuery on a loopback wiremock server, for your own
//! suites — canned rows, every documented error, faults, and a recorder that decodes what your
//! code sent. For a BigQuery that keeps what you insert and runs your SQL, use the emulator
//! (`wif-emulator`).
//!
//! ```
//! use serde_json::json;
//! use wif_bigquery::testing::{BigQueryCall, BigQueryResponder, FakeBigQuery};
//! use wif_bigquery::{BigQuery, InsertOptions};
//! use wif_core::{AccessToken, StaticTokenProvider};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wif_core::Error> {
//! let fake = FakeBigQuery::start().await;
//! let bq = BigQuery::builder()
//!     .provider(StaticTokenProvider::new(AccessToken::new("ya29.test")))
//!     .project("my-project")
//!     .base_url(fake.base_url())
//!     .build()?;
//! bq.insert_rows(&bq.table("analytics", "events"), [json!({"id": 1})], InsertOptions::default())
//!     .await?
//!     .into_result()?;
//! let sent = fake.requests().await;
//! let BigQueryCall::InsertAll { table, rows, .. } = &sent[0].call else { panic!("{sent:?}") };
//! assert_eq!((table.as_str(), rows.as_slice()), ("events", &[json!({"id": 1})][..]));
//! # Ok(()) }
//! ```

mod recorded;
mod responder;

use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, Respond};

pub use recorded::{BigQueryCall, BigQueryRequest};
pub use responder::{BigQueryError, BigQueryResponder};

/// The path prefix BigQuery v2 is served under.
pub const BIGQUERY_PATH: &str = "/bigquery/v2/";

/// BigQuery on 127.0.0.1 (`/bigquery/v2/…`), answered by a [`BigQueryResponder`]. Dropping it
/// stops the server.
#[derive(Debug)]
pub struct FakeBigQuery {
    server: MockServer,
}

impl FakeBigQuery {
    /// Starts the fake answering with [`BigQueryResponder::new`].
    pub async fn start() -> Self {
        FakeBigQuery::start_with(BigQueryResponder::new()).await
    }

    /// Starts the fake answering with `responder`.
    pub async fn start_with(responder: BigQueryResponder) -> Self {
        let server = MockServer::start().await;
        mount(&server, responder).await;
        FakeBigQuery { server }
    }

    /// The underlying server.
    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// The base URL for [`BigQueryBuilder::base_url`](crate::BigQueryBuilder::base_url).
    pub fn base_url(&self) -> String {
        base_url(&self.server)
    }

    /// Every BigQuery call so far, decoded, oldest first.
    pub async fn requests(&self) -> Vec<BigQueryRequest> {
        bigquery_requests(&self.server).await
    }

    /// The next `n` calls get `error`; later ones the fake's responder again.
    pub async fn fail_next(&self, n: u64, error: BigQueryError) {
        mount_next(&self.server, n, error).await;
    }
}

/// The BigQuery base URL on `server`.
pub fn base_url(server: &MockServer) -> String {
    format!("{}{BIGQUERY_PATH}", server.uri())
}

/// Mounts `responder` on `server` for everything under `/bigquery/v2/`.
pub async fn mount(server: &MockServer, responder: impl Respond + 'static) {
    Mock::given(path_regex("^/bigquery/v2/"))
        .respond_with(responder)
        .named("bigquery")
        .mount(server)
        .await;
}

/// Mounts `responder` for the next `n` BigQuery calls only, ahead of what is mounted already.
pub async fn mount_next(server: &MockServer, n: u64, responder: impl Respond + 'static) {
    Mock::given(path_regex("^/bigquery/v2/"))
        .respond_with(responder)
        .up_to_n_times(n)
        .with_priority(1)
        .named("bigquery (injected)")
        .mount(server)
        .await;
}

/// Every BigQuery call `server` received, decoded, oldest first.
pub async fn bigquery_requests(server: &MockServer) -> Vec<BigQueryRequest> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(BigQueryRequest::parse)
        .collect()
}
