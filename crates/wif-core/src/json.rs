//! JSON helpers for messages about untrusted documents (credential configurations, server
//! answers, executable output).

use serde_json::Value;

/// The JSON type of `value` as a noun for an error message ("expected a string, found a
/// number"). It names the type only: the value itself may be a token.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::type_name;

    #[test]
    fn every_type_has_a_noun() {
        let cases = [
            (json!(null), "null"),
            (json!(true), "a boolean"),
            (json!(1.5), "a number"),
            (json!("ya29.secret"), "a string"),
            (json!([1]), "an array"),
            (json!({"a": 1}), "an object"),
        ];
        for (value, noun) in cases {
            assert_eq!(type_name(&value), noun, "{value}");
        }
    }
}
