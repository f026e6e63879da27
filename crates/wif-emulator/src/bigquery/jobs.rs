//! Query jobs of the emulated BigQuery: `jobs.query`, `jobs.insert` (query jobs with a
//! destination table or an anonymous one), `jobs.get`, `jobs.getQueryResults` and
//! `jobs.cancel`, with `jobReference` and `location` round-tripped, `dryRun`, `requestId`
//! replay, and results paged near 10 MB.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::DEFAULT_LOCATION;
use super::cell::Type;
use super::datasets::{DatasetReference, valid_id};
use super::sql::{self, Pos, ResultSet, SqlError, TableSource};
use super::store::{Dataset, Job, JobError, Store, now_micros, now_ms};
use super::values::TimestampFormat;
use super::wire::{
    Authorized, JsonRequest, bq_error, count_param, duplicate, invalid, not_found, page,
    page_token, param, read_page_token, timestamp_format, timestamp_format_json, try_response,
    with_rows,
};
use crate::state::State;

/// A table reference in a job's configuration.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TableReference {
    project_id: Option<String>,
    dataset_id: String,
    table_id: String,
}

/// What a query job runs: `jobs.query`'s request, or a query job's `configuration.query`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryConfig {
    query: String,
    use_legacy_sql: Option<bool>,
    parameter_mode: Option<String>,
    #[serde(default)]
    query_parameters: Vec<Value>,
    default_dataset: Option<DatasetReference>,
    destination_table: Option<TableReference>,
    write_disposition: Option<String>,
    create_disposition: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QueryBody {
    #[serde(flatten)]
    config: QueryConfig,
    location: Option<String>,
    max_results: Option<u64>,
    request_id: Option<String>,
    #[serde(default)]
    dry_run: bool,
    format_options: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct JobReferenceBody {
    job_id: Option<String>,
    location: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobConfiguration {
    query: Option<QueryConfig>,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobBody {
    #[serde(default)]
    job_reference: JobReferenceBody,
    configuration: JobConfiguration,
}

fn sql_error(e: SqlError) -> Response {
    if e.not_found {
        not_found(&e.message)
    } else {
        bq_error(StatusCode::BAD_REQUEST, "invalidQuery", &e.message)
    }
}

fn job_error(e: &JobError) -> Response {
    let status = match e.reason {
        "notFound" => StatusCode::NOT_FOUND,
        "duplicate" => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    };
    bq_error(status, e.reason, &e.message)
}

/// What running a query produced: its results (no rows for a dry run) and where it ran.
struct Ran {
    results: ResultSet,
    location: String,
}

/// Parses, plans and (unless `dry_run`) runs `config` against the store's tables.
fn run(
    store: &Store,
    project: &str,
    location: Option<&str>,
    config: &QueryConfig,
    dry_run: bool,
) -> Result<Ran, SqlError> {
    if config.use_legacy_sql != Some(false) {
        return Err(sql::invalid(
            "The wif-rs emulator runs GoogleSQL only; send useLegacySql=false (the API's default is legacy SQL).",
        ));
    }
    let params = sql::params(&config.query_parameters, config.parameter_mode.as_deref())?;
    let query = sql::parse(&config.query)?;
    let datasets = store.datasets();
    let mut found_location: Option<String> = None;
    let mut resolve = |path: &[String], pos: Pos| -> Result<TableSource<'_>, SqlError> {
        let (p, d, t) = match path {
            [p, d, t] => (p.clone(), d.clone(), t.clone()),
            [d, t] => (project.to_owned(), d.clone(), t.clone()),
            [t] => match &config.default_dataset {
                Some(dd) => (
                    dd.project_id.clone().unwrap_or_else(|| project.to_owned()),
                    dd.dataset_id.clone(),
                    t.clone(),
                ),
                None => {
                    return Err(sql::invalid(format!(
                        "Table \"{t}\" must be qualified with a dataset (e.g. dataset.table) at {pos}"
                    )));
                }
            },
            _ => return Err(sql::invalid(format!("Invalid table name at {pos}"))),
        };
        let wanted = location.unwrap_or(DEFAULT_LOCATION);
        let ds = datasets
            .get(&(p.clone(), d.clone()))
            .filter(|ds| location.is_none_or(|l| l.eq_ignore_ascii_case(&ds.location)))
            .ok_or_else(|| {
                sql::not_found(format!(
                    "Not found: Dataset {p}:{d} was not found in location {wanted}"
                ))
            })?;
        let table = ds.tables.get(&t).ok_or_else(|| {
            sql::not_found(format!(
                "Not found: Table {p}:{d}.{t} was not found in location {}",
                ds.location
            ))
        })?;
        found_location = Some(ds.location.clone());
        Ok(TableSource {
            fields: &table.fields,
            rows: &table.rows,
            column_bytes: &table.column_bytes,
        })
    };
    let plan = sql::plan(&query, &params, now_micros(), &mut resolve)?;
    let results = if dry_run {
        ResultSet {
            schema: plan.schema.clone(),
            rows: Vec::new(),
            bytes_processed: plan.bytes_processed,
        }
    } else {
        sql::execute(&plan)?
    };
    drop(plan);
    Ok(Ran {
        results,
        location: found_location
            .or_else(|| location.map(str::to_owned))
            .unwrap_or_else(|| DEFAULT_LOCATION.to_owned()),
    })
}

/// The anonymous dataset holding `project`'s query results in `location` (`_` and 40 hex
/// digits, like BigQuery's), created hidden on first use.
fn anonymous_dataset(
    datasets: &mut std::collections::BTreeMap<(String, String), Dataset>,
    project: &str,
    location: &str,
) -> String {
    // FNV-1a: a stable name per project and location, not a secret.
    let hash = |seed: u64| {
        format!("{project}/{location}")
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325 ^ seed, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            })
    };
    let id = format!("_{:016x}{:016x}{:08x}", hash(1), hash(2), hash(3) as u32);
    datasets
        .entry((project.to_owned(), id.clone()))
        .or_insert_with(|| {
            let mut ds = Dataset::new(location);
            ds.hidden = true;
            ds
        });
    id
}

/// Writes `results` to the job's destination (its own, or an anonymous table) following the
/// write and create dispositions; the destination, or the job's error.
fn write_destination(
    store: &Store,
    project: &str,
    job_id: &str,
    location: &str,
    config: &QueryConfig,
    results: &ResultSet,
) -> Result<(String, String, String), JobError> {
    let mut datasets = store.datasets();
    let (p, d, t, explicit) = match &config.destination_table {
        Some(r) => (
            r.project_id.clone().unwrap_or_else(|| project.to_owned()),
            r.dataset_id.clone(),
            r.table_id.clone(),
            true,
        ),
        None => {
            let d = anonymous_dataset(&mut datasets, project, location);
            (
                project.to_owned(),
                d,
                format!("anon{}", job_id.trim_start_matches("job_")),
                false,
            )
        }
    };
    let fields: Vec<_> = results
        .schema
        .iter()
        .map(|(n, ty)| ty.to_field(n))
        .collect();
    let Some(ds) = datasets.get_mut(&(p.clone(), d.clone())) else {
        return Err(JobError {
            reason: "notFound",
            message: format!("Not found: Dataset {p}:{d}"),
        });
    };
    let disposition = config.write_disposition.as_deref().unwrap_or(if explicit {
        "WRITE_EMPTY"
    } else {
        "WRITE_TRUNCATE"
    });
    match ds.tables.get_mut(&t) {
        None if config.create_disposition.as_deref() == Some("CREATE_NEVER") => {
            return Err(JobError {
                reason: "notFound",
                message: format!("Not found: Table {p}:{d}.{t}"),
            });
        }
        None => {}
        Some(existing) => match disposition {
            "WRITE_APPEND" => {
                let same = existing.types.len() == results.schema.len()
                    && existing
                        .fields
                        .iter()
                        .zip(&results.schema)
                        .all(|(f, (n, ty))| {
                            f.name.eq_ignore_ascii_case(n) && Type::of_field(f) == *ty
                        });
                if !same {
                    return Err(JobError {
                        reason: "invalid",
                        message: format!("Provided Schema does not match Table {p}:{d}.{t}."),
                    });
                }
                for row in &results.rows {
                    existing.push(row.clone());
                }
                existing.modified_ms = now_ms();
                return Ok((p, d, t));
            }
            "WRITE_EMPTY" if !existing.rows.is_empty() => {
                return Err(JobError {
                    reason: "duplicate",
                    message: format!("Already Exists: Table {p}:{d}.{t}"),
                });
            }
            _ => {}
        },
    }
    let mut table = store.new_table(fields);
    for row in &results.rows {
        table.push(row.clone());
    }
    ds.tables.insert(t.clone(), table);
    Ok((p, d, t))
}

fn new_job_id() -> String {
    format!("job_{:016x}{:08x}", fastrand::u64(..), fastrand::u32(..))
}

/// Runs a query job and records it; a query that cannot run is recorded as a failed job, and
/// its error returned.
fn start_job(
    state: &State,
    project: &str,
    job_id: &str,
    location: Option<&str>,
    config: &QueryConfig,
    mut configuration: Value,
) -> Result<(), JobError> {
    let store = &state.bigquery;
    let created_ms = now_ms();
    let (outcome, location, destination) = match run(store, project, location, config, false) {
        Ok(ran) => {
            match write_destination(store, project, job_id, &ran.location, config, &ran.results) {
                Ok(dest) => (Ok(Arc::new(ran.results)), ran.location, dest),
                Err(e) => (Err(e), ran.location, Default::default()),
            }
        }
        Err(e) => {
            let reason = if e.not_found {
                "notFound"
            } else {
                "invalidQuery"
            };
            let error = JobError {
                reason,
                message: e.message,
            };
            (
                Err(error),
                location.unwrap_or(DEFAULT_LOCATION).to_owned(),
                Default::default(),
            )
        }
    };
    let (p, d, t): &(String, String, String) = &destination;
    if !p.is_empty() {
        configuration["query"]["destinationTable"] =
            json!({"projectId": p, "datasetId": d, "tableId": t});
    }
    let error = outcome.as_ref().err().cloned();
    store.jobs().insert(
        (project.to_owned(), job_id.to_owned()),
        Job {
            location,
            configuration,
            created_ms,
            ended_ms: now_ms(),
            outcome,
            incomplete_left: store.incomplete_polls(),
            cancelled: false,
            user_email: state
                .config
                .service_accounts
                .first()
                .map(|s| s.email.clone())
                .unwrap_or_default(),
        },
    );
    error.map_or(Ok(()), Err)
}

pub(crate) async fn query(
    Path(project): Path<String>,
    Authorized(state): Authorized,
    JsonRequest(req): JsonRequest<QueryBody>,
) -> Response {
    let format = timestamp_format_json(req.format_options.as_ref());
    let max_results = req
        .max_results
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    let location = req.location.as_deref().filter(|l| !l.is_empty());
    if req.dry_run {
        let ran = try_response!(
            run(&state.bigquery, &project, location, &req.config, true).map_err(sql_error)
        );
        return Json(json!({
            "kind": "bigquery#queryResponse",
            "jobReference": {"projectId": project, "location": ran.location},
            "jobComplete": true,
            "schema": {"fields": schema_fields(&ran.results)},
            "totalBytesProcessed": ran.results.bytes_processed.to_string(),
            "cacheHit": false,
        }))
        .into_response();
    }
    let replay_key = req
        .request_id
        .clone()
        .filter(|r| !r.is_empty())
        .map(|id| (project.clone(), id));
    let replayed = replay_key
        .as_ref()
        .and_then(|key| state.bigquery.request_ids().get(key).cloned());
    // A retried request (same requestId) answers the job the first one started.
    let job_id = match replayed {
        Some(job_id) => job_id,
        None => {
            let job_id = new_job_id();
            let mut configuration =
                json!({"jobType": "QUERY", "query": query_config_json(&req.config)});
            if let Some(l) = location {
                configuration["query"]["location"] = json!(l);
            }
            if let Err(e) = start_job(
                &state,
                &project,
                &job_id,
                location,
                &req.config,
                configuration,
            ) {
                // jobs.query fails the call itself for a query that cannot run; no job is left
                // behind.
                state.bigquery.jobs().remove(&(project.clone(), job_id));
                return job_error(&e);
            }
            if let Some(key) = replay_key {
                state.bigquery.request_ids().insert(key, job_id.clone());
            }
            job_id
        }
    };
    results(
        &state,
        &project,
        &job_id,
        "bigquery#queryResponse",
        0,
        max_results,
        format,
    )
}

fn query_config_json(c: &QueryConfig) -> Value {
    let mut out = json!({"query": c.query, "useLegacySql": c.use_legacy_sql.unwrap_or(true)});
    if let Some(m) = &c.parameter_mode {
        out["parameterMode"] = json!(m);
    }
    if !c.query_parameters.is_empty() {
        out["queryParameters"] = json!(c.query_parameters);
    }
    if let Some(d) = &c.default_dataset {
        out["defaultDataset"] = json!({"projectId": d.project_id, "datasetId": d.dataset_id});
    }
    for (key, value) in [
        ("writeDisposition", &c.write_disposition),
        ("createDisposition", &c.create_disposition),
    ] {
        if let Some(v) = value {
            out[key] = json!(v);
        }
    }
    out
}

fn schema_fields(results: &ResultSet) -> Vec<super::TableField> {
    results
        .schema
        .iter()
        .map(|(n, ty)| ty.to_field(n))
        .collect()
}

/// `jobComplete: false` while the job is held back; its error once failed; else one page.
fn results(
    state: &State,
    project: &str,
    job_id: &str,
    kind: &str,
    start: usize,
    max_results: Option<usize>,
    format: TimestampFormat,
) -> Response {
    let mut jobs = state.bigquery.jobs();
    let Some(job) = jobs.get_mut(&(project.to_owned(), job_id.to_owned())) else {
        return not_found(&format!("Not found: Job {project}:{job_id}"));
    };
    let reference = json!({"projectId": project, "jobId": job_id, "location": job.location});
    if !job.done() {
        job.incomplete_left -= 1;
        return Json(json!({"kind": kind, "jobReference": reference, "jobComplete": false}))
            .into_response();
    }
    if let Some(e) = job.error() {
        return job_error(&e);
    }
    let Ok(results) = job.outcome.clone() else {
        return not_found(&format!("Not found: Job {project}:{job_id}"));
    };
    drop(jobs);
    let types: Vec<&Type> = results.schema.iter().map(|(_, t)| t).collect();
    let rows = page(&types, &results.rows, None, start, max_results, format);
    let mut out = Map::new();
    out.insert("kind".into(), json!(kind));
    out.insert("jobReference".into(), reference);
    out.insert("jobComplete".into(), json!(true));
    out.insert("schema".into(), json!({"fields": schema_fields(&results)}));
    out.insert("totalRows".into(), json!(results.rows.len().to_string()));
    out.insert(
        "totalBytesProcessed".into(),
        json!(results.bytes_processed.to_string()),
    );
    out.insert("cacheHit".into(), json!(false));
    if let Some(next) = rows.next {
        out.insert("pageToken".into(), json!(page_token(job_id, next)));
    }
    with_rows(out, Some(&rows))
}

pub(crate) async fn get_query_results(call: JobCall) -> Response {
    let JobCall {
        state,
        project,
        job_id,
        query: q,
    } = call;
    let max_results = try_response!(count_param(&q, "maxResults"));
    let start = match (
        param(&q, "pageToken"),
        try_response!(count_param(&q, "startIndex")),
    ) {
        (Some(token), _) => try_response!(
            read_page_token(token, &job_id).ok_or_else(|| invalid("Invalid page token."))
        ),
        (None, Some(start)) => start,
        (None, None) => 0,
    };
    results(
        &state,
        &project,
        &job_id,
        "bigquery#getQueryResultsResponse",
        start,
        max_results,
        timestamp_format(&q),
    )
}

/// The job a `…/jobs/{job}` or `…/queries/{job}` request names, found in the `location` its
/// query string names, for a caller with a valid token: what `jobs.get`, `jobs.cancel` and
/// `jobs.getQueryResults` start from. Extracted in the order the checks answer: path, query
/// string, token, then the job's existence in that location.
pub(crate) struct JobCall {
    state: Arc<State>,
    project: String,
    job_id: String,
    query: HashMap<String, String>,
}

impl FromRequestParts<Arc<State>> for JobCall {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<State>) -> Result<Self, Response> {
        let Path((project, job_id)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Query(query) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Authorized(state) = Authorized::from_request_parts(parts, state).await?;
        job_in_location(&state, &project, &job_id, param(&query, "location"))?;
        Ok(JobCall {
            state,
            project,
            job_id,
            query,
        })
    }
}

/// A job looked up in another location does not exist there: the classic missing-`location` 404.
#[allow(clippy::result_large_err)]
fn job_in_location(
    state: &State,
    project: &str,
    job_id: &str,
    location: Option<&str>,
) -> Result<(), Response> {
    let jobs = state.bigquery.jobs();
    let job = jobs.get(&(project.to_owned(), job_id.to_owned()));
    match job {
        Some(j) if location.is_none_or(|l| l.eq_ignore_ascii_case(&j.location)) => Ok(()),
        _ => Err(not_found(&format!(
            "Not found: Job {project}:{}{job_id}",
            location.map(|l| format!("{l}.")).unwrap_or_default()
        ))),
    }
}

/// The `Job` resource.
fn job_json(project: &str, job_id: &str, job: &Job) -> Value {
    let done = job.done();
    let mut status = json!({"state": if done { "DONE" } else { "RUNNING" }});
    if done && let Some(e) = job.error() {
        let proto = json!({"reason": e.reason, "message": e.message, "location": "query"});
        status["errorResult"] = proto.clone();
        status["errors"] = json!([proto]);
    }
    let bytes = job
        .outcome
        .as_ref()
        .map_or(0, |r| r.bytes_processed)
        .to_string();
    let mut statistics = json!({
        "creationTime": job.created_ms.to_string(),
        "startTime": job.created_ms.to_string(),
        "totalBytesProcessed": bytes,
        "query": {"totalBytesProcessed": bytes, "totalBytesBilled": bytes, "cacheHit": false, "statementType": "SELECT"},
    });
    if done {
        statistics["endTime"] = json!(job.ended_ms.to_string());
    }
    if let Ok(r) = &job.outcome {
        statistics["query"]["schema"] = json!({"fields": schema_fields(r)});
    }
    json!({
        "kind": "bigquery#job",
        "etag": format!("\"{:x}\"", job.created_ms),
        "id": format!("{project}:{}.{job_id}", job.location),
        "selfLink": format!("/bigquery/v2/projects/{project}/jobs/{job_id}?location={}", job.location),
        "user_email": job.user_email,
        "jobReference": {"projectId": project, "jobId": job_id, "location": job.location},
        "configuration": job.configuration,
        "status": status,
        "statistics": statistics,
    })
}

pub(crate) async fn insert_job(
    Path(project): Path<String>,
    Authorized(state): Authorized,
    JsonRequest(raw): JsonRequest<Value>,
) -> Response {
    let req: JobBody = match serde_json::from_value(raw.clone()) {
        Ok(r) => r,
        Err(e) => return invalid(&format!("Invalid job: {e}")),
    };
    let Some(config) = &req.configuration.query else {
        return invalid(
            "The wif-rs emulator runs query jobs only (no load, extract or copy jobs).",
        );
    };
    let location = req
        .job_reference
        .location
        .as_deref()
        .filter(|l| !l.is_empty());
    let mut configuration = raw
        .get("configuration")
        .cloned()
        .unwrap_or_else(|| json!({}));
    configuration["jobType"] = json!("QUERY");
    if req.configuration.dry_run {
        let ran = try_response!(
            run(&state.bigquery, &project, location, config, true).map_err(sql_error)
        );
        let bytes = ran.results.bytes_processed.to_string();
        return Json(json!({
            "kind": "bigquery#job",
            "jobReference": {"projectId": project, "location": ran.location},
            "configuration": configuration,
            "status": {"state": "DONE"},
            "statistics": {
                "creationTime": now_ms().to_string(),
                "totalBytesProcessed": bytes,
                "query": {"totalBytesProcessed": bytes, "schema": {"fields": schema_fields(&ran.results)}, "statementType": "SELECT"},
            },
        }))
        .into_response();
    }
    let job_id = match req.job_reference.job_id.filter(|j| !j.is_empty()) {
        Some(id) if !valid_id(&id.replace('-', "_")) => {
            return invalid(&format!(
                "Invalid job ID \"{id}\": letters, digits, dashes and underscores only."
            ));
        }
        Some(id) => id,
        None => new_job_id(),
    };
    if state
        .bigquery
        .jobs()
        .contains_key(&(project.clone(), job_id.clone()))
    {
        return duplicate(&format!(
            "Already Exists: Job {project}:{}.{job_id}",
            location.unwrap_or(DEFAULT_LOCATION)
        ));
    }
    // A query that cannot run still makes a job: a DONE one with its errorResult.
    let _ = start_job(&state, &project, &job_id, location, config, configuration);
    job_response(&state, &project, &job_id, false)
}

fn job_response(state: &State, project: &str, job_id: &str, poll: bool) -> Response {
    let mut jobs = state.bigquery.jobs();
    match jobs.get_mut(&(project.to_owned(), job_id.to_owned())) {
        Some(job) => {
            let out = job_json(project, job_id, job);
            if poll && !job.done() {
                job.incomplete_left -= 1;
            }
            Json(out).into_response()
        }
        None => not_found(&format!("Not found: Job {project}:{job_id}")),
    }
}

pub(crate) async fn get_job(call: JobCall) -> Response {
    job_response(&call.state, &call.project, &call.job_id, true)
}

pub(crate) async fn cancel_job(call: JobCall) -> Response {
    let JobCall {
        state,
        project,
        job_id,
        ..
    } = call;
    let mut jobs = state.bigquery.jobs();
    let Some(job) = jobs.get_mut(&(project.clone(), job_id.clone())) else {
        return not_found(&format!("Not found: Job {project}:{job_id}"));
    };
    if !job.done() {
        job.cancelled = true;
        job.ended_ms = now_ms();
    }
    Json(json!({"kind": "bigquery#jobCancelResponse", "job": job_json(&project, &job_id, job)}))
        .into_response()
}
