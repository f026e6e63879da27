//! Values at the emulated BigQuery's edges: schema normalization, checking inserted rows
//! against the schema (the per-row `invalid` errors of `insertAll`) into typed cells, and
//! writing cells back out in the `f`/`v` encoding of result rows.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::TableField;
use super::cell::{Cell, Type, float_text, numeric_text, parse_numeric};

/// The legacy type name BigQuery reports for `type_name`, or `None` for unknown types.
pub(crate) fn legacy_type(type_name: &str) -> Option<&'static str> {
    Some(match type_name.to_ascii_uppercase().as_str() {
        "STRING" => "STRING",
        "BYTES" => "BYTES",
        "INTEGER" | "INT64" => "INTEGER",
        "FLOAT" | "FLOAT64" => "FLOAT",
        "NUMERIC" | "DECIMAL" => "NUMERIC",
        "BIGNUMERIC" | "BIGDECIMAL" => "BIGNUMERIC",
        "BOOLEAN" | "BOOL" => "BOOLEAN",
        "TIMESTAMP" => "TIMESTAMP",
        "DATE" => "DATE",
        "TIME" => "TIME",
        "DATETIME" => "DATETIME",
        "GEOGRAPHY" => "GEOGRAPHY",
        "JSON" => "JSON",
        "RECORD" | "STRUCT" => "RECORD",
        _ => return None,
    })
}

/// Checks a schema and spells it the way BigQuery reports it (legacy type names, explicit mode).
pub(crate) fn normalize_schema(fields: &[TableField]) -> Result<Vec<TableField>, String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(fields.len());
    for f in fields {
        if f.name.trim().is_empty() {
            return Err("Empty field name.".into());
        }
        if !seen.insert(f.name.to_ascii_lowercase()) {
            return Err(format!("Duplicate column names: {}.", f.name));
        }
        let ty = legacy_type(&f.field_type)
            .ok_or_else(|| format!("Invalid field type: {} for field {}.", f.field_type, f.name))?;
        let mode = match f.mode.as_deref().map(str::to_ascii_uppercase).as_deref() {
            None | Some("NULLABLE") | Some("") => "NULLABLE",
            Some("REQUIRED") => "REQUIRED",
            Some("REPEATED") => "REPEATED",
            Some(other) => {
                return Err(format!("Invalid field mode: {other} for field {}.", f.name));
            }
        };
        let sub = if ty == "RECORD" {
            if f.fields.is_empty() {
                return Err(format!(
                    "Field {} is type RECORD but has no schema.",
                    f.name
                ));
            }
            normalize_schema(&f.fields)?
        } else if !f.fields.is_empty() {
            return Err(format!("Field {} is type {ty} but has sub-fields.", f.name));
        } else {
            Vec::new()
        };
        out.push(TableField {
            name: f.name.clone(),
            field_type: ty.to_owned(),
            mode: Some(mode.to_owned()),
            fields: sub,
            description: f.description.clone(),
        });
    }
    Ok(out)
}

pub(crate) fn is_repeated(f: &TableField) -> bool {
    f.mode.as_deref() == Some("REPEATED")
}

fn is_required(f: &TableField) -> bool {
    f.mode.as_deref() == Some("REQUIRED")
}

/// Why a row was rejected: BigQuery's `location` (the field path) and `message`.
#[derive(Debug, PartialEq)]
pub(crate) struct RowIssue {
    pub(crate) location: String,
    pub(crate) message: String,
}

fn issue(location: &str, message: impl Into<String>) -> RowIssue {
    RowIssue {
        location: location.to_owned(),
        message: message.into(),
    }
}

/// Checks an inserted row against `fields` and returns its cells in schema order.
pub(crate) fn typed_row(
    fields: &[TableField],
    json: &Value,
    ignore_unknown: bool,
) -> Result<Vec<Cell>, RowIssue> {
    let obj = json
        .as_object()
        .ok_or_else(|| issue("", "Row is not a JSON object."))?;
    typed_record(fields, obj, ignore_unknown, "")
}

fn typed_record(
    fields: &[TableField],
    obj: &Map<String, Value>,
    ignore_unknown: bool,
    parent: &str,
) -> Result<Vec<Cell>, RowIssue> {
    let path = |name: &str| {
        if parent.is_empty() {
            name.to_owned()
        } else {
            format!("{parent}.{name}")
        }
    };
    if !ignore_unknown {
        // Column names are case-insensitive in BigQuery.
        if let Some(unknown) = obj
            .keys()
            .find(|k| !fields.iter().any(|f| f.name.eq_ignore_ascii_case(k)))
        {
            let p = path(unknown);
            return Err(issue(&p, format!("no such field: {p}.")));
        }
    }
    let mut out = Vec::with_capacity(fields.len());
    for f in fields {
        let p = path(&f.name);
        let value = obj
            .get(&f.name)
            .or_else(|| {
                obj.iter()
                    .find(|(k, _)| f.name.eq_ignore_ascii_case(k))
                    .map(|(_, v)| v)
            })
            .unwrap_or(&Value::Null);
        let cell = if is_repeated(f) {
            match value {
                Value::Null => Cell::Array(Arc::from([])),
                Value::Array(items) => Cell::Array(
                    items
                        .iter()
                        .map(|item| {
                            if item.is_null() {
                                return Err(issue(
                                    &p,
                                    format!("Field {p}: NULL element in an array."),
                                ));
                            }
                            typed_value(f, item, ignore_unknown, &p)
                        })
                        .collect::<Result<Arc<[Cell]>, _>>()?,
                ),
                _ => {
                    return Err(issue(
                        &p,
                        format!("Field {p}: a repeated field needs an array."),
                    ));
                }
            }
        } else if value.is_null() {
            if is_required(f) {
                return Err(issue(&p, format!("Missing required field: {p}.")));
            }
            Cell::Null
        } else if value.is_array() {
            return Err(issue(
                &p,
                format!("Array specified for non-repeated field: {p}."),
            ));
        } else {
            typed_value(f, value, ignore_unknown, &p)?
        };
        out.push(cell);
    }
    Ok(out)
}

fn typed_value(
    f: &TableField,
    v: &Value,
    ignore_unknown: bool,
    path: &str,
) -> Result<Cell, RowIssue> {
    if f.field_type == "RECORD" {
        let obj = v
            .as_object()
            .ok_or_else(|| issue(path, format!("Field {path}: a RECORD needs a JSON object.")))?;
        return typed_record(&f.fields, obj, ignore_unknown, path)
            .map(|cells| Cell::Struct(cells.into()));
    }
    let ty = Type::scalar(&f.field_type).unwrap_or(Type::String);
    scalar_cell(&ty, v).ok_or_else(|| {
        issue(
            path,
            format!(
                "Cannot convert value to {} (bad value): {}.",
                f.field_type.to_ascii_lowercase(),
                shown(v)
            ),
        )
    })
}

fn shown(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    s.chars().take(64).collect()
}

/// The cell of scalar type `ty` that JSON value `v` stands for (as `insertAll` and query
/// parameters give them), or `None` when it is not one.
pub(crate) fn scalar_cell(ty: &Type, v: &Value) -> Option<Cell> {
    let text = match v {
        Value::String(s) => Some(s.trim()),
        _ => None,
    };
    Some(match ty {
        Type::Int64 => Cell::Int(match v {
            Value::Number(n) => n.as_i64()?,
            _ => text?.parse::<i64>().ok()?,
        }),
        Type::Float64 => Cell::Float(match v {
            Value::Number(n) => n.as_f64()?,
            _ => match text? {
                "NaN" => f64::NAN,
                "Infinity" | "inf" => f64::INFINITY,
                "-Infinity" | "-inf" => f64::NEG_INFINITY,
                t => t.parse::<f64>().ok().filter(|f| f.is_finite())?,
            },
        }),
        Type::Numeric => Cell::Numeric(match v {
            Value::Number(n) => parse_numeric(&n.to_string())?,
            _ => parse_numeric(text?)?,
        }),
        Type::BigNumeric => Cell::text(match v {
            Value::Number(n) => n.to_string(),
            _ => {
                let t = text?;
                t.parse::<f64>().ok().filter(|f| f.is_finite())?;
                t.to_owned()
            }
        }),
        Type::Bool => Cell::Bool(match v {
            Value::Bool(b) => *b,
            _ => match text?.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => return None,
            },
        }),
        Type::String => Cell::text(match v {
            Value::String(s) => s.clone(),
            Value::Number(_) | Value::Bool(_) => v.to_string(),
            _ => return None,
        }),
        Type::Bytes => {
            let t = text?;
            base64::engine::general_purpose::STANDARD.decode(t).ok()?;
            Cell::text(t)
        }
        Type::Timestamp => Cell::Timestamp(timestamp_micros(v)?),
        Type::Date => Cell::text(canonical_date(text?)?),
        Type::DateTime => Cell::text(canonical_datetime(text?)?),
        Type::Time => Cell::text(canonical_time(text?)?),
        Type::Json => Cell::text(match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
        Type::Geography => Cell::text(text?),
        Type::Array(_) | Type::Struct(_) => return None,
    })
}

fn canonical_date(t: &str) -> Option<String> {
    time::Date::parse(t, time::macros::format_description!("[year]-[month]-[day]"))
        .ok()
        .map(|_| t.to_owned())
}

/// `HH:MM:SS[.ffffff]`, zero-padded, so text order is time order.
fn canonical_time(t: &str) -> Option<String> {
    let (hms, frac) = t.split_once('.').unwrap_or((t, ""));
    let parts: Vec<&str> = hms.split(':').collect();
    let [h, m, s] = parts.as_slice() else {
        return None;
    };
    let num = |x: &str, max: u32| {
        (x.len() <= 2 && !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit()))
            .then(|| x.parse::<u32>().ok())
            .flatten()
            .filter(|n| *n <= max)
    };
    let (h, m, s) = (num(h, 23)?, num(m, 59)?, num(s, 59)?);
    if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut out = format!("{h:02}:{m:02}:{s:02}");
    if !frac.trim_end_matches('0').is_empty() {
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    Some(out)
}

/// `YYYY-MM-DDTHH:MM:SS[.ffffff]` (a space is accepted for the `T`), as BigQuery prints DATETIME.
fn canonical_datetime(t: &str) -> Option<String> {
    let (date, time) = t.split_once(['T', ' ']).unwrap_or((t, "00:00:00"));
    Some(format!(
        "{}T{}",
        canonical_date(date)?,
        canonical_time(time)?
    ))
}

/// A TIMESTAMP given as epoch seconds (number or numeric string), RFC 3339, or BigQuery's
/// `YYYY-MM-DD HH:MM:SS[.ffffff][ UTC|±HH:MM]` canonical form.
pub(crate) fn timestamp_micros(v: &Value) -> Option<i64> {
    let secs = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    if let Some(secs) = secs {
        let micros = (secs * 1_000_000.0).round();
        return (micros.is_finite() && micros.abs() < 9.0e18).then_some(micros as i64);
    }
    let s = v.as_str()?.trim();
    let mut t = s.replacen(' ', "T", 1);
    if let Some(stripped) = t.strip_suffix(" UTC").or_else(|| t.strip_suffix("UTC")) {
        t = format!("{}Z", stripped.trim_end());
    }
    // A date alone is midnight UTC.
    if t.len() == 10 {
        t.push_str("T00:00:00");
    }
    // No offset at all: BigQuery reads it as UTC.
    let has_offset = t.ends_with('Z') || t.ends_with('z') || {
        let tail = t.get(t.len().saturating_sub(6)..).unwrap_or_default();
        (tail.starts_with('+') || tail.starts_with('-')) && tail.contains(':')
    };
    if !has_offset {
        t.push('Z');
    }
    let parsed =
        time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(parsed.unix_timestamp_nanos() / 1000).ok()
}

/// How TIMESTAMPs are written in result rows (`formatOptions`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum TimestampFormat {
    /// BigQuery's default: float seconds in scientific notation (`"1.7E9"`, lossy).
    #[default]
    Float,
    /// `useInt64Timestamp` / `INT64`: microseconds.
    Int64,
    /// `ISO8601_STRING`: `2026-01-01T00:00:00.000000Z`.
    Iso8601,
}

/// Appends `{"f":[{"v":…},…]}` for `cells` of `types` to `out`.
pub(crate) fn write_row(
    out: &mut Vec<u8>,
    types: &[&Type],
    cells: &[Cell],
    format: TimestampFormat,
) {
    out.extend_from_slice(b"{\"f\":[");
    write_cells(out, types.iter().copied().zip(cells), format);
    out.extend_from_slice(b"]}");
}

/// Appends `{"v":…},{"v":…}` for each cell and its type: the inside of a row's `f` and of an
/// array's value.
fn write_cells<'a>(
    out: &mut Vec<u8>,
    cells: impl Iterator<Item = (&'a Type, &'a Cell)>,
    format: TimestampFormat,
) {
    for (i, (ty, cell)) in cells.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"v\":");
        write_value(out, ty, cell, format);
        out.push(b'}');
    }
}

fn write_value(out: &mut Vec<u8>, ty: &Type, cell: &Cell, format: TimestampFormat) {
    match (ty, cell) {
        (_, Cell::Null) => out.extend_from_slice(b"null"),
        (Type::Array(element), Cell::Array(items)) => {
            out.push(b'[');
            write_cells(out, items.iter().map(|item| (&**element, item)), format);
            out.push(b']');
        }
        (Type::Struct(fields), Cell::Struct(cells)) => {
            let types: Vec<&Type> = fields.iter().map(|(_, t)| t).collect();
            write_row(out, &types, cells, format);
        }
        (_, scalar) => write_string(out, &scalar_text(scalar, format)),
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// The string BigQuery sends for a scalar cell.
pub(crate) fn scalar_text(cell: &Cell, format: TimestampFormat) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Bool(b) => b.to_string(),
        Cell::Int(i) => i.to_string(),
        Cell::Float(f) => float_text(*f),
        Cell::Numeric(n) => numeric_text(*n),
        Cell::Text(t) => t.to_string(),
        Cell::Timestamp(micros) => match format {
            TimestampFormat::Int64 => micros.to_string(),
            TimestampFormat::Float => format!("{:E}", *micros as f64 / 1_000_000.0),
            TimestampFormat::Iso8601 => iso8601(*micros),
        },
        // Not scalars; only reached for a cell that does not match its type.
        Cell::Array(_) | Cell::Struct(_) => String::new(),
    }
}

fn iso8601(micros: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| micros.to_string())
}

/// A cell as the canonical JSON `table_rows` hands tests: scalars as BigQuery's strings
/// (TIMESTAMP as int64 microseconds), a RECORD as an object, a REPEATED field as an array.
pub(crate) fn canonical_json(ty: &Type, cell: &Cell) -> Value {
    match (ty, cell) {
        (_, Cell::Null) => Value::Null,
        (Type::Array(element), Cell::Array(items)) => Value::Array(
            items
                .iter()
                .map(|item| canonical_json(element, item))
                .collect(),
        ),
        (Type::Struct(fields), Cell::Struct(cells)) => Value::Object(
            fields
                .iter()
                .zip(cells.iter())
                .map(|((name, t), c)| (name.clone(), canonical_json(t, c)))
                .collect(),
        ),
        (_, scalar) => Value::String(scalar_text(scalar, TimestampFormat::Int64)),
    }
}

/// The bytes BigQuery bills for a value of `ty` (its "data size" rules: 8 bytes per number,
/// 2 + length per string, the sum over arrays and structs).
pub(crate) fn logical_bytes(ty: &Type, cell: &Cell) -> u64 {
    match (ty, cell) {
        (_, Cell::Null) => 0,
        (Type::Array(element), Cell::Array(items)) => {
            items.iter().map(|c| logical_bytes(element, c)).sum()
        }
        (Type::Struct(fields), Cell::Struct(cells)) => fields
            .iter()
            .zip(cells.iter())
            .map(|((_, t), c)| logical_bytes(t, c))
            .sum(),
        (Type::Bool, _) => 1,
        (Type::Numeric, _) => 16,
        (Type::BigNumeric, _) => 32,
        (Type::String | Type::Bytes | Type::Json | Type::Geography, Cell::Text(t)) => {
            2 + t.len() as u64
        }
        _ => 8,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields() -> Vec<TableField> {
        normalize_schema(&[
            TableField::new("id", "INT64").required(),
            TableField::new("name", "STRING"),
            TableField::new("at", "TIMESTAMP"),
            TableField::new("tags", "STRING").repeated(),
            TableField::record("addr", vec![TableField::new("zip", "INTEGER")]),
        ])
        .expect("valid schema")
    }

    fn types(fields: &[TableField]) -> Vec<Type> {
        fields.iter().map(Type::of_field).collect()
    }

    #[test]
    fn schemas_are_normalized_and_checked() {
        let f = fields();
        assert_eq!(f[0].field_type, "INTEGER");
        assert_eq!(f[1].mode.as_deref(), Some("NULLABLE"));
        assert_eq!(f[4].fields[0].field_type, "INTEGER");
        for bad in [
            vec![TableField::new("a", "WHATEVER")],
            vec![
                TableField::new("a", "STRING"),
                TableField::new("A", "STRING"),
            ],
            vec![TableField::new("r", "RECORD")],
            vec![TableField::new("a", "STRING").with_mode("SOMETIMES")],
        ] {
            assert!(normalize_schema(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rows_are_checked_and_typed() {
        let f = fields();
        let row = typed_row(
            &f,
            &json!({"ID": "7", "at": "2026-01-01 00:00:00 UTC", "tags": ["a"], "addr": {"zip": 75001}}),
            false,
        )
        .expect("valid row");
        let canonical: Vec<Value> = types(&f)
            .iter()
            .zip(&row)
            .map(|(t, c)| canonical_json(t, c))
            .collect();
        assert_eq!(
            canonical,
            [
                json!("7"),
                json!(null),
                json!("1767225600000000"),
                json!(["a"]),
                json!({"zip": "75001"})
            ]
        );
        let table: &[(Value, &str, &str)] = &[
            (
                json!({"id": "x"}),
                "id",
                "Cannot convert value to integer (bad value): x.",
            ),
            (json!({"name": "n"}), "id", "Missing required field: id."),
            (
                json!({"id": 1, "extra": 1}),
                "extra",
                "no such field: extra.",
            ),
            (
                json!({"id": 1, "addr": {"zip": 1, "x": 2}}),
                "addr.x",
                "no such field: addr.x.",
            ),
            (
                json!({"id": 1, "tags": "a"}),
                "tags",
                "Field tags: a repeated field needs an array.",
            ),
            (
                json!({"id": [1]}),
                "id",
                "Array specified for non-repeated field: id.",
            ),
            (
                json!({"id": 1, "at": "yesterday"}),
                "at",
                "Cannot convert value to timestamp (bad value): yesterday.",
            ),
        ];
        for (row, location, message) in table {
            let got = typed_row(&f, row, false).expect_err("invalid");
            assert_eq!(
                (got.location.as_str(), got.message.as_str()),
                (*location, *message),
                "{row}"
            );
        }
        assert!(typed_row(&f, &json!({"id": 1, "extra": 1}), true).is_ok());
    }

    #[test]
    fn temporal_texts_are_canonical() {
        let cell = |ty: Type, v: &str| {
            scalar_cell(&ty, &json!(v)).map(|c| scalar_text(&c, TimestampFormat::Int64))
        };
        assert_eq!(
            cell(Type::Time, "9:05:00.500").as_deref(),
            Some("09:05:00.5")
        );
        assert_eq!(cell(Type::Time, "24:00:00"), None);
        assert_eq!(
            cell(Type::DateTime, "2026-01-02 03:04:05").as_deref(),
            Some("2026-01-02T03:04:05")
        );
        assert_eq!(cell(Type::Date, "2026-13-01"), None);
    }

    #[test]
    fn timestamps_in_every_accepted_spelling() {
        for v in [
            json!(1767225600),
            json!("1767225600"),
            json!("2026-01-01T00:00:00Z"),
            json!("2026-01-01T01:00:00+01:00"),
            json!("2026-01-01 00:00:00"),
            json!("2026-01-01 00:00:00.000000 UTC"),
            json!("2026-01-01"),
        ] {
            assert_eq!(timestamp_micros(&v), Some(1_767_225_600_000_000), "{v}");
        }
    }

    #[test]
    fn rows_are_written_in_the_f_v_encoding() {
        let f = fields();
        let t = types(&f);
        let refs: Vec<&Type> = t.iter().collect();
        let row = typed_row(
            &f,
            &json!({"id": 7, "at": 1_700_000_000, "tags": ["a", "b"], "addr": {"zip": 1}}),
            false,
        )
        .expect("row");
        let write = |format| {
            let mut out = Vec::new();
            write_row(&mut out, &refs, &row, format);
            serde_json::from_slice::<Value>(&out).expect("valid JSON")
        };
        assert_eq!(
            write(TimestampFormat::Int64),
            json!({"f": [{"v": "7"}, {"v": null}, {"v": "1700000000000000"},
                         {"v": [{"v": "a"}, {"v": "b"}]}, {"v": {"f": [{"v": "1"}]}}]})
        );
        assert_eq!(write(TimestampFormat::Float)["f"][2]["v"], "1.7E9");
        assert_eq!(
            write(TimestampFormat::Iso8601)["f"][2]["v"],
            "2023-11-14T22:13:20.000000Z"
        );
    }
}
