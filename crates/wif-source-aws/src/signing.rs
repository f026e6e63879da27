//! The chain's source step for AWS ([`Step::Source`]): sign an AWS STS `GetCallerIdentity` request
//! with SigV4 and serialize it into the subject token Google STS verifies
//! (`docs/protocol.md#signing-getcalleridentity`, `#aws-subject-token`).
//!
//! The request is never sent by us: Google replays it against AWS STS to learn the caller's ARN.
//! Signing uses `aws-sigv4`; the serialization is Python google-auth's byte for byte (sorted JSON
//! keys, compact separators, ASCII-only escapes, then `urllib.parse.quote` with `safe="/"`), so the
//! golden vectors (`docs/protocol.md#aws-golden-vectors`) apply. Unlike Python, `x-goog-cloud-target-resource` is signed by
//! default (as Go does and Google recommends): a signed request then only works for one pool.

use std::fmt;
use std::time::SystemTime;

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::{ExposeSecret, SecretString};
use url::Url;
use wif_core::{Error, ErrorKind, Step, SubjectToken};

use crate::credential_source::checked_verification_url;
use crate::credentials::AwsCredentials;
use crate::region::is_plausible_region;

/// The header that binds the signed request to one workload identity pool provider (the audience).
pub const TARGET_RESOURCE_HEADER: &str = "x-goog-cloud-target-resource";

/// Whether `x-goog-cloud-target-resource` is covered by the signature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TargetResource {
    /// Signed (Go's behaviour, Google's recommendation): the request cannot be replayed against
    /// another pool. The default.
    #[default]
    Signed,
    /// Added after signing (Python google-auth's behaviour; reproduces its golden vectors).
    Unsigned,
}

/// A signed `POST` `GetCallerIdentity` request: what the subject token serializes.
///
/// It is a short-lived credential (AWS accepts it for 15 minutes), so the `Authorization` and
/// `x-amz-security-token` values are secrets and never print.
#[derive(Clone)]
pub struct SignedRequest {
    url: String,
    host: String,
    region: String,
    service: String,
    amz_date: String,
    signed_headers: Vec<String>,
    authorization: SecretString,
    session_token: Option<SecretString>,
    target_resource: String,
}

impl SignedRequest {
    /// The HTTP method, always `POST`.
    pub fn method(&self) -> &'static str {
        "POST"
    }

    /// The URL, with `{region}` substituted, exactly as it is serialized.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The `host` header value.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The region of the credential scope.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The service of the credential scope (`sts`).
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The `x-amz-date` header value (`20200811T065522Z`).
    pub fn amz_date(&self) -> &str {
        &self.amz_date
    }

    /// The names of the signed headers, sorted (`host`, `x-amz-date`, …).
    pub fn signed_headers(&self) -> &[String] {
        &self.signed_headers
    }

    /// The audience sent as `x-goog-cloud-target-resource`.
    pub fn target_resource(&self) -> &str {
        &self.target_resource
    }

    /// The `Authorization` header value. Handle with care.
    pub fn authorization(&self) -> &SecretString {
        &self.authorization
    }

    /// Whether an `x-amz-security-token` header is present (temporary credentials).
    pub fn has_session_token(&self) -> bool {
        self.session_token.is_some()
    }

    /// The headers in serialization order: `Authorization`, `host`, `x-amz-date`,
    /// `x-amz-security-token` (when present), `x-goog-cloud-target-resource`.
    pub(crate) fn headers(&self) -> Vec<(&'static str, &str)> {
        let mut headers = vec![
            ("Authorization", self.authorization.expose_secret()),
            ("host", self.host.as_str()),
            ("x-amz-date", self.amz_date.as_str()),
        ];
        if let Some(token) = &self.session_token {
            headers.push(("x-amz-security-token", token.expose_secret()));
        }
        headers.push((TARGET_RESOURCE_HEADER, self.target_resource.as_str()));
        headers
    }

    /// The serialized request, as Python google-auth writes it, before percent-encoding:
    /// `{"headers":[{"key":…,"value":…},…],"method":"POST","url":…}`. Holds secrets.
    pub fn to_json(&self) -> SecretString {
        let mut json = String::from("{\"headers\":[");
        for (i, (key, value)) in self.headers().into_iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            json.push_str("{\"key\":");
            push_json_string(&mut json, key);
            json.push_str(",\"value\":");
            push_json_string(&mut json, value);
            json.push('}');
        }
        json.push_str("],\"method\":\"POST\",\"url\":");
        push_json_string(&mut json, &self.url);
        json.push('}');
        SecretString::from(json)
    }

    /// The subject token: [`to_json`](Self::to_json) percent-encoded like Python's
    /// `urllib.parse.quote` (only `A-Za-z0-9_.-~/` left as is).
    pub fn subject_token(&self) -> SubjectToken {
        let json = self.to_json();
        SubjectToken::new(utf8_percent_encode(json.expose_secret(), QUOTE_SET).to_string())
    }
}

impl fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedRequest")
            .field("method", &self.method())
            .field("url", &self.url)
            .field("host", &self.host)
            .field("region", &self.region)
            .field("service", &self.service)
            .field("amz_date", &self.amz_date)
            .field("signed_headers", &self.signed_headers)
            .field("target_resource", &self.target_resource)
            .field("authorization", &"[REDACTED]")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

/// Python's `quote(s, safe="/")`: everything but ASCII alphanumerics and `_.-~/` is `%XX`-encoded.
const QUOTE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~')
    .remove(b'/');

/// Appends `s` as a JSON string the way Python's `json.dumps(ensure_ascii=True)` writes it:
/// `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, and `\uXXXX` (UTF-16, lowercase hex) for every other
/// character outside `' '..='~'`. `/` is not escaped.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// Signs `POST {url_template with region}` for `GetCallerIdentity` at `time`, with `audience` as
/// `x-goog-cloud-target-resource`. Pure: no I/O, so it serves golden tests and `wif explain`.
///
/// Signed headers: `host`, `x-amz-date`, `x-amz-security-token` (when the credentials have a
/// session token) and, with [`TargetResource::Signed`], `x-goog-cloud-target-resource`. The service
/// is the host's first label without a `-fips` suffix (as Python 2.62+ does), normally `sts`.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use secrecy::ExposeSecret;
/// use wif_source_aws::{
///     sign_get_caller_identity, AwsCredentials, TargetResource, DEFAULT_REGIONAL_CRED_VERIFICATION_URL,
/// };
///
/// let creds = AwsCredentials::new("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", None);
/// let signed = sign_get_caller_identity(
///     &creds,
///     "us-east-2",
///     DEFAULT_REGIONAL_CRED_VERIFICATION_URL,
///     "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/POOL_ID/providers/PROVIDER_ID",
///     UNIX_EPOCH + Duration::from_secs(1_597_128_922),
///     TargetResource::Unsigned,
/// )?;
/// assert!(signed.authorization().expose_secret().ends_with(
///     "Signature=9e722e5b7bfa163447e2a14df118b45ebd283c5aea72019bdf921d6e7dc01a9a"
/// ));
/// # Ok::<(), wif_core::Error>(())
/// ```
pub fn sign_get_caller_identity(
    credentials: &AwsCredentials,
    region: &str,
    url_template: &str,
    audience: &str,
    time: SystemTime,
    target_resource: TargetResource,
) -> Result<SignedRequest, Error> {
    if !is_plausible_region(region) {
        return Err(Error::new(
            Step::Source,
            ErrorKind::InvalidConfig,
            format!("AWS region {region:?} is not a valid region name"),
        ));
    }
    let (url, parsed) = checked_verification_url(url_template, region).map_err(|problem| {
        Error::new(
            Step::Source,
            ErrorKind::InvalidConfig,
            format!("`regional_cred_verification_url` for region {region}: {problem}"),
        )
    })?;
    let host = host_header(&parsed);
    let hostname = parsed.host_str().unwrap_or_default();
    let first_label = hostname.split('.').next().unwrap_or(hostname);
    let service = first_label
        .strip_suffix("-fips")
        .unwrap_or(first_label)
        .to_owned();

    let mut headers = vec![("host", host.as_str())];
    if target_resource == TargetResource::Signed {
        headers.push((TARGET_RESOURCE_HEADER, audience));
    }
    let Signature {
        amz_date,
        authorization,
        signed_headers,
    } = sigv4(
        credentials,
        region,
        time,
        &Unsigned {
            action: wif_core::protocol::GET_CALLER_IDENTITY_ACTION,
            service: &service,
            url: &url,
            headers: &headers,
            body: b"",
        },
    )?;
    Ok(SignedRequest {
        url,
        host,
        region: region.to_owned(),
        service,
        amz_date,
        signed_headers,
        authorization,
        session_token: credentials.session_token().cloned(),
        target_resource: audience.to_owned(),
    })
}

/// The `SignedHeaders=` list of an `Authorization` value (not secret: header names only).
fn signed_headers_of(authorization: &str) -> Vec<String> {
    authorization
        .split(", ")
        .find_map(|part| part.strip_prefix("SignedHeaders="))
        .map(|list| list.split(';').map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The `Host` header value of `url`: host, plus the port when it is not the scheme's default
/// (`Url::port` is `None` then, and HTTP leaves it out of `Host`, so the signature must too).
pub(crate) fn host_header(url: &Url) -> String {
    let hostname = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{hostname}:{port}"),
        None => hostname.to_owned(),
    }
}

/// What SigV4 adds to a request: `x-amz-date` and the (secret) `Authorization` value.
pub(crate) struct Signature {
    pub(crate) amz_date: String,
    pub(crate) authorization: SecretString,
    /// The names of the signed headers, sorted (from the `Authorization` value).
    pub(crate) signed_headers: Vec<String>,
}

/// A `POST` request to sign.
pub(crate) struct Unsigned<'a> {
    /// The AWS action, for errors (`GetCallerIdentity`).
    pub(crate) action: &'a str,
    /// The credential scope's service (`sts`).
    pub(crate) service: &'a str,
    pub(crate) url: &'a str,
    /// The headers to sign, names lower-case, `host` among them.
    pub(crate) headers: &'a [(&'a str, &'a str)],
    pub(crate) body: &'a [u8],
}

/// SigV4-signs `request` with `credentials` for `region` at `time`. With a session token,
/// `x-amz-security-token` is signed too; the caller sends it from the credentials.
///
/// Shared by the serialized `GetCallerIdentity` (sent by Google) and the requests this crate
/// sends to AWS STS itself (`GetWebIdentityToken`).
pub(crate) fn sigv4(
    credentials: &AwsCredentials,
    region: &str,
    time: SystemTime,
    request: &Unsigned<'_>,
) -> Result<Signature, Error> {
    let Unsigned {
        action,
        service,
        url,
        headers,
        body,
    } = *request;
    check_header_values(action, credentials, headers)?;
    let identity = credentials.to_sdk().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| signing_error(action, e.to_string()))?
        .into();
    let request = SignableRequest::new(
        "POST",
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| signing_error(action, e.to_string()))?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| signing_error(action, e.to_string()))?
        .into_parts();

    let mut amz_date = None;
    let mut authorization = None;
    for (name, value) in instructions.headers() {
        match name {
            "x-amz-date" => amz_date = Some(value.to_owned()),
            "authorization" => authorization = Some(SecretString::from(value.to_owned())),
            _ => {}
        }
    }
    let (Some(amz_date), Some(authorization)) = (amz_date, authorization) else {
        return Err(signing_error(
            action,
            "the signer returned no x-amz-date or authorization header".to_owned(),
        ));
    };
    let signed_headers = signed_headers_of(authorization.expose_secret());
    Ok(Signature {
        amz_date,
        authorization,
        signed_headers,
    })
}

/// Everything that becomes a header value must be one: aws-sigv4 would refuse it with a bare
/// "invalid header value", naming neither the header nor where the value came from. Values are
/// never shown (the session token is a secret).
fn check_header_values(
    action: &str,
    credentials: &AwsCredentials,
    headers: &[(&str, &str)],
) -> Result<(), Error> {
    let valid = |v: &str| reqwest::header::HeaderValue::from_str(v).is_ok();
    if !valid(credentials.access_key_id()) {
        return Err(signing_error(
            action,
            "the AWS access key id is not a valid HTTP header value (a stray newline or \
             non-ASCII character in AWS_ACCESS_KEY_ID or the metadata credentials?)"
                .to_owned(),
        ));
    }
    if credentials
        .session_token()
        .is_some_and(|t| !valid(t.expose_secret()))
    {
        return Err(signing_error(
            action,
            "the AWS session token is not a valid HTTP header value (a stray newline or \
             non-ASCII character in AWS_SESSION_TOKEN or the metadata credentials?)"
                .to_owned(),
        ));
    }
    if let Some((name, _)) = headers.iter().find(|(_, value)| !valid(value)) {
        return Err(signing_error(
            action,
            format!("the value of the {name} header is not a valid HTTP header value"),
        ));
    }
    Ok(())
}

fn signing_error(action: &str, problem: String) -> Error {
    // The messages name the failing part (a header, the URI), never a value.
    Error::new(
        Step::Source,
        ErrorKind::InvalidConfig,
        format!("could not SigV4-sign the {action} request: {problem}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential_source::DEFAULT_REGIONAL_CRED_VERIFICATION_URL;

    #[test]
    fn values_that_cannot_be_headers_are_named_before_signing_and_never_shown() {
        let unsigned = Unsigned {
            action: "GetWebIdentityToken",
            service: "sts",
            url: "https://sts.eu-west-1.amazonaws.com/",
            headers: &[("host", "sts.eu-west-1.amazonaws.com")],
            body: b"",
        };
        // The error of signing (a `Signature` holds a secret, so it has no Debug to unwrap with).
        let sign_with = |creds: &AwsCredentials, unsigned: &Unsigned<'_>| {
            sigv4(creds, "eu-west-1", SystemTime::UNIX_EPOCH, unsigned).err()
        };
        let good = AwsCredentials::new("ASIAOK", "secret", Some("token".to_owned()));
        assert!(sign_with(&good, &unsigned).is_none());

        let bad_token = AwsCredentials::new("ASIAOK", "secret", Some("TOK\nEN-SECRET".to_owned()));
        let err = sign_with(&bad_token, &unsigned).expect("refused");
        assert!(err.to_string().contains("session token"), "{err}");
        assert!(!format!("{err} {err:?}").contains("EN-SECRET"), "{err:?}");

        let bad_id = AwsCredentials::new("ASIA\u{7f}ID", "secret", None);
        let err = sign_with(&bad_id, &unsigned).expect("refused");
        assert!(err.to_string().contains("access key id"), "{err}");

        let bad_header = Unsigned {
            headers: &[("x-goog-cloud-target-resource", "a\rb")],
            ..unsigned
        };
        let err = sign_with(&good, &bad_header).expect("refused");
        assert!(
            err.to_string().contains("x-goog-cloud-target-resource"),
            "{err}"
        );
    }

    #[test]
    fn json_strings_escape_like_python_ensure_ascii() {
        let table = [
            ("plain/path&q=1", r#""plain/path&q=1""#),
            ("quote\" back\\", r#""quote\" back\\""#),
            ("nl\ncr\rtab\t", r#""nl\ncr\rtab\t""#),
            ("\u{8}\u{c}\u{1}\u{7f}", r#""\b\f\u0001\u007f""#),
            ("é", r#""\u00e9""#),
            ("😀", r#""\ud83d\ude00""#),
        ];
        for (input, want) in table {
            let mut out = String::new();
            push_json_string(&mut out, input);
            assert_eq!(out, want, "input {input:?}");
        }
    }

    #[test]
    fn quote_keeps_only_unreserved_and_slash() {
        let quoted = utf8_percent_encode("a-b_c.d~e/f g+h=i&j:k%é", QUOTE_SET).to_string();
        assert_eq!(quoted, "a-b_c.d~e/f%20g%2Bh%3Di%26j%3Ak%25%C3%A9");
    }

    #[test]
    fn signed_headers_are_read_from_the_authorization_value() {
        let auth = "AWS4-HMAC-SHA256 Credential=A/20200811/us-east-2/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=00";
        assert_eq!(signed_headers_of(auth), ["host", "x-amz-date"]);
    }

    #[test]
    fn ports_are_kept_in_host_and_fips_is_stripped_from_the_service() {
        let creds = AwsCredentials::new("AKID", "secret", None);
        let signed = sign_get_caller_identity(
            &creds,
            "us-east-2",
            "https://127.0.0.1:8443/?Action=GetCallerIdentity&Version=2011-06-15",
            "aud",
            SystemTime::UNIX_EPOCH,
            TargetResource::Signed,
        )
        .expect("signs");
        assert_eq!(signed.host(), "127.0.0.1:8443");
        let fips = sign_get_caller_identity(
            &creds,
            "us-east-2",
            "https://sts-fips.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
            "aud",
            SystemTime::UNIX_EPOCH,
            TargetResource::Signed,
        )
        .expect("signs");
        assert_eq!(fips.service(), "sts");
        assert_eq!(fips.host(), "sts-fips.us-east-2.amazonaws.com");
        assert_eq!(
            fips.signed_headers(),
            ["host", "x-amz-date", "x-goog-cloud-target-resource"]
        );
    }

    #[test]
    fn bad_regions_and_urls_fail_without_panicking() {
        let creds = AwsCredentials::new("AKID", "secret", Some("tok".into()));
        for (region, template) in [
            ("", DEFAULT_REGIONAL_CRED_VERIFICATION_URL),
            ("us-east-1/../x", DEFAULT_REGIONAL_CRED_VERIFICATION_URL),
            ("us-east-1", "http://sts.{region}.amazonaws.com"),
            ("us-east-1", "not a url"),
        ] {
            let err = sign_get_caller_identity(
                &creds,
                region,
                template,
                "aud",
                SystemTime::UNIX_EPOCH,
                TargetResource::Signed,
            )
            .expect_err("must fail");
            assert!(err.is_config(), "{err:?}");
            assert!(!format!("{err} {err:?}").contains("secret"), "{err:?}");
        }
        // A header value the signer refuses (a newline in the audience) is an error, not a panic.
        let err = sign_get_caller_identity(
            &creds,
            "us-east-1",
            DEFAULT_REGIONAL_CRED_VERIFICATION_URL,
            "bad\naudience",
            SystemTime::UNIX_EPOCH,
            TargetResource::Signed,
        );
        assert!(err.is_err());
    }
}
