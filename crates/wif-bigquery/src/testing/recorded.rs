//! What a client sent to the BigQuery fake, decoded by method: the rows of an `insertAll`, the
//! SQL and parameters of a query, the job of a `getQueryResults`; with the bearer token (still
//! secret) and the quota project.

use serde_json::Value;
use wif_core::AccessToken;
use wif_core::testing::{bearer_token, header_text};
use wiremock::Request;

/// Which BigQuery method a request called, with what it sent.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum BigQueryCall {
    /// `tabledata.insertAll`.
    InsertAll {
        /// The dataset id.
        dataset: String,
        /// The table id.
        table: String,
        /// Each row's `json` object, in order.
        rows: Vec<Value>,
        /// Each row's `insertId`, if sent.
        insert_ids: Vec<Option<String>>,
        /// `skipInvalidRows`.
        skip_invalid_rows: bool,
        /// `ignoreUnknownValues`.
        ignore_unknown_values: bool,
        /// `templateSuffix`.
        template_suffix: Option<String>,
    },
    /// `jobs.query`.
    Query {
        /// The SQL.
        sql: String,
        /// `parameterMode` (`NAMED`, `POSITIONAL`).
        parameter_mode: Option<String>,
        /// `queryParameters`, as sent.
        parameters: Vec<Value>,
        /// `requestId` (the same on retries).
        request_id: Option<String>,
        /// `location`.
        location: Option<String>,
        /// `useLegacySql`.
        use_legacy_sql: Option<bool>,
    },
    /// `jobs.getQueryResults`.
    GetQueryResults {
        /// The job id.
        job_id: String,
        /// `pageToken`.
        page_token: Option<String>,
        /// `location`.
        location: Option<String>,
    },
    /// `tables.get`.
    GetTable {
        /// The dataset id.
        dataset: String,
        /// The table id.
        table: String,
    },
    /// Anything else under the project.
    Other,
}

/// One BigQuery call as the fake received it. `Debug` never shows the bearer token.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BigQueryRequest {
    /// The HTTP method.
    pub method: String,
    /// The project in the path.
    pub project: String,
    /// The method called and what it sent.
    pub call: BigQueryCall,
    /// The bearer token.
    pub bearer: Option<AccessToken>,
    /// `x-goog-user-project`.
    pub quota_project: Option<String>,
}

impl BigQueryRequest {
    /// Decodes a recorded request: `None` unless its path is under
    /// `/bigquery/v2/projects/{project}/`.
    pub fn parse(request: &Request) -> Option<BigQueryRequest> {
        let (project, call) = parse_call(request)?;
        Some(BigQueryRequest {
            method: request.method.to_string(),
            project,
            call,
            bearer: bearer_token(request),
            quota_project: header_text(request, "x-goog-user-project"),
        })
    }
}

/// The project and the call of a request under `…/bigquery/v2/projects/{project}/`.
pub(crate) fn parse_call(request: &Request) -> Option<(String, BigQueryCall)> {
    let segments: Vec<String> = request
        .url
        .path_segments()?
        .map(|s| {
            url::form_urlencoded::parse(format!("s={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .collect();
    let start = segments
        .windows(3)
        .position(|w| w[0] == "bigquery" && w[1] == "v2" && w[2] == "projects")?;
    let rest = &segments[start + 3..];
    let project = rest.first()?.clone();
    let body = || serde_json::from_slice::<Value>(&request.body).unwrap_or(Value::Null);
    let query = |name: &str| {
        request
            .url
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let text = |v: &Value, field: &str| v.get(field).and_then(Value::as_str).map(str::to_owned);
    let method = request.method.as_str();
    let parts: Vec<&str> = rest[1..].iter().map(String::as_str).collect();
    let call = match (method, parts.as_slice()) {
        ("POST", ["datasets", dataset, "tables", table, "insertAll"]) => {
            let body = body();
            let rows = body.get("rows").and_then(Value::as_array);
            BigQueryCall::InsertAll {
                dataset: (*dataset).to_owned(),
                table: (*table).to_owned(),
                rows: rows
                    .map(|r| r.iter().map(|row| row["json"].clone()).collect())
                    .unwrap_or_default(),
                insert_ids: rows
                    .map(|r| r.iter().map(|row| text(row, "insertId")).collect())
                    .unwrap_or_default(),
                skip_invalid_rows: body["skipInvalidRows"].as_bool().unwrap_or(false),
                ignore_unknown_values: body["ignoreUnknownValues"].as_bool().unwrap_or(false),
                template_suffix: text(&body, "templateSuffix"),
            }
        }
        ("POST", ["queries"]) => {
            let body = body();
            BigQueryCall::Query {
                sql: text(&body, "query").unwrap_or_default(),
                parameter_mode: text(&body, "parameterMode"),
                parameters: body["queryParameters"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
                request_id: text(&body, "requestId"),
                location: text(&body, "location"),
                use_legacy_sql: body["useLegacySql"].as_bool(),
            }
        }
        ("GET", ["queries", job]) => BigQueryCall::GetQueryResults {
            job_id: (*job).to_owned(),
            page_token: query("pageToken").filter(|t| !t.is_empty()),
            location: query("location"),
        },
        ("GET", ["datasets", dataset, "tables", table]) => BigQueryCall::GetTable {
            dataset: (*dataset).to_owned(),
            table: (*table).to_owned(),
        },
        _ => BigQueryCall::Other,
    };
    Some((project, call))
}
