//! Tables of hostile configurations, by what they try: the spellings, hosts, paths and keys an
//! adversarial review of the policy got through before, each refused with its field and rule.

use serde_json::{Value, json};
use wif::config::ExternalAccountConfig;
use wif::{Credentials, TrustPolicy};

use super::*;
use crate::support::{assert_policy_error, file_config, with};

/// One hostile configuration: what it tries, the configuration, the policy that must refuse it,
/// and the field and rule the refusal must name.
struct Hostile {
    what: String,
    config: Value,
    policy: TrustPolicy,
    field: &'static str,
    rule: &'static str,
}

fn hostile(
    what: impl Into<String>,
    config: Value,
    policy: &TrustPolicy,
    field: &'static str,
    rule: &'static str,
) -> Hostile {
    Hostile {
        what: what.into(),
        config,
        policy: policy.clone(),
        field,
        rule,
    }
}

fn assert_all_refused(cases: &[Hostile]) {
    for case in cases {
        let config = ExternalAccountConfig::from_json(&case.config.to_string())
            .unwrap_or_else(|e| panic!("{}: the parser rejected it: {e}", case.what));
        match case.policy.check(&config) {
            Ok(()) => panic!(
                "{}: accepted, expected `{}` / {}:\n{:#}",
                case.what, case.field, case.rule, case.config
            ),
            Err(err) => {
                let shown = err.to_string();
                assert!(
                    shown.contains(&format!("`{}`:", case.field))
                        && shown.contains(&format!("(rule `{}`)", case.rule)),
                    "{}: want `{}` / {}, got: {shown}",
                    case.what,
                    case.field,
                    case.rule
                );
                assert_policy_error(&err, case.field, case.rule);
            }
        }
    }
}

/// The spellings of `https://HOST/PATH` that URL parsers read differently (or that hide the
/// host), each still a valid URL for the configuration parser.
fn respellings(url: &str) -> Vec<(&'static str, String)> {
    let (host, path) = url
        .strip_prefix("https://")
        .and_then(|rest| rest.split_once('/'))
        .unwrap();
    let full_width: String = host
        .chars()
        .enumerate()
        .map(|(i, c)| match i {
            0 => char::from_u32(c as u32 + 0xFEE0).unwrap(),
            _ => c,
        })
        .collect();
    vec![
        (
            "`\\@` (curl reads host evil.invalid)",
            format!("https://{host}\\@evil.invalid/{path}"),
        ),
        (
            "upper case",
            format!("https://{}/{path}", host.to_uppercase()),
        ),
        (
            "escaped dot",
            format!("https://{}/{path}", host.replacen('.', "%2E", 1)),
        ),
        ("full-width letter", format!("https://{full_width}/{path}")),
        ("explicit :443", format!("https://{host}:443/{path}")),
        (
            "`#@` after the host",
            format!("https://{host}#@evil.invalid/{path}"),
        ),
        ("a fragment", format!("https://{host}/{path}#@evil.invalid")),
        ("user info", format!("https://{host}@evil.invalid/{path}")),
        ("a tab", format!("https://{host}/{path}\t")),
    ]
}

#[test]
fn non_canonical_urls_are_refused_in_every_url_field() {
    let idp_policy = TrustPolicy::strict().allow_source_url_host("idp.corp.example");
    let fields = [
        (
            "token_url",
            file_config(),
            "https://sts.googleapis.com/v1/token",
        ),
        (
            "token_info_url",
            file_config(),
            "https://sts.googleapis.com/v1/introspect",
        ),
        ("service_account_impersonation_url", file_config(), SA_URL),
        (
            "credential_source.url",
            azure_url_config(),
            "https://idp.corp.example/oidc/token",
        ),
    ];
    let mut cases = Vec::new();
    for (field, base, url) in fields {
        // The canonical spelling itself passes.
        assert_accepted(&idp_policy, &with(base.clone(), &[(field, json!(url))]));
        for (how, spelled) in respellings(url) {
            cases.push(hostile(
                format!("{field} with {how}: {spelled}"),
                with(base.clone(), &[(field, json!(spelled))]),
                &idp_policy,
                field,
                "canonical-url",
            ));
        }
    }
    assert_all_refused(&cases);
}

#[test]
fn aws_verification_url_must_be_get_caller_identity_at_a_region_of_its_partition() {
    let strict = TrustPolicy::strict();
    let field = "credential_source.regional_cred_verification_url";
    let q = "?Action=GetCallerIdentity&Version=2011-06-15";
    let table = [
        ("the S3 bucket `sts`", format!("https://sts.s3.amazonaws.com{q}"), "aws-sts"),
        ("the S3 bucket `sts`, regional", format!("https://sts.s3-us-west-2.amazonaws.com{q}"), "aws-sts"),
        ("the S3 bucket `sts`, virtual host", format!("https://sts.s3.us-east-1.amazonaws.com{q}"), "aws-sts"),
        ("not a region", format!("https://sts.execute-api.amazonaws.com{q}"), "aws-sts"),
        ("an ISO partition", format!("https://sts.us-iso-east-1.amazonaws.com{q}"), "aws-sts"),
        ("a China region on .com", format!("https://sts.cn-north-1.amazonaws.com{q}"), "aws-sts"),
        ("a commercial region on .com.cn", format!("https://sts.us-east-1.amazonaws.com.cn{q}"), "aws-sts"),
        ("FIPS in China", format!("https://sts-fips.{{region}}.amazonaws.com.cn{q}"), "aws-sts"),
        ("{region} before sts", format!("https://{{region}}.sts.amazonaws.com{q}"), "aws-sts"),
        ("{region} inside a label", format!("https://sts.{{region}}-x.amazonaws.com{q}"), "aws-sts"),
        ("{region} twice in the host", format!("https://sts.{{region}}.{{region}}.amazonaws.com{q}"), "aws-sts"),
        (
            "another action",
            "https://sts.{region}.amazonaws.com?Action=AssumeRole&RoleArn=arn:aws:iam::1:role/r&Version=2011-06-15".to_owned(),
            "aws-sts",
        ),
        ("a path", format!("https://sts.{{region}}.amazonaws.com/x{q}"), "aws-sts"),
        ("no query", "https://sts.{region}.amazonaws.com".to_owned(), "aws-sts"),
        ("upper case", format!("https://STS.{{region}}.amazonaws.com{q}"), "canonical-url"),
        ("explicit :443", format!("https://sts.{{region}}.amazonaws.com:443{q}"), "canonical-url"),
        ("`\\@`", format!("https://sts.{{region}}.amazonaws.com\\@evil.invalid{q}"), "canonical-url"),
        ("a fragment", format!("https://sts.{{region}}.amazonaws.com/{q}#x"), "canonical-url"),
    ];
    let cases: Vec<Hostile> = table
        .into_iter()
        .map(|(what, url, rule)| {
            hostile(
                format!("{what}: {url}"),
                with(aws_imdsv2(), &[(field, json!(url))]),
                &strict,
                field,
                rule,
            )
        })
        .collect();
    assert_all_refused(&cases);
}

#[test]
fn aws_metadata_urls_must_be_the_paths_gcloud_writes() {
    let strict = TrustPolicy::strict();
    let table = [
        (
            "region_url",
            "http://169.254.169.254/latest/user-data",
            "aws-metadata",
        ),
        (
            "url",
            "http://169.254.169.254/latest/meta-data/iam/security-credentials?x=1",
            "aws-metadata",
        ),
        (
            "url",
            "http://169.254.169.254/latest/meta-data/identity-credentials/ec2/security-credentials/ec2-instance",
            "aws-metadata",
        ),
        (
            "imdsv2_session_token_url",
            "http://169.254.169.254/latest/api/token/x",
            "aws-metadata",
        ),
        // The IPv4-mapped metadata address is not the address gcloud writes.
        (
            "imdsv2_session_token_url",
            "http://[::ffff:a9fe:a9fe]/latest/api/token",
            "aws-metadata",
        ),
        (
            "url",
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/../../../user-data",
            "canonical-url",
        ),
    ];
    let cases: Vec<Hostile> = table
        .into_iter()
        .map(|(field, url, rule)| {
            let field: &'static str = match field {
                "region_url" => "credential_source.region_url",
                "url" => "credential_source.url",
                _ => "credential_source.imdsv2_session_token_url",
            };
            hostile(
                url,
                with(aws_imdsv2(), &[(field, json!(url))]),
                &strict,
                field,
                rule,
            )
        })
        .collect();
    assert_all_refused(&cases);
}

#[test]
fn url_sources_on_the_metadata_address_are_azure_identity_requests_only() {
    let strict = TrustPolicy::strict();
    let azure = TrustPolicy::strict().allow_azure_imds();
    let idp = TrustPolicy::strict().allow_source_url_host("idp.corp.example");
    let url = "credential_source.url";
    let headers = "credential_source.headers";
    let source = |url: &str, headers: Value, format: Value| {
        with(
            file_config(),
            &[(
                "credential_source",
                json!({ "url": url, "headers": headers, "format": format }),
            )],
        )
    };
    let json_field = |name: &str| json!({"type": "json", "subject_token_field_name": name});
    let text = json!({"type": "text"});
    let gce_identity = "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/identity?audience=attacker";
    let cases = vec![
        hostile(
            "Azure IMDS without the opt-in",
            azure_url_config(),
            &strict,
            url,
            "source-url",
        ),
        hostile(
            "GCE identity token for the attacker's audience",
            source(
                gce_identity,
                json!({"Metadata-Flavor": "Google"}),
                text.clone(),
            ),
            &azure,
            headers,
            "source-url",
        ),
        hostile(
            "GCE identity token, no header",
            source(gce_identity, json!({}), text.clone()),
            &azure,
            url,
            "source-url",
        ),
        hostile(
            "the AWS role's secret key as the subject token",
            source(
                "http://169.254.169.254/latest/meta-data/iam/security-credentials/role",
                json!({}),
                json_field("SecretAccessKey"),
            ),
            &azure,
            url,
            "source-url",
        ),
        hostile(
            "Azure, another metadata path",
            source(
                "http://169.254.169.254/metadata/instance?api-version=2021-02-01",
                json!({"Metadata": "True"}),
                text.clone(),
            ),
            &azure,
            url,
            "source-url",
        ),
        hostile(
            "Azure, an unknown query parameter",
            source(
                &format!("{AZURE_IDENTITY}&x=1"),
                json!({"Metadata": "True"}),
                json_field("access_token"),
            ),
            &azure,
            url,
            "source-url",
        ),
        hostile(
            "Azure, `resource` twice",
            source(
                &format!("{AZURE_IDENTITY}&resource=https://management.azure.com/"),
                json!({"Metadata": "True"}),
                json_field("access_token"),
            ),
            &azure,
            url,
            "source-url",
        ),
        hostile(
            "Azure over https",
            source(
                "https://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01",
                json!({"Metadata": "True"}),
                text.clone(),
            ),
            &azure,
            url,
            "source-url",
        ),
        hostile(
            "Azure on AWS's IPv6 metadata address",
            source(
                "http://[fd00:ec2::254]/metadata/identity/oauth2/token?api-version=2018-02-01",
                json!({"Metadata": "True"}),
                text.clone(),
            ),
            &azure,
            url,
            "source-url",
        ),
        hostile(
            "Azure with a Host header",
            source(
                AZURE_IDENTITY,
                json!({"Metadata": "True", "Host": "metadata.google.internal"}),
                text.clone(),
            ),
            &azure,
            headers,
            "source-url",
        ),
        hostile(
            "Azure with another header",
            source(
                AZURE_IDENTITY,
                json!({"Metadata": "True", "X-aws-ec2-metadata-token": "t"}),
                text.clone(),
            ),
            &azure,
            headers,
            "source-url",
        ),
        hostile(
            "Azure with `Metadata` twice (header names ignore case)",
            source(
                AZURE_IDENTITY,
                json!({"Metadata": "True", "metadata": "False"}),
                text.clone(),
            ),
            &azure,
            headers,
            "unique-keys",
        ),
        hostile(
            "an allowed host with Metadata-Flavor",
            source(
                "https://idp.corp.example/token",
                json!({"metadata-flavor": "Google"}),
                text.clone(),
            ),
            &idp,
            headers,
            "source-url",
        ),
        hostile(
            "an allowed host with a Host header",
            source(
                "https://idp.corp.example/token",
                json!({"HOST": "169.254.169.254"}),
                text.clone(),
            ),
            &idp,
            headers,
            "source-url",
        ),
    ];
    assert_all_refused(&cases);
}

#[test]
fn the_default_certificate_config_needs_an_explicit_opt_in() {
    let field = "credential_source.certificate.use_default_certificate_config";
    assert_all_refused(&[hostile(
        "the host's workload certificate under the configuration's audience",
        default_certificate_config(),
        &TrustPolicy::strict(),
        field,
        "default-certificate",
    )]);
    assert_accepted(
        &TrustPolicy::strict().allow_default_certificate_config(),
        &default_certificate_config(),
    );
    // A configuration naming its certificate configuration (in an allowed directory) needs no
    // opt-in: the configuration, not the host, chooses.
    let named = with(
        default_certificate_config(),
        &[(
            "credential_source.certificate",
            json!({"certificate_config_location": "/var/run/secrets/workload-spiffe-credentials/certificate_config.json"}),
        )],
    );
    assert_accepted(&TrustPolicy::strict(), &named);
}

#[test]
fn only_loopback_addresses_count_as_loopback() {
    // One rule, `wif_core::http::is_loopback`: names under `localhost` go through DNS, and
    // IPv4-mapped and unspecified addresses are not loopback, even with the opt-in.
    let loopback = TrustPolicy::strict().allow_loopback();
    let table = [
        (
            "token_url",
            "http://a.localhost:8080/v1/token",
            "google-endpoint",
        ),
        (
            "token_url",
            "http://localhost.:8080/v1/token",
            "google-endpoint",
        ),
        (
            "token_url",
            "http://[::ffff:7f00:1]:8080/v1/token",
            "google-endpoint",
        ),
        (
            "token_url",
            "http://[::ffff:127.0.0.1]:8080/v1/token",
            "canonical-url",
        ),
        (
            "token_url",
            "http://0.0.0.0:8080/v1/token",
            "google-endpoint",
        ),
        ("token_url", "http://[::]:8080/v1/token", "google-endpoint"),
        (
            "service_account_impersonation_url",
            "http://a.localhost:8080/v1/projects/-/serviceAccounts/a@p.iam.gserviceaccount.com:generateAccessToken",
            "google-endpoint",
        ),
        (
            "credential_source.url",
            "http://a.localhost:5000/token",
            "source-url",
        ),
        (
            "credential_source.url",
            "http://[::ffff:7f00:1]:5000/token",
            "source-url",
        ),
    ];
    let mut cases: Vec<Hostile> = table
        .into_iter()
        .map(|(field, url, rule)| {
            let base = if field == "credential_source.url" {
                azure_url_config()
            } else {
                file_config()
            };
            hostile(
                url,
                with(base, &[(field, json!(url))]),
                &loopback,
                field,
                rule,
            )
        })
        .collect();
    cases.push(hostile(
        "AWS metadata on an IPv4-mapped loopback address",
        with(
            aws_imdsv2(),
            &[(
                "credential_source.region_url",
                json!("http://[::ffff:7f00:1]:1338/latest/meta-data/placement/region"),
            )],
        ),
        &loopback,
        "credential_source.region_url",
        "aws-metadata",
    ));
    assert_all_refused(&cases);
}

#[test]
fn duplicate_keys_are_refused_at_every_depth() {
    let strict = TrustPolicy::strict();
    let good = file_config();
    let table = [
        (
            "an evil, then a good token_url",
            r#"{"token_url": "https://collector.example/v1/token", "#,
            "token_url",
        ),
        (
            "a good, then an evil token_url",
            r#"{"token_url": "https://sts.googleapis.com/v1/token", "#,
            "token_url",
        ),
        (
            "a second credential_source",
            r#"{"credential_source": {"file": "/etc/shadow"}, "#,
            "credential_source",
        ),
        (
            "audience spelled with an escape",
            r#"{"aud\u0069ence": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/evil/providers/p", "#,
            "audience",
        ),
    ];
    for (what, prefix, field) in table {
        // The good configuration's keys, after the prefix's: one key appears twice.
        let json = format!("{prefix}{}", &good.to_string()[1..]);
        let err = strict.check_json(&json).expect_err(what);
        assert_policy_error(&err, field, "unique-keys");
        let err = Credentials::from_json_untrusted(&json).expect_err(what);
        assert_policy_error(&err, field, "unique-keys");
        // Trusted loaders read it as Google's libraries do: the last value wins.
        assert!(Credentials::from_json(&json).is_ok(), "{what}");
    }
    // Nested keys, in the source and in its headers.
    let nested = r#"{
      "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q",
      "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
      "credential_source": {
        "url": "https://idp.corp.example/token",
        "format": {"type": "json", "subject_token_field_name": "id_token", "subject_token_field_name": "access_token"}
      }
    }"#;
    let err = strict.check_json(nested).expect_err("nested");
    assert_policy_error(
        &err,
        "credential_source.format.subject_token_field_name",
        "unique-keys",
    );
    let headers = nested.replace(
        r#""format": {"type": "json", "subject_token_field_name": "id_token", "subject_token_field_name": "access_token"}"#,
        r#""headers": {"Authorization": "a", "Authorization": "b"}"#,
    );
    let err = strict.check_json(&headers).expect_err("headers");
    assert_policy_error(
        &err,
        "credential_source.headers.Authorization",
        "unique-keys",
    );
    // Without duplicates, check_json is check on the parsed configuration.
    let config = strict.check_json(&good.to_string()).unwrap();
    assert_eq!(config, parsed(&good));
}
