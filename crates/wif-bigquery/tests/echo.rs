//! BigQuery (or a proxy in front of it) quoting the request in its error: the bearer token the
//! request carried never comes back through the error or a log line, in any spelling.

#![allow(clippy::expect_used)]

use wif_bigquery::{BigQuery, QueryRequest};
use wif_core::testing::{assert_api_echoes_are_scrubbed, quick_retries};
use wif_core::{AccessToken, MapEnvironment, StaticTokenProvider, Step};

const BEARER: &str = "ya29.bigquery-BEARER-3c4d5e/with+base64=";

#[tokio::test]
async fn an_echoing_server_gets_no_bearer_token_through() {
    assert_api_echoes_are_scrubbed("POST", &[BEARER], |uri| async move {
        let bq = BigQuery::builder()
            .provider(StaticTokenProvider::new(AccessToken::new(BEARER)))
            .project("proj")
            .base_url(format!("{uri}/bigquery/v2/"))
            .environment(MapEnvironment::new())
            .retry_policy(quick_retries(2))
            .build()
            .expect("a valid client");
        let err = bq
            .query(QueryRequest::new("SELECT 1"))
            .await
            .expect_err("the server refuses");
        assert_eq!(err.step(), Step::Api, "{err}");
        err
    })
    .await;
}
