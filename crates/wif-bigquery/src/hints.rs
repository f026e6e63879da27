//! BigQuery's retry rules and error hints (`docs/protocol.md#bigquery-and-cloud-storage`, and
//! Google's [error messages](https://cloud.google.com/bigquery/docs/error-messages) page).
//!
//! BigQuery reports rate limits as **HTTP 403** with `reason=rateLimitExceeded`, so retryability
//! is decided by `errors[0].reason` first and by the status only when there is no reason.

use url::Url;
use wif_core::Error;

/// Reasons Google's clients retry (Go and Python BigQuery).
const RETRYABLE_REASONS: [&str; 4] = [
    "backendError",
    "rateLimitExceeded",
    "internalError",
    "badGateway",
];

/// Statuses retried whatever the reason says (Go: 500/502/503/504).
const RETRYABLE_STATUSES: [u16; 4] = [500, 502, 503, 504];

/// What kind of call failed, for the hint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    Insert,
    Query,
    Metadata,
}

/// Whether BigQuery's rules retry a failure with `status` and `reason`.
pub(crate) fn is_retryable(status: u16, reason: Option<&str>) -> bool {
    match reason {
        // A syntax error stays a syntax error, whatever status a proxy put on it.
        Some("invalidQuery" | "invalid" | "notFound" | "accessDenied" | "duplicate") => false,
        Some(r) if RETRYABLE_REASONS.contains(&r) => true,
        Some(_) => RETRYABLE_STATUSES.contains(&status),
        // Without a structured reason (an HTML page from a proxy), go by the status; Python
        // also retries 429 and 408 in that case.
        None => RETRYABLE_STATUSES.contains(&status) || status == 429 || status == 408,
    }
}

/// Turns a non-success response to a request for `url` into our error: the server's words,
/// BigQuery's retry rule, and a hint for the known misconfigurations.
pub(crate) fn api_error(
    op: Operation,
    what: &str,
    url: &Url,
    response: wif_core::http::Response,
) -> Error {
    let status = response.status;
    let mut err = match response.error_for_status(wif_core::Step::Api) {
        Ok(_) => return Error::invalid_response(wif_core::Step::Api, "unexpected success"),
        Err(e) => e,
    };
    let server = err.server_error().cloned().unwrap_or_default();
    let (reason, code) = (server.reason.as_deref(), server.code.as_deref());
    err = err.retryable(is_retryable(status, reason)).context(what);
    let hint = match (status, reason) {
        (_, Some("notFound")) => Some(not_found(op, server.message.as_deref())),
        // No BigQuery error at all: whatever answered is not BigQuery's v2 API at that URL.
        (404, None) => Some(format!(
            "nothing at {} answered as BigQuery: check the base URL (a BigQuery v2 root such as \
             https://bigquery.googleapis.com/bigquery/v2/; BIGQUERY_EMULATOR_HOST takes the \
             emulator's host:port, and /bigquery/v2/ is added to it)",
            wif_core::http::describe_url(url)
        )),
        _ => hint(op, status, reason, code),
    };
    match hint {
        Some(h) => err.with_hint(h),
        None => err,
    }
}

/// What BigQuery did not find, from its message (`Not found: Dataset p:d`, `Not found: Table
/// p:d.t was not found in location EU`, `Not found: Job p:US.id`): the hint is about that thing.
fn not_found(op: Operation, message: Option<&str>) -> String {
    let what = message
        .and_then(|m| m.trim().strip_prefix("Not found: "))
        .and_then(|m| m.split_whitespace().next());
    let location = "a dataset outside the US and EU multi-regions needs `QueryRequest::location`";
    match (what, op) {
        (Some("Project"), _) => "BigQuery has no such project, or the BigQuery API is not enabled \
             in it: check the project id (`BigQuery::builder().project(…)`, or the table's)"
            .to_owned(),
        (Some("Dataset"), Operation::Query) => format!(
            "the dataset the query names does not exist in the project, or not in the query's \
             location: check the dataset id and its project in the SQL; {location}"
        ),
        (Some("Dataset"), _) => "the dataset does not exist in that project: check the dataset \
             id and its project (`project.dataset.table`); insertAll does not create datasets"
            .to_owned(),
        (Some("Table"), Operation::Query) => format!(
            "the table the query names does not exist in that dataset, or not in the query's \
             location: check the table id in the SQL; {location}"
        ),
        (Some("Table"), _) => "the table does not exist in that dataset: check the table id, and \
             create the table first (insertAll does not create tables)"
            .to_owned(),
        (Some("Job"), _) => format!(
            "BigQuery has no such job in the location it was looked up in: jobs live in the \
             location of the data they read, and {location} to find its job"
        ),
        _ => generic_not_found(op),
    }
}

fn generic_not_found(op: Operation) -> String {
    match op {
        Operation::Query => "check the project, dataset and table names in the SQL and the \
             query's project; a dataset outside the US and EU multi-regions needs \
             `QueryRequest::location` (a job looked up in the wrong location is \"Not found\")"
            .to_owned(),
        Operation::Insert | Operation::Metadata => "check the project, dataset and table ids \
             (`project.dataset.table`) and that the dataset and table exist; insertAll does not \
             create them"
            .to_owned(),
    }
}

fn hint(op: Operation, status: u16, reason: Option<&str>, code: Option<&str>) -> Option<String> {
    let hint = match (status, reason) {
        (401, _) => {
            "BigQuery rejected the access token even after one refresh: check that its scopes \
             include https://www.googleapis.com/auth/bigquery or cloud-platform"
                .to_owned()
        }
        (_, Some("accessDenied")) | (403, None) => access_denied(op),
        (403, Some(r)) if code == Some("PERMISSION_DENIED") && !is_retryable(403, Some(r)) => {
            access_denied(op)
        }
        (_, Some("quotaExceeded")) => "a BigQuery quota was exceeded; quota is charged to the \
             project sent as `x-goog-user-project` (`BigQueryBuilder::quota_project`) or else to \
             the request's project"
            .to_owned(),
        (_, Some("invalidQuery")) => "the query is GoogleSQL (useLegacySql=false): check the \
             syntax, quote `project.dataset.table` in backticks, and match @name parameters \
             with QueryRequest::param (or ? with positional_param)"
            .to_owned(),
        (_, Some("billingNotEnabled")) => {
            "enable billing on the project that runs the query".to_owned()
        }
        _ => return None,
    };
    Some(hint)
}

fn access_denied(op: Operation) -> String {
    let role = match op {
        Operation::Insert => "roles/bigquery.dataEditor on the dataset or table",
        Operation::Query => {
            "roles/bigquery.jobUser on the project and roles/bigquery.dataViewer on the dataset"
        }
        Operation::Metadata => "roles/bigquery.metadataViewer (or dataViewer) on the dataset",
    };
    format!(
        "the identity behind the token lacks permission: grant {role} to the service account \
         you impersonate, or (without impersonation) to the federated principal:// or \
         principalSet:// of the workload"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_table() {
        let table: &[(u16, Option<&str>, bool)] = &[
            (403, Some("rateLimitExceeded"), true),
            (500, Some("backendError"), true),
            (503, Some("backendError"), true),
            (500, Some("internalError"), true),
            (502, Some("badGateway"), true),
            (400, Some("invalidQuery"), false),
            (500, Some("invalidQuery"), false),
            (403, Some("accessDenied"), false),
            (403, Some("quotaExceeded"), false),
            (404, Some("notFound"), false),
            (409, Some("duplicate"), false),
            (503, Some("somethingNew"), true),
            (400, Some("somethingNew"), false),
            (502, None, true),
            (504, None, true),
            (429, None, true),
            (501, None, false),
            (400, None, false),
            (401, None, false),
        ];
        for (status, reason, want) in table {
            assert_eq!(is_retryable(*status, *reason), *want, "{status} {reason:?}");
        }
    }
}
