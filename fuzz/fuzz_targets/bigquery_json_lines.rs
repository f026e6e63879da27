//! `wif bq insert`'s rows file: JSON Lines read by `wif_bigquery::json_lines` one row at a time
//! and cut into `insertAll` batches. Input: three bytes setting the line cap, rows and bytes per
//! batch (small, so that random input reaches every limit), then the file.
//!
//! Beyond "no panic": every row is one JSON object within the line cap, on a line the file has;
//! batches keep their limits (a row over the byte budget goes alone) and hand out exactly the
//! rows, in order, that reading row by row gives; an error is short (it never quotes the line).

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

use serde_json::value::RawValue;
use wif_bigquery::json_lines::JsonLines;

const NAME: &str = "rows.jsonl";

fuzz_target!(|data: &[u8]| {
    let [line_cap, rows, bytes, file @ ..] = data else {
        return;
    };
    let max_line = 8 + usize::from(*line_cap) * 2;
    let max_rows = 1 + usize::from(*rows % 8);
    let max_bytes = 4 + usize::from(*bytes);
    let lines_in_file = file.iter().filter(|&&b| b == b'\n').count() + 1;

    // Row by row.
    let mut reader = JsonLines::new(file, NAME).max_line_bytes(max_line);
    let mut one_by_one = Vec::new();
    let end = loop {
        match reader.next_row() {
            Ok(Some((line, row))) => {
                let text = row.get();
                assert!(text.len() <= max_line, "a row over the cap");
                // Syntax, not values: a number beyond f64 (`1e6666`) is still JSON, and BigQuery,
                // not the reader, judges it.
                assert!(
                    serde_json::from_str::<BTreeMap<String, Box<RawValue>>>(text).is_ok(),
                    "not a JSON object: {text:?}"
                );
                assert!(line <= lines_in_file, "line {line} of {lines_in_file}");
                if let Some((last, _)) = one_by_one.last() {
                    assert!(line > *last, "line {line} after {last}");
                }
                one_by_one.push((line, text.to_owned()));
            }
            Ok(None) => break None,
            Err(e) => {
                let shown = e.to_string();
                assert!(shown.len() <= 300, "{} bytes: {shown}", shown.len());
                break Some(shown);
            }
        }
    };

    // In batches: the same rows, the same end.
    let mut batches = JsonLines::new(file, NAME)
        .max_line_bytes(max_line)
        .batches()
        .max_rows(max_rows)
        .max_bytes(max_bytes);
    let mut batched = Vec::new();
    let batch_end = loop {
        match batches.next_batch() {
            Ok(Some(batch)) => {
                assert!(!batch.is_empty() && batch.len() <= max_rows);
                assert!(batch.len() == 1 || batch.raw_bytes() <= max_bytes);
                assert_eq!(batch.lines().len(), batch.rows().len());
                for (line, row) in batch.lines().iter().zip(batch.rows()) {
                    batched.push((*line, row.get().to_owned()));
                }
            }
            Ok(None) => break None,
            Err(e) => break Some(e.to_string()),
        }
    };
    assert_eq!(end, batch_end, "row by row and in batches end differently");
    // A batch ended by an error is not handed out, so it may hold fewer rows.
    if end.is_none() {
        assert_eq!(one_by_one, batched);
    } else {
        assert!(one_by_one.starts_with(&batched));
    }
});
