//! Entry point for the coverage-guided fuzz target `server_text_scrub` in the repository's `fuzz/`
//! directory: server error text that embeds a request's secrets, in any spelling, must come out of
//! [`Error::redact`] and [`Redactor::scrub`] without any of them. Only with the `fuzzing` feature
//! (which `fuzz/Cargo.toml` turns on) and in this crate's own tests; not part of the API: hidden
//! from the documentation, and free to change.

use crate::spelling::Spelling;
use crate::{Error, Redactor, Step, SubjectToken};

/// The signature inside [`SUBJECT_JSON`].
const SIGNATURE: &str = "0f3c9a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7";
/// The session token inside [`SUBJECT_JSON`]: base64, with the characters spellings change.
const SESSION: &str = "IQoJb3JpZ2luX2VjEAca/session+token==";
/// A signed AWS request as the AWS source serializes it (before percent-encoding).
const SUBJECT_JSON: &str = concat!(
    r#"{"headers":[{"key":"Authorization","value":"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature="#,
    "0f3c9a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7",
    r#""},{"key":"x-amz-security-token","value":"IQoJb3JpZ2luX2VjEAca/session+token=="}],"method":"POST","url":"https://sts.us-east-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"}"#
);
/// A bearer token.
const BEARER: &str = "ya29.bearer/token+value==";
/// A client secret with a space and quotes.
const CLIENT_SECRET: &str = "client secret \"q\" \\ 42";

/// The subject token: [`SUBJECT_JSON`] percent-encoded (everything but ASCII alphanumerics).
fn subject_token() -> String {
    percent_encoding::utf8_percent_encode(SUBJECT_JSON, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
}

/// `secret` spelled the way `how` picks: as is, percent-encoded (upper- or lowercase hex),
/// form-encoded, or JSON-escaped (plain, with `\/`, or every character as `\uXXXX`).
fn spell(secret: &str, how: u8) -> String {
    Spelling::ALL[usize::from(how % 7)].of(secret)
}

/// Builds a server answer from `data` — bytes are copied, except that a byte from `0xF0` on
/// followed by another inserts a secret (low nibble) in a spelling (next byte) — turns it into
/// an error scrubbed with the request's [`Redactor`], and checks that neither the error's
/// `Display` and `Debug` nor the scrubbed text of the answer holds any secret in any spelling.
/// `Err` names the leak.
pub fn scrub_server_text(data: &[u8]) -> Result<(), String> {
    let subject = subject_token();
    let secrets = [
        subject.as_str(),
        SUBJECT_JSON,
        SIGNATURE,
        SESSION,
        BEARER,
        CLIENT_SECRET,
    ];
    let mut body = Vec::with_capacity(data.len());
    let mut bytes = data.iter();
    while let Some(&b) = bytes.next() {
        match (b, bytes.as_slice().first()) {
            (0xF0..=0xFF, Some(&how)) => {
                bytes.next();
                let secret = secrets[usize::from(b & 0x0F) % secrets.len()];
                body.extend_from_slice(spell(secret, how).as_bytes());
            }
            _ => body.push(b),
        }
    }
    let redactor = Redactor::new()
        .subject_token(&SubjectToken::new(subject.clone()))
        .secret(BEARER)
        .secret(CLIENT_SECRET);
    let err = Error::http(Step::Exchange, 400, &body).redact(&redactor);
    let shown = format!("{err}\n{err:?}");
    let text = String::from_utf8_lossy(&body);
    let scrubbed = redactor.scrub(&text);
    for secret in secrets {
        for how in 0..7 {
            let spelled = spell(secret, how);
            if shown.contains(&spelled) {
                return Err(format!("the error shows {spelled:?}: {shown}"));
            }
            if scrubbed.contains(&spelled) {
                return Err(format!("the scrubbed text shows {spelled:?}: {scrubbed}"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `scrub_server_text` over hand-made answers and a few thousand pseudo-random ones (a fixed
    /// seed: the same inputs on every run), so CI exercises what the fuzz target explores.
    #[test]
    fn no_spelling_of_a_secret_survives() {
        let mut seeds: Vec<Vec<u8>> = Vec::new();
        for secret in 0..6u8 {
            for how in 0..7u8 {
                let mut json = br#"{"error":"invalid_grant","error_description":"echo "#.to_vec();
                json.extend_from_slice(&[0xF0 | secret, how]);
                json.extend_from_slice(br#" and more"}"#);
                seeds.push(json);
                let mut rpc = br#"{"error":{"code":403,"message":""#.to_vec();
                rpc.extend_from_slice(&"x".repeat(1000).into_bytes());
                rpc.extend_from_slice(&[0xF0 | secret, how]);
                rpc.extend_from_slice(br#"","errors":[{"reason":""#);
                rpc.extend_from_slice(&[0xF0 | secret, how, 0xF0 | secret, how]);
                rpc.extend_from_slice(br#""}]}}"#);
                seeds.push(rpc);
            }
        }
        let mut rng = fastrand::Rng::with_seed(14);
        let alphabet = b"{}\":,\\/%+= abcAB01error_description";
        for _ in 0..1500 {
            let len = rng.usize(0..200);
            let mut data: Vec<u8> = br#"{"error":"e","error_description":""#.to_vec();
            for _ in 0..len {
                if rng.u8(..) < 20 {
                    data.extend_from_slice(&[0xF0 | rng.u8(0..16), rng.u8(..)]);
                } else {
                    data.push(alphabet[rng.usize(0..alphabet.len())]);
                }
            }
            data.extend_from_slice(br#""}"#);
            seeds.push(data);
        }
        for data in seeds {
            if let Err(leak) = scrub_server_text(&data) {
                panic!("input {:?}: {leak}", String::from_utf8_lossy(&data));
            }
        }
    }
}
