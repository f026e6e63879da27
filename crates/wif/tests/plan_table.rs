//! The resolution rules as one table: for each setting, the builder beats the configuration,
//! which beats the environment, which beats the default (AWS region and credentials: the
//! builder, then the environment, then the configuration's metadata URLs). Each row is one
//! builder, configuration and environment, and the value and origin one setting of the plan
//! must then have. Resolving is a pure function of those three, so the table needs no network,
//! no file and no clock.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Custom, JWT, WORKLOAD, file_config, with};
use wif::plan::{Origin, Plan};
use wif::{CacheOptions, CredentialsBuilder, MapEnvironment, RetryPolicy};

const WORKFORCE: &str = "//iam.googleapis.com/locations/global/workforcePools/pool/providers/prov";
const SA: &str = "sa@proj.iam.gserviceaccount.com";
const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

/// gcloud's file configuration without the values it writes for the defaults.
fn file() -> Value {
    with(
        file_config(),
        &[("token_url", Value::Null), ("universe_domain", Value::Null)],
    )
}

/// `file()` with `key` set to `value`.
fn file_with(key: &str, value: Value) -> Value {
    with(file(), &[(key, value)])
}

fn aws() -> Value {
    json!({
        "audience": WORKLOAD,
        "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
        "credential_source": {
            "environment_id": "aws1",
            "region_url": "http://169.254.169.254/latest/meta-data/placement/availability-zone",
            "url": "http://169.254.169.254/latest/meta-data/iam/security-credentials"
        }
    })
}

fn certificate(token_url: Option<&str>) -> Value {
    let mut c = json!({
        "audience": WORKLOAD,
        "subject_token_type": "urn:ietf:params:oauth:token-type:mtls",
        "credential_source": {"certificate": {"use_default_certificate_config": true}}
    });
    if let Some(url) = token_url {
        c["token_url"] = json!(url);
    }
    c
}

fn executable(timeout: Option<u32>) -> Value {
    let mut exe = json!({"command": "/bin/idp"});
    if let Some(t) = timeout {
        exe["timeout_millis"] = json!(t);
    }
    json!({
        "audience": WORKLOAD,
        "subject_token_type": JWT,
        "credential_source": {"executable": exe}
    })
}

fn impersonating() -> Value {
    file_with(
        "service_account_impersonation_url",
        json!(format!(
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{SA}:generateAccessToken"
        )),
    )
}

#[derive(Debug)]
struct NoAws;

impl aws_credential_types::provider::ProvideCredentials for NoAws {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::ready(Err(
            aws_credential_types::provider::error::CredentialsError::not_loaded("unused"),
        ))
    }
}

type Edit = fn(CredentialsBuilder) -> CredentialsBuilder;
type Vars = &'static [(&'static str, &'static str)];

/// A rule, the builder edit, the configuration and environment, and the setting's key, value
/// and origin the plan must then have.
struct Row(
    &'static str,
    Edit,
    Option<Value>,
    Vars,
    &'static str,
    Value,
    Option<Origin>,
);

fn same(b: CredentialsBuilder) -> CredentialsBuilder {
    b
}

const NO_ENV: &[(&str, &str)] = &[];
const QUOTA_ENV: &[(&str, &str)] = &[("GOOGLE_CLOUD_QUOTA_PROJECT", "env-project")];
const AWS_ENV: &[(&str, &str)] = &[
    ("AWS_REGION", "eu-west-1"),
    ("AWS_DEFAULT_REGION", "us-west-2"),
    ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
    ("AWS_SECRET_ACCESS_KEY", "secret"),
];
const AWS_DEFAULT_REGION_ENV: &[(&str, &str)] = &[("AWS_DEFAULT_REGION", "us-west-2")];
const IRSA_AND_POD_IDENTITY_ENV: &[(&str, &str)] = &[
    ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/app"),
    (
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
    ),
    (
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "http://169.254.170.23/v1/credentials",
    ),
    (
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token",
    ),
];
const KEYS_AND_IRSA_ENV: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
    ("AWS_SECRET_ACCESS_KEY", "secret"),
    ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/app"),
    (
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
    ),
];
const POD_IDENTITY_ENV: &[(&str, &str)] = &[
    (
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "http://169.254.170.23/v1/credentials",
    ),
    (
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token",
    ),
];
const ECS_ENV: &[(&str, &str)] = &[(
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "/v2/credentials/task-1",
)];
const PROFILE_ENV: &[(&str, &str)] = &[("AWS_PROFILE", "dev"), ("HOME", "/home/dev")];
const HOME_ENV: &[(&str, &str)] = &[("HOME", "/home/dev")];
const EXEC_ENV: &[(&str, &str)] = &[("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES", "1")];
const BASE_ENV: &[(&str, &str)] = &[("WIF_ENDPOINT_BASE_URL", "http://127.0.0.1:8787")];

use Origin::{Builder, Config, Default as Dflt, Environment as Env, Rule};

// One row per line: the table reads as the rules.
#[rustfmt::skip]
fn rows() -> Vec<Row> {
    let mtls_rule = Rule("a certificate source calls the universe's mTLS STS endpoint");
    let imp_rule = Rule("with impersonation, STS is asked for cloud-platform, which covers IAM Credentials");
    let s3ns = || file_with("universe_domain", json!("s3nsapis.fr"));
    let lifetime = || { let mut c = impersonating(); c["service_account_impersonation"] = json!({"token_lifetime_seconds": 1800}); c };
    let workforce = || { let mut c = file_with("audience", json!(WORKFORCE)); c["workforce_pool_user_project"] = json!("configured"); c };
    let secret = || { let mut c = file_with("client_id", json!("config-id")); c["client_secret"] = json!("hunter2"); c };
    vec![
        // universe_domain
        Row("universe: builder beats config", |b| b.universe_domain("s3nsapis.fr"), Some(s3ns()), NO_ENV, "universe_domain", json!("s3nsapis.fr"), Some(Builder("universe_domain"))),
        Row("universe: config beats default", same, Some(s3ns()), NO_ENV, "universe_domain", json!("s3nsapis.fr"), Some(Config("universe_domain"))),
        Row("universe: default when the file leaves it out", same, Some(file()), NO_ENV, "universe_domain", json!("googleapis.com"), Some(Dflt)),
        // audience, subject token type
        Row("audience: builder beats config", |b| b.audience("//iam.googleapis.com/projects/9/locations/global/workloadIdentityPools/p/providers/q"), Some(file()), NO_ENV, "audience", json!("//iam.googleapis.com/projects/9/locations/global/workloadIdentityPools/p/providers/q"), Some(Builder("audience"))),
        Row("audience: config", same, Some(file()), NO_ENV, "audience", json!(WORKLOAD), Some(Config("audience"))),
        Row("subject_token_type: builder beats config", |b| b.subject_token_type("urn:ietf:params:oauth:token-type:id_token"), Some(file()), NO_ENV, "subject_token_type", json!("urn:ietf:params:oauth:token-type:id_token"), Some(Builder("subject_token_type"))),
        Row("subject_token_type: config", same, Some(file()), NO_ENV, "subject_token_type", json!(JWT), Some(Config("subject_token_type"))),
        // token_url, with the X.509 mTLS host rule
        Row("token_url: builder beats config", |b| b.token_url("https://sts.us-east1.rep.googleapis.com/v1/token"), Some(file_with("token_url", json!("https://sts.mtls.googleapis.com/v1/token"))), NO_ENV, "token_url", json!("https://sts.us-east1.rep.googleapis.com/v1/token"), Some(Builder("token_url"))),
        Row("token_url: config beats default", same, Some(file_with("token_url", json!("https://sts.us-east1.rep.googleapis.com/v1/token"))), NO_ENV, "token_url", json!("https://sts.us-east1.rep.googleapis.com/v1/token"), Some(Config("token_url"))),
        Row("token_url: default follows the universe", same, Some(s3ns()), NO_ENV, "token_url", json!("https://sts.s3nsapis.fr/v1/token"), Some(Dflt)),
        Row("token_url: default without a configuration", |b| b.source(Custom).audience(WORKLOAD).subject_token_type(JWT), None, NO_ENV, "token_url", json!("https://sts.googleapis.com/v1/token"), Some(Dflt)),
        Row("token_url: a certificate source takes the mTLS host instead of the default", same, Some(certificate(None)), NO_ENV, "token_url", json!("https://sts.mtls.googleapis.com/v1/token"), Some(mtls_rule)),
        Row("token_url: … also when the file writes the default", same, Some(certificate(Some("https://sts.googleapis.com/v1/token"))), NO_ENV, "token_url", json!("https://sts.mtls.googleapis.com/v1/token"), Some(mtls_rule)),
        Row("token_url: … but not instead of another configured endpoint", same, Some(certificate(Some("https://sts.us-east1.rep.mtls.googleapis.com/v1/token"))), NO_ENV, "token_url", json!("https://sts.us-east1.rep.mtls.googleapis.com/v1/token"), Some(Config("token_url"))),
        Row("token_url: … nor instead of the builder's", |b| b.token_url("https://sts.googleapis.com/v1/token"), Some(certificate(None)), NO_ENV, "token_url", json!("https://sts.googleapis.com/v1/token"), Some(Builder("token_url"))),
        Row("mtls: a certificate source calls STS over mTLS", same, Some(certificate(None)), NO_ENV, "mtls", json!(true), Some(Rule("a certificate source presents its certificate"))),
        // the endpoint override, and the URLs it moves
        Row("endpoint base: builder beats env", |b| b.endpoint_base_url("http://localhost:9000"), Some(file()), BASE_ENV, "endpoint_base_url", json!("http://localhost:9000/"), Some(Builder("endpoint_base_url"))),
        Row("endpoint base: env", same, Some(file()), BASE_ENV, "endpoint_base_url", json!("http://127.0.0.1:8787/"), Some(Env("WIF_ENDPOINT_BASE_URL"))),
        Row("endpoint base: none by default", same, Some(file()), NO_ENV, "endpoint_base_url", Value::Null, None),
        Row("token_url: the endpoint base moves the configured or default one", same, Some(file_with("token_url", json!("https://sts.googleapis.com/v1/token"))), BASE_ENV, "token_url", json!("http://127.0.0.1:8787/v1/token"), Some(Env("WIF_ENDPOINT_BASE_URL"))),
        Row("token_url: … but not the builder's", |b| b.token_url("https://sts.us-east1.rep.googleapis.com/v1/token"), Some(file()), BASE_ENV, "token_url", json!("https://sts.us-east1.rep.googleapis.com/v1/token"), Some(Builder("token_url"))),
        Row("impersonation: the endpoint base moves the builder email's URL", |b| b.impersonate("other@p.iam.gserviceaccount.com"), Some(file()), BASE_ENV, "impersonation_url", json!("http://127.0.0.1:8787/v1/projects/-/serviceAccounts/other@p.iam.gserviceaccount.com:generateAccessToken"), Some(Env("WIF_ENDPOINT_BASE_URL"))),
        Row("impersonation: … and the configuration's", same, Some(impersonating()), BASE_ENV, "impersonation_url", json!(format!("http://127.0.0.1:8787/v1/projects/-/serviceAccounts/{SA}:generateAccessToken")), Some(Env("WIF_ENDPOINT_BASE_URL"))),
        Row("impersonation: … but not the builder's URL", |b| b.impersonation_url("https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/other@p.iam.gserviceaccount.com:generateAccessToken"), Some(impersonating()), BASE_ENV, "impersonation_url", json!("https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/other@p.iam.gserviceaccount.com:generateAccessToken"), Some(Builder("impersonation_url"))),
        // scopes
        Row("scopes: builder beats default", |b| b.scopes(["s1", "s2"]), Some(file()), NO_ENV, "scopes", json!(["s1", "s2"]), Some(Builder("scopes"))),
        Row("scopes: default", same, Some(file()), NO_ENV, "scopes", json!([CLOUD_PLATFORM]), Some(Dflt)),
        Row("scopes: no scope at all is the default", |b| b.scopes(Vec::<String>::new()), Some(file()), NO_ENV, "scopes", json!([CLOUD_PLATFORM]), Some(Dflt)),
        Row("sts_scopes: the final scopes without impersonation", |b| b.scopes(["s1"]), Some(file()), NO_ENV, "sts_scopes", json!(["s1"]), Some(Builder("scopes"))),
        Row("sts_scopes: cloud-platform with impersonation", |b| b.scopes(["s1"]), Some(impersonating()), NO_ENV, "sts_scopes", json!([CLOUD_PLATFORM]), Some(imp_rule)),
        // impersonation
        Row("impersonation: builder URL beats config", |b| b.impersonation_url("https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/other@p.iam.gserviceaccount.com:generateAccessToken"), Some(impersonating()), NO_ENV, "service_account", json!("other@p.iam.gserviceaccount.com"), Some(Builder("impersonation_url"))),
        Row("impersonation: builder email beats config, in the configuration's universe", |b| b.impersonate("other@p.iam.gserviceaccount.com"), Some(s3ns()), NO_ENV, "impersonation_url", json!("https://iamcredentials.s3nsapis.fr/v1/projects/-/serviceAccounts/other@p.iam.gserviceaccount.com:generateAccessToken"), Some(Builder("impersonate"))),
        Row("impersonation: config", same, Some(impersonating()), NO_ENV, "service_account", json!(SA), Some(Config("service_account_impersonation_url"))),
        Row("impersonation: none", same, Some(file()), NO_ENV, "impersonation_url", Value::Null, None),
        Row("lifetime: builder beats config", |b| b.token_lifetime(Duration::from_secs(900)), Some(lifetime()), NO_ENV, "token_lifetime_seconds", json!(900), Some(Builder("token_lifetime"))),
        Row("lifetime: config beats default", same, Some(lifetime()), NO_ENV, "token_lifetime_seconds", json!(1800), Some(Config("service_account_impersonation.token_lifetime_seconds"))),
        Row("lifetime: default", same, Some(impersonating()), NO_ENV, "token_lifetime_seconds", json!(3600), Some(Dflt)),
        // quota project: builder, config, environment
        Row("quota project: builder beats config and env", |b| b.quota_project("built"), Some(file_with("quota_project_id", json!("configured"))), QUOTA_ENV, "quota_project", json!("built"), Some(Builder("quota_project"))),
        Row("quota project: config beats env", same, Some(file_with("quota_project_id", json!("configured"))), QUOTA_ENV, "quota_project", json!("configured"), Some(Config("quota_project_id"))),
        Row("quota project: env beats default", same, Some(file()), QUOTA_ENV, "quota_project", json!("env-project"), Some(Env("GOOGLE_CLOUD_QUOTA_PROJECT"))),
        Row("quota project: none by default", same, Some(file()), NO_ENV, "quota_project", Value::Null, None),
        // client auth, workforce user project
        Row("client id: builder beats config", |b| b.client_auth("built-id", None), Some(file_with("client_id", json!("config-id"))), NO_ENV, "client_id", json!("built-id"), Some(Builder("client_auth"))),
        Row("client id: config", same, Some(file_with("client_id", json!("config-id"))), NO_ENV, "client_id", json!("config-id"), Some(Config("client_id"))),
        Row("client secret: said to be set, never shown", same, Some(secret()), NO_ENV, "client_secret_set", json!(true), Some(Config("client_id"))),
        Row("workforce user project: builder beats config", |b| b.workforce_pool_user_project("built"), Some(workforce()), NO_ENV, "workforce_pool_user_project", json!("built"), Some(Builder("workforce_pool_user_project"))),
        Row("workforce user project: config", same, Some(workforce()), NO_ENV, "workforce_pool_user_project", json!("configured"), Some(Config("workforce_pool_user_project"))),
        // clients, retries, cache
        Row("http client: builder beats default", |b| b.http_client(wif_core::http::default_client().unwrap()), Some(file()), NO_ENV, "http_client", json!("yours"), Some(Builder("http_client"))),
        Row("http client: default", same, Some(file()), NO_ENV, "http_client", json!("default"), Some(Dflt)),
        Row("retries: builder beats default", |b| b.retry_policy(RetryPolicy::never().with_deadline(Duration::from_secs(5))), Some(file()), NO_ENV, "retry", json!("at most 1 attempts within 5 s"), Some(Builder("retry_policy"))),
        Row("retries: default", same, Some(file()), NO_ENV, "retry", json!("at most 3 attempts within 30 s"), Some(Dflt)),
        Row("cache: builder beats default", |b| { let mut c = CacheOptions::default(); c.refresh_ahead = Duration::from_secs(120); b.cache_options(c) }, Some(file()), NO_ENV, "cache", json!("refresh 2 min before expiry, never hand out a token with less than 10 s left"), Some(Builder("cache_options"))),
        Row("chain deadline: builder beats default", |b| b.chain_deadline(Duration::from_secs(90)), Some(file()), NO_ENV, "chain_deadline", json!("1 min 30 s"), Some(Builder("chain_deadline"))),
        Row("chain deadline: default", same, Some(file()), NO_ENV, "chain_deadline", json!("30 s"), Some(Dflt)),
        // source
        Row("source: builder beats config", |b| b.source(Custom), Some(file()), NO_ENV, "source", json!("mine"), Some(Builder("source"))),
        Row("source: config", same, Some(file()), NO_ENV, "source", json!("file"), Some(Config("credential_source"))),
        // AWS region: builder, AWS_REGION, AWS_DEFAULT_REGION, metadata
        Row("aws region: builder beats env", |b| b.aws_region("ap-south-1"), Some(aws()), AWS_ENV, "aws_region", json!("ap-south-1"), Some(Builder("aws_region"))),
        Row("aws region: AWS_REGION beats AWS_DEFAULT_REGION and metadata", same, Some(aws()), AWS_ENV, "aws_region", json!("eu-west-1"), Some(Env("AWS_REGION"))),
        Row("aws region: AWS_DEFAULT_REGION beats metadata", same, Some(aws()), AWS_DEFAULT_REGION_ENV, "aws_region", json!("us-west-2"), Some(Env("AWS_DEFAULT_REGION"))),
        Row("aws region: metadata region_url", same, Some(aws()), NO_ENV, "aws_region", json!("from the instance metadata service"), Some(Config("credential_source.region_url"))),
        Row("aws credentials: builder provider beats env", |b| b.aws_credentials_provider(NoAws), Some(aws()), AWS_ENV, "aws_credentials", json!("the credentials provider"), Some(Builder("aws_credentials_provider"))),
        Row("aws credentials: env beats metadata", same, Some(aws()), AWS_ENV, "aws_credentials", json!("long-term access keys (no AWS_SESSION_TOKEN)"), Some(Env("AWS_ACCESS_KEY_ID"))),
        Row("aws credentials: metadata url", same, Some(aws()), NO_ENV, "aws_credentials", json!("the instance profile's role, from the instance metadata service"), Some(Config("credential_source.url"))),
        Row("aws credentials: env keys beat web identity", same, Some(aws()), KEYS_AND_IRSA_ENV, "aws_credentials", json!("long-term access keys (no AWS_SESSION_TOKEN)"), Some(Env("AWS_ACCESS_KEY_ID"))),
        Row("aws credentials: web identity (IRSA) beats container credentials", same, Some(aws()), IRSA_AND_POD_IDENTITY_ENV, "aws_credentials", json!("web identity (EKS IRSA): role arn:aws:iam::123456789012:role/app, by AssumeRoleWithWebIdentity"), Some(Env("AWS_ROLE_ARN"))),
        Row("aws credentials: EKS Pod Identity beats profiles and metadata", same, Some(aws()), POD_IDENTITY_ENV, "aws_credentials", json!("EKS Pod Identity at http://169.254.170.23/v1/credentials"), Some(Env("AWS_CONTAINER_CREDENTIALS_FULL_URI"))),
        Row("aws credentials: an ECS task role", same, Some(aws()), ECS_ENV, "aws_credentials", json!("container credentials (ECS) at http://169.254.170.2/v2/credentials/task-1"), Some(Env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"))),
        Row("aws credentials: AWS_PROFILE beats metadata", same, Some(aws()), PROFILE_ENV, "aws_credentials", json!("profile dev"), Some(Env("AWS_PROFILE"))),
        Row("aws credentials: with a home, the default profile if it holds credentials, then metadata", same, Some(aws()), HOME_ENV, "aws_credentials", json!("profile default, if a shared config or credentials file holds its credentials; else the instance profile's role, from the instance metadata service"), Some(Rule("no AWS keys, web identity, container or AWS_PROFILE in the environment"))),
        Row("aws region: with a home, the profile's region, then metadata", same, Some(aws()), HOME_ENV, "aws_region", json!("profile default's, if a shared config file names one; else from the instance metadata service"), Some(Rule("AWS_REGION, then AWS_DEFAULT_REGION, then the profile, then region_url"))),
        Row("aws verification URL: default", same, Some(aws()), NO_ENV, "aws_verification_url", json!("https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"), Some(Dflt)),
        // executable
        Row("executable timeout: config beats default", same, Some(executable(Some(6000))), EXEC_ENV, "source_timeout_millis", json!(6000), Some(Config("credential_source.executable.timeout_millis"))),
        Row("executable timeout: default", same, Some(executable(None)), EXEC_ENV, "source_timeout_millis", json!(30000), Some(Dflt)),
        Row("executables allowed: env beats default", same, Some(executable(None)), EXEC_ENV, "source_executables_allowed", json!(true), Some(Env("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES"))),
        Row("executables allowed: not by default", same, Some(executable(None)), NO_ENV, "source_executables_allowed", json!(false), Some(Dflt)),
        // where the configuration came from
        Row("configuration: given to the builder", same, Some(file()), NO_ENV, "configuration", Value::Null, Some(Builder("config_json"))),
    ]
}

/// The plan of `config` in an empty environment.
fn plan_of_config(config: &Value) -> Plan {
    CredentialsBuilder::new()
        .environment(Arc::new(MapEnvironment::new()))
        .config_json(&config.to_string())
        .unwrap()
        .plan()
        .unwrap()
}

fn plan_of(Row(rule, edit, config, env, ..): &Row) -> Plan {
    let mut vars = MapEnvironment::new();
    for (k, v) in *env {
        vars.set(*k, *v);
    }
    let mut builder = CredentialsBuilder::new().environment(Arc::new(vars));
    if let Some(config) = config {
        builder = builder.config_json(&config.to_string()).unwrap();
    }
    edit(builder)
        .plan()
        .unwrap_or_else(|e| panic!("{rule}: {e}"))
}

#[test]
fn each_setting_comes_from_the_builder_then_the_configuration_then_the_environment_then_the_default()
 {
    let rows = rows();
    for row in &rows {
        let Row(rule, _, _, _, key, value, origin) = row;
        let entry = plan_of(row)
            .entries()
            .into_iter()
            .find(|e| e.key == *key)
            .unwrap_or_else(|| panic!("{rule}: no entry {key}"));
        assert_eq!((&entry.value, entry.origin), (value, *origin), "{rule}");
    }
    // Every setting of the plan has a row.
    let covered: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.4).collect();
    let mut all_keys = std::collections::BTreeSet::new();
    for config in [
        file(),
        aws(),
        certificate(None),
        executable(None),
        impersonating(),
    ] {
        all_keys.extend(plan_of_config(&config).entries().into_iter().map(|e| e.key));
    }
    let untested: Vec<&&str> = all_keys.iter().filter(|k| !covered.contains(**k)).collect();
    // Settings that only describe a source (its file, URL, format) have no rule to pick.
    let described: [&str; 8] = [
        "source_file",
        "source_format",
        "source_command",
        "source_certificate_config",
        "source_trust_chain",
        "aws_metadata_service",
        "trust_policy",
        "extra_root_certificates",
    ];
    let untested: Vec<&&&str> = untested
        .iter()
        .filter(|k| !described.contains(**k))
        .collect();
    assert!(untested.is_empty(), "settings without a row: {untested:?}");
}

#[test]
fn the_plan_holds_no_secret() {
    let mut config = with(
        file(),
        &[
            ("client_id", json!("id")),
            ("client_secret", json!("hunter2-secret")),
        ],
    );
    config["credential_source"] = json!({
        "url": "https://idp.example/token?key=query-secret",
        "headers": {"Authorization": "Bearer header-secret"}
    });
    let plan = plan_of_config(&config);
    let shown = format!("{plan}\n{}", plan.to_json());
    for secret in ["hunter2-secret", "header-secret", "query-secret"] {
        assert!(!shown.contains(secret), "{secret}: {shown}");
    }
    assert!(
        shown.contains("Authorization"),
        "header names are shown: {shown}"
    );
    assert!(shown.contains("https://idp.example/token"), "{shown}");
}

#[test]
fn resolving_does_no_io_and_the_chain_is_what_the_plan_says() {
    // A token file that does not exist and a metadata service that is not there: resolving
    // and assembling touch neither.
    let builder = CredentialsBuilder::new()
        .environment(Arc::new(MapEnvironment::new()))
        .config_json(&certificate(None).to_string())
        .unwrap();
    let plan = builder.plan().unwrap();
    let chain = builder.build_chain().unwrap();
    assert_eq!(chain.plan(), &plan);
    assert_eq!(
        chain.info().token_url.as_deref(),
        Some(plan.token_url.value.as_str())
    );
    assert_eq!(
        chain.info().token_url.as_deref(),
        Some("https://sts.mtls.googleapis.com/v1/token")
    );
}
