//! Query parameters (`queryParameters` of `jobs.query` and query jobs): named (`@name`,
//! `parameterMode=NAMED`) or positional (`?`), scalar, ARRAY or STRUCT, typed by their
//! `parameterType` and bound as constants before the query runs.

use std::collections::HashMap;

use serde_json::Value;

use super::{SqlError, invalid};
use crate::bigquery::cell::{Cell, Type};
use crate::bigquery::values::scalar_cell;

/// Bound query parameters: each a type and a value.
#[derive(Debug, Default)]
pub(crate) struct Params {
    pub(crate) named: HashMap<String, (Type, Cell)>,
    pub(crate) positional: Vec<(Type, Cell)>,
}

/// Reads `queryParameters`; `mode` is `parameterMode` when the request sent one.
pub(crate) fn params(list: &[Value], mode: Option<&str>) -> Result<Params, SqlError> {
    let mut out = Params::default();
    for (i, p) in list.iter().enumerate() {
        let name = p
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty());
        let label = name.map_or_else(|| format!("#{}", i + 1), str::to_owned);
        let ty = parameter_type(p.get("parameterType"), &label)?;
        let value = parameter_value(&ty, p.get("parameterValue"), &label)?;
        match (name, mode.map(str::to_ascii_uppercase).as_deref()) {
            (Some(_), Some("POSITIONAL")) => {
                return Err(invalid(format!(
                    "Query parameter {label} has a name but parameterMode is POSITIONAL"
                )));
            }
            (None, Some("NAMED")) => {
                return Err(invalid(format!(
                    "Query parameter {label} has no name but parameterMode is NAMED"
                )));
            }
            (Some(n), _) => {
                if out
                    .named
                    .insert(n.to_ascii_lowercase(), (ty, value))
                    .is_some()
                {
                    return Err(invalid(format!("Duplicate query parameter name: {n}")));
                }
            }
            (None, _) => out.positional.push((ty, value)),
        }
    }
    if !out.named.is_empty() && !out.positional.is_empty() {
        return Err(invalid(
            "Query parameters must all be named or all be positional",
        ));
    }
    Ok(out)
}

/// `{"type": "ARRAY", "arrayType": {…}}`, `{"type": "STRUCT", "structTypes": [{"name", "type"}]}`
/// or a scalar.
fn parameter_type(t: Option<&Value>, label: &str) -> Result<Type, SqlError> {
    let bad = |why: &str| invalid(format!("Invalid type of query parameter {label}: {why}"));
    let t = t.ok_or_else(|| bad("parameterType is missing"))?;
    let name = t
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("parameterType.type is missing"))?;
    match name.to_ascii_uppercase().as_str() {
        "ARRAY" => {
            let element = parameter_type(t.get("arrayType"), label)?;
            if matches!(element, Type::Array(_)) {
                return Err(bad("arrays of arrays are not allowed"));
            }
            Ok(Type::Array(Box::new(element)))
        }
        "STRUCT" | "RECORD" => {
            let fields = t
                .get("structTypes")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("a STRUCT needs structTypes"))?;
            fields
                .iter()
                .map(|f| {
                    let field_name = f.get("name").and_then(Value::as_str).unwrap_or("");
                    Ok((field_name.to_owned(), parameter_type(f.get("type"), label)?))
                })
                .collect::<Result<_, SqlError>>()
                .map(Type::Struct)
        }
        other => Type::scalar(other).ok_or_else(|| bad(&format!("unknown type {other}"))),
    }
}

/// `{"value": "…"}`, `{"arrayValues": […]}` or `{"structValues": {name: …}}`; absent is NULL.
fn parameter_value(ty: &Type, v: Option<&Value>, label: &str) -> Result<Cell, SqlError> {
    let bad = || {
        invalid(format!(
            "Invalid value for query parameter {label} of type {ty}"
        ))
    };
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Cell::Null);
    };
    match ty {
        Type::Array(element) => match v.get("arrayValues") {
            None | Some(Value::Null) => Ok(Cell::Array(std::sync::Arc::from([]))),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match parameter_value(element, Some(item), label)? {
                    Cell::Null => Err(invalid(format!(
                        "Query parameter {label}: an ARRAY cannot hold NULL"
                    ))),
                    cell => Ok(cell),
                })
                .collect::<Result<std::sync::Arc<[Cell]>, _>>()
                .map(Cell::Array),
            Some(_) => Err(bad()),
        },
        Type::Struct(fields) => {
            let Some(values) = v.get("structValues") else {
                return Ok(Cell::Null);
            };
            let values = values.as_object().ok_or_else(bad)?;
            fields
                .iter()
                .map(|(name, t)| parameter_value(t, values.get(name), label))
                .collect::<Result<std::sync::Arc<[Cell]>, _>>()
                .map(Cell::Struct)
        }
        scalar => match v.get("value") {
            None | Some(Value::Null) => Ok(Cell::Null),
            Some(value) => scalar_cell(scalar, value).ok_or_else(bad),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn scalars_arrays_and_structs_bind() {
        let p = params(
            &[
                json!({"name": "ID", "parameterType": {"type": "INT64"}, "parameterValue": {"value": "7"}}),
                json!({"name": "ids", "parameterType": {"type": "ARRAY", "arrayType": {"type": "STRING"}},
                       "parameterValue": {"arrayValues": [{"value": "a"}, {"value": "b"}]}}),
                json!({"name": "s", "parameterType": {"type": "STRUCT", "structTypes": [
                           {"name": "x", "type": {"type": "INT64"}}, {"name": "y", "type": {"type": "STRING"}}]},
                       "parameterValue": {"structValues": {"x": {"value": "1"}}}}),
                json!({"name": "none", "parameterType": {"type": "STRING"}, "parameterValue": {}}),
            ],
            Some("NAMED"),
        )
        .expect("valid");
        assert_eq!(p.named["id"], (Type::Int64, Cell::Int(7)));
        assert_eq!(
            p.named["ids"].1,
            Cell::Array(vec![Cell::text("a"), Cell::text("b")].into())
        );
        assert_eq!(p.named["s"].0.to_string(), "STRUCT<x INT64, y STRING>");
        assert_eq!(
            p.named["s"].1,
            Cell::Struct(vec![Cell::Int(1), Cell::Null].into())
        );
        assert_eq!(p.named["none"].1, Cell::Null);
    }

    #[test]
    fn bad_parameters_are_named() {
        let table: &[(Value, Option<&str>, &str)] = &[
            (
                json!({"name": "a", "parameterType": {"type": "INT64"}, "parameterValue": {"value": "x"}}),
                None,
                "Invalid value for query parameter a of type INT64",
            ),
            (
                json!({"name": "a", "parameterType": {"type": "WHAT"}}),
                None,
                "unknown type WHAT",
            ),
            (
                json!({"parameterType": {"type": "INT64"}, "parameterValue": {"value": "1"}}),
                Some("NAMED"),
                "has no name but parameterMode is NAMED",
            ),
            (
                json!({"name": "a", "parameterType": {"type": "ARRAY", "arrayType": {"type": "INT64"}},
                       "parameterValue": {"arrayValues": [{}]}}),
                None,
                "an ARRAY cannot hold NULL",
            ),
        ];
        for (p, mode, want) in table {
            let err = params(std::slice::from_ref(p), *mode).expect_err("invalid");
            assert!(err.message.contains(want), "{p}: {}", err.message);
        }
    }
}
