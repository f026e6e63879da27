//! Query parameters (`QueryParameter` of
//! [`jobs.query`](https://cloud.google.com/bigquery/docs/reference/rest/v2/jobs/query)): `@name`
//! parameters with `parameterMode=NAMED`, `?` parameters with `parameterMode=POSITIONAL`.
//!
//! Values travel as strings inside `parameterValue` (`{"value":"42"}`), typed by
//! `parameterType` (`{"type":"INT64"}`); arrays and structs nest.

use std::time::SystemTime;

use serde_json::{Map, Value, json};

/// One query parameter's type and value. Build it from a Rust value (`42`, `"text"`, `true`,
/// `1.5`) or with the typed constructors; [`crate::QueryRequest::param`] gives it a name.
///
/// ```
/// use wif_bigquery::QueryParameter;
///
/// let ids = QueryParameter::array([1, 2, 3]);
/// let day = QueryParameter::typed("DATE", "2026-01-01");
/// let nothing = QueryParameter::null("STRING");
/// let point = QueryParameter::structure([("x", 1.into()), ("y", 2.into())]);
/// # let _ = (ids, day, nothing, point);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct QueryParameter {
    param_type: Value,
    param_value: Value,
}

impl QueryParameter {
    /// A scalar of BigQuery type `type_name` (`INT64`, `STRING`, `DATE`, `NUMERIC`, …) written the
    /// way BigQuery reads that type from a string.
    pub fn typed(type_name: &str, value: impl Into<String>) -> Self {
        QueryParameter {
            param_type: json!({ "type": type_name }),
            param_value: json!({ "value": value.into() }),
        }
    }

    /// A NULL of `type_name`.
    pub fn null(type_name: &str) -> Self {
        QueryParameter {
            param_type: json!({ "type": type_name }),
            // An absent `value` is SQL NULL.
            param_value: json!({}),
        }
    }

    /// An INT64 (sent as a decimal string, so no precision is lost).
    pub fn int64(value: i64) -> Self {
        Self::typed("INT64", value.to_string())
    }

    /// A FLOAT64.
    pub fn float64(value: f64) -> Self {
        let text = if value.is_nan() {
            "NaN".to_owned()
        } else if value.is_infinite() {
            if value > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
        } else {
            value.to_string()
        };
        Self::typed("FLOAT64", text)
    }

    /// A BOOL.
    pub fn bool(value: bool) -> Self {
        Self::typed("BOOL", value.to_string())
    }

    /// A STRING.
    pub fn string(value: impl Into<String>) -> Self {
        Self::typed("STRING", value)
    }

    /// A TIMESTAMP, sent in UTC with microseconds (`2026-01-01 12:00:00.000000+00:00`, the
    /// form Python's client uses).
    pub fn timestamp(at: SystemTime) -> Self {
        let micros: i64 = match at.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
            Err(e) => i64::try_from(e.duration().as_micros()).map_or(i64::MIN, |m| -m),
        };
        let text = crate::schema::format_timestamp(micros)
            .map(|s| s.replacen('T', " ", 1).replacen('Z', "+00:00", 1))
            .unwrap_or_default();
        Self::typed("TIMESTAMP", text)
    }

    /// An ARRAY of `elements`; its element type is the first element's. For an empty array,
    /// use [`QueryParameter::empty_array`], which names the type.
    pub fn array<T: Into<QueryParameter>>(elements: impl IntoIterator<Item = T>) -> Self {
        let elements: Vec<QueryParameter> = elements.into_iter().map(Into::into).collect();
        let element_type = elements
            .first()
            .map(|e| e.param_type.clone())
            .unwrap_or_else(|| json!({"type": "STRING"}));
        QueryParameter {
            param_type: json!({ "type": "ARRAY", "arrayType": element_type }),
            param_value: json!({
                "arrayValues": elements.into_iter().map(|e| e.param_value).collect::<Vec<_>>()
            }),
        }
    }

    /// An empty ARRAY of `element_type`.
    pub fn empty_array(element_type: &str) -> Self {
        QueryParameter {
            param_type: json!({ "type": "ARRAY", "arrayType": { "type": element_type } }),
            param_value: json!({ "arrayValues": [] }),
        }
    }

    /// A STRUCT of named fields, in order.
    pub fn structure<N: Into<String>>(
        fields: impl IntoIterator<Item = (N, QueryParameter)>,
    ) -> Self {
        let mut types = Vec::new();
        let mut values = Map::new();
        for (name, field) in fields {
            let name = name.into();
            types.push(json!({ "name": name, "type": field.param_type }));
            values.insert(name, field.param_value);
        }
        QueryParameter {
            param_type: json!({ "type": "STRUCT", "structTypes": types }),
            param_value: json!({ "structValues": values }),
        }
    }

    /// The API's `QueryParameter` JSON, with `name` for named parameters.
    pub(crate) fn to_json(&self, name: Option<&str>) -> Value {
        let mut out = Map::new();
        if let Some(name) = name {
            out.insert("name".into(), Value::String(name.to_owned()));
        }
        out.insert("parameterType".into(), self.param_type.clone());
        out.insert("parameterValue".into(), self.param_value.clone());
        Value::Object(out)
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for QueryParameter {
            fn from(v: $t) -> Self {
                QueryParameter::int64(i64::from(v))
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<f64> for QueryParameter {
    fn from(v: f64) -> Self {
        QueryParameter::float64(v)
    }
}

impl From<f32> for QueryParameter {
    fn from(v: f32) -> Self {
        QueryParameter::float64(f64::from(v))
    }
}

impl From<bool> for QueryParameter {
    fn from(v: bool) -> Self {
        QueryParameter::bool(v)
    }
}

impl From<&str> for QueryParameter {
    fn from(v: &str) -> Self {
        QueryParameter::string(v)
    }
}

impl From<String> for QueryParameter {
    fn from(v: String) -> Self {
        QueryParameter::string(v)
    }
}

impl From<&String> for QueryParameter {
    fn from(v: &String) -> Self {
        QueryParameter::string(v.as_str())
    }
}

impl From<SystemTime> for QueryParameter {
    fn from(v: SystemTime) -> Self {
        QueryParameter::timestamp(v)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn wire_shapes() {
        let table: &[(QueryParameter, Value)] = &[
            (
                42.into(),
                json!({"parameterType": {"type": "INT64"}, "parameterValue": {"value": "42"}}),
            ),
            (
                "x".into(),
                json!({"parameterType": {"type": "STRING"}, "parameterValue": {"value": "x"}}),
            ),
            (
                true.into(),
                json!({"parameterType": {"type": "BOOL"}, "parameterValue": {"value": "true"}}),
            ),
            (
                1.5.into(),
                json!({"parameterType": {"type": "FLOAT64"}, "parameterValue": {"value": "1.5"}}),
            ),
            (
                QueryParameter::null("DATE"),
                json!({"parameterType": {"type": "DATE"}, "parameterValue": {}}),
            ),
            (
                QueryParameter::array(["a", "b"]),
                json!({"parameterType": {"type": "ARRAY", "arrayType": {"type": "STRING"}},
                       "parameterValue": {"arrayValues": [{"value": "a"}, {"value": "b"}]}}),
            ),
            (
                QueryParameter::empty_array("INT64"),
                json!({"parameterType": {"type": "ARRAY", "arrayType": {"type": "INT64"}},
                       "parameterValue": {"arrayValues": []}}),
            ),
            (
                QueryParameter::structure([("x", 1.into())]),
                json!({"parameterType": {"type": "STRUCT", "structTypes": [{"name": "x", "type": {"type": "INT64"}}]},
                       "parameterValue": {"structValues": {"x": {"value": "1"}}}}),
            ),
            (
                (SystemTime::UNIX_EPOCH + Duration::from_micros(1_767_268_800_000_001)).into(),
                json!({"parameterType": {"type": "TIMESTAMP"},
                       "parameterValue": {"value": "2026-01-01 12:00:00.000001+00:00"}}),
            ),
        ];
        for (param, want) in table {
            assert_eq!(&param.to_json(None), want, "{param:?}");
        }
        assert_eq!(
            QueryParameter::int64(1).to_json(Some("id"))["name"],
            json!("id")
        );
    }
}
