//! # wif-bigquery — BigQuery over REST with any token provider
//!
//! A GCP adapter, the API step ([`Step::Api`](wif_core::Step::Api)) after the chain: once the chain
//! hands out access tokens, this crate calls the [BigQuery v2 REST API] with them. It takes any
//! [`wif_core::TokenProvider`] (the `wif` facade's `Credentials`, or your own) and does two things
//! well:
//!
//! * **Streaming inserts** ([`BigQuery::insert_rows`], `tabledata.insertAll`): serde rows, a
//!   generated `insertId` per row so retried requests don't duplicate rows, batches under 500
//!   rows and 10 MB, and an [`InsertReport`] that names every rejected row by its index in your
//!   input (HTTP 200 with `insertErrors` is a partial failure, not a success).
//! * **Queries** ([`BigQuery::query`], `jobs.query` + `jobs.getQueryResults`): GoogleSQL with
//!   named or positional parameters, `requestId`, polling while the job runs, and the rows as an
//!   async stream that pages on demand, decoded from BigQuery's `f`/`v` encoding by schema (see
//!   [`schema`]) into `serde_json::Value` or your own types.
//!
//! Calls are retried by BigQuery's rules — `reason` `backendError`, `rateLimitExceeded` (which
//! arrives as HTTP **403**), `internalError`, `badGateway`, and HTTP 500/502/503/504 — with
//! exponential backoff under a deadline ([`default_retry_policy`]); `invalidQuery` and other
//! client errors never are. A 401 makes the provider drop its cached token and the call is
//! replayed once. Errors are [`wif_core::Error`]s at `Step::Api` with the API method, the
//! request's method and URL (never its query), the status, BigQuery's `reason` and message, and
//! a hint for the usual causes (missing IAM role; which dataset, table, job or URL was not
//! found). Clients are made by [`BigQuery::builder`], the same shape as wif-storage's;
//! `BIGQUERY_EMULATOR_HOST` is honoured like Google's clients do ([`BigQueryBuilder::build`]).
//! Each call runs in a `bigquery` tracing span (method, project, table, rows, attempt); tokens
//! never appear in it.
//!
//! ```no_run
//! use futures::TryStreamExt as _;
//! use serde::{Deserialize, Serialize};
//! use wif_bigquery::{BigQuery, InsertOptions, QueryRequest};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Event {
//!     id: i64,
//!     kind: String,
//! }
//!
//! # async fn run(credentials: impl wif_core::TokenProvider + 'static) -> Result<(), wif_core::Error> {
//! let bq = BigQuery::builder()
//!     .provider(credentials)
//!     .project("my-project")
//!     .build()?;
//!
//! let table = bq.table("analytics", "events");
//! let events = [Event { id: 1, kind: "signup".into() }, Event { id: 2, kind: "login".into() }];
//! let report = bq.insert_rows(&table, &events, InsertOptions::default()).await?;
//! report.into_result()?; // any rejected row becomes an error naming it
//!
//! let rows: Vec<Event> = bq
//!     .query(QueryRequest::new("SELECT id, kind FROM `my-project.analytics.events` WHERE kind = @kind")
//!         .param("kind", "signup"))
//!     .await?
//!     .rows_as::<Event>()
//!     .try_collect()
//!     .await?;
//! # let _ = rows;
//! # Ok(()) }
//! ```
//!
//! [BigQuery v2 REST API]: https://cloud.google.com/bigquery/docs/reference/rest

mod builder;
mod client;
mod hints;
mod insert;
pub mod json_lines;
mod metadata;
mod param;
mod query;
mod results;
pub mod schema;
mod table;
#[cfg(feature = "testing")]
pub mod testing;

use std::time::Duration;

pub use builder::BigQueryBuilder;
pub use client::{BigQuery, DEFAULT_BASE_URL, EMULATOR_HOST_ENV, default_retry_policy};
pub use insert::{
    ErrorProto, InsertOptions, InsertReport, MAX_BATCH_BYTES, MAX_BATCH_ROWS, RowError,
};
pub use param::QueryParameter;
pub use query::{
    DEFAULT_QUERY_DEADLINE, DEFAULT_QUERY_TIMEOUT, JobReference, MAX_QUERY_TIMEOUT, QueryRequest,
};
pub use results::{QueryResults, TypedRows};
pub use schema::{Field, Schema};
pub use table::TableRef;

/// HTTP timeout of each `insertAll` attempt.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
