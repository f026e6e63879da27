//! Round trips against the wif-rs emulator: what the client sends is what a BigQuery-shaped
//! server accepts, with a token the emulated chain issued.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use wif_bigquery::{BigQuery, InsertOptions, QueryRequest, TableRef};
use wif_core::{AccessToken, MapEnvironment, StaticTokenProvider, TokenProvider};
use wif_emulator::bigquery::{self, TableField};
use wif_emulator::{Emulator, Endpoint, Fault, RunningEmulator, TokenKind};

mod support;

use support::all_rows;
use wif_core::testing::{assert_hint_says, quick_retries};

const PROJECT: &str = "wif-demo";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Visit {
    id: i64,
    page: String,
    at: String,
    tags: Vec<String>,
    device: Option<Device>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Device {
    os: String,
    version: i64,
}

fn visit(id: i64) -> Visit {
    Visit {
        id,
        page: if id % 2 == 0 { "/home" } else { "/about" }.into(),
        at: format!("2026-01-01T00:00:{:02}.000000Z", id % 60),
        tags: vec![format!("t{id}")],
        device: (id % 3 != 0).then(|| Device {
            os: "linux".into(),
            version: id,
        }),
    }
}

async fn setup() -> (RunningEmulator, Arc<dyn TokenProvider>) {
    let emulator = Emulator::new(Default::default())
        .start_local()
        .await
        .expect("emulator starts");
    bigquery::create_table(
        emulator.state(),
        PROJECT,
        "web",
        "visits",
        &[
            TableField::new("id", "INT64").required(),
            TableField::new("page", "STRING"),
            TableField::new("at", "TIMESTAMP"),
            TableField::new("tags", "STRING").repeated(),
            TableField::record(
                "device",
                vec![
                    TableField::new("os", "STRING"),
                    TableField::new("version", "INT64"),
                ],
            ),
        ],
    )
    .expect("valid schema");
    let (token, _) = emulator.state().issue(
        TokenKind::ServiceAccount,
        wif_emulator::config::DEFAULT_SERVICE_ACCOUNT.into(),
        vec![],
        vec![wif_core::CLOUD_PLATFORM_SCOPE.into()],
        Duration::from_secs(3600),
    );
    let provider: Arc<dyn TokenProvider> =
        Arc::new(StaticTokenProvider::new(AccessToken::new(token)));
    (emulator, provider)
}

fn client(emulator: &RunningEmulator, provider: Arc<dyn TokenProvider>) -> BigQuery {
    BigQuery::builder()
        .provider(provider)
        .project(PROJECT)
        .base_url(format!("{}/bigquery/v2/", emulator.base_url()))
        .retry_policy(quick_retries(3))
        .build()
        .expect("a valid client")
}

#[tokio::test]
async fn insert_then_query_back_through_pages() {
    let (emulator, provider) = setup().await;
    let bq = client(&emulator, provider);
    let table = bq.table("web", "visits");
    let visits: Vec<Visit> = (1..=7).map(visit).collect();
    let report = bq
        .insert_rows(&table, &visits, InsertOptions::default().max_batch_rows(3))
        .await
        .expect("insert")
        .into_result()
        .expect("every row inserted");
    assert_eq!((report.inserted_rows(), report.requests()), (7, 3));

    let back: Vec<Visit> = bq
        .query(QueryRequest::new("SELECT * FROM `wif-demo.web.visits`").page_size(2))
        .await
        .expect("query")
        .rows_as::<Visit>()
        .collect_rows()
        .await
        .expect("rows");
    assert_eq!(back, visits, "every type survives the round trip");

    let count = all_rows(
        &bq,
        QueryRequest::new("SELECT COUNT(*) AS n FROM web.visits WHERE page = @page")
            .param("page", "/home"),
    )
    .await;
    assert_eq!(count, vec![json!({"n": 3})]);

    let one = all_rows(
        &bq,
        QueryRequest::new("SELECT page FROM visits WHERE id = ?")
            .default_dataset(PROJECT, "web")
            .positional_param(5),
    )
    .await;
    assert_eq!(one, vec![json!({"page": "/about"})]);

    let schema = bq.table_schema(&table).await.expect("tables.get");
    assert_eq!(schema.fields[0].field_type, "INTEGER");
}

#[tokio::test]
async fn polling_and_retries_against_the_emulator() {
    let (emulator, provider) = setup().await;
    let bq = client(&emulator, provider);
    let table = bq.table("web", "visits");
    // A 503 on the first insertAll: the retry carries the same insertIds, so nothing doubles.
    emulator
        .faults()
        .set(Endpoint::BigQuery, Fault::fail_next(1, 503));
    bq.insert_rows(&table, [visit(1), visit(2)], InsertOptions::default())
        .await
        .expect("retried")
        .into_result()
        .expect("inserted");
    assert_eq!(
        bigquery::table_rows(emulator.state(), PROJECT, "web", "visits").map(|r| r.len()),
        Some(2)
    );

    bigquery::set_incomplete_polls(emulator.state(), 3);
    // Polled to completion.
    let rows = all_rows(&bq, QueryRequest::new("SELECT id FROM web.visits")).await;
    assert_eq!(rows, vec![json!({"id": 1}), json!({"id": 2})]);
}

#[tokio::test]
async fn partial_failures_and_query_errors_come_back_classified() {
    let (emulator, provider) = setup().await;
    let bq = client(&emulator, provider);
    let report = bq
        .insert_rows(
            &TableRef::new(PROJECT, "web", "visits"),
            [json!({"id": 1}), json!({"id": "one"}), json!({"id": 3})],
            InsertOptions::default(),
        )
        .await
        .expect("HTTP 200");
    assert_eq!(report.stopped_rows().collect::<Vec<_>>(), [0, 2]);
    let invalid = &report.row_errors()[1];
    assert_eq!(
        (invalid.index, invalid.errors[0].reason.as_str()),
        (1, "invalid")
    );
    assert_eq!(invalid.errors[0].location, "id");
    assert!(report.into_result().is_err());

    let err = bq
        .query(QueryRequest::new("SELECT nope FROM web.visits"))
        .await
        .expect_err("unknown column");
    assert_eq!(
        err.server_error().and_then(|s| s.reason.as_deref()),
        Some("invalidQuery")
    );
    assert!(err.to_string().contains("Unrecognized name: nope"), "{err}");
    let err = bq
        .query(QueryRequest::new("SELECT * FROM web.visits").location("EU"))
        .await
        .expect_err("wrong location");
    assert_eq!(err.status(), Some(404));
    assert_hint_says(&err, "location");
}

#[tokio::test]
async fn emulator_host_from_the_environment() {
    let (emulator, provider) = setup().await;
    let host = emulator.base_url().trim_start_matches("http://").to_owned();
    let env = MapEnvironment::new().with(wif_bigquery::EMULATOR_HOST_ENV, host);
    let bq = BigQuery::builder()
        .provider(provider)
        .project(PROJECT)
        .environment(env.clone())
        .retry_policy(quick_retries(3))
        .build()
        .expect("emulator client");
    let rows = all_rows(&bq, QueryRequest::new("SELECT * FROM web.visits")).await;
    assert!(rows.is_empty());

    // Without credentials the emulator's bearer check answers 401, and the client says so.
    let anonymous = BigQuery::builder()
        .project(PROJECT)
        .environment(env)
        .build()
        .expect("unauthenticated client");
    let err = anonymous
        .query(QueryRequest::new("SELECT * FROM web.visits"))
        .await
        .expect_err("401");
    assert_eq!(err.status(), Some(401));
}
