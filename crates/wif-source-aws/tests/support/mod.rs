//! An independent SigV4 verifier for serialized AWS subject tokens: decodes the token the way Google
//! STS does and recomputes the signature by hand (HMAC-SHA256 from `hmac` + `sha2`, not aws-sigv4),
//! so a bug shared by our signer and our serializer cannot hide.

#![allow(dead_code, clippy::expect_used, clippy::panic, clippy::unwrap_used)]

pub mod imds;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The environment of an EKS Pod Identity container: `region`, the agent's `full_uri` and the
/// file holding its authorization token.
pub fn pod_identity_env(
    region: &str,
    full_uri: String,
    token_file: &std::path::Path,
) -> wif_core::MapEnvironment {
    wif_core::MapEnvironment::new()
        .with("AWS_REGION", region)
        .with("AWS_CONTAINER_CREDENTIALS_FULL_URI", full_uri)
        .with(
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            token_file.display().to_string(),
        )
}

/// The session token of `credentials`, in the clear, for assertions.
pub fn session_token_of(credentials: &wif_source_aws::AwsCredentials) -> Option<&str> {
    use secrecy::ExposeSecret as _;
    credentials.session_token().map(|t| t.expose_secret())
}

/// Static AWS credentials with a session token, as an SDK credentials provider.
pub fn session_credentials(
    id: &str,
    secret: &str,
    session: &str,
) -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new(id, secret, Some(session.to_owned()), None, "test")
}

/// An AWS SDK config with `region` and the static credentials `[id, secret, session]`: both
/// explicit, so loading it consults no provider chain and no network.
#[cfg(feature = "aws-config")]
pub async fn sdk_config(
    region: &'static str,
    [id, secret, session]: [&str; 3],
) -> aws_config::SdkConfig {
    wif_source_aws::config_loader()
        .region(aws_config::Region::new(region))
        .credentials_provider(session_credentials(id, secret, session))
        .load()
        .await
}

/// A subject token, decoded.
#[derive(Debug)]
pub struct Decoded {
    pub json: String,
    pub method: String,
    pub url: String,
    /// Header (key, value) pairs in serialized order.
    pub headers: Vec<(String, String)>,
}

impl Decoded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header_keys(&self) -> Vec<&str> {
        self.headers.iter().map(|(k, _)| k.as_str()).collect()
    }

    pub fn signed_headers(&self) -> Vec<String> {
        let auth = self.header("authorization").expect("Authorization header");
        field(auth, "SignedHeaders=")
            .split(';')
            .map(str::to_owned)
            .collect()
    }

    pub fn access_key_id(&self) -> String {
        let auth = self.header("authorization").expect("Authorization header");
        field(auth, "Credential=")
            .split('/')
            .next()
            .expect("key id")
            .to_owned()
    }
}

fn field<'a>(authorization: &'a str, prefix: &str) -> &'a str {
    authorization
        .trim_start_matches("AWS4-HMAC-SHA256 ")
        .split(", ")
        .find_map(|p| p.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("{prefix} missing in Authorization"))
}

/// Percent-decodes and parses a subject token.
pub fn decode(subject_token: &str) -> Decoded {
    let json = percent_encoding::percent_decode_str(subject_token)
        .decode_utf8()
        .expect("utf-8")
        .into_owned();
    let value: serde_json::Value = serde_json::from_str(&json).expect("subject token is JSON");
    let headers = value["headers"]
        .as_array()
        .expect("headers array")
        .iter()
        .map(|h| {
            (
                h["key"].as_str().expect("key").to_owned(),
                h["value"].as_str().expect("value").to_owned(),
            )
        })
        .collect();
    Decoded {
        method: value["method"].as_str().expect("method").to_owned(),
        url: value["url"].as_str().expect("url").to_owned(),
        headers,
        json,
    }
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 3986 encoding of a query key or value (unreserved characters kept), as SigV4 wants.
fn uri_encode(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

/// SigV4's signature of `canonical_request` at `amz_date` in the scope `[date, region,
/// service]`, with `secret`: computed here from the specification (HMAC chain), not by aws-sigv4.
fn signature_of(
    secret: &str,
    amz_date: &str,
    [date, region, service]: [&str; 3],
    canonical_request: &str,
) -> String {
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{date}/{region}/{service}/aws4_request\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date);
    let k_region = hmac(&k_date, region);
    let k_service = hmac(&k_region, service);
    let k_signing = hmac(&k_service, "aws4_request");
    hex(&hmac(&k_signing, &string_to_sign))
}

/// Recomputes the SigV4 signature of a decoded token with `secret` and checks it equals the one
/// in its `Authorization` header. Returns the canonical request, for messages.
pub fn verify(decoded: &Decoded, secret: &str) -> Result<String, String> {
    let auth = decoded
        .header("authorization")
        .ok_or("no Authorization header")?;
    let credential = field(auth, "Credential=");
    let scope: Vec<&str> = credential.split('/').collect();
    let [_, date, region, service, terminator] = scope[..] else {
        return Err(format!("bad credential scope {credential}"));
    };
    if terminator != "aws4_request" {
        return Err("bad scope terminator".into());
    }
    let signed = field(auth, "SignedHeaders=");
    let signature = field(auth, "Signature=");

    let url = url::Url::parse(&decoded.url).map_err(|e| e.to_string())?;
    let mut query: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (uri_encode(&k), uri_encode(&v)))
        .collect();
    query.sort();
    let canonical_query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let path = if url.path().is_empty() {
        "/"
    } else {
        url.path()
    };

    let mut canonical_headers = String::new();
    for name in signed.split(';') {
        let value = decoded
            .header(name)
            .ok_or_else(|| format!("signed header {name} is not in the token"))?;
        canonical_headers.push_str(&format!("{name}:{}\n", value.trim()));
    }
    let amz_date = decoded.header("x-amz-date").ok_or("no x-amz-date")?;
    if !amz_date.starts_with(date) {
        return Err("x-amz-date and credential date differ".into());
    }
    let canonical_request = format!(
        "{}\n{path}\n{canonical_query}\n{canonical_headers}\n{signed}\n{}",
        decoded.method,
        hex(&Sha256::digest(b"")),
    );
    let expected = signature_of(
        secret,
        amz_date,
        [date, region, service],
        &canonical_request,
    );
    if expected == signature {
        Ok(canonical_request)
    } else {
        Err(format!(
            "signature mismatch: token has {signature}, recomputed {expected}\n{canonical_request}"
        ))
    }
}

/// Recomputes the SigV4 signature of a request AWS STS would receive (a signed `POST` with a
/// form body and no query, as `GetWebIdentityToken` is sent) with `secret`, and checks it equals
/// the one in its `Authorization` header. Returns the credential scope
/// (`DATE/REGION/SERVICE/aws4_request`).
pub fn verify_sent(request: &wiremock::Request, secret: &str) -> Result<String, String> {
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| format!("no {name} header"))
    };
    let auth = header("authorization")?;
    let credential = field(&auth, "Credential=");
    let (_, scope) = credential
        .split_once('/')
        .ok_or_else(|| format!("bad credential {credential}"))?;
    let [date, region, service, "aws4_request"] = scope.split('/').collect::<Vec<_>>()[..] else {
        return Err(format!("bad credential scope {scope}"));
    };
    let signed = field(&auth, "SignedHeaders=");
    let signature = field(&auth, "Signature=");
    if request.url.query().is_some() {
        return Err("unexpected query string".into());
    }
    let mut canonical_headers = String::new();
    for name in signed.split(';') {
        canonical_headers.push_str(&format!("{name}:{}\n", header(name)?.trim()));
    }
    let amz_date = header("x-amz-date")?;
    if !amz_date.starts_with(date) {
        return Err("x-amz-date and credential date differ".into());
    }
    let canonical_request = format!(
        "{}\n{}\n\n{canonical_headers}\n{signed}\n{}",
        request.method,
        request.url.path(),
        hex(&Sha256::digest(&request.body)),
    );
    let expected = signature_of(
        secret,
        &amz_date,
        [date, region, service],
        &canonical_request,
    );
    if expected == signature {
        Ok(scope.to_owned())
    } else {
        Err(format!(
            "signature mismatch: request has {signature}, recomputed {expected}\n{canonical_request}"
        ))
    }
}
