//! Turning a failed step into named causes and fixes: the server's words, our layers' hints and
//! what the walk learned on the way (the caller's ARN, the JWT's subject, the response's `Date`)
//! combined into "this is why, change that". Every cause is listed, with the same id, in
//! docs/troubleshooting.md.
//!
//! Causes are recognised from the error's step, kind, status and the server's words; for errors
//! of our own AWS source, from the hints `wif-source-aws` attaches (the tests run each one
//! against the emulator, so a reworded hint fails a test rather than a diagnosis).

use std::time::SystemTime;

use wif::config::Audience;
use wif::layers::source_aws::CallerIdentity;
use wif::{Error, ErrorKind};

use super::report::Diagnosis;

mod clock;
mod google;

use clock::{clock_notice, clock_skew};
pub(crate) use clock::{describe_skew, skew_warning};
#[cfg(test)]
use google::member;
use google::{
    attribute_condition, audience_format, missing_binding, provider_not_found, subject_too_long,
    token_audience_mismatch,
};

/// What the walk knows when a step fails.
#[derive(Debug, Default)]
pub(crate) struct Known {
    /// Whether the chain's source is the AWS one (the IAM member is then a role's principalSet).
    pub(crate) aws_source: bool,
    pub(crate) audience: Option<Audience>,
    pub(crate) impersonate: Option<String>,
    /// The caller AWS named (`--call-aws`).
    pub(crate) caller: Option<CallerIdentity>,
    /// The instance role the metadata service named.
    pub(crate) imds_role: Option<String>,
    /// The JWT subject token's `sub` and `aud`.
    pub(crate) jwt_subject: Option<String>,
    pub(crate) jwt_audiences: Vec<String>,
    /// The local clock (as `wif explain` sees it) when the failure arrived.
    pub(crate) local_now: Option<SystemTime>,
}

impl Known {
    /// Seconds the server's clock is ahead of ours, from the error's `Date`.
    pub(crate) fn skew(&self, err: &Error) -> Option<i64> {
        Some(wif::layers::core::http::clock_skew_seconds(
            err.server_date()?,
            self.local_now?,
        ))
    }
}

fn d(cause: &'static str, summary: &str, explanation: String, fix: String) -> Diagnosis {
    Diagnosis {
        cause,
        summary: summary.to_owned(),
        explanation,
        fix,
    }
}

fn lower(s: Option<&str>) -> String {
    s.unwrap_or_default().to_ascii_lowercase()
}

/// The configuration could not be found, read or understood.
pub(crate) fn config_failure(err: &Error) -> Vec<Diagnosis> {
    let message = err.message();
    if message.contains("no credentials found") {
        return vec![d(
            "credentials_not_found",
            "no credential configuration found",
            "without --credentials, Application Default Credentials look at GOOGLE_APPLICATION_CREDENTIALS, then gcloud's application_default_credentials.json; neither exists".into(),
            "create one with `gcloud iam workload-identity-pools create-cred-config …` and pass it with --credentials FILE or GOOGLE_APPLICATION_CREDENTIALS=FILE".into(),
        )];
    }
    if err.kind() == ErrorKind::NotSupported {
        return vec![unsupported_source(err)];
    }
    vec![d(
        "invalid_config",
        "the credential configuration is invalid",
        format!("it was refused before any network call: {message}"),
        err.hint().map_or_else(
            || "fix the named field, or regenerate the file with `gcloud iam workload-identity-pools create-cred-config`".to_owned(),
            str::to_owned,
        ),
    )]
}

fn unsupported_source(err: &Error) -> Diagnosis {
    d(
        "unsupported_source",
        "this credential source is not supported by this build",
        err.message().to_owned(),
        err.hint().map_or_else(
            || "use a file, URL or AWS credential source".to_owned(),
            str::to_owned,
        ),
    )
}

/// The subject token could not be obtained (or, with `--call-aws`, AWS refused it).
pub(crate) fn source_failure(err: &Error, known: &Known) -> Vec<Diagnosis> {
    use wif::layers::source_aws::causes;
    let message = err.message();
    let hint = err.hint().unwrap_or_default();
    if err.kind() == ErrorKind::NotSupported {
        return vec![unsupported_source(err)];
    }
    // The AWS source names what it recognized (`Error::cause`); the diagnoses carry the same
    // names.
    let cause = err.cause();
    if cause == Some(causes::NO_REGION) {
        return vec![d(
            causes::NO_REGION,
            "no AWS region",
            "the signed request names a regional AWS STS host, so a region is needed: AWS_REGION and AWS_DEFAULT_REGION are unset and credential_source has no region_url (Lambda sets AWS_REGION; EC2 answers region_url)".into(),
            "set AWS_REGION (e.g. AWS_REGION=us-east-1), or add \"region_url\": \"http://169.254.169.254/latest/meta-data/placement/availability-zone\" to credential_source".into(),
        )];
    }
    if cause == Some(causes::NO_AWS_CREDENTIALS) {
        return vec![d(
            causes::NO_AWS_CREDENTIALS,
            "no AWS credentials",
            format!("nothing to sign with: {message}"),
            "set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, or add \"url\": \"http://169.254.169.254/latest/meta-data/iam/security-credentials\" to credential_source (EC2); on ECS/EKS use the library's aws-config feature".into(),
        )];
    }
    if cause == Some(causes::IMDSV2_REQUIRED) {
        return vec![d(
            causes::IMDSV2_REQUIRED,
            "the instance requires IMDSv2",
            "the metadata service answered 401 to a GET without a session token: the instance is configured with HttpTokens=required, and the configuration uses IMDSv1".into(),
            "add \"imdsv2_session_token_url\": \"http://169.254.169.254/latest/api/token\" to credential_source (gcloud iam workload-identity-pools create-cred-config --aws --enable-imdsv2)".into(),
        )];
    }
    if cause == Some(causes::NO_METADATA_SERVICE) {
        return vec![d(
            causes::NO_METADATA_SERVICE,
            "the instance metadata service is unreachable",
            format!("{message}: this is not an EC2 instance, or a container cannot reach the metadata service (hop limit 1)"),
            "on Lambda/ECS give credentials and region through the environment; in a container on EC2 set the instance's HttpPutResponseHopLimit to 2".into(),
        )];
    }
    if cause == Some(causes::NO_INSTANCE_ROLE) {
        return vec![d(
            causes::NO_INSTANCE_ROLE,
            "no IAM role attached to the instance",
            format!("the metadata service lists no role: {message}"),
            "attach an instance profile whose role the pool's AWS provider trusts".into(),
        )];
    }
    if cause == Some(causes::METADATA_REFUSED) {
        return vec![d(
            causes::METADATA_REFUSED,
            "the instance metadata service refused the request",
            message.to_owned(),
            "enable the metadata endpoint (HttpEndpoint=enabled) or allow the workload to reach 169.254.169.254".into(),
        )];
    }
    if let Some(server) = err.server_error() {
        // AWS's own answer to `--call-aws`: Google would get the same.
        let mut out = aws_refusal(
            server.code.as_deref(),
            server.message.as_deref(),
            err,
            known,
        );
        if !out.is_empty() {
            out.extend(clock_notice(err, known, &out));
            return out;
        }
    }
    if matches!(err.kind(), ErrorKind::Transport | ErrorKind::Timeout) {
        return vec![unreachable(err)];
    }
    vec![d(
        "source_failed",
        "the subject token could not be obtained",
        message.to_owned(),
        if hint.is_empty() {
            "check the credential_source settings (file path, URL, headers, format)".to_owned()
        } else {
            hint.to_owned()
        },
    )]
}

/// AWS refused the signed request (in `--call-aws`, or as relayed by Google STS).
fn aws_refusal(
    code: Option<&str>,
    message: Option<&str>,
    err: &Error,
    known: &Known,
) -> Vec<Diagnosis> {
    let code_l = lower(code);
    let message_l = lower(message);
    if message_l.contains("signature expired") || message_l.contains("signature not yet current") {
        return vec![clock_skew(
            err,
            known,
            "AWS refuses a signature whose time is more than 15 minutes from its own clock",
        )];
    }
    let aws_code = if code_l == "invalid_grant" {
        // Google relays AWS's code inside its own message.
        [
            "signaturedoesnotmatch",
            "invalidclienttokenid",
            "expiredtoken",
        ]
        .into_iter()
        .find(|c| message_l.contains(c))
        .unwrap_or_default()
        .to_owned()
    } else {
        code_l
    };
    let words = message.unwrap_or_default();
    match aws_code.as_str() {
        "expiredtoken" => vec![d(
            "aws_credentials_expired",
            "the AWS credentials have expired",
            format!("AWS said: {words}"),
            "temporary credentials must be fresh when signing: restart the workload or fix the process that writes them (Lambda and EC2 rotate them for you)".into(),
        )],
        "invalidclienttokenid" => vec![d(
            "aws_credentials_invalid",
            "AWS does not accept these credentials",
            format!("AWS said: {words}"),
            "use the role's current access key id together with its session token (AWS_SESSION_TOKEN for ASIA… keys); a key copied without its session token is refused".into(),
        )],
        "signaturedoesnotmatch" => vec![d(
            "aws_signature_mismatch",
            "AWS computed a different signature",
            format!("AWS said: {words}"),
            "the secret access key does not belong to the access key id, or the region in the signed URL differs from the signing region: check AWS_REGION and the key pair".into(),
        )],
        _ => Vec::new(),
    }
}

/// Google STS refused the exchange.
pub(crate) fn exchange_failure(err: &Error, known: &Known) -> Vec<Diagnosis> {
    if matches!(err.kind(), ErrorKind::Transport | ErrorKind::Timeout) {
        return vec![unreachable(err)];
    }
    let server = err.server_error().cloned().unwrap_or_default();
    let code = lower(server.code.as_deref());
    let message = lower(server.message.as_deref());
    let words = server.message.clone().unwrap_or_default();
    let mut out = Vec::new();
    if err.status() == Some(429) || code == "quota_exceeded" {
        out.push(d(
            "sts_quota",
            "STS rate limit for this project",
            format!("STS throttled the exchange: {words}"),
            "cache tokens and share one wif::Credentials per process (it refreshes once for all callers) instead of exchanging per request; retry after a few seconds".into(),
        ));
    } else if code == "unauthorized_client" && message.contains("attribute condition") {
        out.push(attribute_condition(known));
    } else if message.contains("google.subject") && message.contains("127") {
        out.push(subject_too_long(known));
    } else if code == "invalid_request" && message.contains("invalid value for \"audience\"") {
        out.push(audience_format(known));
    } else if code == "invalid_target" {
        out.push(provider_not_found(known));
    } else if code == "invalid_grant"
        && message.contains("audience")
        && (message.contains("does not match") || message.contains("mismatch"))
    {
        out.push(token_audience_mismatch(known));
    } else if message.contains("subject_token_type")
        || message.contains("subject token type")
        || code == "unsupported_token_type"
    {
        out.push(d(
            "subject_token_type_mismatch",
            "the subject token type does not fit the provider",
            format!("STS said: {words}"),
            "AWS providers take urn:ietf:params:aws:token-type:aws4_request; OIDC providers urn:ietf:params:oauth:token-type:jwt (or :id_token); SAML providers :saml2. Regenerate the configuration for the right provider with gcloud".into(),
        ));
    } else {
        out.extend(aws_refusal(
            server.code.as_deref(),
            server.message.as_deref(),
            err,
            known,
        ));
        if out.is_empty() && code == "invalid_grant" && is_time_complaint(&message) {
            out.push(clock_skew(
                err,
                known,
                "STS says the subject token is expired or not yet valid",
            ));
        }
    }
    out.extend(clock_notice(err, known, &out));
    if out.is_empty() {
        out.push(unrecognized(err));
    }
    out
}

fn is_time_complaint(message: &str) -> bool {
    message.contains("expired")
        || message
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| {
                matches!(
                    w,
                    "iat" | "exp" | "nbf" | "future" | "clock" | "skew" | "timestamp"
                )
            })
}

/// IAM Credentials refused the impersonation.
pub(crate) fn impersonation_failure(err: &Error, known: &Known) -> Vec<Diagnosis> {
    if matches!(err.kind(), ErrorKind::Transport | ErrorKind::Timeout) {
        return vec![unreachable(err)];
    }
    let server = err.server_error().cloned().unwrap_or_default();
    let code = server.code.as_deref().unwrap_or_default();
    let reason = server.reason.as_deref().unwrap_or_default();
    let words = server.message.clone().unwrap_or_default();
    let sa = known
        .impersonate
        .clone()
        .unwrap_or_else(|| "SERVICE_ACCOUNT_EMAIL".into());
    let status = err.status().unwrap_or_default();
    let mut out = Vec::new();
    if reason == "SERVICE_DISABLED" || words.contains("has not been used in project") {
        out.push(d(
            "iam_credentials_api_disabled",
            "the IAM Service Account Credentials API is disabled",
            format!("IAM said: {words}"),
            "gcloud services enable iamcredentials.googleapis.com --project=PROJECT (the project the message names), then wait a few minutes".into(),
        ));
    } else if status == 403 || code == "PERMISSION_DENIED" {
        out.push(missing_binding(&sa, known));
    } else if status == 404 || code == "NOT_FOUND" {
        out.push(d(
            "service_account_not_found",
            "the service account does not exist",
            format!("IAM said: {words}"),
            format!("check the email in service_account_impersonation_url ({sa}): the full NAME@PROJECT_ID.iam.gserviceaccount.com, in the project that owns it (gcloud iam service-accounts describe {sa})"),
        ));
    } else if status == 401 || code == "UNAUTHENTICATED" {
        out.push(d(
            "federated_token_rejected",
            "IAM Credentials rejected the federated token",
            format!("IAM said: {words}"),
            "the federated token expired or belongs to another universe: check universe_domain and the impersonation URL's host".into(),
        ));
    } else if status == 400 || code == "INVALID_ARGUMENT" {
        out.push(d(
            "impersonation_request_invalid",
            "IAM Credentials refused the request's lifetime or scopes",
            format!("IAM said: {words}"),
            "token_lifetime_seconds above 3600 needs the org policy constraints/iam.allowServiceAccountCredentialLifetimeExtension for this service account; scopes must be valid OAuth scopes".into(),
        ));
    }
    out.extend(clock_notice(err, known, &out));
    if out.is_empty() {
        out.push(unrecognized(err));
    }
    out
}

fn unreachable(err: &Error) -> Diagnosis {
    d(
        "unreachable",
        "the endpoint could not be reached",
        err.message().to_owned(),
        "check network access from this machine (DNS, proxy settings HTTPS_PROXY/NO_PROXY, firewall or VPC egress) and the URL in the configuration".into(),
    )
}

fn unrecognized(err: &Error) -> Diagnosis {
    d(
        "unrecognized",
        "a failure wif explain has no name for",
        format!("the server's words are above ({})", err.message()),
        err.hint().map_or_else(
            || "see docs/troubleshooting.md; run again with RUST_LOG=wif=debug for the request trail".to_owned(),
            str::to_owned,
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_reads_naturally() {
        assert_eq!(describe_skew(1200), "20 min 0 s behind the server's");
        assert_eq!(describe_skew(-75), "1 min 15 s ahead of the server's");
        assert_eq!(describe_skew(1), "in step with the server's (within 1 s)");
        assert_eq!(describe_skew(-30), "30 s ahead of the server's");
    }

    #[test]
    fn members_fill_in_what_is_known() {
        let audience = wif::config::parse_audience(
            "//iam.googleapis.com/projects/42/locations/global/workloadIdentityPools/pool/providers/aws",
        );
        let mut known = Known {
            aws_source: true,
            audience: Some(audience),
            ..Known::default()
        };
        let (m, missing) = member(&known);
        assert_eq!(
            m,
            "principalSet://iam.googleapis.com/projects/42/locations/global/workloadIdentityPools/pool/attribute.aws_role/arn:aws:sts::AWS_ACCOUNT_ID:assumed-role/ROLE_NAME"
        );
        assert!(missing.is_some());
        known.imds_role = Some("ec2-role".into());
        assert!(member(&known).0.ends_with("assumed-role/ec2-role"));
        known.aws_source = false;
        known.jwt_subject = Some("system:serviceaccount:ns:app".into());
        assert_eq!(
            member(&known),
            (
                "principal://iam.googleapis.com/projects/42/locations/global/workloadIdentityPools/pool/subject/system:serviceaccount:ns:app".to_owned(),
                None
            )
        );
    }

    fn http(step: wif::Step, status: u16, body: &str) -> Error {
        Error::http(step, status, body.as_bytes())
    }

    #[test]
    fn server_words_map_to_named_causes() {
        use wif::Step::{Exchange, Impersonation};
        let known = Known {
            impersonate: Some("sa@p.iam.gserviceaccount.com".into()),
            ..Known::default()
        };
        let table: &[(Error, &str)] = &[
            (
                http(Exchange, 429, r#"{"error":"quota_exceeded"}"#),
                "sts_quota",
            ),
            (
                http(
                    Exchange,
                    400,
                    r#"{"error":"invalid_grant","error_description":"The audience in ID Token [x] does not match the expected audience."}"#,
                ),
                "token_audience_mismatch",
            ),
            (
                http(
                    Exchange,
                    400,
                    r#"{"error":"invalid_request","error_description":"Invalid subject_token_type."}"#,
                ),
                "subject_token_type_mismatch",
            ),
            (
                http(
                    Exchange,
                    400,
                    r#"{"error":"invalid_grant","error_description":"ID Token issued at 1700000000 is expired."}"#,
                ),
                "clock_skew",
            ),
            (
                http(
                    Exchange,
                    400,
                    r#"{"error":"invalid_grant","error_description":"Received invalid AWS response of type ExpiredToken with error message: The security token included in the request is expired"}"#,
                ),
                "aws_credentials_expired",
            ),
            (
                http(
                    Exchange,
                    400,
                    r#"{"error":"invalid_grant","error_description":"Received invalid AWS response of type InvalidClientTokenId with error message: The security token included in the request is invalid."}"#,
                ),
                "aws_credentials_invalid",
            ),
        ];
        for (err, cause) in table {
            let got: Vec<&str> = exchange_failure(err, &known)
                .iter()
                .map(|d| d.cause)
                .collect();
            assert_eq!(got, [*cause], "{err}");
        }
        let table: &[(Error, &str)] = &[
            (
                http(
                    Impersonation,
                    403,
                    r#"{"error":{"code":403,"status":"PERMISSION_DENIED","message":"IAM Service Account Credentials API has not been used in project 1 before or it is disabled.","details":[{"reason":"SERVICE_DISABLED"}]}}"#,
                ),
                "iam_credentials_api_disabled",
            ),
            (
                http(
                    Impersonation,
                    404,
                    r#"{"error":{"code":404,"status":"NOT_FOUND","message":"Not found"}}"#,
                ),
                "service_account_not_found",
            ),
            (
                http(
                    Impersonation,
                    401,
                    r#"{"error":{"code":401,"status":"UNAUTHENTICATED","message":"x"}}"#,
                ),
                "federated_token_rejected",
            ),
            (
                http(
                    Impersonation,
                    400,
                    r#"{"error":{"code":400,"status":"INVALID_ARGUMENT","message":"x"}}"#,
                ),
                "impersonation_request_invalid",
            ),
        ];
        for (err, cause) in table {
            let got: Vec<&str> = impersonation_failure(err, &known)
                .iter()
                .map(|d| d.cause)
                .collect();
            assert_eq!(got, [*cause], "{err}");
        }
    }

    #[test]
    fn a_far_off_clock_is_named_even_when_the_server_does_not_say_so() {
        let server = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(10_000);
        let err = Error::http(
            wif::Step::Exchange,
            400,
            br#"{"error":"unauthorized_client","error_description":"The given credential is rejected by the attribute condition."}"#,
        )
        .with_server_date(server);
        let known = Known {
            local_now: Some(server - std::time::Duration::from_secs(900)),
            ..Known::default()
        };
        let got: Vec<&str> = exchange_failure(&err, &known)
            .iter()
            .map(|d| d.cause)
            .collect();
        assert_eq!(got, ["attribute_condition", "clock_skew"]);
        let close = Known {
            local_now: Some(server),
            ..Known::default()
        };
        assert_eq!(exchange_failure(&err, &close).len(), 1);
    }

    #[test]
    fn unknown_failures_still_get_a_named_cause() {
        let err = Error::http(wif::Step::Exchange, 400, br#"{"error":"weird"}"#);
        let out = exchange_failure(&err, &Known::default());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].cause, "unrecognized");
    }
}
