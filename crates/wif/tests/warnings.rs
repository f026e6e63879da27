//! What a new user gets wrong, and what the plan says about it: warnings for settings that are
//! legal but probably not meant (whatever set them), and errors that name the setting the user
//! actually used. All before any network call.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Custom, JWT, WORKLOAD, file_config, with};
use wif::plan::{Origin, Plan, WarningKind};
use wif::{Credentials, CredentialsBuilder, MapEnvironment};

fn builder() -> CredentialsBuilder {
    Credentials::builder().environment(Arc::new(MapEnvironment::new()))
}

/// A builder of gcloud's file configuration with `edits`.
fn configured(edits: &[(&str, Value)]) -> CredentialsBuilder {
    builder()
        .config_json(&with(file_config(), edits).to_string())
        .unwrap()
}

fn plan_of(edits: &[(&str, Value)]) -> Plan {
    configured(edits).plan().unwrap()
}

#[test]
fn a_typo_d_key_is_a_warning_and_the_default_is_what_runs() {
    let builder = configured(&[
        ("token_url", Value::Null),
        (
            "tokenurl",
            json!("https://sts.us-east1.rep.googleapis.com/v1/token"),
        ),
    ]);
    let plan = builder.plan().unwrap();
    // Accepted, as Google's libraries accept it: the production endpoint is used ...
    assert_eq!(
        plan.token_url.value.as_str(),
        "https://sts.googleapis.com/v1/token"
    );
    assert_eq!(plan.token_url.origin, Origin::Default);
    // ... but not silently.
    let typo = plan
        .warnings
        .iter()
        .find(|w| w.setting == "tokenurl")
        .unwrap_or_else(|| panic!("no warning: {:?}", plan.warnings));
    assert_eq!(typo.kind, WarningKind::UnknownField);
    assert!(typo.message.contains("did you mean `token_url`?"), "{typo}");
    // The library exposes it on the credentials too.
    let creds = builder.build().unwrap();
    assert!(creds.info().warnings.contains(typo), "{:?}", creds.info());
}

#[test]
fn the_audience_checks_run_on_the_builder_s_audience_too() {
    let suspicious = "https://iam.googleapis.com/projects/my-project/locations/global/workloadIdentityPools/pool/providers/prov";
    let plan = builder()
        .source(Custom)
        .audience(suspicious)
        .subject_token_type(JWT)
        .plan()
        .unwrap();
    let shown: Vec<String> = plan.warnings.iter().map(ToString::to_string).collect();
    assert!(
        shown.iter().any(
            |w| w.starts_with("CredentialsBuilder::audience: ") && w.contains("project NUMBER")
        ),
        "{shown:?}"
    );
    assert!(shown.iter().any(|w| w.contains("`https:`")), "{shown:?}");
    assert!(
        plan.warnings
            .iter()
            .all(|w| w.kind == WarningKind::Suspicious)
    );

    // The same audience in a configuration file is named by its field.
    let plan = plan_of(&[("audience", json!(suspicious))]);
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.setting == "audience" && w.message.contains("project NUMBER")),
        "{:?}",
        plan.warnings
    );
    // A good audience has none.
    let plan = plan_of(&[]);
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
}

#[test]
fn errors_name_the_setting_the_user_used() {
    let with_config = || configured(&[]);
    let err = with_config().impersonate("writer").build().unwrap_err();
    let shown = err.to_string();
    assert!(err.is_config(), "{shown}");
    assert!(
        shown.contains("`CredentialsBuilder::impersonate`"),
        "{shown}"
    );
    assert!(
        shown.contains("\"writer\" is not a service account email"),
        "{shown}"
    );
    assert!(
        !shown.contains("service_account_impersonation_url"),
        "{shown}"
    );

    let no_email = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/writer:generateAccessToken";
    let err = with_config()
        .impersonation_url(no_email)
        .plan()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("`CredentialsBuilder::impersonation_url`"),
        "{err}"
    );
    let err = with_config().token_url("not a url").plan().unwrap_err();
    assert!(
        err.to_string().contains("`CredentialsBuilder::token_url`"),
        "{err}"
    );

    // Set in the file, the error names the field of the file.
    let err = configured(&[("service_account_impersonation_url", json!(no_email))])
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("`service_account_impersonation_url`"),
        "{err}"
    );
}

#[test]
fn settings_without_effect_and_fallbacks_are_warnings() {
    // A lifetime without impersonation.
    let plan = configured(&[])
        .token_lifetime(Duration::from_secs(1200))
        .plan()
        .unwrap();
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.kind == WarningKind::Ignored
                && w.setting == "CredentialsBuilder::token_lifetime"),
        "{:?}",
        plan.warnings
    );

    // Half an AWS key pair: the metadata service is asked instead.
    let aws = json!({
        "audience": WORKLOAD,
        "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
        "credential_source": {
            "environment_id": "aws1",
            "url": "http://169.254.169.254/latest/meta-data/iam/security-credentials"
        }
    });
    let env = MapEnvironment::new()
        .with("AWS_REGION", "us-east-1")
        .with("AWS_ACCESS_KEY_ID", "AKIAHALF");
    let plan = Credentials::builder()
        .environment(Arc::new(env))
        .config_json(&aws.to_string())
        .unwrap()
        .plan()
        .unwrap();
    let fallback = plan
        .warnings
        .iter()
        .find(|w| w.kind == WarningKind::Fallback)
        .unwrap_or_else(|| panic!("{:?}", plan.warnings));
    assert_eq!(
        fallback.to_string(),
        "AWS_ACCESS_KEY_ID: is set but AWS_SECRET_ACCESS_KEY is not: the environment's key pair is skipped and the instance metadata service is asked"
    );
}
