//! Google STS answers (step 2): a success body becomes a federated token, anything else an error
//! carrying the server's words. Input: two bytes of status, then the body.
//!
//! Beyond "no panic": no error may show the subject token, even when STS echoes it back.

#![no_main]

use libfuzzer_sys::fuzz_target;

/// The "sent" subject token; error bodies in the corpus echo it. It holds characters JSON may
/// escape (`/`, `+`), as SAML assertions (base64) do.
const SUBJECT: &str = "fuzz-subject/token+0123456789==";

fuzz_target!(|data: &[u8]| {
    let [hi, lo, body @ ..] = data else {
        return;
    };
    // 100..=599, with 200 and 400 most likely for the first seeds' bytes.
    let status = 100 + u16::from_be_bytes([*hi, *lo]) % 500;
    match wif_sts::fuzzing::token_response(status, body, SUBJECT) {
        Ok(token) => {
            let _ = (token.remaining(), token.token_type(), format!("{token:?}"));
        }
        Err(e) => {
            let shown = format!("{e} {e:?}");
            assert!(
                !shown.contains(SUBJECT),
                "the subject token leaked: {shown}"
            );
            let _ = (
                e.is_retryable(),
                e.hint(),
                e.retry_after(),
                e.server_error(),
            );
        }
    }
});
