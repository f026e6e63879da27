//! Validation table for `external_account` configurations: every rejection names its field and
//! is a configuration error raised before any network call.

#![allow(clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use wif::config::ExternalAccountConfig;

const WORKLOAD: &str = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/my-pool/providers/my-provider";
const WORKFORCE: &str =
    "//iam.googleapis.com/locations/global/workforcePools/my-wf-pool/providers/my-oidc";
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
const AWS: &str = "urn:ietf:params:aws:token-type:aws4_request";
const MTLS: &str = "urn:ietf:params:oauth:token-type:mtls";

/// A valid file-sourced workload configuration to break one field at a time.
fn file_config() -> Value {
    json!({
        "type": "external_account",
        "audience": WORKLOAD,
        "subject_token_type": JWT,
        "token_url": "https://sts.googleapis.com/v1/token",
        "credential_source": { "file": "/var/run/token", "format": { "type": "text" } }
    })
}

/// A valid AWS configuration to break one field at a time.
fn aws_config() -> Value {
    json!({
        "type": "external_account",
        "audience": WORKLOAD,
        "subject_token_type": AWS,
        "token_url": "https://sts.googleapis.com/v1/token",
        "credential_source": {
            "environment_id": "aws1",
            "region_url": "http://169.254.169.254/latest/meta-data/placement/availability-zone",
            "url": "http://169.254.169.254/latest/meta-data/iam/security-credentials",
            "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
        }
    })
}

/// Sets (or with `None` removes) the value at a dotted path.
fn with(mut v: Value, path: &str, value: Option<Value>) -> Value {
    let mut keys: Vec<&str> = path.split('.').collect();
    let last = keys.pop().expect("non-empty path");
    let mut cur = &mut v;
    for k in keys {
        cur = cur
            .as_object_mut()
            .expect("object on the path")
            .entry(k)
            .or_insert_with(|| json!({}));
    }
    let obj = cur.as_object_mut().expect("object at the path");
    match value {
        Some(value) => obj.insert(last.to_owned(), value),
        None => obj.remove(last),
    };
    v
}

fn set(v: Value, path: &str, value: Value) -> Value {
    with(v, path, Some(value))
}

fn source(v: Value, cs: Value) -> Value {
    set(v, "credential_source", cs)
}

#[test]
fn every_validation_error_names_its_field() {
    let file = file_config;
    let aws = aws_config;
    let cert = |c: Value| {
        set(
            source(file(), json!({ "certificate": c })),
            "subject_token_type",
            json!(MTLS),
        )
    };
    let exe = |e: Value| source(file(), json!({ "executable": e }));
    // (case, config, field that must be named, further words the message must contain)
    #[rustfmt::skip]
    let table: Vec<(&str, Value, &str, &[&str])> = vec![
        ("type service_account", set(file(), "type", json!("service_account")), "`type`", &["service-account key", "external_account"]),
        ("type authorized_user", set(file(), "type", json!("authorized_user")), "`type`", &["gcloud auth application-default login"]),
        ("type other", set(file(), "type", json!("foo")), "`type`", &["'foo'"]),
        ("type not a string", set(file(), "type", json!(5)), "`type`", &["found a number"]),
        ("audience missing", with(file(), "audience", None), "`audience`", &["missing"]),
        ("audience empty", set(file(), "audience", json!("")), "`audience`", &["empty"]),
        ("audience number", set(file(), "audience", json!(5)), "`audience`", &["expected a string, found a number"]),
        ("subject_token_type missing", with(file(), "subject_token_type", None), "`subject_token_type`", &["missing"]),
        ("subject_token_type empty", set(file(), "subject_token_type", json!(" ")), "`subject_token_type`", &["empty"]),
        ("subject_token_type unknown", set(file(), "subject_token_type", json!("urn:ietf:params:oauth:token-type:access_token")), "`subject_token_type`", &["token-type:jwt", "token-type:id_token", "token-type:saml2", "aws4_request", "token-type:mtls"]),
        ("credential_source missing", with(file(), "credential_source", None), "`credential_source`", &["missing", "accepted shapes"]),
        ("credential_source null", set(file(), "credential_source", Value::Null), "`credential_source`", &["missing"]),
        ("credential_source not an object", source(file(), json!("notadict")), "`credential_source`", &["must be an object, found a string"]),
        ("credential_source empty", source(file(), json!({})), "`credential_source`", &["empty", "accepted shapes"]),
        ("credential_source unknown keys only", source(file(), json!({"path": "/x", "kind": "oidc"})), "`credential_source`", &["`kind`", "`path`", "accepted shapes"]),
        ("file and url", source(file(), json!({"file": "a", "url": "https://b"})), "`credential_source`", &["ambiguous", "`file`", "`url`"]),
        ("file and executable", source(file(), json!({"file": "a", "executable": {"command": "x"}})), "`credential_source`", &["ambiguous", "`file`", "`executable`"]),
        ("url and certificate", source(file(), json!({"url": "https://b", "certificate": {}})), "`credential_source`", &["ambiguous", "`url`", "`certificate`"]),
        ("file with environment_id", source(file(), json!({"file": "a", "environment_id": "aws1"})), "`credential_source.environment_id`", &["subject_token_type"]),
        ("url with environment_id", source(file(), json!({"url": "https://b", "environment_id": "aws1"})), "`credential_source.environment_id`", &["subject_token_type"]),
        ("aws with file", set(aws(), "credential_source.file", json!("/x")), "`credential_source`", &["ambiguous", "`environment_id`", "`file`"]),
        ("aws with format", set(aws(), "credential_source.format", json!({"type": "text"})), "`credential_source`", &["ambiguous", "`format`"]),
        ("environment_id uppercase", set(aws(), "credential_source.environment_id", json!("AWS1")), "`credential_source.environment_id`", &["'AWS1'", "aws1"]),
        ("environment_id no version", set(aws(), "credential_source.environment_id", json!("aws")), "`credential_source.environment_id`", &["version"]),
        ("environment_id junk", set(aws(), "credential_source.environment_id", json!("aws1x")), "`credential_source.environment_id`", &["'aws1x'"]),
        ("environment_id empty", set(aws(), "credential_source.environment_id", json!("")), "`credential_source.environment_id`", &["''"]),
        ("environment_id number", set(aws(), "credential_source.environment_id", json!(1)), "`credential_source.environment_id`", &["found a number"]),
        ("aws version 2", set(aws(), "credential_source.environment_id", json!("aws2")), "`credential_source.environment_id`", &["aws version '2' is not supported"]),
        ("aws environment_id missing", with(aws(), "credential_source.environment_id", None), "`credential_source.environment_id`", &["missing", "aws1"]),
        ("aws verification url http", set(aws(), "credential_source.regional_cred_verification_url", json!("http://sts.{region}.amazonaws.com")), "`credential_source.regional_cred_verification_url`", &["https"]),
        ("aws verification url relative", set(aws(), "credential_source.regional_cred_verification_url", json!("/?Action=GetCallerIdentity")), "`credential_source.regional_cred_verification_url`", &["URL"]),
        ("aws region_url bad", set(aws(), "credential_source.region_url", json!("169.254.169.254/zone")), "`credential_source.region_url`", &["URL"]),
        ("aws imdsv2 url bad", set(aws(), "credential_source.imdsv2_session_token_url", json!("ftp://x")), "`credential_source.imdsv2_session_token_url`", &["http"]),
        ("aws source with jwt type", set(aws(), "subject_token_type", json!(JWT)), "`credential_source.environment_id`", &["subject_token_type", "aws4_request"]),
        ("aws4_request with file source", set(file(), "subject_token_type", json!(AWS)), "`subject_token_type`", &["aws4_request", "selects the `file` source"]),
        ("aws4_request with executable", set(exe(json!({"command": "x"})), "subject_token_type", json!(AWS)), "`subject_token_type`", &["`executable`"]),
        ("format type xml", set(file(), "credential_source.format.type", json!("xml")), "`credential_source.format.type`", &["'xml'", "text", "json"]),
        ("format type number", set(file(), "credential_source.format.type", json!(1)), "`credential_source.format.type`", &["found a number"]),
        ("format not an object", set(file(), "credential_source.format", json!("json")), "`credential_source.format`", &["found a string"]),
        ("json without field name", set(file(), "credential_source.format", json!({"type": "json"})), "`credential_source.format.subject_token_field_name`", &["missing"]),
        ("json with empty field name", set(file(), "credential_source.format", json!({"type": "json", "subject_token_field_name": ""})), "`credential_source.format.subject_token_field_name`", &["empty"]),
        ("file empty", set(file(), "credential_source.file", json!("")), "`credential_source.file`", &["empty"]),
        ("file number", set(file(), "credential_source.file", json!(5)), "`credential_source.file`", &["found a number"]),
        ("url source not a url", source(file(), json!({"url": "localhost:5000/token"})), "`credential_source.url`", &["URL"]),
        ("url source empty", source(file(), json!({"url": ""})), "`credential_source.url`", &["empty"]),
        ("url headers not an object", source(file(), json!({"url": "http://h/t", "headers": ["Metadata: True"]})), "`credential_source.headers`", &["found an array"]),
        ("url header value number", source(file(), json!({"url": "http://h/t", "headers": {"Metadata": true}})), "`credential_source.headers.Metadata`", &["found a boolean"]),
        ("url header name invalid", source(file(), json!({"url": "http://h/t", "headers": {"Bad Name": "v"}})), "`credential_source.headers`", &["'Bad Name'", "header name"]),
        ("url header value invalid", source(file(), json!({"url": "http://h/t", "headers": {"X": "a\nb"}})), "`credential_source.headers.X`", &["header value"]),
        ("executable not an object", exe(json!("/bin/token")), "`credential_source.executable`", &["found a string"]),
        ("executable without command", exe(json!({"timeout_millis": 5000})), "`credential_source.executable.command`", &["missing"]),
        ("executable empty command", exe(json!({"command": ""})), "`credential_source.executable.command`", &["empty"]),
        ("executable timeout too small", exe(json!({"command": "x", "timeout_millis": 4999})), "`credential_source.executable.timeout_millis`", &["5000", "120000"]),
        ("executable timeout too large", exe(json!({"command": "x", "timeout_millis": 120001})), "`credential_source.executable.timeout_millis`", &["between"]),
        ("executable timeout zero", exe(json!({"command": "x", "timeout_millis": 0})), "`credential_source.executable.timeout_millis`", &["between"]),
        ("executable timeout negative", exe(json!({"command": "x", "timeout_millis": -1})), "`credential_source.executable.timeout_millis`", &["non-negative"]),
        ("executable timeout string", exe(json!({"command": "x", "timeout_millis": "5000"})), "`credential_source.executable.timeout_millis`", &["found a string"]),
        ("executable interactive timeout", exe(json!({"command": "x", "interactive_timeout_millis": 1000})), "`credential_source.executable.interactive_timeout_millis`", &["30000", "1800000"]),
        ("certificate empty object", cert(json!({})), "`credential_source.certificate.use_default_certificate_config`", &["must be true"]),
        ("certificate default false", cert(json!({"use_default_certificate_config": false})), "`credential_source.certificate.use_default_certificate_config`", &["must be true"]),
        ("certificate both", cert(json!({"use_default_certificate_config": true, "certificate_config_location": "/c.json"})), "`credential_source.certificate.certificate_config_location`", &["use_default_certificate_config"]),
        ("certificate default not bool", cert(json!({"use_default_certificate_config": "true"})), "`credential_source.certificate.use_default_certificate_config`", &["true or false"]),
        ("certificate not an object", cert(json!(true)), "`credential_source.certificate`", &["found a boolean"]),
        ("certificate with jwt type", set(cert(json!({"use_default_certificate_config": true})), "subject_token_type", json!(JWT)), "`subject_token_type`", &["token-type:mtls"]),
        ("mtls type with file source", set(file(), "subject_token_type", json!(MTLS)), "`subject_token_type`", &["certificate"]),
        ("workforce_pool_user_project on workload", set(file(), "workforce_pool_user_project", json!("billing")), "`workforce_pool_user_project`", &["not a workforce pool"]),
        ("workforce_pool_user_project with https audience", set(set(file(), "audience", json!(format!("https:{WORKFORCE}"))), "workforce_pool_user_project", json!("b")), "`workforce_pool_user_project`", &["not a workforce pool"]),
        ("lifetime too short", set(file(), "service_account_impersonation.token_lifetime_seconds", json!(599)), "`service_account_impersonation.token_lifetime_seconds`", &["600", "43200"]),
        ("lifetime too long", set(file(), "service_account_impersonation.token_lifetime_seconds", json!(43201)), "`service_account_impersonation.token_lifetime_seconds`", &["between"]),
        ("lifetime huge", set(file(), "service_account_impersonation.token_lifetime_seconds", json!(u64::MAX)), "`service_account_impersonation.token_lifetime_seconds`", &["between"]),
        ("lifetime negative", set(file(), "service_account_impersonation.token_lifetime_seconds", json!(-5)), "`service_account_impersonation.token_lifetime_seconds`", &["non-negative"]),
        ("lifetime fractional", set(file(), "service_account_impersonation.token_lifetime_seconds", json!(3600.5)), "`service_account_impersonation.token_lifetime_seconds`", &["whole number"]),
        ("lifetime string", set(file(), "service_account_impersonation.token_lifetime_seconds", json!("3600")), "`service_account_impersonation.token_lifetime_seconds`", &["found a string"]),
        ("impersonation block not an object", set(file(), "service_account_impersonation", json!(3600)), "`service_account_impersonation`", &["found a number"]),
        ("impersonation url without email", set(file(), "service_account_impersonation_url", json!("https://foo/bar")), "`service_account_impersonation_url`", &["generateAccessToken"]),
        ("impersonation url empty email", set(file(), "service_account_impersonation_url", json!("https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/:generateAccessToken")), "`service_account_impersonation_url`", &["no service account"]),
        ("impersonation url not a url", set(file(), "service_account_impersonation_url", json!("sa@p.iam.gserviceaccount.com:generateAccessToken")), "`service_account_impersonation_url`", &["URL"]),
        ("token_url not a url", set(file(), "token_url", json!("sts.googleapis.com/v1/token")), "`token_url`", &["URL"]),
        ("token_url wrong scheme", set(file(), "token_url", json!("ftp://sts.googleapis.com/v1/token")), "`token_url`", &["http"]),
        ("token_url number", set(file(), "token_url", json!(443)), "`token_url`", &["found a number"]),
        ("token_info_url bad", set(file(), "token_info_url", json!("::")), "`token_info_url`", &["URL"]),
        ("universe_domain with path", set(file(), "universe_domain", json!("example.com/evil")), "`universe_domain`", &["domain"]),
        ("universe_domain number", set(file(), "universe_domain", json!(1)), "`universe_domain`", &["found a number"]),
        ("client_id number", set(file(), "client_id", json!(1)), "`client_id`", &["found a number"]),
        ("client_secret number", set(file(), "client_secret", json!(1234)), "`client_secret`", &["found a number"]),
        ("quota_project_id array", set(file(), "quota_project_id", json!(["p"])), "`quota_project_id`", &["found an array"]),
    ];
    for (case, config, field, words) in table {
        let err = match ExternalAccountConfig::from_value(config.clone()) {
            Ok(c) => panic!("{case}: accepted, want an error naming {field}: {c:?}"),
            Err(e) => e,
        };
        let shown = err.to_string();
        assert!(err.is_config(), "{case}: not a config error: {err:?}");
        assert_eq!(err.step(), wif::Step::Config, "{case}");
        assert!(
            shown.contains(field),
            "{case}: want {field} named in: {shown}"
        );
        for w in words {
            assert!(shown.contains(w), "{case}: want {w:?} in: {shown}");
        }
        // The same through the JSON text entry point.
        let via_json = ExternalAccountConfig::from_json(&config.to_string())
            .expect_err("from_json agrees with from_value");
        assert_eq!(via_json.to_string(), shown, "{case}");
    }
}

#[test]
fn errors_never_echo_secret_values() {
    let secretish = "SECRET-VALUE-should-not-appear";
    let cases = [
        set(file_config(), "client_secret", json!([secretish])),
        set(
            file_config(),
            "token_url",
            json!(format!("not a url {secretish}")),
        ),
        source(file_config(), json!({"url": format!("h:{secretish}")})),
        source(
            file_config(),
            json!({"url": "http://h/t", "headers": {"Authorization": format!("Bearer {secretish}\n")}}),
        ),
        set(
            set(file_config(), "client_secret", json!(secretish)),
            "audience",
            json!(""),
        ),
    ];
    for config in cases {
        let err = ExternalAccountConfig::from_value(config.clone()).expect_err("invalid");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(secretish), "value leaked: {shown}");
    }
}

#[test]
fn syntax_errors_are_config_errors_with_position() {
    let text = "{\n  \"type\": \"external_account\",\n  \"client_secret\": \"s3cr3t-value\"\n  \"audience\": \"x\"\n}";
    let err = ExternalAccountConfig::from_json(text).expect_err("syntax error");
    let shown = err.to_string();
    assert!(err.is_config(), "{err:?}");
    assert!(shown.contains("not valid JSON"), "{shown}");
    assert!(shown.contains("line 4"), "{shown}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
    for text in ["", "   ", "nul", "{\"a\": \"s3cr3t-value", "{}}"] {
        let err = ExternalAccountConfig::from_json(text).expect_err("syntax error");
        assert!(err.is_config(), "{text:?}: {err:?}");
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }
    for text in ["[]", "\"external_account\"", "null", "5"] {
        let err = ExternalAccountConfig::from_json(text).expect_err("not an object");
        assert!(err.is_config(), "{text}: {err:?}");
        assert!(err.to_string().contains("must be a JSON object"), "{err}");
    }
}

#[test]
fn aws_environment_id_versions() {
    // Appendix H #11: Python accepts "aws01" (int("01") == 1); so do we.
    for (id, ok) in [
        ("aws1", true),
        ("aws01", true),
        ("aws0001", true),
        ("aws0", false),
        ("aws10", false),
        ("aws99999999999999999999999", false),
        ("aws-1", false),
        (" aws1", false),
    ] {
        let got = ExternalAccountConfig::from_value(set(
            aws_config(),
            "credential_source.environment_id",
            json!(id),
        ));
        assert_eq!(got.is_ok(), ok, "{id}: {got:?}");
    }
}
