//! `datasets.{insert,get,list,delete}` and `tables.{insert,get,list,delete}` of the emulated
//! BigQuery, with the real API's resource shapes.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::store::{Dataset, Table, now_ms};
use super::values::normalize_schema;
use super::wire::{
    Authorized, JsonRequest, bq_error, count_param, duplicate, invalid, not_found, page_token,
    param, read_page_token, try_response,
};
use super::{DEFAULT_LOCATION, TableField};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DatasetReference {
    pub(crate) project_id: Option<String>,
    pub(crate) dataset_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DatasetBody {
    dataset_reference: DatasetReference,
    location: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    description: Option<String>,
}

/// Dataset and table ids: letters, digits and underscores, as BigQuery allows.
pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 1024 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn etag(modified_ms: i64) -> String {
    format!("\"{modified_ms:x}\"")
}

fn dataset_json(project: &str, dataset: &str, ds: &Dataset) -> Value {
    let mut out = json!({
        "kind": "bigquery#dataset",
        "etag": etag(ds.modified_ms),
        "id": format!("{project}:{dataset}"),
        "selfLink": format!("/bigquery/v2/projects/{project}/datasets/{dataset}"),
        "datasetReference": {"projectId": project, "datasetId": dataset},
        "location": ds.location,
        "creationTime": ds.created_ms.to_string(),
        "lastModifiedTime": ds.modified_ms.to_string(),
        "type": "DEFAULT",
    });
    if !ds.labels.is_empty() {
        out["labels"] = json!(ds.labels);
    }
    if let Some(d) = &ds.description {
        out["description"] = json!(d);
    }
    out
}

fn no_dataset(project: &str, dataset: &str) -> Response {
    not_found(&format!("Not found: Dataset {project}:{dataset}"))
}

pub(crate) async fn insert_dataset(
    Path(project): Path<String>,
    Authorized(state): Authorized,
    JsonRequest(req): JsonRequest<DatasetBody>,
) -> Response {
    let id = req.dataset_reference.dataset_id;
    if !valid_id(&id) {
        return invalid(&format!(
            "Invalid dataset ID \"{id}\". Dataset IDs must be alphanumeric (plus underscores) and must be at most 1024 characters long."
        ));
    }
    if let Some(p) = &req.dataset_reference.project_id
        && p != &project
    {
        return invalid(&format!(
            "Dataset project {p} does not match the request's project {project}."
        ));
    }
    let mut datasets = state.bigquery.datasets();
    let key = (project.clone(), id.clone());
    if datasets.contains_key(&key) {
        return duplicate(&format!("Already Exists: Dataset {project}:{id}"));
    }
    let mut ds = Dataset::new(req.location.as_deref().unwrap_or(DEFAULT_LOCATION));
    ds.labels = req.labels;
    ds.description = req.description;
    let out = dataset_json(&project, &id, &ds);
    datasets.insert(key, ds);
    Json(out).into_response()
}

pub(crate) async fn get_dataset(
    Path((project, dataset)): Path<(String, String)>,
    Authorized(state): Authorized,
) -> Response {
    let datasets = state.bigquery.datasets();
    match datasets.get(&(project.clone(), dataset.clone())) {
        Some(ds) => Json(dataset_json(&project, &dataset, ds)).into_response(),
        None => no_dataset(&project, &dataset),
    }
}

/// `filter=labels.KEY[:VALUE] …`: every term must hold.
fn label_filter(filter: &str, labels: &BTreeMap<String, String>) -> Option<bool> {
    let mut all = true;
    for term in filter
        .split_whitespace()
        .filter(|t| !t.eq_ignore_ascii_case("AND"))
    {
        let term = term.strip_prefix("labels.")?;
        let holds = match term.split_once(':') {
            Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
            None => labels.contains_key(term),
        };
        all &= holds;
    }
    Some(all)
}

pub(crate) async fn list_datasets(
    Path(project): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    Authorized(state): Authorized,
) -> Response {
    let all = param(&q, "all").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let max = try_response!(count_param(&q, "maxResults")).unwrap_or(usize::MAX);
    let start = match param(&q, "pageToken") {
        None => 0,
        Some(t) => try_response!(
            read_page_token(t, "datasets").ok_or_else(|| invalid("Invalid page token."))
        ),
    };
    let filter = param(&q, "filter");
    let datasets = state.bigquery.datasets();
    let mut matching = Vec::new();
    for ((p, id), ds) in datasets.iter() {
        if p != &project || (ds.hidden && !all) {
            continue;
        }
        if let Some(f) = filter {
            match label_filter(f, &ds.labels) {
                Some(true) => {}
                Some(false) => continue,
                None => {
                    return invalid(&format!(
                        "Invalid filter: {f} (the emulator filters on labels.KEY[:VALUE] only)"
                    ));
                }
            }
        }
        matching.push(json!({
            "kind": "bigquery#dataset",
            "id": format!("{p}:{id}"),
            "datasetReference": {"projectId": p, "datasetId": id},
            "location": ds.location,
            "labels": ds.labels,
        }));
    }
    let end = start.saturating_add(max.max(1)).min(matching.len());
    let mut out = json!({"kind": "bigquery#datasetList", "etag": etag(now_ms())});
    let page: Vec<Value> = matching
        .get(start.min(end)..end)
        .unwrap_or_default()
        .to_vec();
    if !page.is_empty() {
        out["datasets"] = Value::Array(page);
    }
    if end < matching.len() {
        out["nextPageToken"] = json!(page_token("datasets", end));
    }
    Json(out).into_response()
}

pub(crate) async fn delete_dataset(
    Path((project, dataset)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    Authorized(state): Authorized,
) -> Response {
    let delete_contents =
        param(&q, "deleteContents").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mut datasets = state.bigquery.datasets();
    let key = (project.clone(), dataset.clone());
    let Some(ds) = datasets.get(&key) else {
        return no_dataset(&project, &dataset);
    };
    if !ds.tables.is_empty() && !delete_contents {
        return bq_error(
            StatusCode::BAD_REQUEST,
            "resourceInUse",
            &format!("Dataset {project}:{dataset} is still in use"),
        );
    }
    datasets.remove(&key);
    StatusCode::NO_CONTENT.into_response()
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
pub(crate) struct TableBody {
    table_reference: TableReference,
    #[serde(default)]
    schema: SchemaBody,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    description: Option<String>,
}

pub(crate) fn table_json(
    project: &str,
    dataset: &str,
    table: &str,
    t: &Table,
    location: &str,
) -> Value {
    let mut out = json!({
        "kind": "bigquery#table",
        "etag": etag(t.modified_ms),
        "id": format!("{project}:{dataset}.{table}"),
        "selfLink": format!("/bigquery/v2/projects/{project}/datasets/{dataset}/tables/{table}"),
        "tableReference": {"projectId": project, "datasetId": dataset, "tableId": table},
        "schema": {"fields": t.fields},
        "numRows": t.rows.len().to_string(),
        "numBytes": t.num_bytes().to_string(),
        "type": "TABLE",
        "location": location,
        "creationTime": t.created_ms.to_string(),
        "lastModifiedTime": t.modified_ms.to_string(),
    });
    if !t.labels.is_empty() {
        out["labels"] = json!(t.labels);
    }
    if let Some(d) = &t.description {
        out["description"] = json!(d);
    }
    out
}

pub(crate) async fn insert_table(
    Path((project, dataset)): Path<(String, String)>,
    Authorized(state): Authorized,
    JsonRequest(req): JsonRequest<TableBody>,
) -> Response {
    let id = req.table_reference.table_id;
    if !valid_id(&id.replace('$', "_")) {
        return invalid(&format!("Invalid table ID \"{id}\"."));
    }
    let fields = match normalize_schema(&req.schema.fields) {
        Ok(f) => f,
        Err(message) => return invalid(&message),
    };
    let store = &state.bigquery;
    let mut datasets = store.datasets();
    let Some(ds) = datasets.get_mut(&(project.clone(), dataset.clone())) else {
        return no_dataset(&project, &dataset);
    };
    if ds.tables.contains_key(&id) {
        return duplicate(&format!("Already Exists: Table {project}:{dataset}.{id}"));
    }
    let mut table = store.new_table(fields);
    table.labels = req.labels;
    table.description = req.description;
    let out = table_json(&project, &dataset, &id, &table, &ds.location);
    ds.tables.insert(id, table);
    ds.modified_ms = now_ms();
    Json(out).into_response()
}

pub(crate) async fn get_table(
    Path((project, dataset, table)): Path<(String, String, String)>,
    Authorized(state): Authorized,
) -> Response {
    let datasets = state.bigquery.datasets();
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

pub(crate) async fn list_tables(
    Path((project, dataset)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    Authorized(state): Authorized,
) -> Response {
    let max = try_response!(count_param(&q, "maxResults")).unwrap_or(usize::MAX);
    let scope = format!("tables.{dataset}");
    let start = match param(&q, "pageToken") {
        None => 0,
        Some(t) => {
            try_response!(read_page_token(t, &scope).ok_or_else(|| invalid("Invalid page token.")))
        }
    };
    let datasets = state.bigquery.datasets();
    let Some(ds) = datasets.get(&(project.clone(), dataset.clone())) else {
        return no_dataset(&project, &dataset);
    };
    let total = ds.tables.len();
    let end = start.saturating_add(max.max(1)).min(total);
    let tables: Vec<Value> = ds
        .tables
        .iter()
        .skip(start)
        .take(end.saturating_sub(start))
        .map(|(id, t)| {
            json!({
                "kind": "bigquery#table",
                "id": format!("{project}:{dataset}.{id}"),
                "tableReference": {"projectId": project, "datasetId": dataset, "tableId": id},
                "type": "TABLE",
                "creationTime": t.created_ms.to_string(),
                "labels": t.labels,
            })
        })
        .collect();
    let mut out =
        json!({"kind": "bigquery#tableList", "etag": etag(ds.modified_ms), "totalItems": total});
    if !tables.is_empty() {
        out["tables"] = Value::Array(tables);
    }
    if end < total {
        out["nextPageToken"] = json!(page_token(&scope, end));
    }
    Json(out).into_response()
}

pub(crate) async fn delete_table(
    Path((project, dataset, table)): Path<(String, String, String)>,
    Authorized(state): Authorized,
) -> Response {
    let mut datasets = state.bigquery.datasets();
    let removed = datasets
        .get_mut(&(project.clone(), dataset.clone()))
        .and_then(|ds| {
            let t = ds.tables.remove(&table)?;
            ds.modified_ms = now_ms();
            Some(t)
        });
    match removed {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => not_found(&format!("Not found: Table {project}:{dataset}.{table}")),
    }
}
