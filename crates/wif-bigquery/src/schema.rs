//! Table schemas and the `f`/`v` row encoding of query results (BigQuery v2 `TableSchema`,
//! `TableRow`; `docs/protocol.md#bigquery-and-cloud-storage`).
//!
//! On the wire every row is `{"f":[cell,…]}` in schema order and every cell `{"v": value}`, where
//! scalars are JSON *strings* (`"42"`, `"true"`, `"1.5"`), `NULL` is `null`, a REPEATED field is an
//! array of cells and a RECORD is a nested `{"f":[…]}`. [`decode_row`] turns such a row into a
//! `serde_json::Value` object keyed by column name, typed by the schema:
//!
//! | BigQuery type | decoded as |
//! |---|---|
//! | `INTEGER`/`INT64` | JSON number (i64) |
//! | `FLOAT`/`FLOAT64` | JSON number; `"NaN"`, `"Infinity"`, `"-Infinity"` stay strings |
//! | `BOOLEAN`/`BOOL` | JSON bool |
//! | `TIMESTAMP` | RFC 3339 string in UTC with microseconds (`2026-01-01T12:00:00.000000Z`) |
//! | `JSON` | the parsed JSON value |
//! | `RECORD`/`STRUCT` | object keyed by sub-field name |
//! | REPEATED mode | array (a `null` repeated cell decodes as `[]`) |
//! | everything else (`STRING`, `NUMERIC`, `BIGNUMERIC`, `BYTES` (base64), `DATE`, `TIME`, `DATETIME`, `GEOGRAPHY`, …) | string, as sent |
//!
//! `NUMERIC` stays a string on purpose: it has 38 digits of precision, an `f64` has ~16.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A table's or a query result's schema: its top-level fields, in column order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Schema {
    /// The columns.
    #[serde(default)]
    pub fields: Vec<Field>,
}

impl Schema {
    /// A schema of `fields`.
    pub fn new(fields: impl IntoIterator<Item = Field>) -> Self {
        Schema {
            fields: fields.into_iter().collect(),
        }
    }

    /// The top-level column names, in order.
    pub fn column_names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| f.name.as_str())
    }
}

/// One column (or sub-field of a RECORD) of a schema.
///
/// Unknown properties of the API's `TableFieldSchema` (description, policy tags, precision, …)
/// are ignored when reading.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Field {
    /// The column name.
    pub name: String,
    /// The type, in the API's spelling: legacy (`INTEGER`, `FLOAT`, `BOOLEAN`, `RECORD`) or
    /// standard (`INT64`, `FLOAT64`, `BOOL`, `STRUCT`); both are understood.
    #[serde(rename = "type")]
    pub field_type: String,
    /// `NULLABLE` (the default when absent), `REQUIRED` or `REPEATED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Sub-fields of a RECORD.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
}

impl Field {
    /// A NULLABLE field of `field_type`.
    pub fn new(name: impl Into<String>, field_type: impl Into<String>) -> Self {
        Field {
            name: name.into(),
            field_type: field_type.into(),
            mode: None,
            fields: Vec::new(),
        }
    }

    /// A NULLABLE RECORD with `fields`.
    pub fn record(name: impl Into<String>, fields: impl IntoIterator<Item = Field>) -> Self {
        Field {
            fields: fields.into_iter().collect(),
            ..Field::new(name, "RECORD")
        }
    }

    /// Sets the mode (`NULLABLE`, `REQUIRED`, `REPEATED`).
    pub fn with_mode(mut self, mode: impl Into<String>) -> Self {
        self.mode = Some(mode.into());
        self
    }

    /// Marks the field REPEATED.
    pub fn repeated(self) -> Self {
        self.with_mode("REPEATED")
    }

    /// Marks the field REQUIRED.
    pub fn required(self) -> Self {
        self.with_mode("REQUIRED")
    }

    /// True for REPEATED fields.
    pub fn is_repeated(&self) -> bool {
        self.mode
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case("REPEATED"))
    }

    fn kind(&self) -> Kind {
        Kind::of(&self.field_type)
    }
}

/// The decoding families of BigQuery types (legacy and standard names folded together).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Int,
    Float,
    Bool,
    Timestamp,
    Json,
    Record,
    Text,
}

impl Kind {
    fn of(type_name: &str) -> Kind {
        match type_name.to_ascii_uppercase().as_str() {
            "INTEGER" | "INT64" => Kind::Int,
            "FLOAT" | "FLOAT64" => Kind::Float,
            "BOOLEAN" | "BOOL" => Kind::Bool,
            "TIMESTAMP" => Kind::Timestamp,
            "JSON" => Kind::Json,
            "RECORD" | "STRUCT" => Kind::Record,
            _ => Kind::Text,
        }
    }
}

/// Decodes one `{"f":[…]}` row into an object keyed by column name.
///
/// The error names the column path and what was expected (never the cell's value).
pub fn decode_row(schema: &Schema, row: &Value) -> Result<Value, String> {
    decode_fields(&schema.fields, row, "").map(Value::Object)
}

fn decode_fields(
    fields: &[Field],
    row: &Value,
    parent: &str,
) -> Result<Map<String, Value>, String> {
    let cells = row
        .get("f")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{}expected a row object {{\"f\": [...]}}", at(parent)))?;
    if cells.len() != fields.len() {
        return Err(format!(
            "{}the row has {} cells but the schema has {} fields",
            at(parent),
            cells.len(),
            fields.len()
        ));
    }
    let mut out = Map::with_capacity(fields.len());
    for (field, cell) in fields.iter().zip(cells) {
        let path = if parent.is_empty() {
            field.name.clone()
        } else {
            format!("{parent}.{}", field.name)
        };
        let v = cell
            .get("v")
            .ok_or_else(|| format!("column `{path}`: expected a cell object {{\"v\": ...}}"))?;
        out.insert(field.name.clone(), decode_cell(field, v, &path)?);
    }
    Ok(out)
}

fn at(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("column `{path}`: ")
    }
}

fn decode_cell(field: &Field, v: &Value, path: &str) -> Result<Value, String> {
    if !field.is_repeated() {
        return decode_value(field, v, path);
    }
    match v {
        // BigQuery sends `[]` for an empty array; some servers send null. Both mean "no elements".
        Value::Null => Ok(Value::Array(Vec::new())),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let item_path = format!("{path}[{i}]");
                let inner = item.get("v").ok_or_else(|| {
                    format!("column `{item_path}`: expected an element object {{\"v\": ...}}")
                })?;
                decode_value(field, inner, &item_path)
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        _ => Err(format!(
            "column `{path}`: a REPEATED field must be an array"
        )),
    }
}

fn decode_value(field: &Field, v: &Value, path: &str) -> Result<Value, String> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let kind = field.kind();
    if kind == Kind::Record {
        return decode_fields(&field.fields, v, path).map(Value::Object);
    }
    let expected = |what: &str| {
        format!(
            "column `{path}`: expected {what} for type {}",
            field.field_type
        )
    };
    // Scalars are strings on the wire; a few servers send native JSON values, accept those too.
    let text = match v {
        Value::String(s) => s.as_str(),
        Value::Number(_) if matches!(kind, Kind::Int | Kind::Float) => return Ok(v.clone()),
        Value::Bool(_) if kind == Kind::Bool => return Ok(v.clone()),
        _ => return Err(expected("a string")),
    };
    match kind {
        Kind::Int => text
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| expected("a 64-bit integer")),
        Kind::Float => {
            let f: f64 = text.trim().parse().map_err(|_| expected("a number"))?;
            // JSON has no NaN or infinities: keep BigQuery's spelling rather than lose the value.
            Ok(serde_json::Number::from_f64(f)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(text.to_owned())))
        }
        Kind::Bool => match text.to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(expected("`true` or `false`")),
        },
        Kind::Timestamp => timestamp_micros(text)
            .and_then(format_timestamp)
            .map(Value::String)
            .ok_or_else(|| expected("microseconds or seconds since the epoch")),
        Kind::Json => {
            Ok(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned())))
        }
        Kind::Record | Kind::Text => Ok(Value::String(text.to_owned())),
    }
}

/// Reads a TIMESTAMP cell: int64 microseconds (what `formatOptions.useInt64Timestamp=true`
/// asks for) or, from servers that ignore that option, float seconds such as `"1.7E9"`.
fn timestamp_micros(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(micros) = text.parse::<i64>() {
        return Some(micros);
    }
    let secs: f64 = text.parse().ok()?;
    let micros = (secs * 1_000_000.0).round();
    // The f64 -> i64 cast saturates; refuse values outside the representable range instead.
    (micros.is_finite() && micros.abs() < 9.0e18).then_some(micros as i64)
}

/// Formats epoch microseconds as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub(crate) fn format_timestamp(micros: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000).ok()?;
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    t.format(&format).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Schema {
        Schema::new([
            Field::new("name", "STRING"),
            Field::new("n", "INTEGER"),
            Field::new("big", "INT64"),
            Field::new("score", "FLOAT"),
            Field::new("ok", "BOOLEAN"),
            Field::new("at", "TIMESTAMP"),
            Field::new("tags", "STRING").repeated(),
            Field::record(
                "addr",
                [Field::new("city", "STRING"), Field::new("zip", "INT64")],
            ),
            Field::record(
                "hist",
                [Field::new("k", "STRING"), Field::new("v", "FLOAT64")],
            )
            .repeated(),
            Field::new("price", "NUMERIC"),
            Field::new("doc", "JSON"),
        ])
    }

    #[test]
    fn decodes_every_kind_by_schema() {
        let row = json!({"f": [
            {"v": "alice"},
            {"v": "42"},
            {"v": "9007199254740993"},
            {"v": "1.5"},
            {"v": "true"},
            {"v": "1767268800123456"},
            {"v": [{"v": "a"}, {"v": "b"}]},
            {"v": {"f": [{"v": "Paris"}, {"v": "75001"}]}},
            {"v": [{"v": {"f": [{"v": "x"}, {"v": "0.25"}]}}]},
            {"v": "123456789012345678901234567890.123456789"},
            {"v": "{\"a\":[1,2]}"}
        ]});
        let got = decode_row(&schema(), &row).expect("decodes");
        assert_eq!(
            got,
            json!({
                "name": "alice",
                "n": 42,
                "big": 9007199254740993_i64,
                "score": 1.5,
                "ok": true,
                "at": "2026-01-01T12:00:00.123456Z",
                "tags": ["a", "b"],
                "addr": {"city": "Paris", "zip": 75001},
                "hist": [{"k": "x", "v": 0.25}],
                "price": "123456789012345678901234567890.123456789",
                "doc": {"a": [1, 2]},
            })
        );
    }

    #[test]
    fn nulls_and_empty_repeated_fields() {
        let row = json!({"f": [
            {"v": null}, {"v": null}, {"v": null}, {"v": null}, {"v": null}, {"v": null},
            {"v": []}, {"v": null}, {"v": null}, {"v": null}, {"v": null}
        ]});
        let got = decode_row(&schema(), &row).expect("decodes");
        assert_eq!(got["name"], Value::Null);
        assert_eq!(got["n"], Value::Null);
        assert_eq!(got["addr"], Value::Null, "a NULL record");
        assert_eq!(got["tags"], json!([]), "an empty array");
        assert_eq!(
            got["hist"],
            json!([]),
            "a null REPEATED cell is an empty array"
        );
    }

    #[test]
    fn scalar_table() {
        // (type, wire value, decoded)
        let table: &[(&str, Value, Value)] = &[
            ("INT64", json!("-7"), json!(-7)),
            ("INTEGER", json!("9223372036854775807"), json!(i64::MAX)),
            ("FLOAT64", json!("NaN"), json!("NaN")),
            ("FLOAT", json!("-Infinity"), json!("-Infinity")),
            ("FLOAT", json!("1e3"), json!(1000.0)),
            ("BOOL", json!("FALSE"), json!(false)),
            (
                "TIMESTAMP",
                json!("0"),
                json!("1970-01-01T00:00:00.000000Z"),
            ),
            (
                "TIMESTAMP",
                json!("-1"),
                json!("1969-12-31T23:59:59.999999Z"),
            ),
            (
                "TIMESTAMP",
                json!("1.7E9"),
                json!("2023-11-14T22:13:20.000000Z"),
            ),
            ("DATE", json!("2026-01-01"), json!("2026-01-01")),
            ("BYTES", json!("AAE="), json!("AAE=")),
            ("JSON", json!("not json"), json!("not json")),
            ("INTEGER", json!(5), json!(5)),
        ];
        for (ty, wire, want) in table {
            let schema = Schema::new([Field::new("c", *ty)]);
            let got = decode_row(&schema, &json!({"f": [{"v": wire}]}))
                .unwrap_or_else(|e| panic!("{ty} {wire}: {e}"));
            assert_eq!(&got["c"], want, "{ty} {wire}");
        }
    }

    #[test]
    fn malformed_rows_name_the_column_not_the_value() {
        let table: &[(Schema, Value, &str)] = &[
            (
                Schema::new([Field::new("n", "INT64")]),
                json!({"f": [{"v": "secret-ish"}]}),
                "column `n`: expected a 64-bit integer",
            ),
            (
                Schema::new([Field::new("n", "INT64")]),
                json!({"f": []}),
                "the row has 0 cells but the schema has 1 fields",
            ),
            (
                Schema::new([Field::new("t", "STRING").repeated()]),
                json!({"f": [{"v": "x"}]}),
                "column `t`: a REPEATED field must be an array",
            ),
            (
                Schema::new([Field::record("r", [Field::new("b", "BOOL")])]),
                json!({"f": [{"v": {"f": [{"v": "maybe"}]}}]}),
                "column `r.b`: expected `true` or `false`",
            ),
            (
                Schema::new([Field::new("x", "STRING")]),
                json!([1]),
                "expected a row object",
            ),
        ];
        for (schema, row, want) in table {
            let err = decode_row(schema, row).expect_err("must fail");
            assert!(err.contains(want), "{err} should contain {want}");
            assert!(!err.contains("secret-ish"), "{err}");
        }
    }

    #[test]
    fn schema_reads_api_json_and_ignores_unknown_properties() {
        let s: Schema = serde_json::from_value(json!({"fields": [
            {"name": "a", "type": "STRING", "mode": "NULLABLE", "description": "d", "policyTags": {}},
            {"name": "r", "type": "RECORD", "fields": [{"name": "x", "type": "INTEGER"}]}
        ]}))
        .expect("parses");
        assert_eq!(s.column_names().collect::<Vec<_>>(), ["a", "r"]);
        assert_eq!(s.fields[1].fields[0].field_type, "INTEGER");
    }
}
