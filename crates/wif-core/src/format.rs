//! How a file or URL source's content becomes a subject token: `format.type` of Google's
//! `credential_source` (`text`, or `json` with `subject_token_field_name`).
//!
//! Leading and trailing whitespace is **trimmed** in both formats (as Go's x/oauth2 does; Python's
//! google-auth sends a trailing newline verbatim, which Google STS then rejects as a malformed
//! token). No real JWT or SAML assertion has surrounding whitespace, so trimming only removes
//! the editor's trailing newline.

use crate::{Error, ErrorKind, Step, SubjectToken};

/// The format of a file- or URL-sourced subject token.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum TokenFormat {
    /// The whole content is the token.
    #[default]
    Text,
    /// The content is a JSON object; the token is the string at `subject_token_field_name`.
    Json {
        /// The field holding the token (e.g. `access_token`, `id_token`).
        subject_token_field_name: String,
    },
}

impl TokenFormat {
    /// Extracts the subject token from `content` read at `location` (a path or URL without
    /// query, used in error messages). The content itself never appears in errors.
    pub fn extract(&self, content: &[u8], location: &str) -> Result<SubjectToken, Error> {
        let token = match self {
            TokenFormat::Text => std::str::from_utf8(content)
                .map_err(|_| invalid(format!("{location}: the token is not valid UTF-8")))?
                .trim()
                .to_owned(),
            TokenFormat::Json {
                subject_token_field_name: field,
            } => {
                let value: serde_json::Value = serde_json::from_slice(content).map_err(|e| {
                    invalid(format!(
                        "{location}: content is not valid JSON (line {}, column {}), so field `{field}` can't be read",
                        e.line(),
                        e.column()
                    ))
                })?;
                match value.get(field.as_str()) {
                    Some(serde_json::Value::String(s)) => s.trim().to_owned(),
                    Some(other) => {
                        return Err(invalid(format!(
                            "{location}: field `{field}` is a JSON {}, not a string",
                            json_type(other)
                        )));
                    }
                    None => {
                        return Err(invalid(format!(
                            "{location}: JSON has no field `{field}` (check `subject_token_field_name`)"
                        )));
                    }
                }
            }
        };
        if token.is_empty() {
            return Err(invalid(format!("{location}: the subject token is empty")));
        }
        Ok(SubjectToken::new(token))
    }
}

fn invalid(message: String) -> Error {
    Error::new(Step::Source, ErrorKind::InvalidToken, message)
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn json(field: &str) -> TokenFormat {
        TokenFormat::Json {
            subject_token_field_name: field.into(),
        }
    }

    #[test]
    fn table() {
        let cases: &[(TokenFormat, &[u8], Result<&str, &str>)] = &[
            (TokenFormat::Text, b"abc", Ok("abc")),
            (TokenFormat::Text, b"  abc\r\n", Ok("abc")),
            (TokenFormat::Text, b"\n", Err("empty")),
            (TokenFormat::Text, &[0xff, 0xfe], Err("UTF-8")),
            (
                json("access_token"),
                br#"{"access_token":" tok "}"#,
                Ok("tok"),
            ),
            (
                json("access_token"),
                br#"{"id_token":"tok"}"#,
                Err("no field `access_token`"),
            ),
            (
                json("access_token"),
                br#"{"access_token":5}"#,
                Err("a JSON number, not a string"),
            ),
            (
                json("access_token"),
                br#"{"access_token":null}"#,
                Err("a JSON null"),
            ),
            (
                json("access_token"),
                br#"{"access_token":""}"#,
                Err("empty"),
            ),
            (
                json("access_token"),
                b"not json secret-ish",
                Err("not valid JSON"),
            ),
            (json("access_token"), br#"["a"]"#, Err("no field")),
        ];
        for (format, content, want) in cases {
            let got = format.extract(content, "/t");
            match (want, got) {
                (Ok(v), Ok(t)) => assert_eq!(t.secret().expose_secret(), *v, "{format:?}"),
                (Err(needle), Err(e)) => {
                    let shown = e.to_string();
                    assert!(shown.contains(needle), "{format:?}: {shown}");
                    assert!(shown.contains("/t"), "location named: {shown}");
                    assert!(!shown.contains("secret-ish"), "content leaked: {shown}");
                    assert_eq!(e.step(), Step::Source);
                }
                (w, g) => panic!("{format:?} on {content:?}: want {w:?}, got {g:?}"),
            }
        }
    }
}
