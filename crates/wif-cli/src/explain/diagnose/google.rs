//! The causes Google names: attribute condition, audience, provider, subject length, and the
//! missing `roles/iam.workloadIdentityUser` binding — each with the command that fixes it, filled
//! in with what the walk learned (pool, provider, the caller's ARN, the token's subject).

use wif::Error;
use wif::config::AudienceKind;
use wif::layers::impersonate::causes::MISSING_WORKLOAD_IDENTITY_USER;
use wif::layers::source_aws::{CallerIdentity, SHORT_SUBJECT_MAPPING};
use wif::layers::sts::causes::{
    ATTRIBUTE_CONDITION, AUDIENCE_FORMAT, GOOGLE_SUBJECT_TOO_LONG, PROVIDER_NOT_FOUND,
    TOKEN_AUDIENCE_MISMATCH,
};

use super::{Known, d};
use crate::explain::report::Diagnosis;

/// `projects/N/locations/global/workloadIdentityPools/POOL` (or the workforce equivalent), with
/// placeholders for what the audience does not say.
pub(super) fn pool_path(known: &Known) -> String {
    match known.audience.as_ref().map(|a| &a.kind) {
        Some(AudienceKind::WorkloadPool {
            project_number,
            pool,
            ..
        }) => {
            format!("projects/{project_number}/locations/global/workloadIdentityPools/{pool}")
        }
        Some(AudienceKind::WorkforcePool { location, pool, .. }) => {
            format!("locations/{location}/workforcePools/{pool}")
        }
        _ => "projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/POOL_ID".to_owned(),
    }
}

pub(super) fn provider_args(known: &Known) -> String {
    match known.audience.as_ref().map(|a| &a.kind) {
        Some(AudienceKind::WorkloadPool { pool, provider, .. }) => format!(
            "{} --workload-identity-pool={pool} --location=global",
            provider.as_deref().unwrap_or("PROVIDER_ID")
        ),
        _ => "PROVIDER_ID --workload-identity-pool=POOL_ID --location=global".to_owned(),
    }
}

/// The exact IAM member that needs `roles/iam.workloadIdentityUser`, and whether it is complete.
pub(crate) fn member(known: &Known) -> (String, Option<&'static str>) {
    let pool = pool_path(known);
    if known.aws_source {
        if let Some(caller) = &known.caller {
            let member = format!(
                "principalSet://iam.googleapis.com/{pool}/attribute.aws_role/{}",
                caller.aws_role_attribute()
            );
            return (member, None);
        }
        let role = known.imds_role.as_deref().unwrap_or("ROLE_NAME");
        return (
            format!(
                "principalSet://iam.googleapis.com/{pool}/attribute.aws_role/arn:aws:sts::AWS_ACCOUNT_ID:assumed-role/{role}"
            ),
            Some(
                "fill in AWS_ACCOUNT_ID and ROLE_NAME, or run `wif explain --call-aws` to have them filled in",
            ),
        );
    }
    match &known.jwt_subject {
        Some(sub) => (
            format!("principal://iam.googleapis.com/{pool}/subject/{sub}"),
            None,
        ),
        None => (
            format!("principal://iam.googleapis.com/{pool}/subject/SUBJECT"),
            Some("SUBJECT is the token's mapped google.subject"),
        ),
    }
}

pub(super) fn missing_binding(_: &Error, known: &Known) -> Diagnosis {
    let sa = known
        .impersonate
        .as_deref()
        .unwrap_or("SERVICE_ACCOUNT_EMAIL");
    let (member, missing) = member(known);
    let mapping_note = if known.aws_source {
        "attribute.aws_role comes from Google's default AWS attribute mapping"
    } else {
        "this assumes the default mapping google.subject=assertion.sub"
    };
    let mut fix = format!(
        "gcloud iam service-accounts add-iam-policy-binding {sa} --role=roles/iam.workloadIdentityUser --member=\"{member}\" ({mapping_note}; IAM changes take a few minutes to apply)"
    );
    if let Some(missing) = missing {
        fix.push_str(&format!("; {missing}"));
    }
    d(
        &MISSING_WORKLOAD_IDENTITY_USER,
        format!(
            "the STS exchange succeeded, so the pool trusts this identity; but {member} does not hold roles/iam.workloadIdentityUser (permission iam.serviceAccounts.getAccessToken) on {sa}"
        ),
        fix,
    )
}

pub(super) fn attribute_condition(_: &Error, known: &Known) -> Diagnosis {
    let seen = match (&known.caller, &known.jwt_subject) {
        (Some(c), _) => format!(
            "the caller was {} (account {}, attribute.aws_role {})",
            c.arn,
            c.account,
            c.aws_role_attribute()
        ),
        (None, Some(sub)) => format!("the token's subject is {sub}"),
        (None, None) if known.aws_source => {
            "run with --call-aws to see the ARN and account the condition was evaluated on"
                .to_owned()
        }
        _ => "compare the condition with the token's claims".to_owned(),
    };
    d(
        &ATTRIBUTE_CONDITION,
        format!(
            "Google verified the proof, then the provider's CEL attribute condition evaluated to false; {seen}"
        ),
        format!(
            "read the condition with `gcloud iam workload-identity-pools providers describe {} --format='value(attributeCondition)'` and make it accept this identity (for AWS, e.g. assertion.account == 'ACCOUNT' or attribute.aws_role == '…'), or run the workload as an identity it accepts",
            provider_args(known)
        ),
    )
}

pub(super) fn subject_too_long(_: &Error, known: &Known) -> Diagnosis {
    let seen = match &known.caller {
        Some(c) => format!("the ARN {} is {} bytes", c.arn, c.arn.len()),
        None => "AWS session ARNs (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION) of Lambda functions often are; run with --call-aws to see yours".to_owned(),
    };
    let value = known
        .caller
        .as_ref()
        .and_then(CallerIdentity::short_subject_mapping)
        .map(|m| format!(" (gives {}, {} bytes)", m.value, m.value.len()))
        .unwrap_or_default();
    d(
        &GOOGLE_SUBJECT_TOO_LONG,
        format!("with the default mapping google.subject=assertion.arn, {seen}"),
        format!(
            "map the role without the session: gcloud iam workload-identity-pools providers update-aws {} --attribute-mapping=\"{SHORT_SUBJECT_MAPPING},attribute.aws_role=assertion.arn.contains('assumed-role') ? assertion.arn.extract('{{account_arn}}assumed-role/') + 'assumed-role/' + assertion.arn.extract('assumed-role/{{role_name}}/') : assertion.arn\"{value}; or shorten the role or session (function) name",
            provider_args(known)
        ),
    )
}

pub(super) fn audience_format(_: &Error, known: &Known) -> Diagnosis {
    let warnings = known
        .audience
        .as_ref()
        .map(|a| a.warnings.join("; "))
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "compare it with the expected form".to_owned());
    d(
        &AUDIENCE_FORMAT,
        format!("STS could not parse the audience: {warnings}"),
        AUDIENCE_FORMAT.fix.to_owned(),
    )
}

pub(super) fn provider_not_found(_: &Error, known: &Known) -> Diagnosis {
    d(
        &PROVIDER_NOT_FOUND,
        "the audience is well formed, but STS knows no enabled provider by that name (IDs are case-sensitive; a deleted pool or provider can be undeleted for 30 days)".into(),
        format!(
            "check it with `gcloud iam workload-identity-pools providers describe {}` (state must be ACTIVE, and the pool's too); undelete or re-enable it, or fix the audience",
            provider_args(known)
        ),
    )
}

pub(super) fn token_audience_mismatch(_: &Error, known: &Known) -> Diagnosis {
    let aud = if known.jwt_audiences.is_empty() {
        "the token's aud".to_owned()
    } else {
        format!("the token's aud ({})", known.jwt_audiences.join(", "))
    };
    d(
        &TOKEN_AUDIENCE_MISMATCH,
        format!("{aud} is not in the OIDC provider's allowed audiences"),
        format!(
            "add it: gcloud iam workload-identity-pools providers update-oidc {} --allowed-audiences=AUDIENCE; or have the issuer mint the token for the provider's default audience https://iam.googleapis.com/{}/providers/PROVIDER_ID",
            provider_args(known),
            pool_path(known)
        ),
    )
}
