//! The chain's AWS source step seen from the other side: an independent AWS Signature Version 4
//! verifier.
//!
//! AWS STS (`/aws/sts`) and Google STS (`/v1/token`, which replays the signed `GetCallerIdentity`
//! request of an AWS subject token) both end here. The canonical request, string to sign and
//! HMAC-SHA256 key derivation are written out by hand (`docs/protocol.md#signing-getcalleridentity`) rather
//! than borrowed from `aws-sigv4`, so the client's signer is checked by a second implementation
//! instead of by itself.
//!
//! A rejection says precisely what is wrong (for the emulator's logs and Google STS's
//! `error_description`) and maps to the code and words AWS would answer with.

use std::fmt;
use std::time::{Duration, SystemTime};

use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::config::AwsIdentity;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const TERMINATOR: &str = "aws4_request";

/// RFC 3986 unreserved characters stay, everything else is `%XX` (SigV4's `UriEncode`).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// The same for paths, where `/` separates segments.
const UNRESERVED_PATH: &AsciiSet = &UNRESERVED.remove(b'/');

/// A request as it was signed: method, absolute URL (with query), headers, body.
#[derive(Clone, Copy)]
pub(crate) struct SignedRequest<'a> {
    pub(crate) method: &'a str,
    pub(crate) url: &'a str,
    pub(crate) headers: &'a [(String, String)],
    pub(crate) body: &'a [u8],
}

/// An access key AWS knows, with its secret.
#[derive(Clone, Copy)]
pub(crate) struct KnownKey<'a> {
    pub(crate) access_key_id: &'a str,
    pub(crate) secret_access_key: &'a str,
    /// Temporary credentials (`ASIA…`) come with a session token the request must carry.
    pub(crate) session_token: Option<&'a str>,
    /// The temporary credentials have expired.
    pub(crate) expired: bool,
}

impl<'a> KnownKey<'a> {
    /// The emulated role's temporary credentials, expired once their `session_expires_at` has
    /// passed.
    pub(crate) fn of(identity: &'a AwsIdentity) -> Self {
        KnownKey {
            access_key_id: &identity.access_key_id,
            secret_access_key: &identity.secret_access_key,
            session_token: Some(identity.session_token.as_str()).filter(|t| !t.is_empty()),
            expired: identity
                .session_expires_at
                .is_some_and(|at| at <= SystemTime::now()),
        }
    }
}

/// What the verifier checks against.
pub(crate) struct Verifier<'a> {
    pub(crate) keys: Vec<KnownKey<'a>>,
    pub(crate) now: SystemTime,
    pub(crate) max_clock_skew: Duration,
    /// A signed host accepted besides AWS STS's (the emulator's own address); its region is not
    /// checked.
    pub(crate) also_host: Option<&'a str>,
}

/// A request whose signature holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VerifiedCaller {
    pub(crate) access_key_id: String,
    pub(crate) region: String,
    pub(crate) service: String,
    pub(crate) signed_at: SystemTime,
    /// Lowercase names of the signed headers.
    pub(crate) signed_headers: Vec<String>,
}

impl VerifiedCaller {
    /// Whether `name` (lowercase) is covered by the signature.
    pub(crate) fn signed(&self, name: &str) -> bool {
        self.signed_headers.iter().any(|h| h == name)
    }
}

/// Why a request is refused. `Display` is the precise reason; [`Rejection::aws_code`] and
/// [`Rejection::aws_message`] are what AWS STS answers. Never holds a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// No `Authorization` header.
    MissingAuthorization,
    /// The `Authorization` header is not `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
    BadAuthorization(String),
    /// `host` is not among the signed headers.
    HostNotSigned,
    /// A signed header is absent from the request.
    MissingSignedHeader(String),
    /// The signed host is not AWS STS.
    BadHost(String),
    /// The credential scope names another region than the host.
    RegionMismatch { scope: String, host: String },
    /// The credential scope names another service than `sts`.
    WrongService(String),
    /// No or a malformed `x-amz-date`, or one that disagrees with the credential scope's date.
    BadDate(String),
    /// The access key id is not known.
    UnknownAccessKey(String),
    /// The temporary credentials have expired.
    ExpiredCredentials,
    /// Temporary credentials without `x-amz-security-token`.
    MissingSessionToken,
    /// An `x-amz-security-token` that is not the key's.
    WrongSessionToken,
    /// `x-amz-date` more than the allowed skew in the past.
    Stale {
        amz_date: String,
        now: SystemTime,
        skew: Duration,
    },
    /// `x-amz-date` more than the allowed skew in the future.
    Future {
        amz_date: String,
        now: SystemTime,
        skew: Duration,
    },
    /// The signature does not match the one computed with the key's secret.
    SignatureMismatch { canonical_request_sha256: String },
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::MissingAuthorization => {
                f.write_str("the request has no Authorization header")
            }
            Rejection::BadAuthorization(why) => write!(f, "malformed Authorization header: {why}"),
            Rejection::HostNotSigned => f.write_str("`host` is not among the signed headers"),
            Rejection::MissingSignedHeader(h) => {
                write!(f, "the signed header `{h}` is not in the request")
            }
            Rejection::BadHost(h) => write!(
                f,
                "the signed host {h:?} is not AWS STS (sts.{{region}}.amazonaws.com or sts.amazonaws.com)"
            ),
            Rejection::RegionMismatch { scope, host } => write!(
                f,
                "the credential scope's region {scope} is not the region of the host ({host})"
            ),
            Rejection::WrongService(s) => {
                write!(f, "the credential scope's service is {s:?}, not \"sts\"")
            }
            Rejection::BadDate(why) => write!(f, "bad signing date: {why}"),
            Rejection::UnknownAccessKey(id) => write!(f, "unknown access key id {id}"),
            Rejection::ExpiredCredentials => f.write_str("the temporary credentials have expired"),
            Rejection::MissingSessionToken => f.write_str(
                "the access key is temporary but the request has no x-amz-security-token",
            ),
            Rejection::WrongSessionToken => {
                f.write_str("the x-amz-security-token is not the access key's session token")
            }
            Rejection::Stale { amz_date, skew, .. } => write!(
                f,
                "x-amz-date {amz_date} is more than {} min in the past",
                skew.as_secs() / 60
            ),
            Rejection::Future { amz_date, skew, .. } => write!(
                f,
                "x-amz-date {amz_date} is more than {} min in the future",
                skew.as_secs() / 60
            ),
            Rejection::SignatureMismatch {
                canonical_request_sha256,
            } => write!(
                f,
                "signature mismatch (wrong secret, or headers changed after signing); expected canonical request SHA-256 {canonical_request_sha256}"
            ),
        }
    }
}

impl Rejection {
    /// AWS's error code.
    pub(crate) fn aws_code(&self) -> &'static str {
        match self {
            Rejection::MissingAuthorization => "MissingAuthenticationToken",
            Rejection::BadAuthorization(_) | Rejection::HostNotSigned | Rejection::BadDate(_) => {
                "IncompleteSignature"
            }
            Rejection::UnknownAccessKey(_)
            | Rejection::MissingSessionToken
            | Rejection::WrongSessionToken => "InvalidClientTokenId",
            Rejection::ExpiredCredentials => "ExpiredToken",
            Rejection::BadHost(_) => "InvalidHost",
            Rejection::MissingSignedHeader(_)
            | Rejection::RegionMismatch { .. }
            | Rejection::WrongService(_)
            | Rejection::Stale { .. }
            | Rejection::Future { .. }
            | Rejection::SignatureMismatch { .. } => "SignatureDoesNotMatch",
        }
    }

    /// AWS's HTTP status.
    pub(crate) fn status(&self) -> u16 {
        match self.aws_code() {
            "IncompleteSignature" | "ExpiredToken" | "InvalidHost" => 400,
            _ => 403,
        }
    }

    /// AWS's words, with the emulator's precise reason where AWS's are vague.
    pub(crate) fn aws_message(&self) -> String {
        match self {
            Rejection::MissingAuthorization => "Request is missing Authentication Token".into(),
            Rejection::BadAuthorization(why) => why.clone(),
            Rejection::HostNotSigned => {
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into()
            }
            Rejection::RegionMismatch { scope, host } => format!(
                "Credential should be scoped to a valid region, not '{scope}'. (The host {host} expects its own region.)"
            ),
            Rejection::WrongService(_) => {
                "Credential should be scoped to correct service: 'sts'.".into()
            }
            Rejection::BadDate(why) => why.clone(),
            Rejection::UnknownAccessKey(_)
            | Rejection::MissingSessionToken
            | Rejection::WrongSessionToken => {
                format!("The security token included in the request is invalid. ({self})")
            }
            Rejection::ExpiredCredentials => {
                "The security token included in the request is expired".into()
            }
            Rejection::Stale {
                amz_date,
                now,
                skew,
            } => format!(
                "Signature expired: {amz_date} is now earlier than {} ({} - {} min.)",
                format_amz_date(now.checked_sub(*skew).unwrap_or(SystemTime::UNIX_EPOCH)),
                format_amz_date(*now),
                skew.as_secs() / 60
            ),
            Rejection::Future {
                amz_date,
                now,
                skew,
            } => format!(
                "Signature not yet current: {amz_date} is still later than {} ({} + {} min.)",
                format_amz_date(now.checked_add(*skew).unwrap_or(*now)),
                format_amz_date(*now),
                skew.as_secs() / 60
            ),
            Rejection::SignatureMismatch { .. } => "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".into(),
            Rejection::BadHost(_) | Rejection::MissingSignedHeader(_) => self.to_string(),
        }
    }
}

/// The parts of an `Authorization` header.
struct Authorization<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<String>,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, Rejection> {
    let bad = |why: String| Rejection::BadAuthorization(why);
    let (algorithm, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    if algorithm != ALGORITHM {
        return Err(bad(format!(
            "Unsupported AWS 'algorithm': '{}'; expected '{ALGORITHM}'.",
            clip(algorithm, 32)
        )));
    }
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => {
                // The part may be a mangled signature: name nothing of its value.
                return Err(bad(
                    "Authorization header has an element that is not Credential=, SignedHeaders= or Signature=."
                        .into(),
                ));
            }
        }
    }
    let missing: Vec<String> = [
        ("Credential", credential.is_none()),
        ("Signature", signature.is_none()),
        ("SignedHeaders", signed.is_none()),
    ]
    .iter()
    .filter(|(_, missing)| *missing)
    .map(|(name, _)| format!("Authorization header requires '{name}' parameter."))
    .collect();
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(bad(missing.join(" ")));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = scope[..] else {
        return Err(bad(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{}'.",
            clip(credential, 96)
        )));
    };
    if terminator != TERMINATOR {
        return Err(bad(format!(
            "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{}'.",
            clip(terminator, 32)
        )));
    }
    Ok(Authorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers: signed
            .split(';')
            .filter(|h| !h.is_empty())
            .map(str::to_ascii_lowercase)
            .collect(),
        signature,
    })
}

impl Verifier<'_> {
    /// Verifies `request`'s SigV4 signature.
    pub(crate) fn verify(&self, request: &SignedRequest<'_>) -> Result<VerifiedCaller, Rejection> {
        let authorization = header_value(request.headers, "authorization")
            .ok_or(Rejection::MissingAuthorization)?;
        let auth = parse_authorization(&authorization)?;
        if !auth.signed_headers.iter().any(|h| h == "host") {
            return Err(Rejection::HostNotSigned);
        }
        let host = header_value(request.headers, "host")
            .ok_or_else(|| Rejection::MissingSignedHeader("host".into()))?;
        if self.also_host != Some(host.as_str()) {
            match sts_host_region(&host) {
                None => return Err(Rejection::BadHost(clip(&host, 128))),
                Some(region) if region != auth.region => {
                    return Err(Rejection::RegionMismatch {
                        scope: clip(auth.region, 64),
                        host,
                    });
                }
                Some(_) => {}
            }
        }
        if auth.service != "sts" {
            return Err(Rejection::WrongService(clip(auth.service, 32)));
        }
        let amz_date = header_value(request.headers, "x-amz-date").ok_or_else(|| {
            Rejection::BadDate(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                    .into(),
            )
        })?;
        let signed_at = parse_amz_date(&amz_date).ok_or_else(|| {
            Rejection::BadDate(format!(
                "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\", got {:?}.",
                clip(&amz_date, 32)
            ))
        })?;
        if amz_date.get(..8) != Some(auth.date) {
            return Err(Rejection::BadDate(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{amz_date}'.",
                clip(auth.date, 16),
                amz_date.get(..8).unwrap_or_default()
            )));
        }
        let key = self
            .keys
            .iter()
            .find(|k| k.access_key_id == auth.access_key_id)
            .ok_or_else(|| Rejection::UnknownAccessKey(clip(auth.access_key_id, 32)))?;
        if key.expired {
            return Err(Rejection::ExpiredCredentials);
        }
        let presented = header_value(request.headers, "x-amz-security-token");
        match (key.session_token, presented.as_deref()) {
            (Some(_), None) => return Err(Rejection::MissingSessionToken),
            (Some(want), Some(got)) if !constant_time_eq(want.as_bytes(), got.as_bytes()) => {
                return Err(Rejection::WrongSessionToken);
            }
            (None, Some(_)) => return Err(Rejection::WrongSessionToken),
            _ => {}
        }
        let oldest = self
            .now
            .checked_sub(self.max_clock_skew)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        if signed_at < oldest {
            return Err(Rejection::Stale {
                amz_date,
                now: self.now,
                skew: self.max_clock_skew,
            });
        }
        if self
            .now
            .checked_add(self.max_clock_skew)
            .is_some_and(|newest| signed_at > newest)
        {
            return Err(Rejection::Future {
                amz_date,
                now: self.now,
                skew: self.max_clock_skew,
            });
        }

        let canonical = canonical_request(request, &auth.signed_headers)?;
        let canonical_request_sha256 = hex(&Sha256::digest(canonical.as_bytes()));
        let string_to_sign = format!(
            "{ALGORITHM}\n{amz_date}\n{}/{}/{}/{TERMINATOR}\n{canonical_request_sha256}",
            auth.date, auth.region, auth.service
        );
        let mismatch = || Rejection::SignatureMismatch {
            canonical_request_sha256: canonical_request_sha256.clone(),
        };
        let mut signing_key = format!("AWS4{}", key.secret_access_key).into_bytes();
        for part in [auth.date, auth.region, auth.service, TERMINATOR] {
            signing_key = hmac_sha256(&signing_key, part.as_bytes()).ok_or_else(mismatch)?;
        }
        let provided = unhex(auth.signature).ok_or_else(mismatch)?;
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&signing_key).map_err(|_| mismatch())?;
        mac.update(string_to_sign.as_bytes());
        // Constant-time comparison: the emulator should not teach bad habits.
        mac.verify_slice(&provided).map_err(|_| mismatch())?;

        Ok(VerifiedCaller {
            access_key_id: auth.access_key_id.to_owned(),
            region: auth.region.to_owned(),
            service: auth.service.to_owned(),
            signed_at,
            signed_headers: auth.signed_headers,
        })
    }
}

/// `METHOD\nURI\nQUERY\nHEADERS\n\nSIGNED_HEADERS\nHEX(SHA256(body))`.
fn canonical_request(
    request: &SignedRequest<'_>,
    signed_headers: &[String],
) -> Result<String, Rejection> {
    let url = url::Url::parse(request.url)
        .map_err(|e| Rejection::BadHost(format!("unparsable URL ({e})")))?;
    // `url` has already resolved dot segments and percent-encoded the path; encoding it once more
    // is SigV4's double encoding for every service but S3.
    let path = match url.path() {
        "" => "/".to_owned(),
        p => utf8_percent_encode(p, UNRESERVED_PATH).to_string(),
    };
    let mut query: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            (
                utf8_percent_encode(&k, UNRESERVED).to_string(),
                utf8_percent_encode(&v, UNRESERVED).to_string(),
            )
        })
        .collect();
    query.sort();
    let query: Vec<String> = query.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut headers = String::new();
    for name in signed_headers {
        let values: Vec<String> = request
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        if values.is_empty() {
            return Err(Rejection::MissingSignedHeader(clip(name, 64)));
        }
        headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    Ok(format!(
        "{}\n{path}\n{}\n{headers}\n{}\n{}",
        request.method.to_ascii_uppercase(),
        query.join("&"),
        signed_headers.join(";"),
        hex(&Sha256::digest(request.body))
    ))
}

/// The region an AWS STS host serves: `sts[-fips].{region}.amazonaws.com`, or `us-east-1` for the
/// global `sts.amazonaws.com`.
pub(crate) fn sts_host_region(host: &str) -> Option<String> {
    let host = host.to_ascii_lowercase();
    if host == "sts.amazonaws.com" {
        return Some("us-east-1".into());
    }
    let rest = host
        .strip_prefix("sts.")
        .or_else(|| host.strip_prefix("sts-fips."))?;
    let region = rest.strip_suffix(".amazonaws.com")?;
    let plausible = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    plausible.then(|| region.to_owned())
}

/// The values of every header named `name` (case-insensitive), joined by `,`.
fn header_value(headers: &[(String, String)], name: &str) -> Option<String> {
    let values: Vec<&str> = headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    // HMAC takes keys of any length; the error case cannot happen but must not panic either.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).ok()?;
    mac.update(data);
    Some(mac.finalize().into_bytes().to_vec())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `20200811T065522Z` → the instant.
pub(crate) fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(s, format)
        .ok()
        .map(|t| SystemTime::from(t.assume_utc()))
}

/// The instant as `x-amz-date` writes it (empty when out of the calendar's range).
pub(crate) fn format_amz_date(t: SystemTime) -> String {
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    let seconds = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default()
}

fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
#[path = "sigv4_tests.rs"]
mod tests;
