//! Server error text that quotes a request's secrets (the AWS subject token, its SigV4
//! signature and session token, a bearer token, a client secret) in any spelling — raw,
//! percent- or form-encoded, JSON-escaped — must leave `Error::redact` and `Redactor::scrub`
//! without any of them. Input: the server's answer, where a byte from 0xF0 on followed by another
//! inserts a secret (low nibble) in a spelling (next byte).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(leak) = wif_core::fuzzing::scrub_server_text(data) {
        panic!("{leak}");
    }
});
