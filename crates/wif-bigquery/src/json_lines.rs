//! JSON Lines files as rows for streaming inserts: read line by line, in memory that does not
//! grow with the file, and cut into batches that fit one `insertAll` request.
//!
//! [`JsonLines`] hands out one row (one JSON object) at a time with its line number; no line
//! longer than its cap is ever buffered, so an endless line (`/dev/zero`) or a multi-gigabyte
//! file costs no more memory than one row. [`RowBatches`] groups those rows into batches of at
//! most [`MAX_BATCH_ROWS`] rows and [`DEFAULT_BATCH_RAW_BYTES`] bytes of JSON, holding the
//! current batch alone. Rows stay raw JSON text ([`RawValue`]): they are checked to be objects
//! and passed to [`BigQuery::insert_rows`](crate::BigQuery::insert_rows) without being rebuilt.
//!
//! ```
//! use wif_bigquery::json_lines::JsonLines;
//!
//! let file = "{\"id\": 1}\n\n{\"id\": 2}\n{\"id\": 3}\n";
//! let mut batches = JsonLines::new(file.as_bytes(), "rows.jsonl").batches().max_rows(2);
//! let first = batches.next_batch()?.expect("a batch");
//! assert_eq!(first.lines(), [1, 3]); // line 2 is blank
//! assert_eq!(batches.next_batch()?.expect("a batch").lines(), [4]);
//! assert!(batches.next_batch()?.is_none());
//! # Ok::<(), wif_core::Error>(())
//! ```

use std::fmt;
use std::io::{BufRead, Read as _};

pub use serde_json::value::RawValue;
use wif_core::{Error, ErrorKind, Step};

use crate::{MAX_BATCH_BYTES, MAX_BATCH_ROWS};

/// The longest line [`JsonLines`] reads by default: one row can be at most one `insertAll`
/// request.
pub const DEFAULT_MAX_LINE_BYTES: usize = MAX_BATCH_BYTES;
/// Raw JSON bytes per batch by default: room under the 10 MB request for each row's `insertId`
/// envelope.
pub const DEFAULT_BATCH_RAW_BYTES: usize = 8 * 1000 * 1000;

/// The rows of a JSON Lines text, one at a time, with their line numbers (from 1).
///
/// Blank lines are skipped. A line that is not UTF-8, not one JSON object, or longer than the
/// cap is an error naming the file and the line (never quoting it); the line is read no further
/// than one byte past the cap.
pub struct JsonLines<R> {
    reader: R,
    name: String,
    max_line: usize,
    line: usize,
    buf: Vec<u8>,
}

/// The file's name and position; not the line being read.
impl<R> fmt::Debug for JsonLines<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLines")
            .field("name", &self.name)
            .field("max_line", &self.max_line)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

impl<R: BufRead> JsonLines<R> {
    /// The rows of `reader`; `name` (a path, as shown to the user) names it in errors.
    pub fn new(reader: R, name: impl Into<String>) -> Self {
        JsonLines {
            reader,
            name: name.into(),
            max_line: DEFAULT_MAX_LINE_BYTES,
            line: 0,
            buf: Vec::new(),
        }
    }

    /// Lines longer than `bytes` (without the newline) are refused (default
    /// [`DEFAULT_MAX_LINE_BYTES`]).
    pub fn max_line_bytes(mut self, bytes: usize) -> Self {
        self.max_line = bytes;
        self
    }

    /// The next row and its line number, `Ok(None)` at the end.
    pub fn next_row(&mut self) -> Result<Option<(usize, Box<RawValue>)>, Error> {
        loop {
            self.buf.clear();
            // One byte past the cap: room for the newline of a line at the cap, and what tells
            // a longer line from it, without ever buffering more.
            let limit = u64::try_from(self.max_line)
                .unwrap_or(u64::MAX)
                .saturating_add(1);
            let read = (&mut self.reader)
                .take(limit)
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| {
                    Error::new(
                        Step::Config,
                        ErrorKind::Io,
                        format!("could not read the rows file {}", self.name),
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
                return Err(self.invalid(format!(
                    "line {n} is longer than {} bytes, the most one row can be",
                    self.max_line
                )));
            }
            let Ok(text) = std::str::from_utf8(content) else {
                return Err(self.invalid(format!("line {n} is not UTF-8")));
            };
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            // serde_json's messages give a category and a position, never the text.
            let row: Box<RawValue> = serde_json::from_str(text)
                .map_err(|e| self.invalid(format!("line {n} is not JSON ({e})")))?;
            if !row.get().starts_with('{') {
                return Err(self.invalid(format!("line {n} is not a JSON object")));
            }
            return Ok(Some((n, row)));
        }
    }

    /// Reads to the end, checking every line: the number of rows, or the first bad line.
    pub fn check_all(mut self) -> Result<usize, Error> {
        let mut rows = 0;
        while self.next_row()?.is_some() {
            rows += 1;
        }
        Ok(rows)
    }

    /// These rows in batches, of at most [`MAX_BATCH_ROWS`] rows and
    /// [`DEFAULT_BATCH_RAW_BYTES`] bytes unless set otherwise.
    pub fn batches(self) -> RowBatches<R> {
        RowBatches {
            rows: self,
            pending: None,
            max_rows: MAX_BATCH_ROWS,
            max_bytes: DEFAULT_BATCH_RAW_BYTES,
        }
    }

    fn invalid(&self, problem: String) -> Error {
        Error::config("rows", format!("{} {problem}", self.name))
    }
}

/// Rows of a [`JsonLines`] grouped into batches for one `insertAll` request each.
#[derive(Debug)]
pub struct RowBatches<R> {
    rows: JsonLines<R>,
    /// The row read that did not fit the last batch: the first of the next.
    pending: Option<(usize, Box<RawValue>)>,
    max_rows: usize,
    max_bytes: usize,
}

impl<R: BufRead> RowBatches<R> {
    /// At most `rows` rows per batch (1 to [`MAX_BATCH_ROWS`]).
    pub fn max_rows(mut self, rows: usize) -> Self {
        self.max_rows = rows.clamp(1, MAX_BATCH_ROWS);
        self
    }

    /// At most `bytes` bytes of row JSON per batch; a row larger than that alone is a batch of
    /// its own.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// The next batch, `Ok(None)` at the end. Rows are read only as far as this batch needs (and
    /// one row more when the bytes run out).
    pub fn next_batch(&mut self) -> Result<Option<RowBatch>, Error> {
        let mut batch = RowBatch::default();
        let mut bytes = 0usize;
        while batch.rows.len() < self.max_rows {
            let next = match self.pending.take() {
                Some(row) => row,
                None => match self.rows.next_row()? {
                    Some(row) => row,
                    None => break,
                },
            };
            let len = next.1.get().len();
            if !batch.rows.is_empty() && bytes.saturating_add(len) > self.max_bytes {
                self.pending = Some(next);
                break;
            }
            bytes = bytes.saturating_add(len);
            batch.lines.push(next.0);
            batch.rows.push(next.1);
        }
        Ok((!batch.rows.is_empty()).then_some(batch))
    }
}

/// One batch of rows and the line each came from.
#[derive(Debug, Default)]
pub struct RowBatch {
    rows: Vec<Box<RawValue>>,
    lines: Vec<usize>,
}

impl RowBatch {
    /// The rows, as raw JSON objects, in file order.
    pub fn rows(&self) -> &[Box<RawValue>] {
        &self.rows
    }

    /// The line number of each row.
    pub fn lines(&self) -> &[usize] {
        &self.lines
    }

    /// How many rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when the batch holds no row (never for a batch [`RowBatches`] hands out).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Bytes of row JSON.
    pub fn raw_bytes(&self) -> usize {
        self.rows.iter().map(|r| r.get().len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::io::BufReader;

    use super::*;

    #[test]
    fn lines_are_read_up_to_the_cap() {
        // Exactly at the cap, with or without the final newline: accepted.
        for text in ["{\"a\":\"12345\"}\n", "{\"a\":\"12345\"}"] {
            let mut rows = JsonLines::new(text.as_bytes(), "rows.jsonl").max_line_bytes(13);
            assert_eq!(rows.next_row().expect(text).map(|(n, _)| n), Some(1));
            assert!(rows.next_row().expect("end").is_none());
        }
        // One byte more: refused, naming the line, without reading the rest of it.
        let mut rows =
            JsonLines::new(&b"{}\n\n{\"a\":\"123456\"}\n"[..], "rows.jsonl").max_line_bytes(13);
        assert!(rows.next_row().expect("line 1").is_some());
        let err = rows.next_row().expect_err("line 3 is too long");
        assert!(
            err.to_string()
                .contains("rows.jsonl line 3 is longer than 13 bytes"),
            "{err}"
        );
        // A line without end (like /dev/zero's) stops at the cap.
        let endless = BufReader::new(std::io::repeat(b'0'));
        let mut rows = JsonLines::new(endless, "rows.jsonl").max_line_bytes(1024);
        assert!(rows.next_row().expect_err("no newline").is_config());
    }

    #[test]
    fn lines_must_be_utf8_json_objects() {
        for (text, want) in [
            (&b"[1]\n"[..], "line 1 is not a JSON object"),
            (b"\n \n\"s\"\n", "line 3 is not a JSON object"),
            (b"{\"a\": \xff}\n", "line 1 is not UTF-8"),
            (b"{\"a\": 1} trailing\n", "line 1 is not JSON"),
        ] {
            let err = JsonLines::new(text, "f")
                .max_line_bytes(100)
                .check_all()
                .expect_err(want);
            assert!(
                err.is_config() && err.to_string().contains(want),
                "{want}: {err}"
            );
        }
        let rows = JsonLines::new(&b"{}\r\n  \n{\"a\": [1]}"[..], "f").check_all();
        assert_eq!(rows.expect("two rows"), 2);
    }

    /// Errors say where and what, never the line: a row can hold anything.
    #[test]
    fn errors_do_not_quote_the_line() {
        for text in [
            "{\"secret-value\" 1}",
            "{\"k\": \"secret-value\"",
            "\"secret-value\"",
        ] {
            let err = JsonLines::new(text.as_bytes(), "f")
                .check_all()
                .expect_err(text);
            assert!(!format!("{err} {err:?}").contains("secret-value"), "{err}");
        }
    }

    fn batch_lines(text: &str, rows: usize, bytes: usize) -> Vec<Vec<usize>> {
        let mut batches = JsonLines::new(text.as_bytes(), "f")
            .batches()
            .max_rows(rows)
            .max_bytes(bytes);
        let mut out = Vec::new();
        while let Some(batch) = batches.next_batch().expect("valid rows") {
            assert!(batch.len() <= rows && !batch.is_empty());
            assert!(batch.len() == 1 || batch.raw_bytes() <= bytes, "{batch:?}");
            out.push(batch.lines().to_vec());
        }
        out
    }

    #[test]
    fn batches_end_at_the_row_or_byte_limit() {
        // Rows of 8 bytes (`{"i":1}` is 7; 8 with two digits).
        let text: String = (10..17).map(|i| format!("{{\"i\":{i}}}\n")).collect();
        assert_eq!(
            batch_lines(&text, 3, 1000),
            [vec![1, 2, 3], vec![4, 5, 6], vec![7]]
        );
        assert_eq!(
            batch_lines(&text, 500, 17),
            [vec![1, 2], vec![3, 4], vec![5, 6], vec![7]]
        );
        // A row bigger than the budget goes alone; the rows around it are not held back.
        let big = format!("{{}}\n{{\"pad\":\"{}\"}}\n{{}}\n", "x".repeat(40));
        assert_eq!(batch_lines(&big, 500, 16), [vec![1], vec![2], vec![3]]);
        assert!(batch_lines("\n\n", 3, 10).is_empty());
    }

    /// A bad line ends the batches with its error, after the batches before it.
    #[test]
    fn a_bad_line_is_an_error_at_its_batch() {
        let mut batches = JsonLines::new(&b"{}\n{}\n[]\n"[..], "f")
            .batches()
            .max_rows(2);
        assert_eq!(batches.next_batch().expect("first").expect("rows").len(), 2);
        let err = batches.next_batch().expect_err("line 3");
        assert!(
            err.to_string().contains("f line 3 is not a JSON object"),
            "{err}"
        );
    }
}
