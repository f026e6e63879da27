//! The chain's exchange step ([`Step::Exchange`](wif_core::Step::Exchange)), the failure half: STS
//! error responses turned into errors that name the [cause](crate::causes) and say what to check.
//! STS's own words are terse ("rejected by the attribute condition") and never say *which* value
//! was wrong; the hints name the setting and show what we sent, when that is not a secret
//! (`docs/protocol.md#sts-errors`, `#error-formats`).

use wif_core::causes::{
    AWS_CREDENTIALS_EXPIRED, AWS_CREDENTIALS_INVALID, AWS_SIGNATURE_MISMATCH, CLOCK_SKEW,
};
use wif_core::{Cause, Error, ServerError, Step};

use crate::causes::{
    ATTRIBUTE_CONDITION, AUDIENCE_FORMAT, GOOGLE_SUBJECT_TOO_LONG, PROVIDER_NOT_FOUND, STS_QUOTA,
    SUBJECT_TOKEN_TYPE_MISMATCH, TOKEN_AUDIENCE_MISMATCH,
};

/// What we sent that helps a reader make sense of the server's answer. No secrets.
pub(crate) struct Sent<'a> {
    pub(crate) audience: &'a str,
    pub(crate) subject_token_type: &'a str,
}

/// Builds the error for a non-2xx STS response and attaches the cause and a hint when the
/// server's words match a known misconfiguration.
///
/// The server's words may quote the request (STS echoing a malformed subject token): the caller
/// scrubs them with a [`wif_core::Redactor`] before the error goes anywhere.
pub(crate) fn http_error(status: u16, body: &[u8], sent: &Sent<'_>) -> Error {
    let mut err = Error::http(Step::Exchange, status, body);
    let server = err.server_error().cloned().unwrap_or_default();
    let code = server.code.as_deref().unwrap_or("");
    if status == 429 || code == "quota_exceeded" {
        // STS sends 429 for its per-project quota; a 400 carrying the same code is equally
        // transient.
        err = err.retryable(true);
    }
    if let Some((cause, hint)) = known(status, &server, sent) {
        err = err.with_known_cause(cause).with_hint(hint);
    }
    err
}

/// The cause and hint of a known STS complaint, if any. Order matters: the audience mismatch
/// of an ID token must win over the clock check, whose words ("expected") overlap, and AWS's
/// relayed `ExpiredToken` (credentials) over the clock check's "expired".
pub(crate) fn known(
    status: u16,
    server: &ServerError,
    sent: &Sent<'_>,
) -> Option<(&'static Cause, String)> {
    let code = server.code.as_deref().unwrap_or("").to_ascii_lowercase();
    let message = server.message.as_deref().unwrap_or("").to_ascii_lowercase();
    let words: Vec<&str> = message
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .collect();
    let has_word = |w: &str| words.contains(&w);
    let audience = sent.audience;

    if status == 429 || code == "quota_exceeded" {
        return known_as(
            &STS_QUOTA,
            "STS throttled this project's token exchanges (quota sts.googleapis.com/requests): \
             cache tokens and share one credential per process instead of exchanging per request, \
             and back off before retrying"
                .to_owned(),
        );
    }
    if code == "unauthorized_client" && message.contains("attribute condition") {
        return known_as(
            &ATTRIBUTE_CONDITION,
            "the workload identity pool provider's attribute condition rejected this identity: \
             compare the condition with the caller's identity (for AWS, the assumed-role ARN and \
             account that signed the request; `wif explain` shows them)"
                .to_owned(),
        );
    }
    if message.contains("google.subject") && message.contains("127 bytes") {
        return known_as(&GOOGLE_SUBJECT_TOO_LONG,
            "the mapped google.subject is longer than 127 bytes, typical for AWS Lambda session \
             ARNs (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION): change the provider's attribute \
             mapping to leave the session out, e.g. \
             google.subject=assertion.arn.extract('{account_arn}assumed-role/') + 'assumed-role/' + assertion.arn.extract('assumed-role/{role_name}/') \
             (`wif explain --call-aws` shows your ARN and its length), or use shorter role and \
             session names"
                .to_owned(),
        );
    }
    if code == "invalid_request" && message.contains("invalid value for \"audience\"") {
        return known_as(
            &AUDIENCE_FORMAT,
            format!(
                "the audience must be the provider's full resource name, \
             //iam.googleapis.com/projects/<PROJECT_NUMBER>/locations/global/workloadIdentityPools/<POOL>/providers/<PROVIDER> \
             (the project number, not the project ID; no https: prefix); sent: {audience}"
            ),
        );
    }
    if code == "invalid_target" {
        return known_as(
            &PROVIDER_NOT_FOUND,
            format!(
                "the workload identity pool or provider in the audience is disabled, deleted or \
             misspelled (pool and provider IDs are case-sensitive); sent: {audience}"
            ),
        );
    }
    if message.contains("subject_token_type")
        || message.contains("subject token type")
        || code == "unsupported_token_type"
    {
        return known_as(
            &SUBJECT_TOKEN_TYPE_MISMATCH,
            format!(
                "the subject_token_type must match the provider kind: \
             urn:ietf:params:aws:token-type:aws4_request for AWS providers, \
             urn:ietf:params:oauth:token-type:jwt or :id_token for OIDC, \
             urn:ietf:params:oauth:token-type:saml2 for SAML; sent: {}",
                sent.subject_token_type
            ),
        );
    }
    if code == "invalid_grant"
        && message.contains("audience")
        && (message.contains("does not match") || message.contains("mismatch"))
    {
        return known_as(&TOKEN_AUDIENCE_MISMATCH,
            "the token's audience is not one the provider accepts: add it to the OIDC provider's \
             allowed audiences, or have the issuer mint the token for the provider's default \
             audience (https://iam.googleapis.com/projects/<NUMBER>/locations/global/workloadIdentityPools/<POOL>/providers/<PROVIDER>)"
                .to_owned(),
        );
    }
    // AWS's words for a signing time outside its 15-minute window; Google relays them inside a
    // SignatureDoesNotMatch, so this must come before the signature check below.
    if message.contains("signature expired") || message.contains("signature not yet current") {
        return known_as(
            &CLOCK_SKEW,
            "AWS refused the signed GetCallerIdentity request because its signing time is more \
             than 15 minutes from AWS's clock: this machine's clock is wrong (sync it with NTP, \
             e.g. chrony or systemd-timesyncd); the request is signed afresh on every refresh"
                .to_owned(),
        );
    }
    // AWS's own refusal of the signed request, relayed by Google (`Received invalid AWS response
    // of type CODE`).
    if message.contains("expiredtoken")
        || message.contains("security token included in the request is expired")
    {
        return known_as(
            &AWS_CREDENTIALS_EXPIRED,
            "AWS rejected the signed GetCallerIdentity request: the AWS credentials that signed \
             it have expired (they are read afresh on every refresh; check where they come from)"
                .to_owned(),
        );
    }
    if message.contains("invalidclienttokenid")
        || message.contains("security token included in the request is invalid")
    {
        return known_as(
            &AWS_CREDENTIALS_INVALID,
            "AWS rejected the signed GetCallerIdentity request: it does not know the access key, \
             or temporary credentials came without their session token (AWS_SESSION_TOKEN)"
                .to_owned(),
        );
    }
    if message.contains("signaturedoesnotmatch") {
        return known_as(
            &AWS_SIGNATURE_MISMATCH,
            "AWS rejected the signed GetCallerIdentity request: check the region (it must match \
             the STS host in the signed URL) and that the secret key belongs to the access key id"
                .to_owned(),
        );
    }
    if code == "invalid_grant"
        && (message.contains("expired")
            || [
                "iat",
                "exp",
                "nbf",
                "time",
                "timestamp",
                "clock",
                "skew",
                "future",
            ]
            .iter()
            .any(|w| has_word(w)))
    {
        return known_as(&CLOCK_SKEW,
            "the subject token is expired or not yet valid from Google's point of view: check this \
             machine's clock (skew over a few minutes breaks JWTs and AWS signatures, which are \
             valid 15 minutes) and that the token or AWS session credentials are fresh"
                .to_owned(),
        );
    }
    None
}

fn known_as(cause: &'static Cause, hint: String) -> Option<(&'static Cause, String)> {
    Some((cause, hint))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENT: Sent<'static> = Sent {
        audience: "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/prov",
        subject_token_type: "urn:ietf:params:aws:token-type:aws4_request",
    };

    fn hint_for(status: u16, body: &str) -> Option<String> {
        http_error(status, body.as_bytes(), &SENT)
            .hint()
            .map(str::to_owned)
    }

    #[test]
    fn known_sts_errors_get_hints() {
        let table: &[(u16, &str, &str)] = &[
            (
                400,
                r#"{"error":"unauthorized_client","error_description":"The given credential is rejected by the attribute condition."}"#,
                "attribute condition",
            ),
            (
                400,
                r#"{"error":"invalid_request","error_description":"Invalid value for \"audience\". This value should be the full resource name of the Identity Provider."}"#,
                "project number",
            ),
            (
                400,
                r#"{"error":"invalid_target","error_description":"The target service indicated by the \"audience\" parameters is invalid."}"#,
                "case-sensitive",
            ),
            (
                400,
                r#"{"error":"invalid_request","error_description":"Invalid subject_token_type."}"#,
                "provider kind",
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"ID Token issued at 1700000000 is expired."}"#,
                "clock",
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"The token has an invalid \"iat\" claim."}"#,
                "clock",
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"Signature expired: 20260101T000000Z is now earlier than 20260101T001500Z"}"#,
                "clock",
            ),
            (
                400,
                r#"{"error":"invalid_request","error_description":"The size of mapped attribute google.subject exceeds the 127 bytes limit. Either modify your attribute mapping or the incoming assertion to produce a mapped attribute that is less than 127 bytes."}"#,
                "attribute mapping",
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"The audience in ID Token does not match the expected audience."}"#,
                "allowed audiences",
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"Received invalid AWS response of type SignatureDoesNotMatch"}"#,
                "region",
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"Received invalid AWS response of type SignatureDoesNotMatch with error message: Signature expired: 20260101T000000Z is now earlier than 20260101T001500Z (20260101T003000Z - 15 min.)"}"#,
                "clock is wrong",
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"Received invalid AWS response of type SignatureDoesNotMatch with error message: Signature not yet current: 20260101T010000Z is still later than 20260101T001500Z (20260101T000000Z + 15 min.)"}"#,
                "clock is wrong",
            ),
            (
                429,
                r#"{"error":"quota_exceeded","error_description":"The request was throttled due to rate limit: sts.googleapis.com/requests. Please retry after a few seconds."}"#,
                "cache tokens",
            ),
            (429, "", "cache tokens"),
        ];
        for (status, body, want) in table {
            let hint = hint_for(*status, body).unwrap_or_else(|| panic!("no hint for {body}"));
            assert!(hint.contains(want), "{body}\n-> {hint}");
        }
    }

    #[test]
    fn known_sts_errors_name_their_cause() {
        let table: &[(u16, &str, &Cause)] = &[
            (429, r#"{"error":"quota_exceeded"}"#, &STS_QUOTA),
            (
                400,
                r#"{"error":"unauthorized_client","error_description":"The given credential is rejected by the attribute condition."}"#,
                &ATTRIBUTE_CONDITION,
            ),
            (
                400,
                r#"{"error":"invalid_request","error_description":"The size of mapped attribute google.subject exceeds the 127 bytes limit."}"#,
                &GOOGLE_SUBJECT_TOO_LONG,
            ),
            (
                400,
                r#"{"error":"invalid_request","error_description":"Invalid value for \"audience\". This value should be the full resource name of the Identity Provider."}"#,
                &AUDIENCE_FORMAT,
            ),
            (
                400,
                r#"{"error":"invalid_target","error_description":"The target service indicated by the \"audience\" parameters is invalid."}"#,
                &PROVIDER_NOT_FOUND,
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"The audience in ID Token [x] does not match the expected audience."}"#,
                &TOKEN_AUDIENCE_MISMATCH,
            ),
            (
                400,
                r#"{"error":"invalid_request","error_description":"Invalid subject_token_type."}"#,
                &SUBJECT_TOKEN_TYPE_MISMATCH,
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"ID Token issued at 1700000000 is expired."}"#,
                &CLOCK_SKEW,
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"Received invalid AWS response of type SignatureDoesNotMatch with error message: Signature expired: 20260101T000000Z is now earlier than 20260101T001500Z (20260101T003000Z - 15 min.)"}"#,
                &CLOCK_SKEW,
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"Received invalid AWS response of type ExpiredToken with error message: The security token included in the request is expired"}"#,
                &AWS_CREDENTIALS_EXPIRED,
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"Received invalid AWS response of type InvalidClientTokenId with error message: The security token included in the request is invalid."}"#,
                &AWS_CREDENTIALS_INVALID,
            ),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"Received invalid AWS response of type SignatureDoesNotMatch with error message: The request signature we calculated does not match the signature you provided."}"#,
                &AWS_SIGNATURE_MISMATCH,
            ),
        ];
        for (status, body, cause) in table {
            let err = http_error(*status, body.as_bytes(), &SENT);
            assert_eq!(err.known_cause(), Some(*cause), "{body}");
        }
        let err = http_error(500, br#"{"error":"server_error"}"#, &SENT);
        assert_eq!(err.known_cause(), None);
    }

    #[test]
    fn unrelated_errors_get_no_hint() {
        for (status, body) in [
            (
                400,
                r#"{"error":"invalid_grant","error_description":"Unable to parse the ID Token."}"#,
            ),
            (500, r#"{"error":"server_error"}"#),
            (502, "<html>bad gateway</html>"),
            (
                400,
                r#"{"error":"invalid_request","error_description":"Invalid scope."}"#,
            ),
        ] {
            assert_eq!(hint_for(status, body), None, "{body}");
        }
    }

    #[test]
    fn quota_exceeded_is_retryable_even_on_400() {
        let e = http_error(400, br#"{"error":"quota_exceeded"}"#, &SENT);
        assert!(e.is_retryable());
    }
}
