//! The HTTP handlers of the emulated BigQuery: request shapes and response shapes of the real
//! API, errors in google.rpc shape with BigQuery's `errors[].reason`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::sql::{self, SqlError};
use super::store::{self, Dataset, Job, Store, Table, now_ms};
use super::values::{self, Format};
use super::{DEFAULT_LOCATION, TableField};
use crate::state::{State, TokenKind};

/// Both kinds of token the chain issues may call BigQuery (impersonated or direct access).
const ACCEPTED: &[TokenKind] = &[TokenKind::ServiceAccount, TokenKind::Federated];

/// BigQuery's error body: `{"error":{"code","message","errors":[{"message","domain","reason"}],"status"}}`.
pub(crate) fn bq_error(code: StatusCode, reason: &str, message: &str) -> Response {
    let status = match code.as_u16() {
        400 => "INVALID_ARGUMENT",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ALREADY_EXISTS",
        _ => "INTERNAL",
    };
    let body = json!({"error": {
        "code": code.as_u16(),
        "message": message,
        "errors": [{"message": message, "domain": "global", "reason": reason}],
        "status": status,
    }});
    (code, Json(body)).into_response()
}

fn invalid(message: &str) -> Response {
    bq_error(StatusCode::BAD_REQUEST, "invalid", message)
}

fn not_found(message: &str) -> Response {
    bq_error(StatusCode::NOT_FOUND, "notFound", message)
}

// Handlers answer early with a ready response; its size does not matter on this cold path.
#[allow(clippy::result_large_err)]
fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(bytes)
        .map_err(|e| invalid(&format!("Invalid JSON payload received. {e}")))
}

/// Checks the bearer token; on success, the store of this emulator.
#[allow(clippy::result_large_err)]
fn authorized(state: &Arc<State>, headers: &HeaderMap) -> Result<Arc<Store>, Response> {
    state.authorize(headers, ACCEPTED)?;
    Ok(store::store(state))
}

macro_rules! try_response {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(response) => return response,
        }
    };
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DatasetReference {
    project_id: Option<String>,
    dataset_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DatasetBody {
    dataset_reference: DatasetReference,
    location: Option<String>,
}

fn dataset_json(project: &str, dataset: &str, ds: &Dataset) -> Value {
    json!({
        "kind": "bigquery#dataset",
        "id": format!("{project}:{dataset}"),
        "datasetReference": {"projectId": project, "datasetId": dataset},
        "location": ds.location,
        "creationTime": ds.created_ms.to_string(),
        "lastModifiedTime": ds.created_ms.to_string(),
        "type": "DEFAULT",
    })
}

fn valid_dataset_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 1024 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(crate) async fn insert_dataset(
    AxState(state): AxState<Arc<State>>,
    Path(project): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let store = try_response!(authorized(&state, &headers));
    let req: DatasetBody = try_response!(body(&bytes));
    let id = req.dataset_reference.dataset_id;
    if req
        .dataset_reference
        .project_id
        .is_some_and(|p| p != project)
    {
        return invalid(
            "The project in the dataset reference does not match the request's project.",
        );
    }
    if !valid_dataset_id(&id) {
        return invalid(&format!(
            "Invalid dataset ID \"{id}\". Dataset IDs must be alphanumeric (plus underscores) and must be at most 1024 characters long."
        ));
    }
    let mut datasets = store.datasets();
    let key = (project.clone(), id.clone());
    if datasets.contains_key(&key) {
        return bq_error(
            StatusCode::CONFLICT,
            "duplicate",
            &format!("Already Exists: Dataset {project}:{id}"),
        );
    }
    let ds = Dataset {
        location: req.location.unwrap_or_else(|| DEFAULT_LOCATION.to_owned()),
        created_ms: now_ms(),
        tables: Default::default(),
    };
    let out = dataset_json(&project, &id, &ds);
    datasets.insert(key, ds);
    Json(out).into_response()
}

pub(crate) async fn get_dataset(
    AxState(state): AxState<Arc<State>>,
    Path((project, dataset)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let store = try_response!(authorized(&state, &headers));
    let datasets = store.datasets();
    match datasets.get(&(project.clone(), dataset.clone())) {
        Some(ds) => Json(dataset_json(&project, &dataset, ds)).into_response(),
        None => not_found(&format!("Not found: Dataset {project}:{dataset}")),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TableReference {
    table_id: String,
}

#[derive(Deserialize, Default)]
struct SchemaBody {
    #[serde(default)]
    fields: Vec<TableField>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TableBody {
    table_reference: TableReference,
    #[serde(default)]
    schema: SchemaBody,
}

fn table_json(project: &str, dataset: &str, table: &str, t: &Table, location: &str) -> Value {
    json!({
        "kind": "bigquery#table",
        "id": format!("{project}:{dataset}.{table}"),
        "tableReference": {"projectId": project, "datasetId": dataset, "tableId": table},
        "schema": {"fields": t.fields},
        "numRows": t.rows.len().to_string(),
        "numBytes": "0",
        "type": "TABLE",
        "location": location,
        "creationTime": t.created_ms.to_string(),
        "lastModifiedTime": t.modified_ms.to_string(),
    })
}

pub(crate) async fn insert_table(
    AxState(state): AxState<Arc<State>>,
    Path((project, dataset)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let store = try_response!(authorized(&state, &headers));
    let req: TableBody = try_response!(body(&bytes));
    let id = req.table_reference.table_id;
    if id.trim().is_empty() {
        return invalid("Missing table ID.");
    }
    let fields = match values::normalize_schema(&req.schema.fields) {
        Ok(f) => f,
        Err(message) => return invalid(&message),
    };
    let mut datasets = store.datasets();
    let Some(ds) = datasets.get_mut(&(project.clone(), dataset.clone())) else {
        return not_found(&format!("Not found: Dataset {project}:{dataset}"));
    };
    if ds.tables.contains_key(&id) {
        return bq_error(
            StatusCode::CONFLICT,
            "duplicate",
            &format!("Already Exists: Table {project}:{dataset}.{id}"),
        );
    }
    let table = Table::new(fields);
    let out = table_json(&project, &dataset, &id, &table, &ds.location);
    ds.tables.insert(id, table);
    Json(out).into_response()
}

pub(crate) async fn get_table(
    AxState(state): AxState<Arc<State>>,
    Path((project, dataset, table)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let store = try_response!(authorized(&state, &headers));
    let datasets = store.datasets();
    let found = datasets
        .get(&(project.clone(), dataset.clone()))
        .and_then(|ds| Some((ds.tables.get(&table)?, &ds.location)));
    match found {
        Some((t, location)) => {
            Json(table_json(&project, &dataset, &table, t, location)).into_response()
        }
        None => not_found(&format!("Not found: Table {project}:{dataset}.{table}")),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InsertRow {
    insert_id: Option<String>,
    #[serde(default)]
    json: Value,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct InsertAllBody {
    skip_invalid_rows: bool,
    ignore_unknown_values: bool,
    template_suffix: Option<String>,
    rows: Vec<InsertRow>,
}

pub(crate) async fn insert_all(
    AxState(state): AxState<Arc<State>>,
    Path((project, dataset, table)): Path<(String, String, String)>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let store = try_response!(authorized(&state, &headers));
    let req: InsertAllBody = try_response!(body(&bytes));
    let mut datasets = store.datasets();
    let missing = || not_found(&format!("Not found: Table {project}:{dataset}.{table}"));
    let Some(ds) = datasets.get_mut(&(project.clone(), dataset.clone())) else {
        return missing();
    };
    let Some(template) = ds.tables.get(&table).map(|t| t.fields.clone()) else {
        return missing();
    };
    if req.rows.is_empty() {
        return invalid("No rows present in the request.");
    }
    let target = match &req.template_suffix {
        Some(suffix) => format!("{table}{suffix}"),
        None => table.clone(),
    };
    let t = ds
        .tables
        .entry(target)
        .or_insert_with(|| Table::new(template));
    let checked: Vec<_> = req
        .rows
        .iter()
        .map(|r| values::canonical_row(&t.fields, &r.json, req.ignore_unknown_values))
        .collect();
    let any_invalid = checked.iter().any(Result::is_err);
    let mut errors = Vec::new();
    for (index, (row, result)) in req.rows.into_iter().zip(checked).enumerate() {
        match result {
            Err(issue) => errors.push(json!({"index": index, "errors": [{
                "reason": "invalid", "location": issue.location, "debugInfo": "", "message": issue.message,
            }]})),
            Ok(_) if any_invalid && !req.skip_invalid_rows => errors.push(json!({"index": index, "errors": [{
                "reason": "stopped", "location": "", "debugInfo": "", "message": "",
            }]})),
            Ok(canonical) => {
                // Best-effort de-duplication, as BigQuery's: a seen insertId is acknowledged, not stored.
                if let Some(id) = row.insert_id.filter(|id| !id.is_empty())
                    && !t.insert_ids.insert(id)
                {
                    continue;
                }
                t.rows.push(canonical);
            }
        }
    }
    t.modified_ms = now_ms();
    let mut out = json!({"kind": "bigquery#tableDataInsertAllResponse"});
    if !errors.is_empty() {
        out["insertErrors"] = Value::Array(errors);
    }
    Json(out).into_response()
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct FormatOptions {
    use_int64_timestamp: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryBody {
    query: String,
    use_legacy_sql: Option<bool>,
    #[serde(default)]
    query_parameters: Vec<Value>,
    location: Option<String>,
    default_dataset: Option<DatasetReference>,
    max_results: Option<u32>,
    request_id: Option<String>,
    #[serde(default)]
    format_options: FormatOptions,
}

pub(crate) async fn query(
    AxState(state): AxState<Arc<State>>,
    Path(project): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let store = try_response!(authorized(&state, &headers));
    let req: QueryBody = try_response!(body(&bytes));
    let format = Format {
        int64_timestamp: req.format_options.use_int64_timestamp,
    };
    if req.use_legacy_sql != Some(false) {
        return bq_error(
            StatusCode::BAD_REQUEST,
            "invalidQuery",
            "The wif-rs emulator runs GoogleSQL only; send useLegacySql=false (the API's default is legacy SQL).",
        );
    }
    let replay_key = req.request_id.clone().map(|id| (project.clone(), id));
    if let Some(key) = &replay_key {
        let existing = store.request_ids().get(key).cloned();
        if let Some(job_id) = existing {
            return answer(
                &store,
                &project,
                &job_id,
                "bigquery#queryResponse",
                0,
                req.max_results,
                format,
            );
        }
    }
    let job = match run(&store, &project, &req) {
        Ok(job) => job,
        Err(e) if e.not_found => return not_found(&e.message),
        Err(e) => return bq_error(StatusCode::BAD_REQUEST, "invalidQuery", &e.message),
    };
    let job_id = format!("job_{:016x}{:08x}", fastrand::u64(..), fastrand::u32(..));
    store.jobs().insert((project.clone(), job_id.clone()), job);
    if let Some(key) = replay_key {
        store.request_ids().insert(key, job_id.clone());
    }
    answer(
        &store,
        &project,
        &job_id,
        "bigquery#queryResponse",
        0,
        req.max_results,
        format,
    )
}

/// Parses, resolves and executes a query into a new job.
fn run(store: &Store, project: &str, req: &QueryBody) -> Result<Job, SqlError> {
    let params = sql::params(&req.query_parameters)?;
    let q = sql::parse(&req.query)?;
    let (p, d, t) = match q.table.as_slice() {
        [p, d, t] => (p.clone(), d.clone(), t.clone()),
        [d, t] => (project.to_owned(), d.clone(), t.clone()),
        [t] => match &req.default_dataset {
            Some(dd) => (
                dd.project_id.clone().unwrap_or_else(|| project.to_owned()),
                dd.dataset_id.clone(),
                t.clone(),
            ),
            None => {
                return Err(SqlError {
                    not_found: false,
                    message: format!(
                        "Table \"{t}\" must be qualified with a dataset (e.g. dataset.table)."
                    ),
                });
            }
        },
        _ => return Err(sql::not_found("Not found: Table")),
    };
    let datasets = store.datasets();
    let wanted = req.location.as_deref();
    let Some(ds) = datasets.get(&(p.clone(), d.clone())) else {
        return Err(sql::not_found(format!(
            "Not found: Dataset {p}:{d} was not found in location {}",
            wanted.unwrap_or(DEFAULT_LOCATION)
        )));
    };
    if wanted.is_some_and(|l| !l.eq_ignore_ascii_case(&ds.location)) {
        return Err(sql::not_found(format!(
            "Not found: Dataset {p}:{d} was not found in location {}",
            wanted.unwrap_or_default()
        )));
    }
    let Some(table) = ds.tables.get(&t) else {
        return Err(sql::not_found(format!(
            "Not found: Table {p}:{d}.{t} was not found in location {}",
            ds.location
        )));
    };
    let (fields, rows) = sql::execute(&q, &table.fields, &table.rows, &params)?;
    Ok(Job {
        location: ds.location.clone(),
        fields,
        rows: Arc::new(rows),
        incomplete_left: store.incomplete_polls(),
    })
}

/// A page token: deliberately full of `+`, `/` and `=`, which clients must URL-encode.
fn page_token(job_id: &str, offset: usize) -> String {
    format!("pt+{offset}/{job_id}=")
}

fn read_page_token(token: &str, job_id: &str) -> Option<usize> {
    let rest = token.strip_prefix("pt+")?.strip_suffix('=')?;
    let (offset, job) = rest.split_once('/')?;
    (job == job_id).then_some(())?;
    offset.parse().ok()
}

/// The response for `job`: `jobComplete: false` while the job is held back, else one page.
fn answer(
    store: &Store,
    project: &str,
    job_id: &str,
    kind: &str,
    offset: usize,
    max_results: Option<u32>,
    format: Format,
) -> Response {
    let mut jobs = store.jobs();
    let Some(job) = jobs.get_mut(&(project.to_owned(), job_id.to_owned())) else {
        return not_found(&format!("Not found: Job {project}:{job_id}"));
    };
    let reference = json!({"projectId": project, "jobId": job_id, "location": job.location});
    if job.incomplete_left > 0 {
        job.incomplete_left -= 1;
        return Json(json!({"kind": kind, "jobReference": reference, "jobComplete": false}))
            .into_response();
    }
    let total = job.rows.len();
    let end = match max_results {
        Some(n) => offset.saturating_add(n as usize).min(total),
        None => total,
    };
    let start = offset.min(total);
    let rows: Vec<Value> = job.rows[start..end.max(start)]
        .iter()
        .map(|cells| values::encode_row(&job.fields, cells, format))
        .collect();
    let mut out = json!({
        "kind": kind,
        "jobReference": reference,
        "jobComplete": true,
        "schema": {"fields": job.fields},
        "totalRows": total.to_string(),
        "totalBytesProcessed": "0",
        "cacheHit": false,
    });
    if !rows.is_empty() {
        out["rows"] = Value::Array(rows);
    }
    if end < total {
        out["pageToken"] = Value::String(page_token(job_id, end));
    }
    Json(out).into_response()
}

pub(crate) async fn get_query_results(
    AxState(state): AxState<Arc<State>>,
    Path((project, job_id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let store = try_response!(authorized(&state, &headers));
    let job_location = store
        .jobs()
        .get(&(project.clone(), job_id.clone()))
        .map(|j| j.location.clone());
    let Some(job_location) = job_location else {
        return not_found(&format!("Not found: Job {project}:{job_id}"));
    };
    // A job looked up in another location does not exist there: the classic missing-`location` 404.
    if q.get("location")
        .is_some_and(|l| !l.eq_ignore_ascii_case(&job_location))
    {
        return not_found(&format!("Not found: Job {project}:{job_id}"));
    }
    let max_results = match q.get("maxResults").map(|v| v.parse::<u32>()) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => return invalid("Invalid value for maxResults."),
    };
    let offset = match (q.get("pageToken"), q.get("startIndex")) {
        (Some(token), _) => match read_page_token(token, &job_id) {
            Some(o) => o,
            None => return invalid("Invalid page token."),
        },
        (None, Some(start)) => match start.parse::<usize>() {
            Ok(o) => o,
            Err(_) => return invalid("Invalid value for startIndex."),
        },
        (None, None) => 0,
    };
    let format = Format {
        int64_timestamp: q
            .get("formatOptions.useInt64Timestamp")
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
    };
    answer(
        &store,
        &project,
        &job_id,
        "bigquery#getQueryResultsResponse",
        offset,
        max_results,
        format,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_bind_to_their_job() {
        let t = page_token("job_1", 40);
        assert!(t.contains('+') && t.contains('/') && t.contains('='), "{t}");
        assert_eq!(read_page_token(&t, "job_1"), Some(40));
        assert_eq!(read_page_token(&t, "job_2"), None);
        assert_eq!(
            read_page_token(&t.replace('+', " "), "job_1"),
            None,
            "an unencoded + arrives as a space"
        );
    }
}
