//! BigQuery's REST API played by a wiremock responder: `insertAll`, `jobs.query`,
//! `jobs.getQueryResults` and `tables.get` with canned results, BigQuery's documented errors in
//! its own shape, and faults (slow, flaky, a token refused once).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use wif_core::testing::{Scripted, bearer_token};
use wiremock::{Request, Respond, ResponseTemplate};

use super::recorded::{BigQueryCall, parse_call};

/// The errors BigQuery documents, each with its status and reason in BigQuery's
/// `{"error":{"code","message","errors":[{"reason"}],"status"}}` shape
/// (`docs/protocol.md#bigquery-and-cloud-storage`). wif-bigquery retries and explains them by
/// reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BigQueryError {
    /// 404 `notFound`: no such project, dataset, table or job.
    NotFound,
    /// 403 `accessDenied`: the identity lacks a role.
    AccessDenied,
    /// 403 `rateLimitExceeded`: too many requests. Retryable despite the 403.
    RateLimitExceeded,
    /// 403 `quotaExceeded`: a quota is used up. Not retried.
    QuotaExceeded,
    /// 400 `invalidQuery`: the SQL does not parse or names unknown columns.
    InvalidQuery,
    /// 400 `invalid`: a malformed request.
    Invalid,
    /// 409 `duplicate`: the resource exists.
    Duplicate,
    /// 401 `authError`: the access token was refused.
    Unauthenticated,
    /// 500 `internalError`. Retryable.
    InternalError,
    /// 503 `backendError`. Retryable.
    BackendError,
}

impl BigQueryError {
    /// Every documented error, for table tests.
    pub const ALL: [BigQueryError; 10] = [
        BigQueryError::NotFound,
        BigQueryError::AccessDenied,
        BigQueryError::RateLimitExceeded,
        BigQueryError::QuotaExceeded,
        BigQueryError::InvalidQuery,
        BigQueryError::Invalid,
        BigQueryError::Duplicate,
        BigQueryError::Unauthenticated,
        BigQueryError::InternalError,
        BigQueryError::BackendError,
    ];

    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            BigQueryError::NotFound => 404,
            BigQueryError::AccessDenied
            | BigQueryError::RateLimitExceeded
            | BigQueryError::QuotaExceeded => 403,
            BigQueryError::InvalidQuery | BigQueryError::Invalid => 400,
            BigQueryError::Duplicate => 409,
            BigQueryError::Unauthenticated => 401,
            BigQueryError::InternalError => 500,
            BigQueryError::BackendError => 503,
        }
    }

    /// The `errors[].reason`.
    pub fn reason(self) -> &'static str {
        match self {
            BigQueryError::NotFound => "notFound",
            BigQueryError::AccessDenied => "accessDenied",
            BigQueryError::RateLimitExceeded => "rateLimitExceeded",
            BigQueryError::QuotaExceeded => "quotaExceeded",
            BigQueryError::InvalidQuery => "invalidQuery",
            BigQueryError::Invalid => "invalid",
            BigQueryError::Duplicate => "duplicate",
            BigQueryError::Unauthenticated => "authError",
            BigQueryError::InternalError => "internalError",
            BigQueryError::BackendError => "backendError",
        }
    }

    /// The `google.rpc` status name.
    pub fn rpc_status(self) -> &'static str {
        match self {
            BigQueryError::NotFound => "NOT_FOUND",
            BigQueryError::AccessDenied => "PERMISSION_DENIED",
            BigQueryError::RateLimitExceeded | BigQueryError::QuotaExceeded => "RESOURCE_EXHAUSTED",
            BigQueryError::InvalidQuery | BigQueryError::Invalid => "INVALID_ARGUMENT",
            BigQueryError::Duplicate => "ALREADY_EXISTS",
            BigQueryError::Unauthenticated => "UNAUTHENTICATED",
            BigQueryError::InternalError => "INTERNAL",
            BigQueryError::BackendError => "UNAVAILABLE",
        }
    }

    /// The `message`, in BigQuery's words.
    pub fn message(self) -> &'static str {
        match self {
            BigQueryError::NotFound => "Not found: Table my-project:analytics.events",
            BigQueryError::AccessDenied => {
                "Access Denied: Table my-project:analytics.events: Permission bigquery.tables.updateData denied on table my-project:analytics.events (or it may not exist)."
            }
            BigQueryError::RateLimitExceeded => {
                "Exceeded rate limits: too many api requests per user per method for this user_method."
            }
            BigQueryError::QuotaExceeded => {
                "Quota exceeded: Your project exceeded quota for free query bytes scanned."
            }
            BigQueryError::InvalidQuery => {
                "Syntax error: Expected end of input but got identifier \"FORM\" at [1:10]"
            }
            BigQueryError::Invalid => "Invalid value for field: maxResults",
            BigQueryError::Duplicate => "Already Exists: Table my-project:analytics.events",
            BigQueryError::Unauthenticated => {
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential."
            }
            BigQueryError::InternalError => {
                "An internal error occurred and the request could not be completed."
            }
            BigQueryError::BackendError => "Backend error. Please try again.",
        }
    }

    /// The whole answer.
    pub fn response(self) -> ResponseTemplate {
        ResponseTemplate::new(self.status()).set_body_json(json!({"error": {
            "code": self.status(),
            "message": self.message(),
            "errors": [{"message": self.message(), "domain": "global", "reason": self.reason()}],
            "status": self.rpc_status(),
        }}))
    }
}

impl Respond for BigQueryError {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        self.response()
    }
}

/// Plays BigQuery v2 under `/bigquery/v2/projects/{project}/…`: accepts every `insertAll` row
/// (or rejects the ones named), answers `jobs.query` and `jobs.getQueryResults` with one page of
/// canned rows, `tables.get` with the canned schema, and `notFound` to anything else. Requires
/// a bearer token unless [`anonymous`](Self::anonymous). Steps play in the order added:
///
/// ```
/// use serde_json::json;
/// use wif_bigquery::testing::{BigQueryError, BigQueryResponder};
///
/// let bq = BigQueryResponder::new()
///     .with_rows(&[("id", "INT64"), ("kind", "STRING")], &[json!({"id": 1, "kind": "signup"})])
///     .flaky(1)                                            // one 503 backendError first
///     .failing_first(1, BigQueryError::RateLimitExceeded); // then one 403 rateLimitExceeded
/// # let _ = bq;
/// ```
#[derive(Clone)]
pub struct BigQueryResponder {
    api: Api,
    script: Scripted,
}

impl BigQueryResponder {
    /// Accepts every row; queries return no rows (and no columns).
    pub fn new() -> Self {
        let api = Api {
            fields: Arc::new(Vec::new()),
            rows: Arc::new(Vec::new()),
            rejected_rows: Arc::new(Vec::new()),
            anonymous: false,
            jobs: Arc::new(AtomicU64::new(0)),
        };
        BigQueryResponder {
            script: Scripted::new(api.clone()),
            api,
        }
    }

    /// Answers every request with `error`.
    pub fn error(error: BigQueryError) -> Self {
        BigQueryResponder::new().failing_first(u64::MAX, error)
    }

    /// The first request is refused with 401 (`authError`), as for a token that expired early
    /// at Google; the client drops its token and asks again.
    pub fn expired_then_valid() -> Self {
        BigQueryResponder::new().failing_first(1, BigQueryError::Unauthenticated)
    }

    /// The schema (`(name, type)` pairs) and rows that queries return and `tables.get`
    /// describes. Rows are JSON objects of scalar columns (numbers, strings, booleans, null),
    /// sent in BigQuery's `{"f":[{"v":…}]}` form with every scalar as a string.
    pub fn with_rows(self, fields: &[(&str, &str)], rows: &[Value]) -> Self {
        let fields: Vec<(String, String)> = fields
            .iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect();
        let rows = rows.to_vec();
        self.rebuilt(|api| {
            api.fields = Arc::new(fields);
            api.rows = Arc::new(rows);
        })
    }

    /// `insertAll` reports the rows at these indexes (of each request) as `invalid`; the other
    /// rows of such a request are `stopped` unless it sets `skipInvalidRows`.
    pub fn rejecting_rows(self, indexes: &[usize]) -> Self {
        let indexes = indexes.to_vec();
        self.rebuilt(|api| api.rejected_rows = Arc::new(indexes))
    }

    /// Takes requests without a bearer token, as an emulator does.
    pub fn anonymous(self) -> Self {
        self.rebuilt(|api| api.anonymous = true)
    }

    wif_core::scripted_turns!(BigQueryError, flaky: BigQueryError::BackendError);

    /// Changes the API and answers with it after the steps (settings and steps may come in any
    /// order).
    fn rebuilt(mut self, change: impl FnOnce(&mut Api)) -> Self {
        change(&mut self.api);
        self.script = self.script.answering(self.api.clone());
        self
    }
}

impl Default for BigQueryResponder {
    fn default() -> Self {
        BigQueryResponder::new()
    }
}

wif_core::scripted_respond!(BigQueryResponder);

impl fmt::Debug for BigQueryResponder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BigQueryResponder")
            .field("fields", &self.api.fields)
            .field("rows", &self.api.rows.len())
            .field("rejected_rows", &self.api.rejected_rows)
            .field("anonymous", &self.api.anonymous)
            .field("script", &self.script)
            .finish()
    }
}

/// The API: routes and canned answers.
#[derive(Clone)]
struct Api {
    fields: Arc<Vec<(String, String)>>,
    rows: Arc<Vec<Value>>,
    rejected_rows: Arc<Vec<usize>>,
    anonymous: bool,
    jobs: Arc<AtomicU64>,
}

impl Api {
    fn schema(&self) -> Value {
        let fields: Vec<Value> = self
            .fields
            .iter()
            .map(|(name, kind)| json!({"name": name, "type": kind, "mode": "NULLABLE"}))
            .collect();
        json!({ "fields": fields })
    }

    fn results(&self, project: &str, job_id: &str) -> ResponseTemplate {
        let cell = |v: Option<&Value>| match v {
            None | Some(Value::Null) => Value::Null,
            Some(Value::String(s)) => Value::String(s.clone()),
            Some(other) => Value::String(other.to_string()),
        };
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                let cells: Vec<Value> = self
                    .fields
                    .iter()
                    .map(|(name, _)| json!({"v": cell(row.get(name))}))
                    .collect();
                json!({ "f": cells })
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({
            "kind": "bigquery#queryResponse",
            "jobComplete": true,
            "jobReference": {"projectId": project, "jobId": job_id, "location": "US"},
            "schema": self.schema(),
            "rows": rows,
            "totalRows": self.rows.len().to_string(),
        }))
    }

    fn insert_all(&self, rows: usize, skip_invalid: bool) -> ResponseTemplate {
        let rejected: Vec<usize> = self
            .rejected_rows
            .iter()
            .copied()
            .filter(|i| *i < rows)
            .collect();
        let mut errors: Vec<Value> = Vec::new();
        for index in 0..rows {
            if rejected.contains(&index) {
                errors.push(json!({"index": index, "errors": [{
                    "reason": "invalid", "location": "", "debugInfo": "",
                    "message": "no such field: unexpected."}]}));
            } else if !rejected.is_empty() && !skip_invalid {
                errors.push(json!({"index": index, "errors": [{
                    "reason": "stopped", "location": "", "debugInfo": "", "message": ""}]}));
            }
        }
        let mut body = json!({"kind": "bigquery#tableDataInsertAllResponse"});
        if !errors.is_empty() {
            body["insertErrors"] = Value::Array(errors);
        }
        ResponseTemplate::new(200).set_body_json(body)
    }
}

impl Respond for Api {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if !self.anonymous && bearer_token(request).is_none() {
            return BigQueryError::Unauthenticated.response();
        }
        let Some((project, call)) = parse_call(request) else {
            return BigQueryError::NotFound.response();
        };
        match call {
            BigQueryCall::InsertAll {
                rows,
                skip_invalid_rows,
                ..
            } => self.insert_all(rows.len(), skip_invalid_rows),
            BigQueryCall::Query { .. } => {
                let n = self.jobs.fetch_add(1, Ordering::SeqCst) + 1;
                self.results(&project, &format!("fake-job-{n}"))
            }
            BigQueryCall::GetQueryResults { job_id, .. } => self.results(&project, &job_id),
            BigQueryCall::GetTable { dataset, table } => {
                ResponseTemplate::new(200).set_body_json(json!({
                    "kind": "bigquery#table",
                    "tableReference": {"projectId": project, "datasetId": dataset, "tableId": table},
                    "schema": self.schema(),
                }))
            }
            BigQueryCall::Other => BigQueryError::NotFound.response(),
        }
    }
}
