//! AWS STS `AssumeRoleWithWebIdentity` at `/aws/sts`: how an EKS pod with IAM roles for service
//! accounts (IRSA) gets its role's credentials (`docs/protocol.md#web-identity`).
//!
//! **Request** (form body or query, unsigned: the token is the proof):
//! `Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=…&RoleSessionName=…&WebIdentityToken=…`
//! `[&DurationSeconds=900..43200]`.
//!
//! **Checks**, in AWS's order: the parameters are there and well formed (`400 ValidationError`);
//! the token is a JWT this emulator signed (`400 InvalidIdentityToken`), for the audience
//! `sts.amazonaws.com` (`400 InvalidIdentityToken`), not expired (`400 ExpiredTokenException`);
//! the role is the emulated one, whose trust policy trusts the emulator's issuer for any
//! service account (`403 AccessDenied`). Error messages never quote the token.
//!
//! **Answer**: `AssumeRoleWithWebIdentityResponse` with the emulated identity's temporary
//! credentials ([`crate::AwsIdentity`]), their `Expiration`, the assumed-role ARN for the
//! session name asked for, and the token's subject.

use std::time::{Duration, SystemTime};

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::aws_container::rfc3339;
use crate::aws_sts::{XMLNS, error_response, request_id, xml_escape};
use crate::oidc::{self, Audience};
use crate::state::State;

/// The audience of the projected service-account token EKS mounts for IRSA.
pub const IRSA_AUDIENCE: &str = "sts.amazonaws.com";
/// The audience of the token EKS Pod Identity's agent takes.
pub const POD_IDENTITY_AUDIENCE: &str = "pods.eks.amazonaws.com";
/// The service account the emulator's written IRSA token is for.
pub const DEFAULT_SERVICE_ACCOUNT: &str = "system:serviceaccount:default:wif-demo";

/// How long the credentials last without `DurationSeconds` (AWS's default: one hour).
const DEFAULT_DURATION: Duration = Duration::from_secs(3600);

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: Audience,
    exp: u64,
}

/// A projected service-account token for `service_account`, for [`IRSA_AUDIENCE`], valid for
/// `lifetime` from now.
pub fn mint(state: &State, service_account: &str, lifetime: Duration) -> String {
    oidc::mint(state, service_account, IRSA_AUDIENCE, lifetime)
}

/// Handles `Action=AssumeRoleWithWebIdentity` with the request's parameters.
pub(crate) fn assume_role(state: &State, params: &[(String, String)]) -> Response {
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let invalid = |message: &str| error_response(400, "Sender", "ValidationError", message);
    let Some(role_arn) = param("RoleArn").filter(|r| !r.is_empty()) else {
        return invalid(
            "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null",
        );
    };
    let Some(session) = param("RoleSessionName") else {
        return invalid(
            "1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null",
        );
    };
    if !(2..=64).contains(&session.len())
        || !session
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
    {
        return invalid(
            "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*",
        );
    }
    let Some(token) = param("WebIdentityToken").filter(|t| !t.is_empty()) else {
        return invalid(
            "1 validation error detected: Value null at 'webIdentityToken' failed to satisfy constraint: Member must not be null",
        );
    };
    let duration = match param("DurationSeconds").map(str::parse::<u64>) {
        None => DEFAULT_DURATION,
        Some(Ok(s)) if (900..=43_200).contains(&s) => Duration::from_secs(s),
        Some(_) => {
            return invalid(
                "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200",
            );
        }
    };
    let rejected = |code: &str, message: &str| error_response(400, "Sender", code, message);
    let Ok(payload) = oidc::verified_payload(state, token) else {
        return rejected(
            "InvalidIdentityToken",
            "Couldn't verify the signature of the web identity token",
        );
    };
    let Ok(claims) = serde_json::from_slice::<Claims>(&payload) else {
        return rejected(
            "InvalidIdentityToken",
            "The web identity token is malformed",
        );
    };
    if claims.iss != oidc::ISSUER {
        return rejected(
            "InvalidIdentityToken",
            "No OpenIDConnect provider found in your account for the token's issuer",
        );
    }
    if !claims.aud.values().iter().any(|a| a == IRSA_AUDIENCE) {
        return rejected("InvalidIdentityToken", "Incorrect token audience");
    }
    if claims.exp <= oidc::unix_now() {
        return rejected("ExpiredTokenException", "Token expired");
    }
    let aws = &state.config.aws;
    if role_arn != aws.iam_role_arn() {
        return error_response(
            403,
            "Sender",
            "AccessDenied",
            "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        );
    }
    let expires_at = aws
        .session_expires_at
        .unwrap_or_else(|| SystemTime::now() + duration);
    let body = format!(
        "<AssumeRoleWithWebIdentityResponse xmlns=\"{XMLNS}\">\n\
         \x20 <AssumeRoleWithWebIdentityResult>\n\
         \x20   <SubjectFromWebIdentityToken>{subject}</SubjectFromWebIdentityToken>\n\
         \x20   <Audience>{IRSA_AUDIENCE}</Audience>\n\
         \x20   <AssumedRoleUser>\n\
         \x20     <Arn>arn:aws:sts::{account}:assumed-role/{role}/{session}</Arn>\n\
         \x20     <AssumedRoleId>AROAEMULATOR00000001:{session}</AssumedRoleId>\n\
         \x20   </AssumedRoleUser>\n\
         \x20   <Credentials>\n\
         \x20     <AccessKeyId>{key}</AccessKeyId>\n\
         \x20     <SecretAccessKey>{secret}</SecretAccessKey>\n\
         \x20     <SessionToken>{token}</SessionToken>\n\
         \x20     <Expiration>{expiration}</Expiration>\n\
         \x20   </Credentials>\n\
         \x20   <Provider>{issuer}</Provider>\n\
         \x20 </AssumeRoleWithWebIdentityResult>\n\
         \x20 <ResponseMetadata><RequestId>{id}</RequestId></ResponseMetadata>\n\
         </AssumeRoleWithWebIdentityResponse>\n",
        subject = xml_escape(&claims.sub),
        account = xml_escape(&aws.account),
        role = xml_escape(&aws.role),
        session = xml_escape(session),
        key = xml_escape(&aws.access_key_id),
        secret = xml_escape(&aws.secret_access_key),
        token = xml_escape(&aws.session_token),
        expiration = rfc3339(expires_at),
        issuer = xml_escape(oidc::ISSUER),
        id = request_id(),
    );
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/xml")], body).into_response()
}
