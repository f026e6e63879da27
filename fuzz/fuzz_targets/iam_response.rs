//! IAM Credentials `generateAccessToken` answers (step 3): `accessToken` and an RFC 3339
//! `expireTime` with any offset and fraction.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match wif_impersonate::fuzzing::generate_access_token_response(data) {
        Ok(token) => {
            let _ = (token.remaining(), token.expires_at(), format!("{token:?}"));
        }
        Err(e) => {
            let _ = format!("{e} {e:?}");
        }
    }
});
