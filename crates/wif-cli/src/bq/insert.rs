//! `wif bq insert TABLE ROWS.jsonl`: a JSON Lines file streamed into a table in batches, in
//! memory that does not grow with the file.
//!
//! The file is read twice, line by line. The first pass checks every line (one JSON object,
//! at most [`MAX_LINE_BYTES`]) so that a typo on the last line fails the command before any row
//! is sent — `insertAll` has no transaction, and half a file inserted is hard to undo. The
//! second pass sends the rows in batches of at most 500 rows and about 8 MB (under BigQuery's
//! 10 MB request limit), one `insertAll` request each. Only the current batch is held, as raw
//! JSON text; rejected rows are counted, and the first few are kept to be named by their line.

use std::io::BufRead;
use std::path::Path;

use serde_json::value::RawValue;
use wif::{Error, ErrorKind, Step};
use wif_bigquery::{BigQuery, InsertOptions, TableRef};

/// The longest line read: one row can be at most one `insertAll` request.
pub(crate) const MAX_LINE_BYTES: usize = wif_bigquery::MAX_BATCH_BYTES;
/// Rows per batch.
const BATCH_ROWS: usize = wif_bigquery::MAX_BATCH_ROWS;
/// Raw JSON bytes per batch: room under the 10 MB request for each row's `insertId` envelope.
const BATCH_BYTES: usize = 8 * 1000 * 1000;
/// Rejected lines named in the error; the rest are counted.
const SHOWN: usize = 10;

/// The rows of a JSON Lines file, one at a time, with their line numbers. Blank lines are
/// skipped; a line that is not a JSON object, not UTF-8 or longer than the cap is an error
/// naming the file and the line.
pub(crate) struct JsonLines<R> {
    reader: R,
    shown: String,
    max_line: usize,
    line: usize,
    buf: Vec<u8>,
}

impl<R: BufRead> JsonLines<R> {
    pub(crate) fn new(reader: R, shown: String, max_line: usize) -> Self {
        JsonLines {
            reader,
            shown,
            max_line,
            line: 0,
            buf: Vec::new(),
        }
    }

    /// The next row and its line number, `Ok(None)` at the end.
    pub(crate) fn next_row(&mut self) -> Result<Option<(usize, Box<RawValue>)>, Error> {
        loop {
            self.buf.clear();
            // One byte past the cap: room for the newline of a line at the cap, and what tells
            // a longer line from it, without ever buffering more.
            let read = std::io::Read::take(&mut self.reader, self.max_line as u64 + 1)
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| {
                    Error::new(
                        Step::Config,
                        ErrorKind::Io,
                        format!("could not read the rows file {}", self.shown),
                    )
                    .with_source(e)
                })?;
            if read == 0 {
                return Ok(None);
            }
            self.line += 1;
            let n = self.line;
            let content = self.buf.strip_suffix(b"\n").unwrap_or(&self.buf);
            if content.len() > self.max_line {
                return Err(Error::config(
                    "rows",
                    format!(
                        "{} line {n} is longer than {} bytes, the most one row can be",
                        self.shown, self.max_line
                    ),
                ));
            }
            let text = std::str::from_utf8(content).map_err(|_| {
                Error::config("rows", format!("{} line {n} is not UTF-8", self.shown))
            })?;
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let row: Box<RawValue> = serde_json::from_str(text).map_err(|e| {
                Error::config("rows", format!("{} line {n} is not JSON ({e})", self.shown))
            })?;
            if !row.get().starts_with('{') {
                return Err(Error::config(
                    "rows",
                    format!("{} line {n} is not a JSON object", self.shown),
                ));
            }
            return Ok(Some((n, row)));
        }
    }
}

/// What an insert did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Inserted {
    pub(crate) rows: usize,
    pub(crate) requests: usize,
}

/// Rejected rows, across batches.
#[derive(Default)]
struct Rejected {
    /// Rows BigQuery did not insert.
    count: usize,
    /// Rows valid but not inserted because their request had invalid rows.
    stopped: usize,
    /// Invalid rows.
    invalid: usize,
    /// The first [`SHOWN`] invalid rows: line number and BigQuery's words.
    shown: Vec<(usize, String)>,
}

/// Checks every line of the rows file, then streams it into `table` (see the module docs).
/// `open` opens the file afresh for each pass.
pub(crate) async fn insert_file<R: BufRead>(
    bq: &BigQuery,
    table: &TableRef,
    shown: &str,
    open: impl Fn() -> Result<R, Error>,
) -> Result<Inserted, Error> {
    let mut check = JsonLines::new(open()?, shown.to_owned(), MAX_LINE_BYTES);
    while check.next_row()?.is_some() {}

    let mut rows = JsonLines::new(open()?, shown.to_owned(), MAX_LINE_BYTES);
    let mut done = Inserted::default();
    let mut rejected = Rejected::default();
    let mut batch: Vec<Box<RawValue>> = Vec::new();
    let mut lines: Vec<usize> = Vec::new();
    let mut bytes = 0usize;
    loop {
        let next = rows.next_row()?;
        let full = batch.len() >= BATCH_ROWS
            || next
                .as_ref()
                .is_some_and(|(_, row)| !batch.is_empty() && bytes + row.get().len() > BATCH_BYTES);
        if full || (next.is_none() && !batch.is_empty()) {
            send(bq, table, &mut batch, &lines, &mut done, &mut rejected).await?;
            lines.clear();
            bytes = 0;
        }
        let Some((line, row)) = next else { break };
        bytes += row.get().len();
        lines.push(line);
        batch.push(row);
    }
    if rejected.count > 0 {
        return Err(failure(table, &done, &rejected));
    }
    Ok(done)
}

/// Sends one batch (emptying it) and tallies BigQuery's answer.
async fn send(
    bq: &BigQuery,
    table: &TableRef,
    batch: &mut Vec<Box<RawValue>>,
    lines: &[usize],
    done: &mut Inserted,
    rejected: &mut Rejected,
) -> Result<(), Error> {
    let first = lines.first().copied().unwrap_or(0);
    let report = bq
        .insert_rows(table, batch.iter(), InsertOptions::default())
        .await
        .map_err(|e| {
            if done.rows == 0 {
                e
            } else {
                e.context(format!(
                    "rows from line {first} on; the {} rows before were sent ({} not inserted)",
                    done.rows, rejected.count
                ))
            }
        })?;
    batch.clear();
    done.rows += report.total_rows();
    done.requests += report.requests();
    for e in report.row_errors() {
        rejected.count += 1;
        if e.is_stopped() {
            rejected.stopped += 1;
            continue;
        }
        rejected.invalid += 1;
        if rejected.shown.len() < SHOWN {
            let why: Vec<String> = e
                .errors
                .iter()
                .map(|p| {
                    if p.location.is_empty() {
                        format!("{}: {}", p.reason, p.message)
                    } else {
                        format!("{} at `{}`: {}", p.reason, p.location, p.message)
                    }
                })
                .collect();
            let line = lines.get(e.index).copied().unwrap_or(0);
            rejected.shown.push((line, why.join(", ")));
        }
    }
    Ok(())
}

/// A partial failure, with the rejected rows named by their line in the file. One line of
/// text, like every error `wif` prints (see `crate::terminal`): the parts are separated by `; `.
fn failure(table: &TableRef, done: &Inserted, rejected: &Rejected) -> Error {
    let mut parts: Vec<String> = rejected
        .shown
        .iter()
        .map(|(line, why)| format!("line {line}: {why}"))
        .collect();
    if rejected.invalid > rejected.shown.len() {
        parts.push(format!(
            "… and {} more rejected lines",
            rejected.invalid - rejected.shown.len()
        ));
    }
    if rejected.stopped > 0 {
        parts.push(format!(
            "{} valid rows were not inserted because their request had invalid rows",
            rejected.stopped
        ));
    }
    let message = format!(
        "{} of {} rows were not inserted into {table}: {}",
        rejected.count,
        done.rows,
        parts.join("; ")
    );
    Error::new(Step::Api, ErrorKind::Http, message)
        .retryable(rejected.invalid == 0)
        .with_hint("fix the rejected lines to match the table's schema and run the insert again")
}

/// Opens the rows file for one pass: a regular file (a FIFO or a device is refused before
/// anything is read), buffered.
pub(crate) fn open_rows_file(path: &Path) -> Result<std::io::BufReader<std::fs::File>, Error> {
    wif::layers::core::local_file::open_regular(path, "rows file")
        .map(std::io::BufReader::new)
        .map_err(|e| e.into_error(Step::Config))
}

#[cfg(test)]
#[path = "insert_tests.rs"]
mod tests;
