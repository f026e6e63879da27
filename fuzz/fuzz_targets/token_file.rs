//! File- (and URL-) sourced subject tokens (`TokenFormat::extract`): the content of the token
//! file, read as `format.type` `text` or `json` with a `subject_token_field_name`. Input: one byte
//! choosing the format and field, then the content, where each 0xFF byte stands for a secret
//! token.
//!
//! Beyond "no panic": a token is non-empty, trimmed, no longer than the content and hidden by
//! `Debug`; an error is short and never shows the content's secret.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wif_core::TokenFormat;
use wif_core::secrecy::ExposeSecret;

/// What each 0xFF byte of the input becomes: a token the content carries.
const SECRET: &str = "fuzz-secret-token-9d2b7e";
const FIELDS: [&str; 4] = ["id_token", "access_token", "token", ""];

fuzz_target!(|data: &[u8]| {
    let [choice, content @ ..] = data else {
        return;
    };
    let mut bytes = Vec::with_capacity(content.len());
    for &b in content {
        match b {
            0xFF => bytes.extend_from_slice(SECRET.as_bytes()),
            _ => bytes.push(b),
        }
    }
    let format = match choice % 5 {
        0 => TokenFormat::Text,
        n => TokenFormat::Json {
            subject_token_field_name: FIELDS[usize::from(n - 1)].to_owned(),
        },
    };
    match format.extract(&bytes, "/fuzz/token") {
        Ok(token) => {
            let text = token.secret().expose_secret();
            assert!(!text.is_empty());
            assert_eq!(text, text.trim(), "not trimmed");
            assert!(text.len() <= bytes.len(), "longer than the content");
            // Checked through the marker: a short token may be a word `Debug` prints anyway
            // (a field name such as `expires_`).
            if text.contains(SECRET) {
                assert!(
                    !format!("{token:?}").contains(SECRET),
                    "Debug shows the token"
                );
            }
        }
        Err(e) => {
            let shown = format!("{e} {e:?}");
            assert!(shown.len() <= 1000, "{} bytes: {shown}", shown.len());
            assert!(
                !shown.contains(SECRET),
                "the error shows the token: {shown}"
            );
        }
    }
});
