//! Streaming inserts:
//! [`tabledata.insertAll`](https://cloud.google.com/bigquery/docs/reference/rest/v2/tabledata/insertAll).
//!
//! Rows are serialized with serde, each gets a random `insertId` (so a retried request does not
//! duplicate rows: BigQuery de-duplicates by id, best effort), and they are sent in batches of at
//! most 500 rows and 10 MB. HTTP 200 with `insertErrors` is a **partial failure**: the
//! [`InsertReport`] lists every failed row by its index in *your* input, across batches.

use std::fmt::Write as _;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use wif_core::{Error, ErrorKind, Step};

use crate::client::{BigQuery, Call, random_uuid};
use crate::hints::Operation;
use crate::{DEFAULT_TIMEOUT, TableRef};

/// BigQuery's recommended maximum rows per `insertAll` request.
pub const MAX_BATCH_ROWS: usize = 500;
/// BigQuery's maximum HTTP request size for `insertAll`.
pub const MAX_BATCH_BYTES: usize = 10 * 1000 * 1000;
/// Room left in each request for the envelope around the rows.
const ENVELOPE_BYTES: usize = 512;

/// How rows are inserted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InsertOptions {
    skip_invalid_rows: bool,
    ignore_unknown_values: bool,
    template_suffix: Option<String>,
    insert_ids: bool,
    max_batch_rows: usize,
    max_batch_bytes: usize,
}

impl Default for InsertOptions {
    /// Invalid rows fail their whole request, unknown fields are errors, insert ids are
    /// generated, batches of up to 500 rows / 10 MB.
    fn default() -> Self {
        InsertOptions {
            skip_invalid_rows: false,
            ignore_unknown_values: false,
            template_suffix: None,
            insert_ids: true,
            max_batch_rows: MAX_BATCH_ROWS,
            max_batch_bytes: MAX_BATCH_BYTES,
        }
    }
}

impl InsertOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    wif_core::builder_setters! {
        /// `skipInvalidRows`: insert the valid rows of a request that also has invalid ones. Without
        /// it, valid rows of such a request are reported with reason `stopped` and not inserted.
        pub fn skip_invalid_rows(skip: bool) => skip_invalid_rows;

        /// `ignoreUnknownValues`: drop fields the table does not have instead of rejecting the row.
        pub fn ignore_unknown_values(ignore: bool) => ignore_unknown_values;

        /// `templateSuffix`: insert into `{table}{suffix}`, created from the table as a template.
        pub fn template_suffix(suffix: impl Into<String>) => Some(template_suffix);
    }

    /// Sends no `insertId`s. Faster ingestion quotas, but a retried request may duplicate rows.
    pub fn without_insert_ids(mut self) -> Self {
        self.insert_ids = false;
        self
    }

    /// Rows per request, at most [`MAX_BATCH_ROWS`] (and at least 1).
    pub fn max_batch_rows(mut self, rows: usize) -> Self {
        self.max_batch_rows = rows.clamp(1, MAX_BATCH_ROWS);
        self
    }

    /// Bytes per request, at most [`MAX_BATCH_BYTES`].
    pub fn max_batch_bytes(mut self, bytes: usize) -> Self {
        self.max_batch_bytes = bytes.clamp(ENVELOPE_BYTES * 2, MAX_BATCH_BYTES);
        self
    }
}

/// BigQuery's `ErrorProto`: one reason a row or a job failed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct ErrorProto {
    /// `invalid`, `stopped`, `backendError`, …
    pub reason: String,
    /// The field the error is about, when known.
    pub location: String,
    /// The server's words.
    pub message: String,
    /// Debugging information (not for display).
    pub debug_info: String,
}

/// The errors of one row.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RowError {
    /// The row's index in the rows given to [`BigQuery::insert_rows`] (not in its batch).
    pub index: usize,
    /// What BigQuery said about it.
    pub errors: Vec<ErrorProto>,
}

impl RowError {
    /// True when the row was valid but not inserted because another row of its request was
    /// invalid (`skipInvalidRows=false`): resend it.
    pub fn is_stopped(&self) -> bool {
        !self.errors.is_empty() && self.errors.iter().all(|e| e.reason == "stopped")
    }
}

/// What an insert did: rows sent, requests made, and every row BigQuery did not take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InsertReport {
    table: String,
    rows: usize,
    requests: usize,
    row_errors: Vec<RowError>,
}

impl InsertReport {
    /// The number of rows given.
    pub fn total_rows(&self) -> usize {
        self.rows
    }

    /// The number of `insertAll` requests made.
    pub fn requests(&self) -> usize {
        self.requests
    }

    /// Rows BigQuery accepted.
    pub fn inserted_rows(&self) -> usize {
        self.rows - self.row_errors.len()
    }

    /// Every row that was not inserted, by ascending index.
    pub fn row_errors(&self) -> &[RowError] {
        &self.row_errors
    }

    /// True when every row was inserted.
    pub fn is_complete(&self) -> bool {
        self.row_errors.is_empty()
    }

    /// Indexes of rows that were valid but not inserted (reason `stopped`): resend these.
    pub fn stopped_rows(&self) -> impl Iterator<Item = usize> + '_ {
        self.row_errors
            .iter()
            .filter(|e| e.is_stopped())
            .map(|e| e.index)
    }

    /// `Ok(self)` when every row was inserted; otherwise an [`Error`] naming the failed rows
    /// (retryable only when every failed row was merely `stopped`).
    pub fn into_result(self) -> Result<InsertReport, Error> {
        if self.is_complete() {
            return Ok(self);
        }
        let stopped = self.stopped_rows().count();
        let invalid: Vec<&RowError> = self.row_errors.iter().filter(|e| !e.is_stopped()).collect();
        let mut message = format!(
            "tabledata.insertAll {}: {} of {} rows were not inserted",
            self.table,
            self.row_errors.len(),
            self.rows
        );
        const SHOWN: usize = 5;
        for e in invalid.iter().take(SHOWN) {
            let _ = write!(message, "; row {}: {}", e.index, describe(&e.errors));
        }
        if invalid.len() > SHOWN {
            let _ = write!(message, "; and {} more invalid rows", invalid.len() - SHOWN);
        }
        if stopped > 0 {
            let _ = write!(
                message,
                "; {stopped} valid rows were stopped because their request had invalid rows"
            );
        }
        Err(Error::new(Step::Api, ErrorKind::Http, message)
            .retryable(invalid.is_empty())
            .with_hint(
                "rows with reason `invalid` do not match the table's schema: fix them, or use \
                 InsertOptions::skip_invalid_rows(true) to insert the valid rows anyway; rows \
                 with reason `stopped` were valid and can be resent (InsertReport::stopped_rows)",
            ))
    }
}

fn describe(errors: &[ErrorProto]) -> String {
    errors
        .iter()
        .map(|e| {
            let mut s = e.reason.clone();
            if !e.location.is_empty() {
                let _ = write!(s, " at `{}`", e.location);
            }
            if !e.message.is_empty() {
                let _ = write!(s, ": {}", e.message);
            }
            s
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InsertAllResponse {
    #[serde(default)]
    insert_errors: Vec<WireRowError>,
}

#[derive(Deserialize)]
struct WireRowError {
    index: usize,
    #[serde(default)]
    errors: Vec<ErrorProto>,
}

impl BigQuery {
    /// Streams `rows` into `table` with `tabledata.insertAll`.
    ///
    /// Each row must serialize to a JSON object (column name → value; send INT64 and NUMERIC
    /// values as strings to keep their precision). Bad input (a row that is not an object, a row
    /// over 10 MB, an empty table id) is an error before any request. Batches go out one after
    /// the other; a request that fails outright (after retries) ends the insert with an error
    /// saying which rows were already inserted.
    ///
    /// Rows BigQuery rejects are *not* an `Err`: they are in the [`InsertReport`]; use
    /// [`InsertReport::into_result`] to treat them as one.
    pub async fn insert_rows<R: Serialize>(
        &self,
        table: &TableRef,
        rows: impl IntoIterator<Item = R>,
        options: InsertOptions,
    ) -> Result<InsertReport, Error> {
        table.validate()?;
        self.base()?;
        let encoded = encode_rows(rows, &options)?;
        let batches = batches(&encoded, &options);
        let resource = table.resource();
        let url = self.table_url(table, &["insertAll"])?;
        let mut report = InsertReport {
            table: resource.clone(),
            rows: encoded.len(),
            requests: 0,
            row_errors: Vec::new(),
        };
        for (n, range) in batches.iter().enumerate() {
            let body = request_body(&encoded[range.clone()], &options);
            let call = Call {
                method: "tabledata.insertAll",
                operation: Operation::Insert,
                resource: resource.clone(),
                table: Some(&resource),
                rows: range.len() as u64,
                http_method: Method::POST,
                url: url.clone(),
                body: Some(&body),
                timeout: DEFAULT_TIMEOUT,
            };
            let response: InsertAllResponse = self.call(call).await.map_err(|e| {
                if n == 0 {
                    e
                } else {
                    e.context(format!(
                        "batch {} of {} (rows {}..{}); rows 0..{} were sent before",
                        n + 1,
                        batches.len(),
                        range.start,
                        range.end,
                        range.start
                    ))
                }
            })?;
            report.requests += 1;
            for wire in response.insert_errors {
                if wire.index >= range.len() {
                    return Err(Error::invalid_response(
                        Step::Api,
                        format!(
                            "tabledata.insertAll {resource}: insertErrors names row {} of a \
                             request of {} rows",
                            wire.index,
                            range.len()
                        ),
                    ));
                }
                report.row_errors.push(RowError {
                    index: range.start + wire.index,
                    errors: wire.errors,
                });
            }
        }
        report.row_errors.sort_by_key(|e| e.index);
        report.row_errors.dedup_by_key(|e| e.index);
        tracing::debug!(
            table = %resource,
            rows = report.rows,
            requests = report.requests,
            failed = report.row_errors.len(),
            "insert finished"
        );
        Ok(report)
    }
}

/// Each row as its serialized `{"insertId":…,"json":{…}}` entry.
fn encode_rows<R: Serialize>(
    rows: impl IntoIterator<Item = R>,
    options: &InsertOptions,
) -> Result<Vec<Vec<u8>>, Error> {
    let mut out = Vec::new();
    for (index, row) in rows.into_iter().enumerate() {
        let json = serde_json::to_value(&row)
            .map_err(|e| Error::config("rows", format!("row {index} does not serialize: {e}")))?;
        if !json.is_object() {
            return Err(Error::config(
                "rows",
                format!(
                    "row {index} serializes to {}, not to a JSON object of columns",
                    wif_core::json::type_name(&json)
                ),
            ));
        }
        let entry = if options.insert_ids {
            serde_json::json!({ "insertId": random_uuid(), "json": json })
        } else {
            serde_json::json!({ "json": json })
        };
        let bytes = serde_json::to_vec(&entry)
            .map_err(|e| Error::config("rows", format!("row {index} does not serialize: {e}")))?;
        if bytes.len() + ENVELOPE_BYTES > options.max_batch_bytes {
            return Err(Error::config(
                "rows",
                format!(
                    "row {index} is {} bytes as JSON; an insertAll request is limited to {} bytes",
                    bytes.len(),
                    options.max_batch_bytes
                ),
            ));
        }
        out.push(bytes);
    }
    Ok(out)
}

/// Splits rows into consecutive ranges under the row and byte limits.
fn batches(rows: &[Vec<u8>], options: &InsertOptions) -> Vec<std::ops::Range<usize>> {
    let budget = options.max_batch_bytes - ENVELOPE_BYTES;
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, row) in rows.iter().enumerate() {
        let cost = row.len() + 1; // the comma
        if i > start && (i - start >= options.max_batch_rows || bytes + cost > budget) {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += cost;
    }
    if start < rows.len() {
        out.push(start..rows.len());
    }
    out
}

/// The request body, assembled from the pre-serialized rows (no second serialization).
fn request_body(rows: &[Vec<u8>], options: &InsertOptions) -> Vec<u8> {
    let mut head = serde_json::json!({
        "kind": "bigquery#tableDataInsertAllRequest",
        "skipInvalidRows": options.skip_invalid_rows,
        "ignoreUnknownValues": options.ignore_unknown_values,
    });
    if let Some(suffix) = &options.template_suffix {
        head["templateSuffix"] = Value::String(suffix.clone());
    }
    let head = head.to_string();
    let mut body =
        Vec::with_capacity(head.len() + rows.iter().map(|r| r.len() + 1).sum::<usize>() + 16);
    // `{...}` minus its closing brace, then `,"rows":[…]}`.
    body.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
    body.extend_from_slice(br#","rows":["#);
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(row);
    }
    body.extend_from_slice(b"]}");
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_rows_and_bytes() {
        let rows: Vec<Vec<u8>> = (0..1200).map(|_| vec![b'x'; 10]).collect();
        let ranges = batches(&rows, &InsertOptions::default());
        assert_eq!(ranges, vec![0..500, 500..1000, 1000..1200]);

        let rows: Vec<Vec<u8>> = (0..10).map(|_| vec![b'x'; 300]).collect();
        let opts = InsertOptions::default().max_batch_bytes(ENVELOPE_BYTES + 2 * 301);
        let ranges = batches(&rows, &opts);
        assert_eq!(ranges, vec![0..2, 2..4, 4..6, 6..8, 8..10]);
        assert!(batches(&[], &opts).is_empty());
    }

    #[test]
    fn body_is_valid_json_with_every_option() {
        let opts = InsertOptions::default()
            .skip_invalid_rows(true)
            .ignore_unknown_values(true)
            .template_suffix("_2026");
        let rows = encode_rows([serde_json::json!({"a": 1})], &opts).expect("encodes");
        let body: Value = serde_json::from_slice(&request_body(&rows, &opts)).expect("json");
        assert_eq!(body["skipInvalidRows"], true);
        assert_eq!(body["ignoreUnknownValues"], true);
        assert_eq!(body["templateSuffix"], "_2026");
        assert_eq!(body["rows"][0]["json"], serde_json::json!({"a": 1}));
        assert_eq!(body["rows"][0]["insertId"].as_str().map(str::len), Some(36));
    }

    #[test]
    fn rows_must_be_objects() {
        let err = encode_rows(
            [serde_json::json!({"a": 1}), serde_json::json!([1])],
            &InsertOptions::default(),
        )
        .expect_err("array row");
        assert!(err.is_config(), "{err}");
        assert!(
            err.to_string().contains("row 1 serializes to an array"),
            "{err}"
        );
    }

    #[test]
    fn report_into_result() {
        let stopped = ErrorProto {
            reason: "stopped".into(),
            ..ErrorProto::default()
        };
        let invalid = ErrorProto {
            reason: "invalid".into(),
            location: "age".into(),
            message: "Cannot convert value to integer.".into(),
            ..ErrorProto::default()
        };
        let report = InsertReport {
            table: "p:d.t".into(),
            rows: 3,
            requests: 1,
            row_errors: vec![
                RowError {
                    index: 0,
                    errors: vec![stopped.clone()],
                },
                RowError {
                    index: 1,
                    errors: vec![invalid],
                },
                RowError {
                    index: 2,
                    errors: vec![stopped.clone()],
                },
            ],
        };
        assert_eq!(report.inserted_rows(), 0);
        assert_eq!(report.stopped_rows().collect::<Vec<_>>(), [0, 2]);
        let err = report.into_result().expect_err("partial failure");
        let text = err.to_string();
        for part in [
            "3 of 3 rows were not inserted",
            "row 1: invalid at `age`: Cannot convert value to integer.",
            "2 valid rows were stopped",
        ] {
            assert!(text.contains(part), "{part:?} is missing from: {text}");
        }
        assert!(!err.is_retryable());

        let only_stopped = InsertReport {
            table: "p:d.t".into(),
            rows: 1,
            requests: 1,
            row_errors: vec![RowError {
                index: 0,
                errors: vec![stopped],
            }],
        };
        assert!(
            only_stopped
                .into_result()
                .expect_err("stopped")
                .is_retryable()
        );
    }
}
