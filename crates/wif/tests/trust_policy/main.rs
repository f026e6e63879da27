//! The trust policy for untrusted credential configurations: every gcloud-written shape is
//! accepted (`accepted`), every hostile one refused with the field and the rule named (`rules`,
//! one test per rule, and `hostile`, tables of the attacks an adversarial review tried).
//! (Loaders, size limit, builder exemptions and the no-network guarantee: `trust_loading.rs`.)

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

#[path = "../support/mod.rs"]
mod support;

mod accepted;
mod hostile;
mod rules;

use serde_json::{Value, json};
use support::{WORKLOAD, assert_policy_error, file_config, with};
use wif::config::ExternalAccountConfig;
use wif::{Error, TrustPolicy};

const WORKFORCE: &str = "//iam.googleapis.com/locations/global/workforcePools/staff/providers/okta";
const AWS: &str = "urn:ietf:params:aws:token-type:aws4_request";
const SA_URL: &str = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/loader@proj.iam.gserviceaccount.com:generateAccessToken";
const VERIFY: &str =
    "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15";

/// gcloud's `--aws --enable-imdsv2 --service-account=…` output.
fn aws_imdsv2() -> Value {
    json!({
        "universe_domain": "googleapis.com",
        "type": "external_account",
        "audience": WORKLOAD,
        "subject_token_type": AWS,
        "token_url": "https://sts.googleapis.com/v1/token",
        "service_account_impersonation_url": SA_URL,
        "service_account_impersonation": { "token_lifetime_seconds": 3600 },
        "credential_source": {
            "environment_id": "aws1",
            "region_url": "http://169.254.169.254/latest/meta-data/placement/availability-zone",
            "url": "http://169.254.169.254/latest/meta-data/iam/security-credentials",
            "regional_cred_verification_url": VERIFY,
            "imdsv2_session_token_url": "http://169.254.169.254/latest/api/token"
        }
    })
}

/// Azure's managed-identity token endpoint, as gcloud's `--azure --app-id-uri=api://wif-app` writes it.
const AZURE_IDENTITY: &str = "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://wif-app";

/// gcloud's `--credential-cert-path`-less X.509 output: this machine's gcloud certificate
/// configuration picks the certificate.
fn default_certificate_config() -> Value {
    json!({
        "universe_domain": "googleapis.com",
        "type": "external_account",
        "audience": WORKLOAD,
        "subject_token_type": "urn:ietf:params:oauth:token-type:mtls",
        "token_url": "https://sts.mtls.googleapis.com/v1/token",
        "credential_source": { "certificate": { "use_default_certificate_config": true } }
    })
}

/// gcloud's `--azure --app-id-uri=…` output (a URL source to Azure's IMDS).
fn azure_url_config() -> Value {
    // The same document as `file_config()` but for its credential source.
    with(
        file_config(),
        &[(
            "credential_source",
            json!({
                "url": AZURE_IDENTITY,
                "headers": { "Metadata": "True" },
                "format": { "type": "json", "subject_token_field_name": "access_token" }
            }),
        )],
    )
}

fn parsed(value: &Value) -> ExternalAccountConfig {
    ExternalAccountConfig::from_json(&value.to_string())
        .unwrap_or_else(|e| panic!("the parser rejected it: {e}\n{value:#}"))
}

fn assert_accepted(policy: &TrustPolicy, value: &Value) {
    if let Err(e) = policy.check(&parsed(value)) {
        panic!("refused: {e}\n{value:#}");
    }
}

/// The refusal names `field` and `rule`, is a configuration error with a hint, and the
/// configuration itself is valid (so it is the policy that refused, not the parser).
fn assert_refused(policy: &TrustPolicy, value: &Value, field: &str, rule: &str) -> Error {
    let err = match policy.check(&parsed(value)) {
        Ok(()) => panic!("accepted, expected `{field}` / {rule}:\n{value:#}"),
        Err(e) => e,
    };
    assert_policy_error(&err, field, rule);
    err
}
