//! Queries: `jobs.query`, then `jobs.getQueryResults` to wait for the job and to page through its
//! rows (`docs/protocol.md#bigquery-and-cloud-storage`).
//!
//! Every query is GoogleSQL (`useLegacySql=false`, whose API default is legacy SQL), asks for
//! TIMESTAMPs as int64 microseconds (`formatOptions.useInt64Timestamp=true`, lossless) and
//! carries a `requestId`, so a retried `jobs.query` does not run the query twice.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::time::Instant;
use wif_core::{Error, ErrorKind, Step};

use crate::client::{BigQuery, Call, random_uuid};
use crate::hints::Operation;
use crate::results::{Page, QueryResults};
use crate::{QueryParameter, Schema};

/// How long each `jobs.query` / `getQueryResults` call asks the server to wait for the job.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest `timeoutMs` sent; BigQuery answers after about 200 s whatever was asked.
pub const MAX_QUERY_TIMEOUT: Duration = Duration::from_secs(300);
/// How long [`BigQuery::query`] waits for a job to complete, in total.
pub const DEFAULT_QUERY_DEADLINE: Duration = Duration::from_secs(300);
/// Added to a call's `timeoutMs` for the HTTP timeout: the server may hold the call that long
/// and then still has to answer.
const TIMEOUT_SLACK: Duration = Duration::from_secs(15);

/// A GoogleSQL query and how to run it.
///
/// ```
/// use std::time::Duration;
/// use wif_bigquery::QueryRequest;
///
/// let request = QueryRequest::new("SELECT name FROM `p.d.users` WHERE id = @id")
///     .param("id", 42)
///     .location("europe-west1")
///     .page_size(1000)
///     .deadline(Duration::from_secs(30));
/// # let _ = request;
/// ```
#[derive(Clone, Debug)]
pub struct QueryRequest {
    sql: String,
    named: Vec<(String, QueryParameter)>,
    positional: Vec<QueryParameter>,
    location: Option<String>,
    default_dataset: Option<(String, String)>,
    page_size: Option<u32>,
    timeout: Duration,
    deadline: Duration,
    use_query_cache: Option<bool>,
    maximum_bytes_billed: Option<u64>,
    labels: BTreeMap<String, String>,
}

impl QueryRequest {
    /// A query of `sql` (GoogleSQL).
    pub fn new(sql: impl Into<String>) -> Self {
        QueryRequest {
            sql: sql.into(),
            named: Vec::new(),
            positional: Vec::new(),
            location: None,
            default_dataset: None,
            page_size: None,
            timeout: DEFAULT_QUERY_TIMEOUT,
            deadline: DEFAULT_QUERY_DEADLINE,
            use_query_cache: None,
            maximum_bytes_billed: None,
            labels: BTreeMap::new(),
        }
    }

    /// Binds `@name` (`parameterMode=NAMED`). Don't mix with positional parameters.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<QueryParameter>) -> Self {
        self.named.push((name.into(), value.into()));
        self
    }

    /// Binds the next `?` (`parameterMode=POSITIONAL`). Don't mix with named parameters.
    pub fn positional_param(mut self, value: impl Into<QueryParameter>) -> Self {
        self.positional.push(value.into());
        self
    }

    /// Where the job runs (`EU`, `europe-west1`, …): required for datasets outside the US and EU
    /// multi-regions. When unset, the location the server reports is used for the follow-up calls.
    pub fn location(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }

    /// The dataset that unqualified table names refer to.
    pub fn default_dataset(
        mut self,
        project: impl Into<String>,
        dataset: impl Into<String>,
    ) -> Self {
        self.default_dataset = Some((project.into(), dataset.into()));
        self
    }

    /// Rows per page (`maxResults`). Pages are also capped at 10 MB by the server.
    pub fn page_size(mut self, rows: u32) -> Self {
        self.page_size = Some(rows);
        self
    }

    /// How long each call asks the server to wait for the job (`timeoutMs`; default 10 s,
    /// at most [`MAX_QUERY_TIMEOUT`]: the server never holds a call longer anyway).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.min(MAX_QUERY_TIMEOUT);
        self
    }

    /// How long to wait for the job to complete in total (default 5 min). When it passes,
    /// [`BigQuery::query`] fails with a timeout error naming the job.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// `useQueryCache` (the server's default is true).
    pub fn use_query_cache(mut self, use_cache: bool) -> Self {
        self.use_query_cache = Some(use_cache);
        self
    }

    /// `maximumBytesBilled`: the job fails instead of billing more.
    pub fn maximum_bytes_billed(mut self, bytes: u64) -> Self {
        self.maximum_bytes_billed = Some(bytes);
        self
    }

    /// Adds a job label.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    fn validate(&self) -> Result<(), Error> {
        if self.sql.trim().is_empty() {
            return Err(Error::config("sql", "must not be empty"));
        }
        if !self.named.is_empty() && !self.positional.is_empty() {
            return Err(Error::config(
                "query parameters",
                "a query takes named (@name) or positional (?) parameters, not both",
            ));
        }
        if let Some((name, _)) = self.named.iter().find(|(n, _)| n.trim().is_empty()) {
            return Err(Error::config(
                "query parameters",
                format!("parameter name `{name}` is empty"),
            ));
        }
        Ok(())
    }

    /// The `QueryRequest` JSON of `jobs.query`.
    fn to_json(&self, request_id: &str) -> Value {
        let mut body = Map::new();
        body.insert("query".into(), json!(self.sql));
        body.insert("useLegacySql".into(), json!(false));
        body.insert("requestId".into(), json!(request_id));
        body.insert("timeoutMs".into(), json!(millis(self.timeout)));
        body.insert("formatOptions".into(), json!({"useInt64Timestamp": true}));
        if !self.named.is_empty() {
            body.insert("parameterMode".into(), json!("NAMED"));
            let params: Vec<Value> = self
                .named
                .iter()
                .map(|(n, p)| p.to_json(Some(n.trim_start_matches('@'))))
                .collect();
            body.insert("queryParameters".into(), Value::Array(params));
        } else if !self.positional.is_empty() {
            body.insert("parameterMode".into(), json!("POSITIONAL"));
            let params: Vec<Value> = self.positional.iter().map(|p| p.to_json(None)).collect();
            body.insert("queryParameters".into(), Value::Array(params));
        }
        if let Some(l) = &self.location {
            body.insert("location".into(), json!(l));
        }
        if let Some((p, d)) = &self.default_dataset {
            body.insert(
                "defaultDataset".into(),
                json!({"projectId": p, "datasetId": d}),
            );
        }
        if let Some(n) = self.page_size {
            body.insert("maxResults".into(), json!(n));
        }
        if let Some(c) = self.use_query_cache {
            body.insert("useQueryCache".into(), json!(c));
        }
        if let Some(b) = self.maximum_bytes_billed {
            // int64 fields travel as strings.
            body.insert("maximumBytesBilled".into(), json!(b.to_string()));
        }
        if !self.labels.is_empty() {
            body.insert("labels".into(), json!(self.labels));
        }
        Value::Object(body)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Identifies a query job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct JobReference {
    /// The project the job ran in.
    pub project_id: String,
    /// The job id.
    pub job_id: String,
    /// Where it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// `QueryResponse` and `GetQueryResultsResponse`: the fields we use.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ResultsResponse {
    pub(crate) job_complete: Option<bool>,
    pub(crate) job_reference: Option<JobReference>,
    pub(crate) schema: Option<Schema>,
    pub(crate) rows: Vec<Value>,
    pub(crate) total_rows: Option<Value>,
    pub(crate) page_token: Option<String>,
    pub(crate) num_dml_affected_rows: Option<Value>,
}

impl ResultsResponse {
    fn is_complete(&self) -> bool {
        // `jobComplete` is always sent; if a server leaves it out, a schema means results.
        self.job_complete.unwrap_or(self.schema.is_some())
    }
}

/// An int64-as-string (or number) field.
pub(crate) fn uint(v: &Option<Value>) -> Option<u64> {
    match v.as_ref()? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// What a `getQueryResults` call asks for.
pub(crate) struct ResultsCall<'a> {
    pub(crate) job: &'a JobReference,
    pub(crate) location: Option<&'a str>,
    pub(crate) page_token: Option<&'a str>,
    pub(crate) max_results: Option<u32>,
    pub(crate) timeout: Duration,
}

impl BigQuery {
    /// Runs `request` with `jobs.query`, waits for the job (polling `getQueryResults` while
    /// `jobComplete` is false, up to the request's deadline), and returns its rows as a stream
    /// that fetches further pages as it is read.
    ///
    /// A query the server rejects (`invalidQuery`, `notFound`, `accessDenied`) is an `Err` here,
    /// never retried; transient failures are retried by BigQuery's rules with the same
    /// `requestId`.
    pub async fn query(&self, request: QueryRequest) -> Result<QueryResults, Error> {
        request.validate()?;
        let project = self.validated_project()?.to_owned();
        let started = Instant::now();
        let deadline = started
            .checked_add(request.deadline)
            .unwrap_or_else(|| started + Duration::from_secs(365 * 24 * 3600));
        // One requestId per logical query: retries of this call are then idempotent.
        let request_id = random_uuid();
        let body = request.to_json(&request_id).to_string().into_bytes();
        let url = self.url(&["projects", &project, "queries"])?;
        let mut response: ResultsResponse = self
            .call(Call {
                method: "jobs.query",
                operation: Operation::Query,
                resource: format!("in project {project}"),
                table: None,
                rows: 0,
                http_method: Method::POST,
                url,
                body: Some(&body),
                timeout: request.timeout.saturating_add(TIMEOUT_SLACK),
            })
            .await?;
        let location = request
            .location
            .clone()
            .or_else(|| response.job_reference.as_ref()?.location.clone());

        let mut polled = false;
        let mut pause = Duration::from_millis(50);
        while !response.is_complete() {
            let job = response.job_reference.clone().ok_or_else(|| {
                Error::invalid_response(
                    Step::Api,
                    "jobs.query: the job is not complete and the response names no job to poll",
                )
            })?;
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::new(
                    Step::Api,
                    ErrorKind::Timeout,
                    format!(
                        "query job {}:{} did not complete within {:.1}s",
                        job.project_id,
                        job.job_id,
                        request.deadline.as_secs_f64()
                    ),
                )
                .with_hint("raise QueryRequest::deadline; the job keeps running on the server"));
            }
            let wait = request.timeout.min(deadline - now);
            let poll_started = Instant::now();
            // maxResults=0: while waiting we only want `jobComplete`, not rows (Go does the same).
            response = self
                .query_results(ResultsCall {
                    job: &job,
                    location: location.as_deref(),
                    page_token: None,
                    max_results: Some(0),
                    timeout: wait,
                })
                .await?;
            if response.job_reference.is_none() {
                response.job_reference = Some(job);
            }
            polled = true;
            // A server that answers at once instead of holding the call for `timeoutMs` (an
            // emulator, a proxy) must not be polled in a tight loop.
            if !response.is_complete() && poll_started.elapsed() < Duration::from_secs(1) {
                let remaining = deadline.saturating_duration_since(Instant::now());
                tokio::time::sleep(pause.min(remaining)).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        }
        let job = response.job_reference.clone();
        if polled {
            // The polls asked for no rows: fetch the first page now.
            if let Some(job) = &job {
                response = self
                    .query_results(ResultsCall {
                        job,
                        location: location.as_deref(),
                        page_token: None,
                        max_results: request.page_size,
                        timeout: request.timeout,
                    })
                    .await?;
            }
        }
        let schema = response.schema.take().unwrap_or_default();
        let page = Page {
            client: self.clone(),
            job: job.clone(),
            location,
            page_size: request.page_size,
            timeout: request.timeout,
        };
        Ok(QueryResults::new(schema, response, job, page))
    }

    /// One `jobs.getQueryResults` call.
    pub(crate) async fn query_results(
        &self,
        call: ResultsCall<'_>,
    ) -> Result<ResultsResponse, Error> {
        let mut url = self.url(&[
            "projects",
            &call.job.project_id,
            "queries",
            &call.job.job_id,
        ])?;
        {
            // Form-encoding turns `+`, `/` and `=` of page tokens into %2B, %2F, %3D.
            let mut q = url.query_pairs_mut();
            if let Some(location) = call.location {
                q.append_pair("location", location);
            }
            if let Some(token) = call.page_token {
                q.append_pair("pageToken", token);
            }
            if let Some(n) = call.max_results {
                q.append_pair("maxResults", &n.to_string());
            }
            q.append_pair("timeoutMs", &millis(call.timeout).to_string());
            q.append_pair("formatOptions.useInt64Timestamp", "true");
        }
        self.call(Call {
            method: "jobs.getQueryResults",
            operation: Operation::Query,
            resource: format!("job {}:{}", call.job.project_id, call.job.job_id),
            table: None,
            rows: 0,
            http_method: Method::GET,
            url,
            body: None,
            timeout: call.timeout.saturating_add(TIMEOUT_SLACK),
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_json() {
        let r = QueryRequest::new("SELECT 1")
            .param("@id", 7)
            .location("EU")
            .default_dataset("p", "d")
            .page_size(10)
            .timeout(Duration::from_secs(2))
            .use_query_cache(false)
            .maximum_bytes_billed(1_000_000)
            .label("team", "data");
        let j = r.to_json("rid");
        assert_eq!(
            j,
            json!({
                "query": "SELECT 1",
                "useLegacySql": false,
                "requestId": "rid",
                "timeoutMs": 2000,
                "formatOptions": {"useInt64Timestamp": true},
                "parameterMode": "NAMED",
                "queryParameters": [{"name": "id", "parameterType": {"type": "INT64"}, "parameterValue": {"value": "7"}}],
                "location": "EU",
                "defaultDataset": {"projectId": "p", "datasetId": "d"},
                "maxResults": 10,
                "useQueryCache": false,
                "maximumBytesBilled": "1000000",
                "labels": {"team": "data"},
            })
        );
        let j = QueryRequest::new("SELECT ?")
            .positional_param("a")
            .to_json("r");
        assert_eq!(j["parameterMode"], "POSITIONAL");
        assert_eq!(j["queryParameters"][0].get("name"), None);
    }

    #[test]
    fn bad_requests_fail_before_the_network() {
        for r in [
            QueryRequest::new("  "),
            QueryRequest::new("SELECT @a, ?")
                .param("a", 1)
                .positional_param(2),
            QueryRequest::new("SELECT 1").param("", 1),
        ] {
            assert!(r.validate().expect_err("invalid").is_config());
        }
    }
}
