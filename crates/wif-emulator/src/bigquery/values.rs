//! Values in the emulated BigQuery: schema normalization, checking and canonicalizing inserted
//! rows against the schema (the per-row `invalid` errors of `insertAll`), and the `f`/`v`
//! encoding of result rows.
//!
//! Stored rows are canonical: every scalar is the string BigQuery would send back for it
//! (`"42"`, `"true"`, TIMESTAMP as int64 microseconds), a RECORD is an object, a REPEATED field an
//! array, NULL is `null`.

use base64::Engine as _;
use serde_json::{Map, Value};

use super::TableField;

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

/// Checks an inserted row against `fields` and returns its canonical form.
pub(crate) fn canonical_row(
    fields: &[TableField],
    json: &Value,
    ignore_unknown: bool,
) -> Result<Value, RowIssue> {
    let obj = json
        .as_object()
        .ok_or_else(|| issue("", "Row is not a JSON object."))?;
    canonical_record(fields, obj, ignore_unknown, "").map(Value::Object)
}

fn canonical_record(
    fields: &[TableField],
    obj: &Map<String, Value>,
    ignore_unknown: bool,
    parent: &str,
) -> Result<Map<String, Value>, RowIssue> {
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
    let mut out = Map::with_capacity(fields.len());
    for f in fields {
        let p = path(&f.name);
        let value = obj
            .iter()
            .find(|(k, _)| f.name.eq_ignore_ascii_case(k))
            .map(|(_, v)| v)
            .unwrap_or(&Value::Null);
        let canonical = if is_repeated(f) {
            match value {
                Value::Null => Value::Array(Vec::new()),
                Value::Array(items) => Value::Array(
                    items
                        .iter()
                        .map(|item| {
                            if item.is_null() {
                                return Err(issue(
                                    &p,
                                    format!("Field {p}: NULL element in an array."),
                                ));
                            }
                            canonical_value(f, item, ignore_unknown, &p)
                        })
                        .collect::<Result<_, _>>()?,
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
            Value::Null
        } else if value.is_array() {
            return Err(issue(
                &p,
                format!("Array specified for non-repeated field: {p}."),
            ));
        } else {
            canonical_value(f, value, ignore_unknown, &p)?
        };
        out.insert(f.name.clone(), canonical);
    }
    Ok(out)
}

fn canonical_value(
    f: &TableField,
    v: &Value,
    ignore_unknown: bool,
    path: &str,
) -> Result<Value, RowIssue> {
    if f.field_type == "RECORD" {
        let obj = v
            .as_object()
            .ok_or_else(|| issue(path, format!("Field {path}: a RECORD needs a JSON object.")))?;
        return canonical_record(&f.fields, obj, ignore_unknown, path).map(Value::Object);
    }
    canonical_scalar(&f.field_type, v)
        .map(Value::String)
        .ok_or_else(|| {
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

/// The canonical string of a scalar of (legacy) type `ty`, or `None` when `v` is not one.
pub(crate) fn canonical_scalar(ty: &str, v: &Value) -> Option<String> {
    let text = match v {
        Value::String(s) => Some(s.trim()),
        _ => None,
    };
    match ty {
        "INTEGER" => match v {
            Value::Number(n) => n.as_i64().map(|i| i.to_string()),
            _ => text?.parse::<i64>().ok().map(|i| i.to_string()),
        },
        "FLOAT" => {
            let f = match v {
                Value::Number(n) => n.as_f64()?,
                _ => text?.parse::<f64>().ok()?,
            };
            Some(float_text(f))
        }
        "NUMERIC" | "BIGNUMERIC" => match v {
            Value::Number(n) => Some(n.to_string()),
            _ => {
                let t = text?;
                (t.parse::<f64>().is_ok_and(f64::is_finite)).then(|| t.to_owned())
            }
        },
        "BOOLEAN" => match v {
            Value::Bool(b) => Some(b.to_string()),
            _ => match text?.to_ascii_lowercase().as_str() {
                "true" => Some("true".into()),
                "false" => Some("false".into()),
                _ => None,
            },
        },
        "STRING" => match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
            _ => None,
        },
        "BYTES" => {
            let t = text?;
            base64::engine::general_purpose::STANDARD
                .decode(t)
                .ok()
                .map(|_| t.to_owned())
        }
        "TIMESTAMP" => timestamp_micros(v).map(|m| m.to_string()),
        "DATE" => {
            let t = text?;
            time::Date::parse(t, time::macros::format_description!("[year]-[month]-[day]"))
                .ok()
                .map(|_| t.to_owned())
        }
        "JSON" => Some(match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
        // TIME, DATETIME, GEOGRAPHY: kept as given.
        _ => text.map(str::to_owned),
    }
}

/// A float as BigQuery prints it, with JSON-less values spelled out.
pub(crate) fn float_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        format!("{f:?}")
    }
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

/// How result rows are written.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Format {
    /// `formatOptions.useInt64Timestamp`: TIMESTAMP as int64 microseconds instead of float seconds.
    pub(crate) int64_timestamp: bool,
}

/// `{"f":[{"v":…},…]}` for a row of cells in `fields` order.
pub(crate) fn encode_row(fields: &[TableField], cells: &[Value], format: Format) -> Value {
    let f: Vec<Value> = fields
        .iter()
        .zip(cells)
        .map(|(field, cell)| serde_json::json!({ "v": encode_cell(field, cell, format) }))
        .collect();
    serde_json::json!({ "f": f })
}

fn encode_cell(field: &TableField, cell: &Value, format: Format) -> Value {
    if is_repeated(field) {
        let items = cell.as_array().map(Vec::as_slice).unwrap_or_default();
        return Value::Array(
            items
                .iter()
                .map(|item| serde_json::json!({ "v": encode_value(field, item, format) }))
                .collect(),
        );
    }
    encode_value(field, cell, format)
}

fn encode_value(field: &TableField, v: &Value, format: Format) -> Value {
    match v {
        Value::Null => Value::Null,
        Value::Object(obj) if field.field_type == "RECORD" => {
            let cells: Vec<Value> = field
                .fields
                .iter()
                .map(|f| obj.get(&f.name).cloned().unwrap_or(Value::Null))
                .collect();
            encode_row(&field.fields, &cells, format)
        }
        Value::String(s) if field.field_type == "TIMESTAMP" && !format.int64_timestamp => {
            // BigQuery's default: float seconds in scientific notation, e.g. "1.7E9" (lossy).
            match s.parse::<i64>() {
                Ok(micros) => Value::String(format!("{:E}", micros as f64 / 1_000_000.0)),
                Err(_) => v.clone(),
            }
        }
        other => other.clone(),
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
    fn rows_are_checked_and_canonicalized() {
        let f = fields();
        let row = canonical_row(
            &f,
            &json!({"ID": "7", "at": "2026-01-01 00:00:00 UTC", "tags": ["a"], "addr": {"zip": 75001}}),
            false,
        )
        .expect("valid row");
        assert_eq!(
            row,
            json!({"id": "7", "name": null, "at": "1767225600000000", "tags": ["a"], "addr": {"zip": "75001"}})
        );
        let table: &[(Value, bool, &str, &str)] = &[
            (
                json!({"id": "x"}),
                false,
                "id",
                "Cannot convert value to integer (bad value): x.",
            ),
            (
                json!({"name": "n"}),
                false,
                "id",
                "Missing required field: id.",
            ),
            (
                json!({"id": 1, "extra": 1}),
                false,
                "extra",
                "no such field: extra.",
            ),
            (
                json!({"id": 1, "addr": {"zip": 1, "x": 2}}),
                false,
                "addr.x",
                "no such field: addr.x.",
            ),
            (
                json!({"id": 1, "tags": "a"}),
                false,
                "tags",
                "Field tags: a repeated field needs an array.",
            ),
            (
                json!({"id": [1]}),
                false,
                "id",
                "Array specified for non-repeated field: id.",
            ),
            (
                json!({"id": 1, "at": "yesterday"}),
                false,
                "at",
                "Cannot convert value to timestamp (bad value): yesterday.",
            ),
        ];
        for (row, ignore, location, message) in table {
            let got = canonical_row(&f, row, *ignore).expect_err("invalid");
            assert_eq!(
                (got.location.as_str(), got.message.as_str()),
                (*location, *message),
                "{row}"
            );
        }
        assert!(canonical_row(&f, &json!({"id": 1, "extra": 1}), true).is_ok());
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
        ] {
            assert_eq!(timestamp_micros(&v), Some(1_767_225_600_000_000), "{v}");
        }
    }

    #[test]
    fn encoding_follows_the_schema_and_format() {
        let f = fields();
        let row = json!({"id": "7", "name": null, "at": "1700000000000000", "tags": ["a", "b"], "addr": {"zip": "1"}});
        let cells: Vec<Value> = f.iter().map(|x| row[&x.name].clone()).collect();
        let micro = encode_row(
            &f,
            &cells,
            Format {
                int64_timestamp: true,
            },
        );
        assert_eq!(
            micro,
            json!({"f": [{"v": "7"}, {"v": null}, {"v": "1700000000000000"},
                         {"v": [{"v": "a"}, {"v": "b"}]}, {"v": {"f": [{"v": "1"}]}}]})
        );
        let float = encode_row(
            &f,
            &cells,
            Format {
                int64_timestamp: false,
            },
        );
        assert_eq!(float["f"][2]["v"], "1.7E9");
    }
}
