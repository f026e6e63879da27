//! # Emulated BigQuery v2 (`/bigquery/v2/…`): the adapters' target
//!
//! Datasets, tables and jobs live in memory. Nothing is created implicitly: set a table up from
//! Rust with [`State::create_table`] (which also creates its dataset) and
//! [`State::insert_rows`], or over HTTP with the real API. Every request needs a bearer token
//! the emulated chain issued (federated or service account); others get Google's 401.
//!
//! | method | path (under `/bigquery/v2/projects/{p}/`) | |
//! |---|---|---|
//! | `POST`, `GET` | `datasets` | `datasets.insert` (409 `duplicate`), `datasets.list` (`all`, `filter=labels.k:v`, paging) |
//! | `GET`, `DELETE` | `datasets/{d}` | `datasets.get`, `datasets.delete` (`deleteContents`; else 400 `resourceInUse`) |
//! | `POST`, `GET` | `datasets/{d}/tables` | `tables.insert` (`schema.fields`), `tables.list` (paging) |
//! | `GET`, `DELETE` | `datasets/{d}/tables/{t}` | `tables.get` (legacy type names, `numRows`, `numBytes`), `tables.delete` |
//! | `POST` | `datasets/{d}/tables/{t}/insertAll` | `tabledata.insertAll` |
//! | `GET` | `datasets/{d}/tables/{t}/data` | `tabledata.list` (`maxResults`, `pageToken`, `startIndex`, `selectedFields`, `formatOptions.*`) |
//! | `POST` | `queries` | `jobs.query` (parameters, `dryRun`, `requestId`, `maxResults`) |
//! | `GET` | `queries/{job}` | `jobs.getQueryResults` (`pageToken`, `maxResults`, `startIndex`, `location`) |
//! | `POST` | `jobs` | `jobs.insert` of query jobs (`destinationTable` with write/create dispositions, or an anonymous results table; `dryRun`) |
//! | `GET` | `jobs/{job}` | `jobs.get` |
//! | `POST` | `jobs/{job}/cancel` | `jobs.cancel` |
//!
//! Request bodies may be as large as BigQuery's 10 MB; result pages stop near 10 MB or at
//! `maxResults`, with page tokens that stay valid and must be URL-encoded (they hold `+`, `/`,
//! `=`). Empty query-string values (`pageToken=`, as Google's generated clients send them)
//! count as absent.
//!
//! ## `insertAll`
//!
//! Rows are checked against the schema: unknown fields (unless `ignoreUnknownValues`), missing
//! REQUIRED fields, values that don't convert to the column type, arrays in non-REPEATED fields.
//! A bad row is reported in `insertErrors` with reason `invalid` and the field as `location`;
//! with `skipInvalidRows=false` (the default) the request's valid rows are not inserted either and
//! are reported with reason `stopped`. A row whose `insertId` was seen for the table within
//! [`EmulatorConfig::insert_id_window`](crate::EmulatorConfig::insert_id_window) (one minute by
//! default) is acknowledged and not inserted again. `templateSuffix` creates `{table}{suffix}`.
//!
//! ## Queries
//!
//! GoogleSQL, parsed by `sqlparser`'s BigQuery dialect; the subset that runs is listed in the
//! `sql` module: projection with aliases and `*`; `WHERE` with `AND`/`OR`/`NOT`, comparisons,
//! `IN`, `IN UNNEST`, `BETWEEN`, `LIKE`, `IS [NOT] NULL`; `GROUP BY`/`HAVING` with
//! `COUNT`/`SUM`/`MIN`/`MAX`/`AVG` and `DISTINCT`; `ORDER BY`, `LIMIT`/`OFFSET`;
//! `CURRENT_TIMESTAMP()`; `UNNEST` of REPEATED fields in `FROM`; STRUCT field access; named and
//! positional parameters including ARRAY and STRUCT. Anything else is refused with `invalidQuery`
//! naming the construct and its `[line:column]`; an unknown table or dataset is `notFound`, as
//! is a `location` other than the dataset's. `useLegacySql` must be `false` (the real API's
//! default is legacy SQL, so clients that forget it are caught here).
//!
//! Results use the `f`/`v` encoding with the schema's legacy type names; TIMESTAMPs are float
//! seconds (`"1.7E9"`) by default, int64 microseconds with `formatOptions.useInt64Timestamp`, or
//! ISO 8601 with `timestampOutputFormat=ISO8601_STRING`. A `requestId` seen before returns the
//! same job. For testing polling, [`set_incomplete_polls`] makes new jobs answer
//! `jobComplete: false` (and `RUNNING`) a number of times first. Errors have BigQuery's shape
//! with `errors[].reason` (`invalidQuery`, `notFound`, `invalid`, `duplicate`, `accessDenied`).

mod cell;
mod datasets;
mod jobs;
mod sql;
pub(crate) mod store;
mod tabledata;
mod values;
mod wire;

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use crate::state::State;
use store::Dataset;

/// One column of a table schema, as in the API's `TableFieldSchema`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableField {
    /// The column name.
    pub name: String,
    /// The type (`STRING`, `INT64`/`INTEGER`, `FLOAT64`, `BOOL`, `TIMESTAMP`, `RECORD`, …).
    #[serde(rename = "type")]
    pub field_type: String,
    /// `NULLABLE` (default), `REQUIRED` or `REPEATED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Sub-fields of a RECORD.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<TableField>,
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl TableField {
    /// A NULLABLE column.
    pub fn new(name: impl Into<String>, field_type: impl Into<String>) -> Self {
        TableField {
            name: name.into(),
            field_type: field_type.into(),
            mode: None,
            fields: Vec::new(),
            description: None,
        }
    }

    /// A NULLABLE RECORD of `fields`.
    pub fn record(name: impl Into<String>, fields: Vec<TableField>) -> Self {
        TableField {
            fields,
            ..TableField::new(name, "RECORD")
        }
    }

    /// Sets the mode.
    pub fn with_mode(mut self, mode: impl Into<String>) -> Self {
        self.mode = Some(mode.into());
        self
    }

    /// REPEATED.
    pub fn repeated(self) -> Self {
        self.with_mode("REPEATED")
    }

    /// REQUIRED.
    pub fn required(self) -> Self {
        self.with_mode("REQUIRED")
    }
}

/// A setup call that could not be done (an invalid schema).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetupError(String);

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SetupError {}

/// The location datasets get when none is given.
pub const DEFAULT_LOCATION: &str = "US";

/// Creates dataset `project.dataset` in `location` unless it exists.
pub fn create_dataset(state: &Arc<State>, project: &str, dataset: &str, location: &str) {
    state.create_dataset(project, dataset, location);
}

/// Creates (or replaces with an empty one) table `project.dataset.table` with `schema`,
/// creating the dataset in [`DEFAULT_LOCATION`] if needed.
pub fn create_table(
    state: &Arc<State>,
    project: &str,
    dataset: &str,
    table: &str,
    schema: &[TableField],
) -> Result<(), SetupError> {
    state.create_table(project, dataset, table, schema)
}

/// The rows stored in a table, in canonical form (scalars as BigQuery's strings, TIMESTAMP as
/// int64 microseconds), or `None` when the table does not exist.
pub fn table_rows(
    state: &Arc<State>,
    project: &str,
    dataset: &str,
    table: &str,
) -> Option<Vec<serde_json::Value>> {
    state.table_rows(project, dataset, table)
}

/// Makes every new query job answer `jobComplete: false` to its first `n` responses
/// (`jobs.query` counts as one), so clients' polling can be tested. `0` turns it off.
pub fn set_incomplete_polls(state: &Arc<State>, n: u32) {
    state.bigquery.set_incomplete_polls(n);
}

impl State {
    /// Creates BigQuery dataset `project.dataset` in `location` unless it exists.
    pub fn create_dataset(&self, project: &str, dataset: &str, location: &str) {
        self.bigquery
            .datasets()
            .entry((project.to_owned(), dataset.to_owned()))
            .or_insert_with(|| Dataset::new(location));
    }

    /// Creates (or replaces with an empty one) BigQuery table `project.dataset.table` with
    /// `schema`, creating the dataset in [`DEFAULT_LOCATION`] if needed.
    pub fn create_table(
        &self,
        project: &str,
        dataset: &str,
        table: &str,
        schema: &[TableField],
    ) -> Result<(), SetupError> {
        let fields = values::normalize_schema(schema).map_err(SetupError)?;
        if !datasets::valid_id(dataset) {
            return Err(SetupError(format!("invalid dataset id {dataset:?}")));
        }
        if !datasets::valid_id(table) {
            return Err(SetupError(format!("invalid table id {table:?}")));
        }
        self.create_dataset(project, dataset, DEFAULT_LOCATION);
        let new = self.bigquery.new_table(fields);
        if let Some(ds) = self
            .bigquery
            .datasets()
            .get_mut(&(project.to_owned(), dataset.to_owned()))
        {
            ds.tables.insert(table.to_owned(), new);
        }
        Ok(())
    }

    /// Inserts `rows` (JSON objects, as `insertAll`'s `json`) into an existing table; the first
    /// row that does not fit the schema is an error and nothing is inserted.
    pub fn insert_rows(
        &self,
        project: &str,
        dataset: &str,
        table: &str,
        rows: &[serde_json::Value],
    ) -> Result<(), SetupError> {
        let mut datasets = self.bigquery.datasets();
        let t = datasets
            .get_mut(&(project.to_owned(), dataset.to_owned()))
            .and_then(|ds| ds.tables.get_mut(table))
            .ok_or_else(|| SetupError(format!("no table {project}.{dataset}.{table}")))?;
        let typed = rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                values::typed_row(&t.fields, row, false).map_err(|issue| {
                    SetupError(format!("row {i}: {} ({})", issue.message, issue.location))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for cells in typed {
            t.push(cell::Row::from(cells));
        }
        t.modified_ms = store::now_ms();
        Ok(())
    }

    /// The schema of a BigQuery table, as `tables.get` reports it (legacy type names, explicit
    /// modes), or `None` when it does not exist.
    pub fn table_schema(
        &self,
        project: &str,
        dataset: &str,
        table: &str,
    ) -> Option<Vec<TableField>> {
        let datasets = self.bigquery.datasets();
        let t = datasets
            .get(&(project.to_owned(), dataset.to_owned()))?
            .tables
            .get(table)?;
        Some(t.fields.clone())
    }

    /// The rows of a BigQuery table in canonical form (see [`table_rows`]).
    pub fn table_rows(
        &self,
        project: &str,
        dataset: &str,
        table: &str,
    ) -> Option<Vec<serde_json::Value>> {
        let datasets = self.bigquery.datasets();
        let t = datasets
            .get(&(project.to_owned(), dataset.to_owned()))?
            .tables
            .get(table)?;
        Some(
            t.rows
                .iter()
                .map(|row| {
                    serde_json::Value::Object(
                        t.fields
                            .iter()
                            .zip(&t.types)
                            .zip(row.iter())
                            .map(|((f, ty), c)| (f.name.clone(), values::canonical_json(ty, c)))
                            .collect(),
                    )
                })
                .collect(),
        )
    }
}

pub(crate) fn routes() -> Router<Arc<State>> {
    const ROOT: &str = "/bigquery/v2/projects/{project}";
    Router::new()
        .route(
            &format!("{ROOT}/datasets"),
            post(datasets::insert_dataset).get(datasets::list_datasets),
        )
        .route(
            &format!("{ROOT}/datasets/{{dataset}}"),
            get(datasets::get_dataset).delete(datasets::delete_dataset),
        )
        .route(
            &format!("{ROOT}/datasets/{{dataset}}/tables"),
            post(datasets::insert_table).get(datasets::list_tables),
        )
        .route(
            &format!("{ROOT}/datasets/{{dataset}}/tables/{{table}}"),
            get(datasets::get_table).delete(datasets::delete_table),
        )
        .route(
            &format!("{ROOT}/datasets/{{dataset}}/tables/{{table}}/insertAll"),
            post(tabledata::insert_all),
        )
        .route(
            &format!("{ROOT}/datasets/{{dataset}}/tables/{{table}}/data"),
            get(tabledata::list),
        )
        .route(&format!("{ROOT}/queries"), post(jobs::query))
        .route(
            &format!("{ROOT}/queries/{{job}}"),
            get(jobs::get_query_results),
        )
        .route(&format!("{ROOT}/jobs"), post(jobs::insert_job))
        .route(&format!("{ROOT}/jobs/{{job}}"), get(jobs::get_job))
        .route(
            &format!("{ROOT}/jobs/{{job}}/cancel"),
            post(jobs::cancel_job),
        )
}
