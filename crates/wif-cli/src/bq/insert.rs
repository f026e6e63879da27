//! `wif bq insert TABLE ROWS.jsonl`: a JSON Lines file streamed into a table in batches, in
//! memory that does not grow with the file.
//!
//! The file is read twice, line by line, by [`JsonLines`]. The first pass checks every line
//! (one JSON object, at most one request's size) so that a typo on the last line fails the command before any row
//! is sent — `insertAll` has no transaction, and half a file inserted is hard to undo. The
//! second pass sends the rows in [`RowBatches`] of at most 500 rows and about 8 MB (under
//! BigQuery's 10 MB request limit), one `insertAll` request each. Only the current batch is held, as raw
//! JSON text; rejected rows are counted, and the first few are kept to be named by their line.

use std::io::BufRead;
use std::path::Path;

use wif::{Error, ErrorKind, Step};
#[cfg(doc)]
use wif_bigquery::json_lines::RowBatches;
use wif_bigquery::json_lines::{JsonLines, RowBatch};
use wif_bigquery::{BigQuery, InsertOptions, TableRef};

/// Rejected lines named in the error; the rest are counted.
const SHOWN: usize = 10;

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
    JsonLines::new(open()?, shown).check_all()?;

    let mut batches = JsonLines::new(open()?, shown).batches();
    let mut done = Inserted::default();
    let mut rejected = Rejected::default();
    while let Some(batch) = batches.next_batch()? {
        send(bq, table, &batch, &mut done, &mut rejected).await?;
    }
    if rejected.count > 0 {
        return Err(failure(table, &done, &rejected));
    }
    Ok(done)
}

/// Sends one batch and tallies BigQuery's answer.
async fn send(
    bq: &BigQuery,
    table: &TableRef,
    batch: &RowBatch,
    done: &mut Inserted,
    rejected: &mut Rejected,
) -> Result<(), Error> {
    let lines = batch.lines();
    let first = lines.first().copied().unwrap_or(0);
    let report = bq
        .insert_rows(table, batch.rows(), InsertOptions::default())
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
