//! Keeping a request's secrets out of what the server says back: the one scrubbing facility every
//! layer of the chain uses.
//!
//! A server may quote its request in an error: STS echoing a malformed subject token, an IAM 403
//! listing the request headers (the federated bearer token among them), a proxy's page dumping the
//! form body, AWS reciting the canonical request. Whatever the server's words are, they reach an
//! [`Error`](crate::Error) and from there the terminal and the logs. So each layer builds a
//! [`Redactor`] from the secrets its request carried and hands every error of that request
//! through [`Error::redact`](crate::Error::redact) before anyone sees it (in particular before the
//! retry loop logs it).
//!
//! A secret is found in any of the spellings a server might use for it, and any mix of them:
//!
//! * as is;
//! * percent-encoded (`%2F` or `%2f`), as in a URL or an `application/x-www-form-urlencoded`
//!   body, where a space is also `+`;
//! * JSON-escaped (`\"`, `\\`, `\/`, `\n`, `\u0041`, surrogate pairs), as in a JSON body quoted
//!   inside a message — also what Rust's `Debug` writes for quotes and backslashes.
//!
//! A subject token adds the secrets it is made of: percent-decoded, and for the serialized AWS
//! `GetCallerIdentity` request (`urn:ietf:params:aws:token-type:aws4_request`) the `Authorization`
//! header value, its SigV4 `Signature` and the `x-amz-security-token`, so a server that echoes
//! only one header is caught too. An `Authorization` header value adds its credentials without
//! the scheme, a `Basic` one the password inside, and a SigV4 one its `Signature`.
//!
//! Values shorter than 8 bytes are ignored: they would redact innocent words and cannot be a
//! meaningful leak. Server text clipped to its length limit (ending in `…`) also loses a secret
//! cut short by the clip, when at least 8 characters of it remain.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::{AccessToken, SubjectToken};

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Shorter values are not scrubbed (see the module docs).
const MIN_SECRET_LEN: usize = 8;

/// The mark [`crate::ServerError`] appends to text it clipped.
const CLIP_MARK: char = '…';

/// The secrets one request carried, and the scrubbing of server text against them.
///
/// `Debug` shows how many secrets it holds, never their values; they are zeroed on drop.
///
/// ```
/// use wif_core::{Error, Redactor, Step, SubjectToken};
///
/// let subject = SubjectToken::new("eyJhbGciOiJSUzI1NiJ9.claims.signature");
/// let redactor = Redactor::new().subject_token(&subject);
/// let body = br#"{"error":"invalid_grant","error_description":"bad token eyJhbGciOiJSUzI1NiJ9.claims.signature"}"#;
/// let err = Error::http(Step::Exchange, 400, body).redact(&redactor);
/// assert!(err.to_string().contains("bad token [REDACTED]"));
/// ```
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<SecretString>,
}

impl Redactor {
    /// No secrets yet.
    pub fn new() -> Self {
        Redactor::default()
    }

    /// Adds one secret value (see [`add`](Self::add)).
    pub fn secret(mut self, value: &str) -> Self {
        self.add(value);
        self
    }

    /// Adds a subject token and the secrets it is made of (see the module docs).
    pub fn subject_token(mut self, token: &SubjectToken) -> Self {
        self.add_subject_token(token);
        self
    }

    /// Adds an access token (a bearer token a request carried).
    pub fn access_token(mut self, token: &AccessToken) -> Self {
        self.add_access_token(token);
        self
    }

    /// [`access_token`](Self::access_token), in place.
    pub fn add_access_token(&mut self, token: &AccessToken) {
        self.add(token.secret().expose_secret());
    }

    /// Adds a header value a request carried: whole, and for `Authorization`-style values
    /// (`Scheme credentials`) the credentials alone, a `Basic` header's password and an AWS
    /// SigV4 header's `Signature`.
    pub fn header_value(mut self, value: &http::HeaderValue) -> Self {
        self.add_header_value(value);
        self
    }

    /// Adds one secret value. Values shorter than 8 bytes and repeats are ignored.
    pub fn add(&mut self, value: &str) {
        if value.len() < MIN_SECRET_LEN || self.secrets.iter().any(|s| s.expose_secret() == value) {
            return;
        }
        self.secrets.push(SecretString::from(value));
    }

    /// [`subject_token`](Self::subject_token), in place.
    pub fn add_subject_token(&mut self, token: &SubjectToken) {
        let raw = token.secret().expose_secret();
        self.add(raw);
        // The AWS serialization is percent-encoded JSON; a server that decoded it quotes the JSON.
        let decoded = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .ok()
            .filter(|d| d.as_ref() != raw)
            .map(|d| SecretString::from(d.into_owned()));
        if let Some(decoded) = &decoded {
            self.add(decoded.expose_secret());
        }
        let json = decoded.as_ref().map_or(raw, |d| d.expose_secret());
        if let Ok(request) = serde_json::from_str::<SerializedRequest>(json) {
            for header in &request.headers {
                let value = header.value.expose_secret();
                if header.key.eq_ignore_ascii_case("authorization") {
                    self.add(value);
                    if let Some(signature) = sigv4_signature(value) {
                        self.add(signature);
                    }
                } else if header.key.eq_ignore_ascii_case("x-amz-security-token") {
                    self.add(value);
                }
            }
        }
    }

    /// [`header_value`](Self::header_value), in place.
    pub fn add_header_value(&mut self, value: &http::HeaderValue) {
        let Ok(value) = value.to_str() else {
            // Not visible ASCII: the bytes as text are what a server could echo.
            self.add(&String::from_utf8_lossy(value.as_bytes()));
            return;
        };
        self.add(value);
        if let Some(signature) = sigv4_signature(value) {
            self.add(signature);
        }
        if let Some((scheme, credentials)) = value.trim().split_once(' ') {
            let credentials = credentials.trim();
            self.add(credentials);
            if scheme.eq_ignore_ascii_case("basic")
                && let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(credentials)
                && let Ok(decoded) = String::from_utf8(decoded)
            {
                let decoded = SecretString::from(decoded);
                if let Some((_, password)) = decoded.expose_secret().split_once(':') {
                    self.add(password);
                }
            }
        }
    }

    /// True when there is nothing to scrub.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every secret, in any spelling (see the module docs), replaced by
    /// `[REDACTED]`. Borrowed when nothing was found.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.scrub_text(text, None)
    }

    /// Like [`scrub`](Self::scrub), for text that may have been clipped with a trailing `…`: a
    /// secret cut short by the clip is redacted too, when at least 8 characters of it remain.
    pub fn scrub_clipped<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let clip_at = text.strip_suffix(CLIP_MARK).map(str::len);
        self.scrub_text(text, clip_at)
    }

    fn scrub_text<'a>(&self, text: &'a str, clip_at: Option<usize>) -> Cow<'a, str> {
        if self.secrets.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = String::new();
        let mut copied = 0;
        let mut at = 0;
        while at < text.len() {
            let found = self
                .secrets
                .iter()
                .filter_map(|s| match_end(text, at, s.expose_secret(), clip_at))
                .max();
            match found {
                Some(end) if end > at => {
                    out.push_str(&text[copied..at]);
                    out.push_str(REDACTED);
                    copied = end;
                    at = end;
                }
                _ => at += text[at..].chars().next().map_or(1, char::len_utf8),
            }
        }
        if copied == 0 {
            return Cow::Borrowed(text);
        }
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

/// Google's serialization of a signed AWS request (the `aws4_request` subject token, before
/// percent-encoding): only the headers matter here.
#[derive(Deserialize)]
struct SerializedRequest {
    headers: Vec<SerializedHeader>,
}

#[derive(Deserialize)]
struct SerializedHeader {
    key: String,
    value: SecretString,
}

/// The `Signature=` of a SigV4 `Authorization` value
/// (`AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=<hex>`).
fn sigv4_signature(authorization: &str) -> Option<&str> {
    let (_, rest) = authorization.split_once("Signature=")?;
    let end = rest
        .find(|c: char| c == ',' || c.is_whitespace())
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// Where a spelling of `secret` starting at byte `at` of `text` ends, if one does.
///
/// Each character of the secret may be spelled as itself, percent-encoded, `+` for a space, or
/// JSON-escaped, independently of its neighbours; the set of positions reachable after each
/// character is tracked (at most a few), so mixed and ambiguous spellings (a `%` that is itself
/// or the start of `%25`) need no backtracking. When the text was clipped at `clip_at` and at
/// least [`MIN_SECRET_LEN`] characters matched up to there, the match ends at the clip.
fn match_end(text: &str, at: usize, secret: &str, clip_at: Option<usize>) -> Option<usize> {
    let bytes = text.as_bytes();
    // Most positions start no spelling at all: decide that without allocating.
    let first = secret.as_bytes().first()?;
    if !matches!(bytes.get(at), Some(b) if b == first || matches!(b, b'%' | b'+' | b'\\')) {
        return None;
    }
    let mut states = vec![at];
    let mut next = Vec::new();
    for (matched, c) in secret.chars().enumerate() {
        if let Some(clip) = clip_at
            && matched >= MIN_SECRET_LEN
            && states.contains(&clip)
        {
            return Some(clip);
        }
        next.clear();
        for &from in &states {
            spellings(bytes, from, c, |end| {
                if !next.contains(&end) {
                    next.push(end);
                }
            });
        }
        if next.is_empty() {
            return None;
        }
        std::mem::swap(&mut states, &mut next);
    }
    states.into_iter().max()
}

/// Calls `found(end)` for every spelling of `c` that starts at `bytes[from]`.
fn spellings(bytes: &[u8], from: usize, c: char, mut found: impl FnMut(usize)) {
    let rest = &bytes[from.min(bytes.len())..];
    let mut utf8 = [0u8; 4];
    let literal = c.encode_utf8(&mut utf8).as_bytes();
    if rest.starts_with(literal) {
        found(from + literal.len());
    }
    match rest.first() {
        Some(b'+') if c == ' ' => found(from + 1),
        Some(b'%') => {
            // Every UTF-8 byte of `c` as `%XX`, either case.
            let len = 3 * literal.len();
            if rest.len() >= len
                && literal
                    .iter()
                    .zip(rest.chunks_exact(3))
                    .all(|(b, enc)| enc[0] == b'%' && hex_value(&enc[1..]) == Some(u32::from(*b)))
            {
                found(from + len);
            }
        }
        Some(b'\\') => {
            let short = match c {
                '"' => Some(b'"'),
                '\\' => Some(b'\\'),
                '/' => Some(b'/'),
                '\n' => Some(b'n'),
                '\r' => Some(b'r'),
                '\t' => Some(b't'),
                '\u{8}' => Some(b'b'),
                '\u{c}' => Some(b'f'),
                _ => None,
            };
            if short.is_some() && rest.get(1).copied() == short {
                found(from + 2);
            }
            // `\uXXXX` per UTF-16 unit, either case.
            let mut units = [0u16; 2];
            let units = c.encode_utf16(&mut units);
            let len = 6 * units.len();
            if rest.len() >= len
                && units.iter().zip(rest.chunks_exact(6)).all(|(unit, enc)| {
                    enc[0] == b'\\'
                        && enc[1] == b'u'
                        && hex_value(&enc[2..]) == Some(u32::from(*unit))
                })
            {
                found(from + len);
            }
        }
        _ => {}
    }
}

/// The value of ASCII hex digits (either case); `None` for anything else.
fn hex_value(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |acc, d| {
        let v = char::from(*d).to_digit(16)?;
        Some(acc * 16 + v)
    })
}

#[cfg(test)]
mod tests;
