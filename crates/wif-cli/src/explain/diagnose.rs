//! Turning a failed step into named causes and fixes. The cause is the one the failing layer
//! attached to the error ([`Error::known_cause`], a typed value of the catalogue, with its
//! summary and fix); when no layer recognised one, the walk classifies the failure itself with
//! its own few causes (unreachable, unrecognized, …). A diagnosis is rendered from the cause —
//! its summary, the error's words, its fix — and, for the causes where the walk knows more (the
//! caller's ARN, the JWT's subject, the pool and provider, the clock measured from `Date`), with
//! that filled in. Every cause has a section of docs/troubleshooting.md under its id.

use std::time::SystemTime;

use wif::config::Audience;
use wif::layers::core::causes::CLOCK_SKEW;
use wif::layers::impersonate::causes::MISSING_WORKLOAD_IDENTITY_USER;
use wif::layers::source_aws::CallerIdentity;
use wif::layers::sts::causes::{
    ATTRIBUTE_CONDITION, AUDIENCE_FORMAT, GOOGLE_SUBJECT_TOO_LONG, PROVIDER_NOT_FOUND,
    TOKEN_AUDIENCE_MISMATCH,
};
use wif::{Cause, Error, ErrorKind};

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

/// The causes `wif explain` names itself, for failures no layer recognised.
pub(crate) mod causes {
    use wif::Cause;

    /// A subject token source failed in a way it did not name.
    pub(crate) const SOURCE_FAILED: Cause = Cause::new(
        "source_failed",
        "the subject token could not be obtained",
        "check the credential_source settings (file path, URL, headers, format)",
    );
    /// A transport failure or timeout.
    pub(crate) const UNREACHABLE: Cause = Cause::new(
        "unreachable",
        "the endpoint could not be reached",
        "check network access from this machine (DNS, proxy settings HTTPS_PROXY/NO_PROXY, firewall or VPC egress) and the URL in the configuration",
    );
    /// A server's refusal nobody has a name for.
    pub(crate) const UNRECOGNIZED: Cause = Cause::new(
        "unrecognized",
        "a failure wif explain has no name for",
        "see docs/troubleshooting.md; run again with RUST_LOG=wif=debug for the request trail",
    );

    /// Every cause of `wif explain`'s own (the troubleshooting pages are checked against them).
    #[cfg(test)]
    pub(crate) const ALL: [Cause; 3] = [SOURCE_FAILED, UNREACHABLE, UNRECOGNIZED];
}

use causes::{SOURCE_FAILED, UNREACHABLE, UNRECOGNIZED};

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

/// A diagnosis of `cause` with its own fix and `explanation`.
fn d(cause: &'static Cause, explanation: String, fix: String) -> Diagnosis {
    Diagnosis {
        cause,
        explanation,
        fix,
    }
}

/// The error's words: the server's message when it sent one, else ours.
fn words(err: &Error) -> String {
    match err.server_error().and_then(|s| s.message.as_deref()) {
        Some(said) => format!("the server said: {said}"),
        None => err.message().to_owned(),
    }
}

/// Causes for which the walk knows more than the catalogue says.
type Tailored = fn(&Error, &Known) -> Diagnosis;

const TAILORED: [(&Cause, Tailored); 7] = [
    (&ATTRIBUTE_CONDITION, attribute_condition),
    (&GOOGLE_SUBJECT_TOO_LONG, subject_too_long),
    (&AUDIENCE_FORMAT, audience_format),
    (&PROVIDER_NOT_FOUND, provider_not_found),
    (&TOKEN_AUDIENCE_MISMATCH, token_audience_mismatch),
    (&MISSING_WORKLOAD_IDENTITY_USER, missing_binding),
    (&CLOCK_SKEW, clock_skew),
];

/// The diagnosis of `err`: the cause a layer named, else `fallback`; tailored when the walk
/// knows more about it, else the catalogue's fix with the error's words.
fn diagnosis(err: &Error, known: &Known, fallback: &'static Cause) -> Diagnosis {
    let cause = err.known_cause().unwrap_or(fallback);
    match TAILORED.iter().find(|(c, _)| *c == cause) {
        Some((_, tailor)) => tailor(err, known),
        None => d(cause, words(err), cause.fix.to_owned()),
    }
}

/// The walk's own name for a failure no layer named.
fn unnamed(err: &Error, otherwise: &'static Cause) -> &'static Cause {
    match err.kind() {
        ErrorKind::Transport | ErrorKind::Timeout => &UNREACHABLE,
        ErrorKind::NotSupported => &wif::causes::UNSUPPORTED_SOURCE,
        _ => otherwise,
    }
}

/// The configuration could not be found, read, resolved or assembled.
pub(crate) fn config_failure(err: &Error) -> Vec<Diagnosis> {
    let fallback = match err.kind() {
        ErrorKind::NotSupported => &wif::causes::UNSUPPORTED_SOURCE,
        _ => &wif::causes::INVALID_CONFIG,
    };
    let mut diagnosis = diagnosis(err, &Known::default(), fallback);
    if diagnosis.cause == &wif::causes::INVALID_CONFIG {
        diagnosis.explanation =
            format!("it was refused before any network call: {}", err.message());
    }
    vec![diagnosis]
}

/// A failed step of Google's part of the chain: refused before its call when the configuration
/// is wrong ([`config_failure`]), else diagnosed by `call_failure`.
pub(crate) fn google_failure(
    err: &Error,
    known: &Known,
    call_failure: fn(&Error, &Known) -> Vec<Diagnosis>,
) -> Vec<Diagnosis> {
    if err.is_config() {
        config_failure(err)
    } else {
        call_failure(err, known)
    }
}

/// The subject token could not be obtained (or, with `--call-aws`, AWS refused it).
pub(crate) fn source_failure(err: &Error, known: &Known) -> Vec<Diagnosis> {
    chain_failure(err, known, &SOURCE_FAILED)
}

/// Google STS refused the exchange.
pub(crate) fn exchange_failure(err: &Error, known: &Known) -> Vec<Diagnosis> {
    chain_failure(err, known, &UNRECOGNIZED)
}

/// IAM Credentials refused the impersonation.
pub(crate) fn impersonation_failure(err: &Error, known: &Known) -> Vec<Diagnosis> {
    chain_failure(err, known, &UNRECOGNIZED)
}

/// A failed call of the chain: its cause, and the clock when it is far off whatever the cause.
fn chain_failure(err: &Error, known: &Known, otherwise: &'static Cause) -> Vec<Diagnosis> {
    let mut out = vec![diagnosis(err, known, unnamed(err, otherwise))];
    out.extend(clock_notice(err, known, &out));
    out
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

    fn ids(diagnoses: &[Diagnosis]) -> Vec<&'static str> {
        diagnoses.iter().map(|d| d.cause.id).collect()
    }

    #[test]
    fn the_cause_a_layer_named_is_rendered_from_the_catalogue() {
        use wif::layers::impersonate::causes::SERVICE_ACCOUNT_NOT_FOUND;
        use wif::layers::sts::causes::STS_QUOTA;
        let known = Known {
            impersonate: Some("sa@p.iam.gserviceaccount.com".into()),
            ..Known::default()
        };
        // A plain cause: the catalogue's fix, the server's words.
        let err = http(
            wif::Step::Exchange,
            429,
            r#"{"error":"quota_exceeded","error_description":"slow down"}"#,
        )
        .with_known_cause(&STS_QUOTA);
        let out = exchange_failure(&err, &known);
        assert_eq!(ids(&out), ["sts_quota"]);
        assert_eq!(out[0].fix, STS_QUOTA.fix);
        assert_eq!(out[0].explanation, "the server said: slow down");
        // A cause the walk knows more about: the binding, with the service account filled in.
        let err = http(wif::Step::Impersonation, 403, "")
            .with_known_cause(&MISSING_WORKLOAD_IDENTITY_USER);
        let out = impersonation_failure(&err, &known);
        assert_eq!(ids(&out), ["missing_workload_identity_user"]);
        assert!(
            out[0].fix.starts_with(
                "gcloud iam service-accounts add-iam-policy-binding sa@p.iam.gserviceaccount.com"
            ),
            "{}",
            out[0].fix
        );
        let err =
            http(wif::Step::Impersonation, 404, "").with_known_cause(&SERVICE_ACCOUNT_NOT_FOUND);
        assert_eq!(
            ids(&impersonation_failure(&err, &known)),
            ["service_account_not_found"]
        );
    }

    #[test]
    fn failures_no_layer_named_get_the_walk_s_own_causes() {
        let known = Known::default();
        let refused = Error::new(
            wif::Step::Exchange,
            ErrorKind::Transport,
            "connection refused",
        );
        assert_eq!(ids(&exchange_failure(&refused, &known)), ["unreachable"]);
        let io = Error::new(wif::Step::Source, ErrorKind::Io, "no such file");
        assert_eq!(ids(&source_failure(&io, &known)), ["source_failed"]);
        let unsupported = Error::not_supported(wif::Step::Config, "interactive mode");
        assert_eq!(ids(&config_failure(&unsupported)), ["unsupported_source"]);
        let invalid = Error::config("audience", "is missing");
        let out = config_failure(&invalid);
        assert_eq!(ids(&out), ["invalid_config"]);
        assert!(
            out[0].explanation.contains("before any network call"),
            "{}",
            out[0].explanation
        );
    }

    #[test]
    fn a_far_off_clock_is_named_even_when_the_server_does_not_say_so() {
        let server = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(10_000);
        let err = Error::http(
            wif::Step::Exchange,
            400,
            br#"{"error":"unauthorized_client","error_description":"The given credential is rejected by the attribute condition."}"#,
        )
        .with_known_cause(&ATTRIBUTE_CONDITION)
        .with_server_date(server);
        let known = Known {
            local_now: Some(server - std::time::Duration::from_secs(900)),
            ..Known::default()
        };
        assert_eq!(
            ids(&exchange_failure(&err, &known)),
            ["attribute_condition", "clock_skew"]
        );
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
        assert_eq!(ids(&out), ["unrecognized"]);
    }
}
