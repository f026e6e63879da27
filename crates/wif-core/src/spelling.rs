//! The spellings a secret can take in a server's text — as sent, percent- or form-encoded,
//! JSON-escaped — which the [`Redactor`](crate::Redactor) must find and scrub. One list for the
//! three places that spell secrets on purpose: the leak checks of the `testing` feature, the
//! `server_text_scrub` fuzz target (`fuzzing`), and the redactor's own tests.

/// One way a server may spell a secret it echoes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spelling {
    /// As is.
    Raw,
    /// Percent-encoded, every byte but ASCII alphanumerics, uppercase hex (`%2F`).
    Percent,
    /// The same with lowercase hex (`%2f`).
    PercentLowerHex,
    /// `application/x-www-form-urlencoded` (space as `+`).
    Form,
    /// Inside a JSON string.
    Json,
    /// Inside a JSON string, with `/` escaped as `\/`.
    JsonSlashes,
    /// Every UTF-16 unit as `\uXXXX` (lowercase hex).
    JsonUnicode,
    /// Rust's `Debug` escaping of a string, without the quotes.
    Debug,
}

impl Spelling {
    /// Every spelling. The fuzz target picks one of the first seven by a byte of its input, so
    /// their order is part of the committed corpus: add new ones at the end.
    pub(crate) const ALL: [Spelling; 8] = [
        Spelling::Raw,
        Spelling::Percent,
        Spelling::PercentLowerHex,
        Spelling::Form,
        Spelling::Json,
        Spelling::JsonSlashes,
        Spelling::JsonUnicode,
        Spelling::Debug,
    ];

    /// `secret` spelled this way.
    pub(crate) fn of(self, secret: &str) -> String {
        let percent = || {
            percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
        };
        let json = || unquote(&serde_json::to_string(secret).unwrap_or_default());
        match self {
            Spelling::Raw => secret.to_owned(),
            Spelling::Percent => percent(),
            Spelling::PercentLowerHex => lowercase_hex(&percent()),
            Spelling::Form => url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
            Spelling::Json => json(),
            Spelling::JsonSlashes => json().replace('/', "\\/"),
            Spelling::JsonUnicode => secret
                .encode_utf16()
                .map(|unit| format!("\\u{unit:04x}"))
                .collect(),
            Spelling::Debug => unquote(&format!("{secret:?}")),
        }
    }
}

/// `"text"` → `text`.
fn unquote(quoted: &str) -> String {
    quoted[1..quoted.len().saturating_sub(1).max(1)].to_owned()
}

/// `%2F` → `%2f`, the rest unchanged.
fn lowercase_hex(percent: &str) -> String {
    let mut out = String::with_capacity(percent.len());
    let mut hex_left = 0;
    for c in percent.chars() {
        if c == '%' {
            hex_left = 2;
            out.push(c);
        } else if hex_left > 0 {
            hex_left -= 1;
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_spelling_of_a_nasty_secret() {
        let secret = "a/b c\"é";
        let table = [
            (Spelling::Raw, "a/b c\"é"),
            (Spelling::Percent, "a%2Fb%20c%22%C3%A9"),
            (Spelling::PercentLowerHex, "a%2fb%20c%22%c3%a9"),
            (Spelling::Form, "a%2Fb+c%22%C3%A9"),
            (Spelling::Json, "a/b c\\\"é"),
            (Spelling::JsonSlashes, "a\\/b c\\\"é"),
            (
                Spelling::JsonUnicode,
                "\\u0061\\u002f\\u0062\\u0020\\u0063\\u0022\\u00e9",
            ),
            (Spelling::Debug, "a/b c\\\"é"),
        ];
        for (spelling, want) in table {
            assert_eq!(spelling.of(secret), want, "{spelling:?}");
        }
    }
}
