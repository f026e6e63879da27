//! BigQuery query results: `{"schema": TableSchema, "rows": [TableRow]}` decoded by the schema
//! (the `f`/`v` encoding, nested RECORDs, REPEATED fields, every scalar type). Rows are decoded by
//! the input's schema when it has a valid one, and always by a fixed schema of every type.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use wif_bigquery::schema::{Field, Schema, decode_row};

fn every_type() -> Schema {
    Schema::new([
        Field::new("s", "STRING"),
        Field::new("i", "INT64"),
        Field::new("f", "FLOAT"),
        Field::new("b", "BOOL"),
        Field::new("t", "TIMESTAMP"),
        Field::new("j", "JSON"),
        Field::new("n", "NUMERIC"),
        Field::new("tags", "STRING").repeated(),
        Field::record(
            "r",
            [Field::new("x", "INTEGER"), Field::new("y", "TIMESTAMP")],
        )
        .repeated(),
    ])
}

fuzz_target!(|data: &[u8]| {
    let Ok(response) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let rows = match response.get("rows") {
        Some(Value::Array(rows)) => rows.clone(),
        _ => vec![response.clone()],
    };
    let fixed = every_type();
    let given = response
        .get("schema")
        .and_then(|s| serde_json::from_value::<Schema>(s.clone()).ok());
    for row in &rows {
        for schema in [Some(&fixed), given.as_ref()].into_iter().flatten() {
            if let Ok(Value::Object(decoded)) = decode_row(schema, row) {
                assert_eq!(decoded.len(), schema.fields.len().min(decoded.len()));
            }
        }
    }
});
