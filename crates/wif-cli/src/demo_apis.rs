//! The demo's API steps — BigQuery insert and query, Cloud Storage upload and read-back — and
//! the data the emulator is seeded with so `wif bq` / `wif gcs` work against it.

use std::time::Instant;

use wif::{Credentials, Error, ErrorKind, MapEnvironment, Step};
use wif_bigquery::{BigQuery, InsertOptions, QueryRequest};
use wif_emulator::RunningEmulator;
use wif_emulator::bigquery::{TableField, create_table};

use crate::demo::Narrator;

/// The demo's dataset and table.
pub(crate) const DATASET: &str = "demo";
/// The demo's table.
pub(crate) const TABLE: &str = "events";

/// Creates the demo's dataset, table and bucket in the emulator.
pub(crate) fn seed(emulator: &RunningEmulator) -> Result<(), Error> {
    let project = emulator.config().project_id.clone();
    create_table(
        emulator.state(),
        &project,
        DATASET,
        TABLE,
        &[
            TableField::new("id", "INT64").required(),
            TableField::new("source", "STRING"),
            TableField::new("message", "STRING"),
            TableField::new("at", "TIMESTAMP"),
        ],
    )
    .map_err(|e| {
        Error::new(
            Step::Api,
            ErrorKind::Internal,
            format!("could not create the demo table: {e}"),
        )
    })?;
    crate::demo_storage::seed(emulator);
    Ok(())
}

#[derive(serde::Serialize)]
struct Event {
    id: i64,
    source: &'static str,
    message: String,
    at: String,
}

/// Inserts and queries BigQuery rows, uploads and reads back a Cloud Storage object.
pub(crate) async fn run(
    n: &mut Narrator<'_>,
    emulator: &RunningEmulator,
    creds: Credentials,
) -> Result<(), Error> {
    seed(emulator)?;
    let project = emulator.config().project_id.clone();
    let bq = BigQuery::builder()
        .provider(creds.clone())
        .project(project.clone())
        .base_url(emulator.bigquery_base_url())
        .environment(MapEnvironment::new())
        .build()?;
    let table = bq.table(DATASET, TABLE);
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let events: Vec<Event> = (1..=3)
        .map(|id| Event {
            id,
            source: "aws-lambda",
            message: format!("event {id} from the demo function"),
            at: now.clone(),
        })
        .collect();
    let started = Instant::now();
    let report = bq
        .insert_rows(&table, &events, InsertOptions::default())
        .await?
        .into_result()?;
    n.step(
        "BigQuery tabledata.insertAll",
        &format!(
            "{project}.{DATASET}.{TABLE}: {} rows, each with a generated insertId",
            events.len()
        ),
        &format!(
            "BigQuery accepted the service account's token; {} rows inserted in {} request(s)",
            report.inserted_rows(),
            report.requests()
        ),
        Some(started.elapsed()),
    );

    let started = Instant::now();
    let rows = bq
        .query(
            QueryRequest::new(format!(
                "SELECT id, message FROM `{project}.{DATASET}.{TABLE}` WHERE source = @source"
            ))
            .param("source", "aws-lambda"),
        )
        .await?
        .collect_rows()
        .await?;
    if rows.len() != events.len() {
        return Err(Error::invalid_response(
            Step::Api,
            format!(
                "the query returned {} rows, expected {}",
                rows.len(),
                events.len()
            ),
        ));
    }
    n.step(
        "BigQuery jobs.query",
        "SELECT id, message … WHERE source = @source (named parameter, GoogleSQL)",
        &format!("{} rows came back, first: {}", rows.len(), rows[0]),
        Some(started.elapsed()),
    );

    crate::demo_storage::run(n, emulator, creds).await
}
