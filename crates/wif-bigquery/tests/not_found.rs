//! What a failed call says about where it went: every error names the request's method and URL
//! (never its query string: see `query.rs` for a page fetch), and a 404's hint names what was not
//! found — the project, dataset, table or job BigQuery's message names, or, when BigQuery did not
//! answer at all, the URL itself.

#![allow(clippy::expect_used)]

mod support;

use serde_json::json;
use support::{CountingProvider, answers, client_serving, fast_retries, rpc_error_response};
use wif_bigquery::{BigQuery, InsertOptions, QueryRequest, TableRef};
use wif_core::testing::{assert_hint_says, assert_says};
use wif_core::{Error, MapEnvironment};
use wiremock::MockServer;

fn table() -> TableRef {
    TableRef::new("proj", "ds", "events")
}

async fn insert_error(bq: &BigQuery) -> Error {
    bq.insert_rows(&table(), [json!({"id": 1})], InsertOptions::default())
        .await
        .expect_err("the server refuses")
}

/// A base URL without `/bigquery/v2/`: nothing there answers as BigQuery (the mock server, like
/// most web servers, says 404 with an empty body). The error shows where the request went, and
/// the hint blames the URL, not a dataset or a table.
#[tokio::test]
async fn an_empty_404_names_the_url_and_blames_the_base_url() {
    let server = MockServer::start().await;
    let bq = BigQuery::builder()
        .provider(CountingProvider::new())
        .project("proj")
        .base_url(server.uri())
        .environment(MapEnvironment::new())
        .retry_policy(fast_retries())
        .build()
        .expect("a valid client");

    let err = insert_error(&bq).await;
    assert_eq!(err.status(), Some(404), "{err}");
    let url = format!(
        "{}/projects/proj/datasets/ds/tables/events/insertAll",
        server.uri()
    );
    let shown = err.to_string();
    assert_says(&shown, &[&format!("(POST {url})"), "empty body"]);
    let hint = err.hint().expect("a hint");
    assert!(hint.contains(&url) && hint.contains("base URL"), "{hint}");
    let besides_the_url = hint.replace(&url, "");
    assert!(
        !besides_the_url.contains("dataset") && !besides_the_url.contains("table"),
        "{hint}"
    );

    let err = bq
        .query(QueryRequest::new("SELECT 1"))
        .await
        .expect_err("404");
    let url = format!("{}/projects/proj/queries", server.uri());
    assert!(err.to_string().contains(&format!("(POST {url})")), "{err}");
    assert_hint_says(&err, &url);
}

/// BigQuery's `notFound` message names the missing thing; the hint is about that thing.
#[tokio::test]
async fn a_not_found_hint_names_what_was_not_found() {
    // (the server's message, whether the call is a query, what the hint says, what it must not)
    let cases: &[(&str, bool, &str, &str)] = &[
        (
            "Not found: Dataset proj:ds",
            false,
            "dataset does not exist",
            "table id",
        ),
        (
            "Not found: Table proj:ds.events",
            false,
            "table does not exist",
            "dataset id",
        ),
        (
            "Not found: Table proj:ds.t was not found in location EU",
            true,
            "table the query names",
            "dataset id",
        ),
        (
            "Not found: Dataset proj:other was not found in location US",
            true,
            "dataset the query names",
            "table id",
        ),
        (
            "Not found: Job proj:US.job_1",
            true,
            "no such job",
            "dataset id",
        ),
        (
            "Not found: Project nope",
            false,
            "no such project",
            "dataset id",
        ),
        // A message we do not know: the old, general hint.
        ("gone", false, "dataset and table exist", "base URL"),
    ];
    for (message, query, says, not) in cases {
        let not_found = rpc_error_response(404, "notFound", message);
        let (_server, bq) = client_serving([answers("POST", not_found)]).await;
        let err = if *query {
            bq.query(QueryRequest::new("SELECT 1"))
                .await
                .expect_err("404")
        } else {
            insert_error(&bq).await
        };
        assert_eq!(err.status(), Some(404), "{message}: {err}");
        assert!(!err.is_retryable(), "{message}: {err:?}");
        assert!(err.to_string().contains(message), "{message}: {err}");
        let hint = err.hint().expect("a hint");
        assert!(hint.contains(says), "{message}: {hint}");
        assert!(!hint.contains(not), "{message}: {hint}");
        if *query {
            assert!(hint.contains("location"), "{message}: {hint}");
        }
    }
}
