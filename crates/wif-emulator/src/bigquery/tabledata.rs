//! `tabledata.insertAll` (streaming inserts, checked against the schema, `insertId`
//! de-duplication within a time window) and `tabledata.list` (paged `f`/`v` rows) of the
//! emulated BigQuery.

use std::collections::HashMap;
use std::time::Instant;

use axum::extract::{Path, Query};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::cell::{Row, Type};
use super::store::now_ms;
use super::values::typed_row;
use super::wire::{
    Authorized, JsonRequest, count_param, invalid, not_found, page, page_token, param,
    read_page_token, timestamp_format, try_response, with_rows,
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InsertRow {
    insert_id: Option<String>,
    #[serde(default)]
    json: Value,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct InsertAllBody {
    skip_invalid_rows: bool,
    ignore_unknown_values: bool,
    template_suffix: Option<String>,
    rows: Vec<InsertRow>,
}

pub(crate) async fn insert_all(
    Path((project, dataset, table)): Path<(String, String, String)>,
    Authorized(state): Authorized,
    JsonRequest(req): JsonRequest<InsertAllBody>,
) -> Response {
    let store = &state.bigquery;
    let window = state.config.insert_id_window;
    let missing = || not_found(&format!("Not found: Table {project}:{dataset}.{table}"));
    if req.rows.is_empty() {
        // Checked after the table exists, as BigQuery does.
        let exists = store
            .datasets()
            .get(&(project.clone(), dataset.clone()))
            .is_some_and(|ds| ds.tables.contains_key(&table));
        return if exists {
            invalid("No rows present in the request.")
        } else {
            missing()
        };
    }
    let mut datasets = store.datasets();
    let Some(ds) = datasets.get_mut(&(project.clone(), dataset.clone())) else {
        return missing();
    };
    let Some(template) = ds.tables.get(&table).map(|t| t.fields.clone()) else {
        return missing();
    };
    let target = match &req.template_suffix {
        Some(suffix) => format!("{table}{suffix}"),
        None => table.clone(),
    };
    if !ds.tables.contains_key(&target) {
        let t = store.new_table(template);
        ds.tables.insert(target.clone(), t);
    }
    let Some(t) = ds.tables.get_mut(&target) else {
        return missing();
    };
    let checked: Vec<_> = req
        .rows
        .iter()
        .map(|r| typed_row(&t.fields, &r.json, req.ignore_unknown_values))
        .collect();
    let any_invalid = checked.iter().any(Result::is_err);
    let mut errors = Vec::new();
    let now = Instant::now();
    for (index, (row, result)) in req.rows.into_iter().zip(checked).enumerate() {
        match result {
            Err(issue) => errors.push(json!({"index": index, "errors": [{
                "reason": "invalid", "location": issue.location, "debugInfo": "", "message": issue.message,
            }]})),
            Ok(_) if any_invalid && !req.skip_invalid_rows => errors.push(json!({"index": index, "errors": [{
                "reason": "stopped", "location": "", "debugInfo": "", "message": "",
            }]})),
            Ok(cells) => {
                // Best-effort de-duplication, as BigQuery's: an insertId seen within the window
                // is acknowledged, not stored again.
                if let Some(id) = row.insert_id.filter(|id| !id.is_empty())
                    && !t.insert_ids.first_sighting(&id, now, window)
                {
                    continue;
                }
                t.push(Row::from(cells));
            }
        }
    }
    t.modified_ms = now_ms();
    let mut out = Map::new();
    out.insert("kind".into(), json!("bigquery#tableDataInsertAllResponse"));
    if !errors.is_empty() {
        out.insert("insertErrors".into(), Value::Array(errors));
    }
    with_rows(out, None)
}

/// `selectedFields=a,b`: the chosen top-level columns, in schema order.
#[allow(clippy::result_large_err)]
fn selected_columns(
    selected: Option<&str>,
    fields: &[super::TableField],
) -> Result<Option<Vec<usize>>, Response> {
    let Some(selected) = selected else {
        return Ok(None);
    };
    let names: Vec<&str> = selected
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    for name in &names {
        if name.contains('.') {
            return Err(invalid(&format!(
                "selectedFields of nested fields ({name}) are not supported by the wif-rs emulator; select the top-level column"
            )));
        }
        if !fields.iter().any(|f| f.name.eq_ignore_ascii_case(name)) {
            return Err(invalid(&format!("Invalid field selection {name}")));
        }
    }
    Ok(Some(
        (0..fields.len())
            .filter(|i| {
                names
                    .iter()
                    .any(|n| fields[*i].name.eq_ignore_ascii_case(n))
            })
            .collect(),
    ))
}

pub(crate) async fn list(
    Path((project, dataset, table)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
    Authorized(state): Authorized,
) -> Response {
    let max_results = try_response!(count_param(&q, "maxResults"));
    let start_index = try_response!(count_param(&q, "startIndex"));
    let format = timestamp_format(&q);
    let datasets = state.bigquery.datasets();
    let Some(t) = datasets
        .get(&(project.clone(), dataset.clone()))
        .and_then(|ds| ds.tables.get(&table))
    else {
        return not_found(&format!("Not found: Table {project}:{dataset}.{table}"));
    };
    let scope = format!("table{}", t.uid);
    let start = match param(&q, "pageToken") {
        Some(token) => try_response!(
            read_page_token(token, &scope).ok_or_else(|| invalid("Invalid page token."))
        ),
        None => start_index.unwrap_or(0),
    };
    let columns = try_response!(selected_columns(param(&q, "selectedFields"), &t.fields));
    let types: Vec<&Type> = match &columns {
        None => t.types.iter().collect(),
        Some(c) => c.iter().map(|i| &t.types[*i]).collect(),
    };
    let rows = page(
        &types,
        &t.rows,
        columns.as_deref(),
        start,
        max_results,
        format,
    );
    let mut out = Map::new();
    out.insert("kind".into(), json!("bigquery#tableDataList"));
    out.insert("etag".into(), json!(format!("\"{:x}\"", t.modified_ms)));
    out.insert("totalRows".into(), json!(t.rows.len().to_string()));
    if let Some(next) = rows.next {
        out.insert("pageToken".into(), json!(page_token(&scope, next)));
    }
    with_rows(out, Some(&rows))
}
