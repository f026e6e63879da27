//! Typed, path-named reads from a parsed JSON object, for the credential-configuration parser.
//!
//! We walk `serde_json::Value` by hand instead of deriving `Deserialize` so that every error names
//! the exact field (`credential_source.format.subject_token_field_name`) and never echoes a value:
//! the file may hold `client_secret`, header values or tokens.

use serde_json::{Map, Value};
use wif_core::Error;

use crate::plan::{Warning, WarningKind};

/// One JSON object and the dotted path it sits at (`""` for the document root).
pub(crate) struct Fields<'a> {
    map: &'a Map<String, Value>,
    prefix: String,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(map: &'a Map<String, Value>, prefix: impl Into<String>) -> Self {
        Fields {
            map,
            prefix: prefix.into(),
        }
    }

    /// The dotted path of `key` inside this object, as shown in errors.
    pub(crate) fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    /// The value at `key`; JSON `null` counts as absent (Python's `info.get()` treats them alike).
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// Whether `key` is present with a non-null value.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The keys present with non-null values, in the map's order.
    pub(crate) fn present_keys(&self) -> impl Iterator<Item = &'a str> {
        self.map
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, _)| k.as_str())
    }

    /// A string field; absent or `null` gives `None`, any other JSON type is an error.
    pub(crate) fn string(&self, key: &str) -> Result<Option<&'a str>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(wrong_type(&self.path(key), "a string", other)),
        }
    }

    /// A string field where an empty (or all-whitespace) value means "not set", as in both
    /// of Google's libraries (`""` is falsy in Python and the zero value in Go).
    pub(crate) fn non_empty(&self, key: &str) -> Result<Option<&'a str>, Error> {
        Ok(self.string(key)?.filter(|s| !s.trim().is_empty()))
    }

    /// A string field that must be present and non-empty.
    pub(crate) fn required(&self, key: &str, what: &str) -> Result<&'a str, Error> {
        match self.string(key)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            Some(_) => Err(Error::config(&self.path(key), format!("is empty; {what}"))),
            None => Err(Error::config(
                &self.path(key),
                format!("is missing; {what}"),
            )),
        }
    }

    /// A non-negative integer field.
    pub(crate) fn uint(&self, key: &str) -> Result<Option<u64>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(v) => Ok(Some(v)),
                None => Err(Error::config(
                    &self.path(key),
                    "expected a non-negative whole number",
                )),
            },
            Some(other) => Err(wrong_type(&self.path(key), "a whole number", other)),
        }
    }

    /// A boolean field.
    pub(crate) fn boolean(&self, key: &str) -> Result<Option<bool>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(wrong_type(&self.path(key), "true or false", other)),
        }
    }

    /// A nested object field.
    pub(crate) fn object(&self, key: &str) -> Result<Option<Fields<'a>>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Fields::new(map, self.path(key)))),
            Some(other) => Err(wrong_type(&self.path(key), "an object", other)),
        }
    }

    /// The keys this object holds that the parser does not read, as warnings (names only, never
    /// values). They are ignored, as Google's libraries ignore them; but a typo such as
    /// `tokenurl` would otherwise silently leave the default in place of what was meant.
    pub(crate) fn unknown_keys(&self, known: &[&str]) -> Vec<Warning> {
        self.present_keys()
            .filter(|k| !known.contains(k))
            .map(|key| {
                let message = match closest(key, known) {
                    Some(meant) => format!(
                        "unknown field, ignored; did you mean `{}`?",
                        self.path(meant)
                    ),
                    None => "unknown field, ignored".to_owned(),
                };
                Warning::new(WarningKind::UnknownField, self.path(key), message)
            })
            .collect()
    }
}

/// The known key `key` is probably a misspelling of: the same letters but for case, `_` and
/// `-`, or at most two edits away.
fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let wanted = squash(key);
    known
        .iter()
        .map(|k| (edit_distance(&wanted, &squash(k)), *k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance of two short strings (config keys).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// The error for a field holding the wrong JSON type. The value itself is not shown.
pub(crate) fn wrong_type(field: &str, expected: &str, found: &Value) -> Error {
    Error::config(
        field,
        format!(
            "expected {expected}, found {}",
            wif_core::json::type_name(found)
        ),
    )
}

/// Quotes a short, non-secret value (an enumeration such as `format.type`) for a message,
/// clipped so a pasted token in the wrong field can't flood the output.
pub(crate) fn quoted(s: &str) -> String {
    const MAX: usize = 48;
    if s.chars().count() <= MAX {
        format!("'{s}'")
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("'{head}…'")
    }
}

/// Checks that `value` is an absolute `http(s)` URL with a host. The value is never echoed:
/// URLs can carry credentials in their query or userinfo.
pub(crate) fn check_url(field: &str, value: &str, https_only: bool) -> Result<url::Url, Error> {
    let parsed = url::Url::parse(value)
        .map_err(|e| Error::config(field, format!("is not a valid absolute URL ({e})")))?;
    match parsed.scheme() {
        "https" => {}
        "http" if !https_only => {}
        other => {
            let want = if https_only { "https" } else { "http or https" };
            return Err(Error::config(
                field,
                format!("must be an {want} URL, not {}", quoted(other)),
            ));
        }
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(Error::config(field, "the URL has no host"));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_types_are_named() {
        let v = serde_json::json!({"a": {"b": 5, "c": null, "d": ""}});
        let root = Fields::new(v.as_object().unwrap(), "");
        let a = root.object("a").unwrap().unwrap();
        let err = a.string("b").unwrap_err().to_string();
        assert!(
            err.contains("`a.b`") && err.contains("found a number"),
            "{err}"
        );
        assert_eq!(a.string("c").unwrap(), None, "null counts as absent");
        assert_eq!(a.non_empty("d").unwrap(), None, "empty counts as unset");
        let err = a.required("d", "say what").unwrap_err().to_string();
        assert!(err.contains("`a.d`: is empty; say what"), "{err}");
        let err = root.string("a").unwrap_err().to_string();
        assert!(err.contains("found an object"), "{err}");
    }

    #[test]
    fn urls_are_checked_without_echoing_them() {
        for (value, https_only, ok) in [
            ("https://sts.googleapis.com/v1/token", true, true),
            ("http://127.0.0.1:8080/token", false, true),
            ("http://127.0.0.1:8080/token", true, false),
            ("ftp://host/x?secret=1", false, false),
            ("/relative?secret=1", false, false),
            ("not a url secret=1", false, false),
            ("file:///etc/secret=1", false, false),
        ] {
            let got = check_url("f", value, https_only);
            assert_eq!(got.is_ok(), ok, "{value} https_only={https_only}: {got:?}");
            if let Err(e) = got {
                assert!(!e.to_string().contains("secret"), "{e}");
            }
        }
    }

    #[test]
    fn unknown_keys_are_named_with_what_was_probably_meant() {
        let v =
            serde_json::json!({"tokenurl": "x", "audience": "a", "Quota-Project-ID": 1, "zzz": 1});
        let root = Fields::new(v.as_object().unwrap(), "");
        let warnings = root.unknown_keys(&["audience", "token_url", "quota_project_id"]);
        let shown: Vec<String> = warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "Quota-Project-ID: unknown field, ignored; did you mean `quota_project_id`?",
                "tokenurl: unknown field, ignored; did you mean `token_url`?",
                "zzz: unknown field, ignored",
            ]
        );
        assert!(warnings.iter().all(|w| w.kind == WarningKind::UnknownField));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn quoted_clips_long_values() {
        assert_eq!(quoted("xml"), "'xml'");
        let long = "x".repeat(500);
        assert!(quoted(&long).chars().count() < 60);
    }
}
