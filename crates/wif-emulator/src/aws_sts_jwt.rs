//! AWS outbound identity federation, both ends: AWS STS `GetWebIdentityToken` at `/aws/sts` mints
//! a JWT for the calling role, and Google STS verifies it for the pool's AWS JWT provider
//! ([`crate::EmulatorConfig::aws_jwt_provider`], an ordinary OIDC provider trusting the account's
//! issuer) — the subject-token path that needs no SigV4 serialization
//! (`docs/protocol.md#aws-issued-jwts`).
//!
//! **Request** (form body or query, SigV4-signed like `GetCallerIdentity`):
//! `Action=GetWebIdentityToken&Version=2011-06-15&Audience.member.1=…[&Audience.member.N=…]`
//! `&SigningAlgorithm=RS256|ES384[&DurationSeconds=60..3600][&Tags.member.N.Key=…&Tags.member.N.Value=…]`.
//! Validated like AWS (1–10 audiences of 1–1000 characters, the duration in range, one of the two
//! algorithms, at most 50 tags) → `400 ValidationError`. Then, in AWS's order of authorization
//! before business rules: `403 AccessDenied` when the role's policy lacks the action
//! ([`crate::EmulatorConfig::web_identity_token_allowed`]), `403
//! OutboundWebIdentityFederationDisabledException` when the account has not enabled the feature
//! ([`crate::State::outbound_web_identity_federation`]), `400
//! SessionDurationEscalationException` when the token would outlive the caller's temporary
//! credentials ([`crate::AwsIdentity::session_expires_at`]).
//!
//! **Answer**: `GetWebIdentityTokenResponse` XML with the `WebIdentityToken` and its
//! `Expiration` (RFC 3339, UTC, whole seconds).
//!
//! **The token.** Signed **HS256** with the emulator's key (as its OIDC tokens, [`crate::oidc`]),
//! whatever `SigningAlgorithm` asks: real AWS signs RS256 or ES384 and publishes a JWKS, which the
//! emulator need not, since only its own Google STS verifies these tokens. Header
//! `{"alg":"HS256","typ":"JWT","kid":KEY_ID}`; claims as AWS documents them:
//!
//! ```text
//! iss  https://{account}.tokens.sts.global.api.aws.invalid   (EmulatorConfig::aws_jwt_issuer)
//! aud  the audience, or an array of them when several
//! sub  arn:aws:iam::{account}:role/{role}                     (the role, not the session)
//! iat, exp = iat + DurationSeconds, jti (a UUID)
//! "https://sts.amazonaws.com/": { aws_account, principal_id (the assumed-role session ARN),
//!                                 source_region (the signing region), request_tags? }
//! ```
//!
//! Google STS accepts it when `iss` is the account's issuer, `aud` holds the provider's audience
//! (`https://iam.googleapis.com/…` as Google's default allowed audience, or `//iam.googleapis.com/…`)
//! and it has not expired; `google.subject = assertion.sub`. Refusals use Google's words for OIDC
//! tokens.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::aws_sts::{XMLNS, error_response, request_id, xml_escape};
use crate::oidc::{self, Audience, RegisteredClaims};
use crate::sigv4::VerifiedCaller;
use crate::state::State;

/// The claim under which AWS nests its identity and request-tag claims.
pub const CLAIMS_NAMESPACE: &str = "https://sts.amazonaws.com/";

/// The `kid` in the header of every web identity token the emulator mints.
pub const KEY_ID: &str = "wif-emulator-aws-sts-hs256";

/// Lifetime when the request names no `DurationSeconds` (AWS's default).
pub const DEFAULT_DURATION: Duration = Duration::from_secs(300);

/// The shortest `DurationSeconds` AWS accepts.
pub const MIN_DURATION_SECONDS: u64 = 60;

/// The longest `DurationSeconds` AWS accepts.
pub const MAX_DURATION_SECONDS: u64 = 3600;

/// The `SigningAlgorithm`s AWS accepts.
pub const SIGNING_ALGORITHMS: [&str; 2] = ["RS256", "ES384"];

const MAX_AUDIENCES: usize = 10;
const MAX_AUDIENCE_CHARS: usize = 1000;
const MAX_TAGS: usize = 50;
const MAX_TAG_KEY_CHARS: usize = 128;
const MAX_TAG_VALUE_CHARS: usize = 256;

/// The claims of a verified web identity token.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebIdentityClaims {
    /// The role's IAM ARN (mapped to `google.subject`).
    pub sub: String,
    /// The issuer ([`crate::EmulatorConfig::aws_jwt_issuer`]).
    pub iss: String,
    /// The audiences, in token order.
    pub aud: Vec<String>,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// The token's id.
    pub jti: String,
    /// `https://sts.amazonaws.com/`.`aws_account`.
    pub aws_account: String,
    /// `https://sts.amazonaws.com/`.`principal_id`: the assumed-role session ARN.
    pub principal_id: String,
    /// `https://sts.amazonaws.com/`.`source_region`: the region of the STS endpoint called.
    pub source_region: String,
    /// `https://sts.amazonaws.com/`.`request_tags`: the request's tags.
    pub request_tags: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

/// The registered claims first (the JSON keeps their order), then AWS's own.
#[derive(Serialize, Deserialize)]
struct Claims {
    #[serde(flatten)]
    registered: RegisteredClaims,
    #[serde(default)]
    jti: String,
    #[serde(rename = "https://sts.amazonaws.com/", default)]
    aws: Option<AwsClaims>,
}

#[derive(Default, Serialize, Deserialize)]
struct AwsClaims {
    #[serde(default)]
    aws_account: String,
    #[serde(default)]
    principal_id: String,
    #[serde(default)]
    source_region: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    request_tags: BTreeMap<String, String>,
}

/// A `GetWebIdentityToken` request that passed validation.
#[derive(Debug, PartialEq, Eq)]
struct TokenRequest {
    audiences: Vec<String>,
    duration: u64,
    tags: BTreeMap<String, String>,
}

/// Mints a web identity token for the emulated role, for `audiences`, valid for `lifetime` from
/// now, as `GetWebIdentityToken` called in the role's region would (no tags). For tests that
/// need a token without signing an AWS request.
pub fn mint(state: &State, audiences: &[&str], lifetime: Duration) -> String {
    let iat = oidc::unix_now();
    let audiences: Vec<String> = audiences.iter().map(|a| (*a).to_owned()).collect();
    mint_at(
        state,
        &audiences,
        &state.config.aws.region,
        &BTreeMap::new(),
        iat,
        iat.saturating_add(lifetime.as_secs()),
    )
}

fn mint_at(
    state: &State,
    audiences: &[String],
    region: &str,
    tags: &BTreeMap<String, String>,
    iat: u64,
    exp: u64,
) -> String {
    let config = &state.config;
    let aud = match audiences {
        [one] => Audience::One(one.clone()),
        many => Audience::Many(many.to_vec()),
    };
    let claims = Claims {
        registered: RegisteredClaims {
            iss: config.aws_jwt_issuer(),
            sub: config.aws.iam_role_arn(),
            aud,
            iat,
            exp,
        },
        jti: request_id(),
        aws: Some(AwsClaims {
            aws_account: config.aws.account.clone(),
            principal_id: config.aws.assumed_role_arn(),
            source_region: region.to_owned(),
            request_tags: tags.clone(),
        }),
    };
    let header = Header {
        alg: "HS256",
        typ: "JWT",
        kid: KEY_ID,
    };
    oidc::sign(state, &header, &claims)
}

/// Verifies a web identity token for the exchange's `audience` (the provider's `//iam…` name):
/// signature, issuer, audience (either form) and expiry. The error is Google STS's
/// `error_description`.
pub fn verify(state: &State, token: &str, audience: &str) -> Result<WebIdentityClaims, String> {
    let payload = oidc::verified_payload(state, token)?;
    let Claims {
        registered: claims,
        jti,
        aws,
    } = serde_json::from_slice(&payload).map_err(|_| oidc::UNPARSABLE.to_owned())?;
    // The provider's default allowed audience is its name with `https:` in front.
    let https = format!("https:{audience}");
    oidc::check_claims(
        (&claims.iss, &state.config.aws_jwt_issuer()),
        (&claims.aud, &[audience, &https]),
        claims.iat,
        claims.exp,
    )?;
    let aws = aws.unwrap_or_default();
    Ok(WebIdentityClaims {
        sub: claims.sub,
        iss: claims.iss,
        aud: claims.aud.values().to_vec(),
        iat: claims.iat,
        exp: claims.exp,
        jti,
        aws_account: aws.aws_account,
        principal_id: aws.principal_id,
        source_region: aws.source_region,
        request_tags: aws.request_tags,
    })
}

/// Answers a `GetWebIdentityToken` whose signature `caller` holds.
pub(crate) fn get_web_identity_token(
    state: &State,
    caller: &VerifiedCaller,
    params: &[(String, String)],
) -> Response {
    let request = match parse_request(params) {
        Ok(request) => request,
        Err(message) => return error_response(400, "Sender", "ValidationError", &message),
    };
    let aws = &state.config.aws;
    if !state.config.web_identity_token_allowed {
        return error_response(
            403,
            "Sender",
            "AccessDenied",
            &format!(
                "User: {} is not authorized to perform: sts:GetWebIdentityToken because no identity-based policy allows the sts:GetWebIdentityToken action",
                aws.assumed_role_arn()
            ),
        );
    }
    if !state.outbound_web_identity_federation() {
        return error_response(
            403,
            "Sender",
            "OutboundWebIdentityFederationDisabledException",
            &format!(
                "Outbound web identity federation is disabled for account {}. Enable it with `aws iam enable-outbound-web-identity-federation`.",
                aws.account
            ),
        );
    }
    let iat = oidc::unix_now();
    let exp = iat.saturating_add(request.duration);
    if let Some(session_end) = aws.session_expires_at.map(unix_seconds)
        && exp > session_end
    {
        return error_response(
            400,
            "Sender",
            "SessionDurationEscalationException",
            &format!(
                "The requested DurationSeconds ({}) would outlive the session credentials, which expire at {}.",
                request.duration,
                rfc3339(session_end)
            ),
        );
    }
    let token = mint_at(
        state,
        &request.audiences,
        &caller.region,
        &request.tags,
        iat,
        exp,
    );
    let body = format!(
        "<GetWebIdentityTokenResponse xmlns=\"{XMLNS}\">\n  <GetWebIdentityTokenResult>\n    <WebIdentityToken>{}</WebIdentityToken>\n    <Expiration>{}</Expiration>\n  </GetWebIdentityTokenResult>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</GetWebIdentityTokenResponse>\n",
        xml_escape(&token),
        rfc3339(exp),
        request_id()
    );
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/xml")], body).into_response()
}

/// Validates the request's parameters; the error is AWS's `ValidationError` message, listing
/// every violation as AWS does ("2 validation errors detected: …; …").
fn parse_request(params: &[(String, String)]) -> Result<TokenRequest, String> {
    let mut errors: Vec<String> = Vec::new();
    let value = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };

    let audiences = members(params, "Audience.member.");
    if audiences.is_empty() {
        errors.push(null("audience"));
    } else if audiences.len() > MAX_AUDIENCES {
        errors.push(violation(
            &list(audiences.iter().map(|(_, a)| *a)),
            "audience",
            &format!("Member must have length less than or equal to {MAX_AUDIENCES}"),
        ));
    }
    for (n, audience) in &audiences {
        if let Some(why) = length_problem(audience, 1, MAX_AUDIENCE_CHARS) {
            errors.push(violation(audience, &format!("audience.{n}.member"), &why));
        }
    }

    match value("SigningAlgorithm") {
        None => errors.push(null("signingAlgorithm")),
        Some(a) if SIGNING_ALGORITHMS.contains(&a) => {}
        Some(a) => errors.push(violation(
            a,
            "signingAlgorithm",
            &format!(
                "Member must satisfy enum value set: [{}]",
                SIGNING_ALGORITHMS.join(", ")
            ),
        )),
    }

    let duration = match value("DurationSeconds") {
        None => DEFAULT_DURATION.as_secs(),
        Some(d) => match d.parse::<u64>() {
            Ok(d) if d < MIN_DURATION_SECONDS => {
                errors.push(violation(
                    &d.to_string(),
                    "durationSeconds",
                    &format!(
                        "Member must have value greater than or equal to {MIN_DURATION_SECONDS}"
                    ),
                ));
                d
            }
            Ok(d) if d > MAX_DURATION_SECONDS => {
                errors.push(violation(
                    &d.to_string(),
                    "durationSeconds",
                    &format!("Member must have value less than or equal to {MAX_DURATION_SECONDS}"),
                ));
                d
            }
            Ok(d) => d,
            Err(_) => {
                errors.push(violation(d, "durationSeconds", "Member must be an integer"));
                0
            }
        },
    };

    let tags = parse_tags(params, &mut errors);
    match errors.len() {
        0 => Ok(TokenRequest {
            audiences: audiences.into_iter().map(|(_, a)| a.to_owned()).collect(),
            duration,
            tags,
        }),
        1 => Err(format!("1 validation error detected: {}", errors[0])),
        n => Err(format!(
            "{n} validation errors detected: {}",
            errors.join("; ")
        )),
    }
}

/// `Tags.member.N.Key` / `Tags.member.N.Value`, as `request_tags`.
fn parse_tags(params: &[(String, String)], errors: &mut Vec<String>) -> BTreeMap<String, String> {
    let mut numbers: Vec<u32> = params
        .iter()
        .filter_map(|(k, _)| k.strip_prefix("Tags.member.")?.split_once('.'))
        .filter_map(|(n, _)| n.parse().ok())
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    if numbers.len() > MAX_TAGS {
        errors.push(format!(
            "Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to {MAX_TAGS}"
        ));
    }
    let mut tags = BTreeMap::new();
    for n in numbers {
        let part = |field: &str| {
            let name = format!("Tags.member.{n}.{field}");
            params
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.as_str())
        };
        let (key, value) = (part("Key"), part("Value"));
        let Some(key) = key else {
            errors.push(null(&format!("tags.{n}.member.key")));
            continue;
        };
        let Some(value) = value else {
            errors.push(null(&format!("tags.{n}.member.value")));
            continue;
        };
        if let Some(why) = length_problem(key, 1, MAX_TAG_KEY_CHARS) {
            errors.push(violation(key, &format!("tags.{n}.member.key"), &why));
        }
        if let Some(why) = length_problem(value, 0, MAX_TAG_VALUE_CHARS) {
            errors.push(violation(value, &format!("tags.{n}.member.value"), &why));
        }
        // AWS compares tag keys case-insensitively.
        if tags.keys().any(|k: &String| k.eq_ignore_ascii_case(key)) {
            errors.push(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.".into(),
            );
            continue;
        }
        tags.insert(key.to_owned(), value.to_owned());
    }
    tags
}

/// The values of `{prefix}N` parameters, ordered by N.
fn members<'a>(params: &'a [(String, String)], prefix: &str) -> Vec<(u32, &'a str)> {
    let mut found: Vec<(u32, &str)> = params
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(prefix)?.parse().ok()?, v.as_str())))
        .collect();
    found.sort_by_key(|(n, _)| *n);
    found.dedup_by_key(|(n, _)| *n);
    found
}

fn length_problem(value: &str, min: usize, max: usize) -> Option<String> {
    let chars = value.chars().count();
    if chars < min {
        Some(format!(
            "Member must have length greater than or equal to {min}"
        ))
    } else if chars > max {
        Some(format!(
            "Member must have length less than or equal to {max}"
        ))
    } else {
        None
    }
}

fn null(field: &str) -> String {
    format!("Value null at '{field}' failed to satisfy constraint: Member must not be null")
}

fn violation(value: &str, field: &str, constraint: &str) -> String {
    format!(
        "Value '{}' at '{field}' failed to satisfy constraint: {constraint}",
        clip(value)
    )
}

fn list<'a>(values: impl Iterator<Item = &'a str>) -> String {
    format!("[{}]", values.map(clip).collect::<Vec<_>>().join(", "))
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn rfc3339(unix: u64) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    i64::try_from(unix)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "aws_sts_jwt_tests.rs"]
mod tests;
