//! # Emulated BigQuery v2 (`/bigquery/v2/…`): the adapters' target
//!
//! Datasets and tables live in memory. Nothing is created implicitly: set a table up from Rust
//! with [`create_table`] (which also creates its dataset) or over HTTP with the real API's
//! `datasets.insert` and `tables.insert`. Every request needs a bearer token the emulated chain
//! issued (federated or service account); others get Google's 401.
//!
//! | method | path (under `/bigquery/v2/`) | |
//! |---|---|---|
//! | `POST` | `projects/{p}/datasets` | `datasets.insert` (`datasetReference`, `location`; 409 `duplicate`) |
//! | `GET` | `projects/{p}/datasets/{d}` | `datasets.get` |
//! | `POST` | `projects/{p}/datasets/{d}/tables` | `tables.insert` (`tableReference`, `schema.fields`) |
//! | `GET` | `projects/{p}/datasets/{d}/tables/{t}` | `tables.get` (schema in legacy type names, `numRows`) |
//! | `POST` | `projects/{p}/datasets/{d}/tables/{t}/insertAll` | `tabledata.insertAll` |
//! | `POST` | `projects/{p}/queries` | `jobs.query` |
//! | `GET` | `projects/{p}/queries/{job}` | `jobs.getQueryResults` (`pageToken`, `maxResults`, `startIndex`, `location`) |
//!
//! ## `insertAll`
//!
//! Rows are checked against the schema: unknown fields (unless `ignoreUnknownValues`), missing
//! REQUIRED fields, values that don't convert to the column type, arrays in non-REPEATED fields.
//! A bad row is reported in `insertErrors` with reason `invalid` and the field as `location`;
//! with `skipInvalidRows=false` (the default) the request's valid rows are not inserted either and
//! are reported with reason `stopped`. A row whose `insertId` was seen before for the table is
//! acknowledged and not inserted again. `templateSuffix` creates `{table}{suffix}` from the table.
//!
//! ## SQL subset of `jobs.query`
//!
//! ```text
//! SELECT * | COUNT(*) [[AS] alias] | column [[AS] alias], …
//! FROM `project.dataset.table` | `dataset.table` | table   (unqualified: needs defaultDataset)
//! [WHERE column = literal | @name | ? [AND …]]              (also: column IS [NOT] NULL)
//! [LIMIT n]
//! ```
//!
//! Literals: `'…'`/`"…"` strings, integers, floats, `TRUE`, `FALSE`, `NULL`. Comparisons follow
//! the column's type (a string literal compares with DATE/TIMESTAMP columns; INT64 vs STRING is
//! BigQuery's "No matching signature" error). Anything else is `invalidQuery` with a
//! BigQuery-style message and position; an unknown table or dataset is `notFound`, as is a
//! `location` other than the dataset's. `useLegacySql` must be `false` (the real API's default
//! is legacy SQL, so clients that forget it are caught here).
//!
//! Results use the `f`/`v` encoding with the schema's legacy type names; TIMESTAMPs are int64
//! microseconds with `formatOptions.useInt64Timestamp=true` and float seconds (`"1.7E9"`)
//! otherwise. `maxResults` pages; page tokens contain `+`, `/` and `=`, so clients that do not
//! URL-encode them fail. A `requestId` seen before returns the same job. For testing polling,
//! [`set_incomplete_polls`] makes new jobs answer `jobComplete: false` a number of times first.
//! Errors are google.rpc-shaped with `errors[].reason` (`invalidQuery`, `notFound`, `invalid`,
//! `duplicate`).

mod handlers;
mod sql;
mod store;
mod values;

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use crate::state::State;
use store::{Dataset, Table};

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
    let store = store::store(state);
    store
        .datasets()
        .entry((project.to_owned(), dataset.to_owned()))
        .or_insert_with(|| Dataset {
            location: location.to_owned(),
            created_ms: store::now_ms(),
            tables: Default::default(),
        });
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
    let fields = values::normalize_schema(schema).map_err(SetupError)?;
    if table.trim().is_empty() {
        return Err(SetupError("empty table id".into()));
    }
    create_dataset(state, project, dataset, DEFAULT_LOCATION);
    let store = store::store(state);
    let mut datasets = store.datasets();
    if let Some(ds) = datasets.get_mut(&(project.to_owned(), dataset.to_owned())) {
        ds.tables.insert(table.to_owned(), Table::new(fields));
    }
    Ok(())
}

/// The rows stored in a table, in canonical form (scalars as BigQuery's strings, TIMESTAMP as
/// int64 microseconds), or `None` when the table does not exist.
pub fn table_rows(
    state: &Arc<State>,
    project: &str,
    dataset: &str,
    table: &str,
) -> Option<Vec<serde_json::Value>> {
    let store = store::store(state);
    let datasets = store.datasets();
    let ds = datasets.get(&(project.to_owned(), dataset.to_owned()))?;
    Some(ds.tables.get(table)?.rows.clone())
}

/// Makes every new query job answer `jobComplete: false` to its first `n` responses
/// (`jobs.query` counts as one), so clients' polling can be tested. `0` turns it off.
pub fn set_incomplete_polls(state: &Arc<State>, n: u32) {
    store::store(state).set_incomplete_polls(n);
}

pub(crate) fn routes() -> Router<Arc<State>> {
    const ROOT: &str = "/bigquery/v2/projects/{project}";
    Router::new()
        .route(&format!("{ROOT}/datasets"), post(handlers::insert_dataset))
        .route(
            &format!("{ROOT}/datasets/{{dataset}}"),
            get(handlers::get_dataset),
        )
        .route(
            &format!("{ROOT}/datasets/{{dataset}}/tables"),
            post(handlers::insert_table),
        )
        .route(
            &format!("{ROOT}/datasets/{{dataset}}/tables/{{table}}"),
            get(handlers::get_table),
        )
        .route(
            &format!("{ROOT}/datasets/{{dataset}}/tables/{{table}}/insertAll"),
            post(handlers::insert_all),
        )
        .route(&format!("{ROOT}/queries"), post(handlers::query))
        .route(
            &format!("{ROOT}/queries/{{job}}"),
            get(handlers::get_query_results),
        )
}
