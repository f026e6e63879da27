//! The chain's exchange step: Google STS `POST /v1/token`, the RFC 8693 token exchange
//! (`docs/protocol.md#sts-token-exchange`; error texts from `#sts-errors`).
//!
//! The form is validated like the real service (grant type, requested token type, subject token
//! type, audience, scope, options). An AWS subject token is percent-decoded and parsed in either
//! client's serialization (Python's sorted keys and `quote`, Go's `QueryEscape`, header names in
//! any case), its `GetCallerIdentity` request is checked (POST, the regional STS URL) and its
//! SigV4 signature verified with the emulated role's secret ([`crate::sigv4`]) — where Google
//! would replay the request to AWS. Then `x-goog-cloud-target-resource` must name the audience,
//! the attributes are mapped (`google.subject`, `attribute.aws_role`, the account) and the
//! provider's attribute condition evaluated. JWT subject tokens must be tokens this emulator
//! minted ([`crate::oidc::verify`]); for the AWS JWT provider, web identity tokens of the emulated
//! AWS account ([`crate::aws_sts_jwt::verify`]). mTLS subject tokens (X.509 federation) must arrive over the
//! mTLS listener, their leaf being the certificate of the handshake ([`x509`]).
//!
//! Google's words where they are known (the audience, `invalid_target`, 127-byte and attribute
//! condition texts). For a signature AWS rejects, Google's exact `error_description` is not on
//! record; the emulator answers `invalid_grant` with "Received invalid AWS response of type
//! {AWS code} with error message: {AWS message}", which names the AWS-side cause.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use percent_encoding::percent_decode_str;
use serde_json::Value;

use crate::config::SubjectMapping;
use crate::mtls::ClientCertificates;
use crate::sigv4::{KnownKey, SignedRequest, Verifier, sts_host_region};
use crate::state::{State, TokenKind, oauth_error};

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
const AWS4_REQUEST: &str = "urn:ietf:params:aws:token-type:aws4_request";
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
const MTLS: &str = "urn:ietf:params:oauth:token-type:mtls";
const SUBJECT_TOKEN_TYPES: [&str; 5] = [
    AWS4_REQUEST,
    JWT,
    ID_TOKEN,
    "urn:ietf:params:oauth:token-type:saml2",
    MTLS,
];
const DEFAULT_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const TARGET_RESOURCE: &str = "x-goog-cloud-target-resource";
/// `google.subject` may not be longer.
const MAX_SUBJECT_BYTES: usize = 127;

const INVALID_AUDIENCE: &str = "Invalid value for \"audience\". This value should be the full resource name of the Identity Provider. See https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token for the list of possible formats.";
const INVALID_TARGET: &str = "The target service indicated by the \"audience\" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn't exist.";
const SUBJECT_TOO_LONG: &str = "The size of mapped attribute google.subject exceeds the 127 bytes limit. Either modify your attribute mapping or the incoming assertion to produce a mapped attribute that is less than 127 bytes.";
const CONDITION_REJECTED: &str = "The given credential is rejected by the attribute condition.";
const INVALID_AWS_FORMAT: &str = "AWS request has invalid format.";

pub(crate) fn routes() -> Router<Arc<State>> {
    Router::new().route("/v1/token", post(token))
}

/// An RFC 6749 §5.2 error (always 400 here, as Google STS answers).
#[derive(Debug, PartialEq, Eq)]
struct StsError {
    error: &'static str,
    description: String,
}

fn reject(error: &'static str, description: impl Into<String>) -> StsError {
    StsError {
        error,
        description: description.into(),
    }
}

async fn token(
    AxState(state): AxState<Arc<State>>,
    presented: Option<Extension<ClientCertificates>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Basic client authentication (a `client_id` in the configuration) is accepted as is: the
    // emulator has no OAuth clients to check it against.
    let form = parse_form(&headers, &body);
    match exchange(&state, presented.as_ref().map(|e| &e.0), &form) {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => {
            tracing::info!(error = e.error, description = %e.description, "google sts refused an exchange");
            oauth_error(StatusCode::BAD_REQUEST, e.error, &e.description)
        }
    }
}

/// The request parameters, from a form body or (as the REST reference allows) a JSON body with
/// camelCase keys. Only the first value of a repeated parameter counts.
fn parse_form(headers: &HeaderMap, body: &[u8]) -> Vec<(String, String)> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json {
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
            return Vec::new();
        };
        return map
            .into_iter()
            .filter_map(|(k, v)| {
                let value = match v {
                    Value::String(s) => s,
                    Value::Null => return None,
                    other => other.to_string(),
                };
                Some((snake_case(&k), value))
            })
            .collect();
    }
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn snake_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn param<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// Validates the form, verifies the subject token and issues a federated token. `presented` is
/// the client certificate chain of an mTLS request.
fn exchange(
    state: &State,
    presented: Option<&ClientCertificates>,
    form: &[(String, String)],
) -> Result<Value, StsError> {
    let config = &state.config;
    match param(form, "grant_type") {
        Some(TOKEN_EXCHANGE) => {}
        None => {
            return Err(reject(
                "invalid_request",
                "Missing required parameter: \"grant_type\".",
            ));
        }
        Some(other) => {
            return Err(reject(
                "unsupported_grant_type",
                format!(
                    "Unsupported grant_type {:?}; expected \"{TOKEN_EXCHANGE}\".",
                    clip(other)
                ),
            ));
        }
    }
    if param(form, "requested_token_type") != Some(ACCESS_TOKEN) {
        return Err(reject(
            "invalid_request",
            format!("Invalid value for \"requested_token_type\". Expected \"{ACCESS_TOKEN}\"."),
        ));
    }
    let subject_token_type = param(form, "subject_token_type").unwrap_or_default();
    if !SUBJECT_TOKEN_TYPES.contains(&subject_token_type) {
        return Err(reject(
            "invalid_request",
            format!(
                "Invalid value for \"subject_token_type\": {:?} is not a supported subject token type.",
                clip(subject_token_type)
            ),
        ));
    }
    let Some(subject_token) = param(form, "subject_token") else {
        return Err(reject(
            "invalid_request",
            "Missing required parameter: \"subject_token\".",
        ));
    };
    let audience = param(form, "audience").unwrap_or_default();
    if !audience_well_formed(audience) {
        return Err(reject("invalid_request", INVALID_AUDIENCE));
    }
    let aws = audience == config.aws_audience();
    let x509 = audience == config.x509_audience();
    let aws_jwt = audience == config.aws_jwt_audience();
    if !aws && !x509 && !aws_jwt && audience != config.oidc_audience() {
        return Err(reject("invalid_target", INVALID_TARGET));
    }
    let (provider, accepted): (&str, &[&str]) = if aws {
        ("AWS", &[AWS4_REQUEST])
    } else if x509 {
        ("X.509", &[MTLS])
    } else {
        ("OIDC", &[JWT, ID_TOKEN])
    };
    if !accepted.contains(&subject_token_type) {
        return Err(reject(
            "invalid_request",
            format!(
                "Invalid value for \"subject_token_type\". The {provider} provider accepts {}.",
                accepted.join(" or ")
            ),
        ));
    }
    if let Some(options) = param(form, "options") {
        check_options(options)?;
    }
    let scopes: Vec<String> = match param(form, "scope") {
        Some(scope) => scope.split_whitespace().map(str::to_owned).collect(),
        None => vec![DEFAULT_SCOPE.to_owned()],
    };

    let (subject, principal_sets) = if aws {
        let subject = aws_subject(state, subject_token, audience)?;
        (
            subject,
            vec![config.principal_set_for_role(), config.principal_set_all()],
        )
    } else if x509 {
        let subject = x509::subject(config, presented, subject_token)?;
        (subject, vec![config.principal_set_all()])
    } else if aws_jwt {
        // An ordinary OIDC provider: google.subject = assertion.sub, the role's IAM ARN.
        let claims = crate::aws_sts_jwt::verify(state, subject_token, audience)
            .map_err(|description| reject("invalid_grant", description))?;
        check_subject_size(&claims.sub)?;
        (claims.sub, vec![config.principal_set_all()])
    } else {
        let claims = crate::oidc::verify(state, subject_token, audience)
            .map_err(|description| reject("invalid_grant", description))?;
        check_subject_size(&claims.sub)?;
        (claims.sub, vec![config.principal_set_all()])
    };
    let lifetime = config.federated_token_lifetime;
    let (token, _) = state.issue(
        TokenKind::Federated,
        config.principal_for_subject(&subject),
        principal_sets,
        scopes,
        lifetime,
    );
    Ok(serde_json::json!({
        "access_token": token,
        "issued_token_type": ACCESS_TOKEN,
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
    }))
}

/// `//iam.googleapis.com/projects/{number}/locations/global/workloadIdentityPools/{pool}/providers/{provider}`
/// or the workforce form `//iam.googleapis.com/locations/global/workforcePools/{pool}/providers/{provider}`.
fn audience_well_formed(audience: &str) -> bool {
    let id = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let Some(rest) = audience.strip_prefix("//iam.googleapis.com/") else {
        return false;
    };
    let parts: Vec<&str> = rest.split('/').collect();
    match parts[..] {
        [
            "projects",
            number,
            "locations",
            "global",
            "workloadIdentityPools",
            pool,
            "providers",
            provider,
        ] => {
            !number.is_empty()
                && number.bytes().all(|b| b.is_ascii_digit())
                && id(pool)
                && id(provider)
        }
        [
            "locations",
            "global",
            "workforcePools",
            pool,
            "providers",
            provider,
        ] => id(pool) && id(provider),
        _ => false,
    }
}

/// `options` is JSON; Python percent-encodes it once more before form-encoding
/// (`docs/protocol.md#sts-options`).
/// Its `userProject` only matters to workforce pools, which the emulator does not bill.
fn check_options(options: &str) -> Result<(), StsError> {
    let decoded = if options.trim_start().starts_with('{') {
        options.to_owned()
    } else {
        percent_decode_str(options).decode_utf8_lossy().into_owned()
    };
    match serde_json::from_str::<Value>(&decoded) {
        Ok(Value::Object(_)) => Ok(()),
        _ => Err(reject(
            "invalid_request",
            "Invalid value for \"options\": expected a JSON object such as {\"userProject\": \"…\"}.",
        )),
    }
}

fn check_subject_size(subject: &str) -> Result<(), StsError> {
    if subject.len() > MAX_SUBJECT_BYTES {
        return Err(reject("invalid_request", SUBJECT_TOO_LONG));
    }
    Ok(())
}

/// The signed `GetCallerIdentity` request an AWS subject token serializes.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct AwsSubjectRequest {
    pub(crate) method: String,
    pub(crate) url: String,
    /// In token order, names as sent.
    pub(crate) headers: Vec<(String, String)>,
}

impl std::fmt::Debug for AwsSubjectRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Authorization and x-amz-security-token are credentials: names only.
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("AwsSubjectRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("header_names", &names)
            .finish()
    }
}

/// Parses an AWS subject token in Python's (`quote`, `%20`) or Go's (`QueryEscape`, `+`)
/// encoding, or as bare JSON. Keys are matched case-insensitively; unknown keys (the official
/// Rust SDK's `"body": ""`) are ignored. The error never quotes the token.
pub(crate) fn parse_aws_subject_token(token: &str) -> Result<AwsSubjectRequest, String> {
    let token = token.trim();
    let json = if token.starts_with('{') {
        token.to_owned()
    } else {
        // A literal `+` is a space only in Go's form; Python encodes it as %2B, so this is safe.
        percent_decode_str(&token.replace('+', " "))
            .decode_utf8()
            .map_err(|_| "the subject token is not percent-encoded UTF-8".to_owned())?
            .into_owned()
    };
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(&json) else {
        return Err("the subject token is not a JSON object".into());
    };
    let field = |name: &str| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let text = |name: &str| {
        field(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("the subject token has no string \"{name}\""))
    };
    let method = text("method")?;
    let url = text("url")?;
    let headers = match field("headers") {
        Some(Value::Array(list)) => list
            .iter()
            .map(|entry| {
                let Value::Object(pair) = entry else {
                    return Err("a header entry is not an object".to_owned());
                };
                let get = |name: &str| {
                    pair.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .and_then(|(_, v)| v.as_str())
                        .map(str::to_owned)
                };
                match (get("key"), get("value")) {
                    (Some(k), Some(v)) => Ok((k, v)),
                    _ => Err("a header entry lacks \"key\" or \"value\"".to_owned()),
                }
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect(),
        _ => return Err("the subject token has no \"headers\" list".into()),
    };
    Ok(AwsSubjectRequest {
        method,
        url,
        headers,
    })
}

fn header<'a>(request: &'a AwsSubjectRequest, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Checks that the request is `POST https://sts[.region].amazonaws.com[/]?Action=GetCallerIdentity&Version=2011-06-15`
/// with a matching `host` header.
fn check_get_caller_identity(request: &AwsSubjectRequest) -> Result<(), String> {
    if !request.method.eq_ignore_ascii_case("POST") {
        return Err(format!(
            "the method is {:?}, not POST",
            clip(&request.method)
        ));
    }
    let url = url::Url::parse(&request.url).map_err(|e| format!("the url is not a URL ({e})"))?;
    let host = url.host_str().unwrap_or_default();
    let expected = "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15";
    let mut query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    query.sort();
    let wanted = [
        ("Action".to_owned(), "GetCallerIdentity".to_owned()),
        ("Version".to_owned(), "2011-06-15".to_owned()),
    ];
    if url.scheme() != "https"
        || url.port().is_some()
        || sts_host_region(host).is_none()
        || !matches!(url.path(), "" | "/")
        || query != wanted
    {
        return Err(format!(
            "the url is {:?}, not {expected}",
            clip(&request.url)
        ));
    }
    match header(request, "host") {
        Some(h) if h.eq_ignore_ascii_case(host) => Ok(()),
        Some(h) => Err(format!(
            "the host header {:?} is not the url's host {host}",
            clip(h)
        )),
        None => Err("the request has no host header".into()),
    }
}

/// Verifies an AWS subject token for `audience` and maps it to `google.subject`.
fn aws_subject(state: &State, token: &str, audience: &str) -> Result<String, StsError> {
    let config = &state.config;
    let invalid = |why: String| reject("invalid_request", format!("{INVALID_AWS_FORMAT} ({why})"));
    let request = parse_aws_subject_token(token).map_err(invalid)?;
    check_get_caller_identity(&request).map_err(invalid)?;

    let verifier = Verifier {
        keys: vec![KnownKey::of(&config.aws)],
        now: SystemTime::now(),
        max_clock_skew: config.max_clock_skew,
        also_host: None,
    };
    let signed = SignedRequest {
        method: &request.method,
        url: &request.url,
        headers: &request.headers,
        body: b"",
    };
    let caller = verifier.verify(&signed).map_err(|rejection| {
        tracing::info!(reason = %rejection, "AWS signature of the subject token refused");
        reject(
            "invalid_grant",
            format!(
                "Received invalid AWS response of type {} with error message: {}",
                rejection.aws_code(),
                rejection.aws_message()
            ),
        )
    })?;
    match header(&request, TARGET_RESOURCE) {
        Some(target) if target == audience => {}
        Some(target) => {
            return Err(reject(
                "invalid_grant",
                format!(
                    "The AWS request is bound to another provider: its {TARGET_RESOURCE} header is {:?} (signed: {}), the exchange's audience parameter is {audience:?}.",
                    clip(target),
                    caller.signed(TARGET_RESOURCE)
                ),
            ));
        }
        None => {
            return Err(invalid(format!(
                "the request has no {TARGET_RESOURCE} header naming the audience"
            )));
        }
    }

    // The caller is the emulated role: it is the only key the emulated AWS knows.
    let arn = config.aws.assumed_role_arn();
    let role = config.aws.role_arn();
    let subject = match config.subject_mapping {
        SubjectMapping::AwsRole => role.clone(),
        _ => arn.clone(),
    };
    check_subject_size(&subject)?;
    let condition = &config.condition;
    let holds = condition
        .account
        .as_ref()
        .is_none_or(|a| *a == config.aws.account)
        && condition.aws_role.as_ref().is_none_or(|r| *r == role)
        && condition
            .arn_prefix
            .as_ref()
            .is_none_or(|p| arn.starts_with(p.as_str()));
    if !holds {
        tracing::info!(%arn, ?condition, "attribute condition rejected the AWS caller");
        return Err(reject("unauthorized_client", CONDITION_REJECTED));
    }
    Ok(subject)
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(160) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[path = "google_sts_x509.rs"]
mod x509;

#[cfg(test)]
#[path = "google_sts_tests.rs"]
mod tests;
