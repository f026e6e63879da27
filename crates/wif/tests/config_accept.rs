//! Configurations as gcloud writes them are accepted and read field by field; defaults,
//! redaction and the display form (`to_json`).

#![allow(clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use serde_json::json;
use wif::TokenFormat;
use wif::config::{
    Audience, AwsSourceConfig, CertificateSourceConfig, CredentialSource, ExecutableSourceConfig,
    ExternalAccountConfig, FileSourceConfig,
};
use wif::secrecy::ExposeSecret;

fn parse(json: &str) -> ExternalAccountConfig {
    match ExternalAccountConfig::from_json(json) {
        Ok(c) => c,
        Err(e) => panic!("rejected: {e}\n{json}"),
    }
}

/// `gcloud iam workload-identity-pools create-cred-config … --aws --enable-imdsv2
/// --service-account=… --service-account-token-lifetime-seconds=7200`
const AWS_IMDSV2: &str = r#"{
  "universe_domain": "googleapis.com",
  "type": "external_account",
  "audience": "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aws-pool/providers/aws-provider",
  "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
  "token_url": "https://sts.googleapis.com/v1/token",
  "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/loader@my-project.iam.gserviceaccount.com:generateAccessToken",
  "service_account_impersonation": {
    "token_lifetime_seconds": 7200
  },
  "credential_source": {
    "environment_id": "aws1",
    "region_url": "http://169.254.169.254/latest/meta-data/placement/availability-zone",
    "url": "http://169.254.169.254/latest/meta-data/iam/security-credentials",
    "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
    "imdsv2_session_token_url": "http://169.254.169.254/latest/api/token"
  }
}"#;

#[test]
fn aws_with_imdsv2_and_impersonation() {
    let c = parse(AWS_IMDSV2);
    assert_eq!(c.source_kind(), "aws");
    assert_eq!(c.token_url, "https://sts.googleapis.com/v1/token");
    assert_eq!(c.token_lifetime_seconds, Some(7200));
    assert_eq!(
        c.impersonated_email().as_deref(),
        Some("loader@my-project.iam.gserviceaccount.com")
    );
    assert!(!c.is_workforce_pool());
    assert_eq!(c.parsed_audience().project_number(), Some("123456789012"));
    let CredentialSource::Aws(aws) = &c.credential_source else {
        panic!("not AWS: {c:?}");
    };
    assert_eq!(
        aws,
        &AwsSourceConfig {
            environment_id: "aws1".into(),
            region_url: Some(
                "http://169.254.169.254/latest/meta-data/placement/availability-zone".into()
            ),
            url: Some("http://169.254.169.254/latest/meta-data/iam/security-credentials".into()),
            regional_cred_verification_url:
                "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
                    .into(),
            imdsv2_session_token_url: Some("http://169.254.169.254/latest/api/token".into()),
        }
    );
    assert_eq!(
        aws.verification_url("eu-west-1"),
        "https://sts.eu-west-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
    );
}

#[test]
fn aws_without_imdsv2_and_minimal_aws() {
    let without = AWS_IMDSV2.replace(
        ",\n    \"imdsv2_session_token_url\": \"http://169.254.169.254/latest/api/token\"",
        "",
    );
    let c = parse(&without);
    let CredentialSource::Aws(aws) = &c.credential_source else {
        panic!("not AWS: {c:?}");
    };
    assert_eq!(aws.imdsv2_session_token_url, None);

    // Only the selector: URLs are optional (env may hold region and keys), and the
    // verification URL takes Go's default.
    let c = ExternalAccountConfig::from_value(json!({
        "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/a",
        "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
        "credential_source": {"environment_id": "aws1", "region_url": "", "url": null}
    }))
    .expect("minimal AWS");
    let CredentialSource::Aws(aws) = &c.credential_source else {
        panic!("not AWS: {c:?}");
    };
    assert_eq!(aws.region_url, None);
    assert_eq!(aws.url, None);
    assert_eq!(
        aws.regional_cred_verification_url,
        wif::config::DEFAULT_REGIONAL_CRED_VERIFICATION_URL
    );
    // IPv6 IMDS and a loopback https verification URL (docs/protocol.md#imdsv1-and-imdsv2, #google-auth-as-a-test-oracle).
    let c = ExternalAccountConfig::from_value(json!({
        "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/a",
        "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
        "credential_source": {
            "environment_id": "aws1",
            "region_url": "http://[fd00:ec2::254]/latest/meta-data/placement/availability-zone",
            "regional_cred_verification_url": "https://127.0.0.1:8443/?Action=GetCallerIdentity&Version=2011-06-15"
        }
    }));
    assert!(c.is_ok(), "{c:?}");
}

#[test]
fn file_sources_text_and_json() {
    let text = parse(
        r#"{
  "type": "external_account",
  "audience": "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/k8s/providers/gke",
  "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
  "token_url": "https://sts.googleapis.com/v1/token",
  "credential_source": {"file": "/var/run/service-account/token", "format": {"type": "text"}}
}"#,
    );
    assert_eq!(
        text.credential_source,
        CredentialSource::File(FileSourceConfig {
            file: PathBuf::from("/var/run/service-account/token"),
            format: TokenFormat::Text,
        })
    );
    assert_eq!(text.source_kind(), "file");
    assert_eq!(text.impersonated_email(), None);

    let json_fmt = parse(
        r#"{
  "type": "external_account",
  "audience": "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/k8s/providers/gke",
  "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
  "token_url": "https://sts.googleapis.com/v1/token",
  "credential_source": {"file": "/run/token.json", "format": {"type": "json", "subject_token_field_name": "id_token"}}
}"#,
    );
    assert_eq!(
        json_fmt.credential_source,
        CredentialSource::File(FileSourceConfig {
            file: PathBuf::from("/run/token.json"),
            format: TokenFormat::Json {
                subject_token_field_name: "id_token".into()
            },
        })
    );
    // format missing, null, empty type: text (Python's `or "text"`).
    for format in [
        json!(null),
        json!({}),
        json!({"type": ""}),
        json!({"type": null}),
    ] {
        let c = ExternalAccountConfig::from_value(json!({
            "audience": "a", "subject_token_type": "urn:ietf:params:oauth:token-type:saml2",
            "credential_source": {"file": "/t", "format": format}
        }))
        .expect("defaults to text");
        let CredentialSource::File(f) = c.credential_source else {
            panic!("not a file source")
        };
        assert_eq!(f.format, TokenFormat::Text, "{format}");
    }
}

#[test]
fn url_source_with_headers_keeps_order_and_hides_values() {
    // Azure managed identity, as in gcloud's `--azure` output, plus extra headers.
    let c = parse(
        r#"{
  "type": "external_account",
  "audience": "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/azure/providers/entra",
  "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
  "token_url": "https://sts.googleapis.com/v1/token",
  "client_secret": "client-secret-value-xyz",
  "client_id": "my-client",
  "credential_source": {
    "url": "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://app",
    "headers": {"Metadata": "True", "X-Zeta": "header-secret-1", "Authorization": "Bearer header-secret-2"},
    "format": {"type": "json", "subject_token_field_name": "access_token"}
  }
}"#,
    );
    let CredentialSource::Url(u) = &c.credential_source else {
        panic!("not a URL source: {c:?}");
    };
    let names: Vec<&str> = u.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["Metadata", "X-Zeta", "Authorization"], "file order");
    assert_eq!(u.headers[2].1, "Bearer header-secret-2");
    assert_eq!(
        u.format,
        TokenFormat::Json {
            subject_token_field_name: "access_token".into()
        }
    );
    assert_eq!(
        c.client_secret.as_ref().map(|s| s.expose_secret()),
        Some("client-secret-value-xyz")
    );

    let debug = format!("{c:?} {:?} {:#?}", c.credential_source, u);
    for secret in [
        "client-secret-value-xyz",
        "header-secret-1",
        "header-secret-2",
        "True",
    ] {
        assert!(!debug.contains(secret), "{secret} leaked in Debug: {debug}");
    }
    assert!(
        debug.contains("Authorization"),
        "header names stay visible: {debug}"
    );
    assert!(debug.contains("my-client"), "{debug}");

    let shown = c.to_json().to_string();
    for secret in [
        "client-secret-value-xyz",
        "header-secret-1",
        "header-secret-2",
    ] {
        assert!(
            !shown.contains(secret),
            "{secret} leaked in to_json: {shown}"
        );
    }
    assert!(c.to_json().get("client_secret").is_none(), "{shown}");
}

#[test]
fn executable_source() {
    let c = parse(
        r#"{
  "type": "external_account",
  "audience": "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/p/providers/oidc",
  "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
  "token_url": "https://sts.googleapis.com/v1/token",
  "credential_source": {
    "executable": {"command": "/usr/local/bin/get-token --aud=gcp", "timeout_millis": 5000, "output_file": "/tmp/token-cache.json"}
  }
}"#,
    );
    assert_eq!(c.source_kind(), "executable");
    assert_eq!(
        c.credential_source,
        CredentialSource::Executable(ExecutableSourceConfig {
            command: "/usr/local/bin/get-token --aud=gcp".into(),
            timeout_millis: 5000,
            output_file: Some(PathBuf::from("/tmp/token-cache.json")),
            interactive_timeout_millis: None,
        })
    );
    let c = ExternalAccountConfig::from_value(json!({
        "audience": "a", "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "credential_source": {"executable": {"command": "x", "interactive_timeout_millis": 300000}}
    }))
    .expect("defaults");
    let CredentialSource::Executable(e) = c.credential_source else {
        panic!("not executable")
    };
    assert_eq!(e.timeout_millis, 30_000, "default timeout");
    assert_eq!(e.interactive_timeout_millis, Some(300_000));
}

#[test]
fn certificate_source() {
    let c = parse(
        r#"{
  "universe_domain": "googleapis.com",
  "type": "external_account",
  "audience": "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/x509-pool/providers/x509",
  "subject_token_type": "urn:ietf:params:oauth:token-type:mtls",
  "token_url": "https://sts.mtls.googleapis.com/v1/token",
  "credential_source": {
    "certificate": {"use_default_certificate_config": true, "trust_chain_path": "/etc/pki/chain.pem"}
  }
}"#,
    );
    assert_eq!(c.source_kind(), "x509");
    assert_eq!(
        c.credential_source,
        CredentialSource::Certificate(CertificateSourceConfig {
            use_default_certificate_config: true,
            certificate_config_location: None,
            trust_chain_path: Some(PathBuf::from("/etc/pki/chain.pem")),
        })
    );
    let c = ExternalAccountConfig::from_value(json!({
        "audience": "a", "subject_token_type": "urn:ietf:params:oauth:token-type:mtls",
        "credential_source": {"certificate": {"use_default_certificate_config": false, "certificate_config_location": "/c.json"}}
    }))
    .expect("explicit location");
    let CredentialSource::Certificate(cert) = c.credential_source else {
        panic!("not a certificate source")
    };
    assert_eq!(
        cert.certificate_config_location,
        Some(PathBuf::from("/c.json"))
    );
}

#[test]
fn workforce_with_user_project() {
    let c = parse(
        r#"{
  "type": "external_account",
  "audience": "//iam.googleapis.com/locations/global/workforcePools/corp-pool/providers/okta",
  "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
  "token_url": "https://sts.googleapis.com/v1/token",
  "workforce_pool_user_project": "billing-project",
  "credential_source": {"file": "/home/me/.okta/id_token", "format": {"type": "text"}}
}"#,
    );
    assert!(c.is_workforce_pool());
    assert_eq!(
        c.workforce_pool_user_project.as_deref(),
        Some("billing-project")
    );
}

#[test]
fn defaults_and_optional_fields() {
    let base = json!({
        "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "credential_source": {"file": "/t"}
    });
    // Missing `type` is tolerated (Python's from_info); token_url defaults; empty optionals are unset.
    let c = ExternalAccountConfig::from_value(base.clone()).expect("minimal");
    assert_eq!(c.token_url, "https://sts.googleapis.com/v1/token");
    assert_eq!(c.universe_domain, "googleapis.com");
    let mut v = base.clone();
    for (k, val) in [
        ("token_url", json!("")),
        ("universe_domain", json!("example-universe.goog")),
        ("quota_project_id", json!("")),
        ("client_id", json!("")),
        ("workforce_pool_user_project", json!("")),
        ("service_account_impersonation_url", json!("")),
        (
            "service_account_impersonation",
            json!({"token_lifetime_seconds": 0}),
        ),
        (
            "token_info_url",
            json!("https://sts.googleapis.com/v1/introspect"),
        ),
        ("trust_boundary", json!({"locations": []})),
        ("some_future_field", json!(true)),
    ] {
        v[k] = val;
    }
    let c = ExternalAccountConfig::from_value(v).expect("optional fields");
    assert_eq!(c.token_url, "https://sts.example-universe.goog/v1/token");
    assert_eq!(c.universe_domain, "example-universe.goog");
    assert_eq!(c.quota_project_id, None);
    assert_eq!(c.client_id, None);
    assert_eq!(c.workforce_pool_user_project, None);
    assert_eq!(c.service_account_impersonation_url, None);
    assert_eq!(c.token_lifetime_seconds, None, "0 means the default (3600)");
    assert_eq!(
        c.token_info_url.as_deref(),
        Some("https://sts.googleapis.com/v1/introspect")
    );
    // An explicit token_url wins over the universe.
    let mut v = base;
    v["universe_domain"] = json!("example-universe.goog");
    v["token_url"] = json!("http://127.0.0.1:8080/v1/token");
    let c = ExternalAccountConfig::from_value(v).expect("loopback STS");
    assert_eq!(c.token_url, "http://127.0.0.1:8080/v1/token");
    for lifetime in [600, 3600, 43200] {
        let c = ExternalAccountConfig::from_value(json!({
            "audience": "a", "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@b.iam.gserviceaccount.com:generateAccessToken",
            "service_account_impersonation": {"token_lifetime_seconds": lifetime},
            "credential_source": {"file": "/t"}
        }))
        .expect("lifetime in range");
        assert_eq!(c.token_lifetime_seconds, Some(lifetime));
    }
}

#[test]
fn impersonated_email_table() {
    // Appendix H #20.
    for (url, want) in [
        (
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@b.iam.gserviceaccount.com:generateAccessToken",
            Some("a@b.iam.gserviceaccount.com"),
        ),
        ("http://127.0.0.1:9/sa/x@y:generateAccessToken", Some("x@y")),
        (
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/123456789012345678901:generateAccessToken",
            Some("123456789012345678901"),
        ),
    ] {
        let c = ExternalAccountConfig::from_value(json!({
            "audience": "a", "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "service_account_impersonation_url": url, "credential_source": {"file": "/t"}
        }))
        .expect("valid impersonation URL");
        assert_eq!(c.impersonated_email().as_deref(), want, "{url}");
    }
}

#[test]
fn is_workforce_pool_table() {
    // Appendix H #23, plus anchoring and empty-location cases: Python's regex, for the bare
    // audience and for a configuration naming it.
    for (audience, want) in [
        (
            "//iam.googleapis.com/locations/global/workforcePools/p/providers/x",
            true,
        ),
        (
            "//iam.googleapis.com/locations/eu/workforcePools/p/providers/x",
            true,
        ),
        (
            "https://iam.googleapis.com/locations/global/workforcePools/p",
            false,
        ),
        (
            "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x",
            false,
        ),
        (
            "x//iam.googleapis.com/locations/global/workforcePools/",
            false,
        ),
        (
            "//iam.googleapis.com/locations/global/workforcePools/",
            true,
        ),
        ("//iam.googleapis.com/locations//workforcePools/p", false),
        (
            "//iam.googleapis.com/locations/global/workforcePools",
            false,
        ),
        ("", false),
    ] {
        assert_eq!(Audience::is_workforce_pool(audience), want, "{audience}");
        if audience.is_empty() {
            continue; // a configuration needs an audience
        }
        let c = ExternalAccountConfig::from_value(json!({
            "audience": audience, "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "credential_source": {"file": "/t"}
        }))
        .expect("valid");
        assert_eq!(c.is_workforce_pool(), want, "{audience}");
    }
}

#[test]
fn to_json_round_trips_the_shape() {
    // Appendix H #22's config, minus the secret: Python's `info` shape with sorted keys.
    let original = json!({
        "audience": "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/POOL_ID/providers/PROVIDER_ID",
        "client_id": "id",
        "credential_source": {"file": "/dev/null", "format": {"type": "text"}},
        "quota_project_id": "q",
        "service_account_impersonation": {"token_lifetime_seconds": 2800},
        "service_account_impersonation_url": "https://i/v1/projects/-/serviceAccounts/a@b:generateAccessToken",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": "https://x",
        "type": "external_account",
        "universe_domain": "googleapis.com"
    });
    let c = ExternalAccountConfig::from_value(original.clone()).expect("valid");
    assert_eq!(c.to_json(), original);

    let aws = parse(AWS_IMDSV2);
    let again = ExternalAccountConfig::from_value(aws.to_json()).expect("to_json parses");
    assert_eq!(again, aws);
    let exe = ExternalAccountConfig::from_value(json!({
        "audience": "a", "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "credential_source": {"executable": {"command": "x y", "output_file": "/o", "interactive_timeout_millis": 60000}}
    }))
    .expect("valid");
    assert_eq!(
        ExternalAccountConfig::from_value(exe.to_json()).expect("parses"),
        exe
    );
    let cert = ExternalAccountConfig::from_value(json!({
        "audience": "a", "subject_token_type": "urn:ietf:params:oauth:token-type:mtls",
        "credential_source": {"certificate": {"certificate_config_location": "/c", "trust_chain_path": "/t"}}
    }))
    .expect("valid");
    assert_eq!(
        ExternalAccountConfig::from_value(cert.to_json()).expect("parses"),
        cert
    );
}

#[test]
fn equality_compares_the_client_secret() {
    let with = |secret: &str| {
        ExternalAccountConfig::from_value(json!({
            "audience": "a", "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "client_id": "id", "client_secret": secret, "credential_source": {"file": "/t"}
        }))
        .expect("valid")
    };
    assert_eq!(with("one"), with("one"));
    assert_ne!(with("one"), with("two"));
}
