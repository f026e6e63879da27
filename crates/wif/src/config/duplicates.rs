//! Duplicate keys in a configuration's JSON text, found before it is parsed into a value.
//!
//! JSON leaves duplicate keys to the parser (RFC 8259 §4: names "SHOULD be unique"), and parsers
//! disagree: serde_json and Python's `json` keep the last value, others the first or refuse. A
//! configuration with `"token_url"` twice can therefore be checked with one value and used by
//! another tool with the other. `serde_json::Value` keeps only the last one, so the check reads
//! the text itself, with a visitor that remembers the keys of each object.

use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The path of the first key that appears twice in one object of `json` (`credential_source.url`,
/// `a[2].b`), shown safely: odd keys are quoted, escaped and clipped. `None` when every object's
/// keys are unique, and when `json` is not valid JSON (the parser reports that).
///
/// Nesting is bounded by serde_json's recursion limit (128), as for every parse.
pub(crate) fn first_duplicate_key(json: &str) -> Option<String> {
    let mut path = Vec::new();
    let mut found = None;
    let mut de = serde_json::Deserializer::from_str(json);
    let walked = Scan {
        path: &mut path,
        found: &mut found,
    }
    .deserialize(&mut de);
    // A syntax error wins: it is the first thing to fix, and reported by the parser.
    if walked.and_then(|()| de.end()).is_err() {
        return None;
    }
    found
}

/// Walks one JSON value, recording the path of the first duplicate key it meets.
struct Scan<'a> {
    path: &'a mut Vec<String>,
    found: &'a mut Option<String>,
}

impl Scan<'_> {
    fn nested(&mut self) -> Scan<'_> {
        Scan {
            path: self.path,
            found: self.found,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Scan<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Scan<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            self.path.push(shown_key(&key));
            if !seen.insert(key) && self.found.is_none() {
                *self.found = Some(joined(self.path));
            }
            map.next_value_seed(self.nested())?;
            self.path.pop();
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        loop {
            self.path.push(format!("[{index}]"));
            let more = seq.next_element_seed(self.nested())?;
            self.path.pop();
            if more.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    // Scalars: nothing to remember.
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// A key (or header name) for a message: plain identifiers as they are, anything else quoted
/// with escapes and clipped, so a hostile key can neither flood nor forge a message.
pub(crate) fn shown_key(key: &str) -> String {
    const MAX: usize = 40;
    let plain = !key.is_empty()
        && key.len() <= MAX
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        return key.to_owned();
    }
    let mut shown: String = key.chars().take(MAX).flat_map(char::escape_debug).collect();
    if key.chars().count() > MAX {
        shown.push('…');
    }
    format!("\"{shown}\"")
}

fn joined(path: &[String]) -> String {
    let mut out = String::new();
    for segment in path {
        if !out.is_empty() && !segment.starts_with('[') {
            out.push('.');
        }
        out.push_str(segment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_duplicate_at_any_depth() {
        let table = [
            (r#"{"a": 1, "b": 2}"#, None),
            (r#"{"a": 1, "a": 2}"#, Some("a")),
            (
                r#"{"credential_source": {"url": "x", "headers": {}, "url": "y"}}"#,
                Some("credential_source.url"),
            ),
            (r#"{"a": {"b": 1}, "c": {"b": 1}}"#, None),
            (r#"{"a": [{"x": 1}, {"x": 1, "x": 2}]}"#, Some("a[1].x")),
            (r#"[{"k": 1, "k": 1}]"#, Some("[0].k")),
            // Equal after JSON unescaping: the same key.
            (
                r#"{"token_url": 1, "token\u005furl": 2}"#,
                Some("token_url"),
            ),
            // Different case: different keys (JSON names are case-sensitive).
            (r#"{"Token_url": 1, "token_url": 2}"#, None),
            (r#"{"a\nb": 1, "a\nb": 2}"#, Some("\"a\\nb\"")),
            // Not JSON: left to the parser.
            (r#"{"a": 1, "a": "#, None),
            ("", None),
        ];
        for (json, want) in table {
            assert_eq!(first_duplicate_key(json).as_deref(), want, "{json}");
        }
    }

    #[test]
    fn hostile_keys_are_clipped_and_escaped() {
        let long = "k".repeat(500);
        let json = format!(r#"{{"{long}": 1, "{long}": 2}}"#);
        let shown = first_duplicate_key(&json).expect("found");
        assert!(shown.chars().count() < 50, "{shown}");
        let json = "{\"\\u001b[31m\": 1, \"\\u001b[31m\": 2}";
        let shown = first_duplicate_key(json).expect("found");
        assert!(!shown.contains('\u{1b}'), "{shown:?}");
    }

    #[test]
    fn nesting_is_bounded_by_the_parser() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(first_duplicate_key(&deep), None);
    }
}
