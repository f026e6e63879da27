//! V4 signed URLs (`GOOG4-RSA-SHA256`) on the XML API: a request whose query carries
//! `X-Goog-Signature` is authorized by the signature, made by `signBlob` with the emulator's key,
//! instead of a bearer token.
//!
//! The canonical request is rebuilt from what arrived, as Cloud Storage does
//! ([canonical requests](https://cloud.google.com/storage/docs/authentication/canonical-requests)):
//!
//! ```text
//! METHOD \n PATH \n CANONICAL_QUERY (all but X-Goog-Signature, RFC 3986-encoded, sorted)
//! \n CANONICAL_HEADERS (the signed ones, `name:value`) \n\n SIGNED_HEADERS \n UNSIGNED-PAYLOAD
//! ```
//!
//! and the string to sign is `GOOG4-RSA-SHA256 \n X-Goog-Date \n SCOPE \n hex(SHA-256(canonical))`.
//! The `host` header is taken as `storage.googleapis.com` (the host the emulator plays, which
//! clients sign for whatever base URL they were given) or as the request's own `Host`. The
//! signer must be a service account of the emulator, the URL not expired (at most 7 days), and
//! its date not in the future beyond the emulator's clock-skew allowance.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use sha2::{Digest, Sha256};

use super::encode;
use super::xml::xml_error;
use crate::state::State;

/// The host Cloud Storage's XML API is served from, and what clients sign as `host`.
pub(crate) const GCS_HOST: &str = "storage.googleapis.com";
/// The longest a V4 signed URL may live.
const MAX_EXPIRES: u64 = 604_800;

// The error is a ready response for axum; boxing it gains nothing.
#[allow(clippy::result_large_err)]
/// Checks the signature of a signed-URL request; `Err` is the ready 400/403 answer.
pub(crate) fn verify(
    state: &State,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<(), Response> {
    let bad = |message: &str| {
        Err(xml_error(
            StatusCode::BAD_REQUEST,
            "AuthorizationQueryParametersError",
            message,
        ))
    };
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if get("X-Goog-Algorithm") != Some("GOOG4-RSA-SHA256") {
        return bad("X-Goog-Algorithm must be GOOG4-RSA-SHA256.");
    }
    let (Some(credential), Some(date), Some(expires), Some(signed_headers), Some(signature)) = (
        get("X-Goog-Credential"),
        get("X-Goog-Date"),
        get("X-Goog-Expires"),
        get("X-Goog-SignedHeaders"),
        get("X-Goog-Signature"),
    ) else {
        return bad(
            "A signed URL needs X-Goog-Credential, X-Goog-Date, X-Goog-Expires, X-Goog-SignedHeaders and X-Goog-Signature.",
        );
    };
    let Some((email, scope)) = credential.split_once('/') else {
        return bad("X-Goog-Credential must be EMAIL/DATE/REGION/storage/goog4_request.");
    };
    if !state
        .config
        .service_accounts
        .iter()
        .any(|sa| sa.email.eq_ignore_ascii_case(email))
    {
        return Err(denied(
            "The signer is not a service account of this project.",
        ));
    }
    let Some(signed_at) = parse_goog_date(date) else {
        return bad("X-Goog-Date must be YYYYMMDDTHHMMSSZ.");
    };
    if !scope.starts_with(&date[..8]) || !scope.ends_with("/storage/goog4_request") {
        return bad("The credential scope does not match X-Goog-Date.");
    }
    let Some(expires) = expires
        .parse::<u64>()
        .ok()
        .filter(|e| (1..=MAX_EXPIRES).contains(e))
    else {
        return bad("X-Goog-Expires must be 1 to 604800 seconds.");
    };
    let now = SystemTime::now();
    if signed_at > now + state.config.max_clock_skew {
        return bad("X-Goog-Date is in the future.");
    }
    if now > signed_at + Duration::from_secs(expires) {
        return Err(xml_error(
            StatusCode::BAD_REQUEST,
            "ExpiredToken",
            "Invalid argument: the signed URL has expired.",
        ));
    }
    let names: Vec<&str> = signed_headers.split(';').collect();
    if !names.contains(&"host") {
        return bad("X-Goog-SignedHeaders must include host.");
    }
    let Some(signature) = decode_hex(signature) else {
        return Err(denied(
            "The request signature we calculated does not match the signature you provided.",
        ));
    };
    let query = canonical_query(&pairs);
    let request_host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    for host in [GCS_HOST, request_host] {
        let Some(canonical_headers) = canonical_headers(headers, &names, host) else {
            break;
        };
        let canonical = format!(
            "{}\n{}\n{query}\n{canonical_headers}\n\n{signed_headers}\nUNSIGNED-PAYLOAD",
            method.as_str(),
            uri.path()
        );
        let digest: String = Sha256::digest(canonical.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let string_to_sign = format!("GOOG4-RSA-SHA256\n{date}\n{scope}\n{digest}");
        if crate::signing_key::verify(string_to_sign.as_bytes(), &signature) {
            return Ok(());
        }
    }
    Err(denied(
        "The request signature we calculated does not match the signature you provided. Check your Google secret key and signing method.",
    ))
}

fn denied(message: &str) -> Response {
    xml_error(StatusCode::FORBIDDEN, "SignatureDoesNotMatch", message)
}

/// Every parameter but the signature, names and values RFC 3986-encoded, sorted.
fn canonical_query(pairs: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "X-Goog-Signature")
        .map(|(k, v)| (encode(k), encode(v)))
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `name:value` lines of the signed headers (`host` as given), or `None` when one is missing.
fn canonical_headers(headers: &HeaderMap, names: &[&str], host: &str) -> Option<String> {
    let mut lines = BTreeMap::new();
    for name in names {
        let value = if *name == "host" {
            host.to_owned()
        } else {
            let values: Vec<String> = headers
                .get_all(*name)
                .iter()
                .map(|v| {
                    v.to_str()
                        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
                })
                .collect::<Result<_, _>>()
                .ok()?;
            if values.is_empty() {
                return None;
            }
            values.join(",")
        };
        lines.insert(name.to_string(), value);
    }
    Some(
        lines
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// `YYYYMMDDTHHMMSSZ` as a time.
fn parse_goog_date(text: &str) -> Option<SystemTime> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let at = time::PrimitiveDateTime::parse(text, format)
        .ok()?
        .assume_utc();
    let secs = u64::try_from(at.unix_timestamp()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 2048 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_encoded_and_sorted_without_the_signature() {
        let pairs = vec![
            ("X-Goog-Signature".to_owned(), "ab".to_owned()),
            ("b".to_owned(), "x y/z".to_owned()),
            ("X-Goog-Credential".to_owned(), "a@b/c".to_owned()),
        ];
        assert_eq!(
            canonical_query(&pairs),
            "X-Goog-Credential=a%40b%2Fc&b=x%20y%2Fz"
        );
    }

    #[test]
    fn dates_and_hex_parse_strictly() {
        assert!(parse_goog_date("20261207T150420Z").is_some());
        assert!(parse_goog_date("2026-12-07").is_none());
        assert_eq!(decode_hex("00ff"), Some(vec![0, 255]));
        assert_eq!(decode_hex("0"), None);
        assert_eq!(decode_hex("zz"), None);
    }
}
