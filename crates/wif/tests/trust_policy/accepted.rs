//! What gcloud writes is accepted.

use serde_json::{Value, json};
use wif::{Credentials, TrustPolicy};

use super::*;
use crate::support::{file_config, with};

#[test]
fn gcloud_configs_are_accepted() {
    let strict = TrustPolicy::strict();
    let cases = [
        ("aws imdsv2 + impersonation", aws_imdsv2()),
        (
            "aws without imdsv2",
            with(
                aws_imdsv2(),
                &[("credential_source.imdsv2_session_token_url", Value::Null)],
            ),
        ),
        (
            "aws direct access (no impersonation)",
            with(
                aws_imdsv2(),
                &[
                    ("service_account_impersonation_url", Value::Null),
                    ("service_account_impersonation", Value::Null),
                ],
            ),
        ),
        (
            "aws over IPv6 IMDS",
            with(
                aws_imdsv2(),
                &[
                    (
                        "credential_source.region_url",
                        json!(
                            "http://[fd00:ec2::254]/latest/meta-data/placement/availability-zone"
                        ),
                    ),
                    (
                        "credential_source.url",
                        json!("http://[fd00:ec2::254]/latest/meta-data/iam/security-credentials"),
                    ),
                    (
                        "credential_source.imdsv2_session_token_url",
                        json!("http://[fd00:ec2::254]/latest/api/token"),
                    ),
                ],
            ),
        ),
        (
            "aws with environment credentials only (no metadata URLs)",
            with(
                aws_imdsv2(),
                &[
                    ("credential_source.region_url", Value::Null),
                    ("credential_source.url", Value::Null),
                    ("credential_source.imdsv2_session_token_url", Value::Null),
                ],
            ),
        ),
        ("file (EKS projected token)", file_config()),
        (
            "file, json format (AKS)",
            with(
                file_config(),
                &[
                    (
                        "credential_source.file",
                        json!("/var/run/secrets/azure/tokens/azure-identity-token"),
                    ),
                    (
                        "credential_source.format",
                        json!({"type": "json", "subject_token_field_name": "access_token"}),
                    ),
                ],
            ),
        ),
        (
            "file under /run/secrets",
            with(
                file_config(),
                &[("credential_source.file", json!("/run/secrets/gcp-token"))],
            ),
        ),
        (
            "workforce pool",
            with(
                file_config(),
                &[
                    ("audience", json!(WORKFORCE)),
                    (
                        "subject_token_type",
                        json!("urn:ietf:params:oauth:token-type:id_token"),
                    ),
                    ("workforce_pool_user_project", json!("my-billing-project")),
                    (
                        "token_info_url",
                        json!("https://sts.googleapis.com/v1/introspect"),
                    ),
                ],
            ),
        ),
        (
            "file + impersonation",
            with(
                file_config(),
                &[("service_account_impersonation_url", json!(SA_URL))],
            ),
        ),
        (
            "aws, region from placement/region",
            with(
                aws_imdsv2(),
                &[(
                    "credential_source.region_url",
                    json!("http://169.254.169.254/latest/meta-data/placement/region"),
                )],
            ),
        ),
    ];
    for (name, value) in &cases {
        if let Err(e) = strict.check(&parsed(value)) {
            panic!("{name}: refused: {e}\n{value:#}");
        }
    }
    // What the host's environment decides needs the host's consent.
    let opted_in = [
        (
            "url, Azure IMDS",
            TrustPolicy::strict().allow_azure_imds(),
            azure_url_config(),
        ),
        (
            "url, Azure IMDS, user-assigned identity",
            TrustPolicy::strict().allow_azure_imds(),
            with(
                azure_url_config(),
                &[(
                    "credential_source.url",
                    json!(format!("{AZURE_IDENTITY}&client_id=1234")),
                )],
            ),
        ),
        (
            "X.509 with the default certificate config",
            TrustPolicy::strict().allow_default_certificate_config(),
            default_certificate_config(),
        ),
    ];
    for (name, policy, value) in &opted_in {
        if let Err(e) = policy.check(&parsed(value)) {
            panic!("{name}: refused: {e}\n{value:#}");
        }
        assert!(
            strict.check(&parsed(value)).is_err(),
            "{name}: accepted without the opt-in"
        );
    }
}

#[test]
fn google_endpoint_forms_are_accepted() {
    let strict = TrustPolicy::strict();
    let psc_sa = "https://iamcredentials-corp1.p.googleapis.com/v1/projects/-/serviceAccounts/a@p.iam.gserviceaccount.com:generateAccessToken";
    let token_urls = [
        "https://sts.us-east1.rep.googleapis.com/v1/token", // gcloud --sts-location
        "https://sts.mtls.googleapis.com/v1/token",
        "https://sts.me-central2.rep.mtls.googleapis.com/v1/token",
        "https://sts-corp1.p.googleapis.com/v1/token", // Private Service Connect
    ];
    for url in token_urls {
        assert_accepted(&strict, &with(file_config(), &[("token_url", json!(url))]));
        assert_accepted(&strict, &with(aws_imdsv2(), &[("token_url", json!(url))]));
    }
    let psc = with(
        file_config(),
        &[("service_account_impersonation_url", json!(psc_sa))],
    );
    assert_accepted(&strict, &psc);
    // token_url omitted: the default, https://sts.googleapis.com/v1/token.
    assert_accepted(&strict, &with(file_config(), &[("token_url", Value::Null)]));
    for verify in [
        "https://sts.cn-north-1.amazonaws.com.cn?Action=GetCallerIdentity&Version=2011-06-15",
        "https://sts.{region}.amazonaws.com.cn?Action=GetCallerIdentity&Version=2011-06-15",
        "https://sts-fips.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
        "https://sts.eu-west-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
        "https://sts.us-gov-west-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
        "https://sts.{region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15",
    ] {
        let key = "credential_source.regional_cred_verification_url";
        assert_accepted(&strict, &with(aws_imdsv2(), &[(key, json!(verify))]));
    }
}

#[test]
fn untrusted_loaders_build_gcloud_configs_without_io() {
    for value in [aws_imdsv2(), file_config()] {
        let creds = Credentials::from_json_untrusted(&value.to_string())
            .unwrap_or_else(|e| panic!("refused: {e}\n{value:#}"));
        assert_eq!(
            creds.info().token_url.as_deref(),
            Some("https://sts.googleapis.com/v1/token")
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cred.json");
    std::fs::write(&path, aws_imdsv2().to_string()).unwrap();
    let creds = Credentials::from_file_untrusted(&path).unwrap();
    assert_eq!(creds.info().source_kind, "aws");
    assert_eq!(creds.info().impersonation_url.as_deref(), Some(SA_URL));
    let azure = Credentials::builder()
        .trust_policy(TrustPolicy::strict().allow_azure_imds())
        .config_json(&azure_url_config().to_string())
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(azure.info().source_kind, "url");
}
