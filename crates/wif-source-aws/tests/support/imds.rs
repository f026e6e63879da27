//! Shared fakes for the metadata-service suites: the gcloud default paths on a wiremock server,
//! a builder pointed at it, and request accounting.

#![allow(dead_code, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use secrecy::ExposeSecret;
use wif_core::{FixedClock, MapEnvironment, SourceContext, SubjectTokenSource};
use wif_source_aws::{AWS_SUBJECT_TOKEN_TYPE, AwsCredentialSource, AwsSource, AwsSourceBuilder};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

use super::Decoded;

pub const AUDIENCE: &str = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/POOL_ID/providers/PROVIDER_ID";
pub const ROLE: &str = "gcp-aws-role";
pub const IMDS_TOKEN: &str = "awsimdsv2sessiontoken";
pub const TOKEN_PATH: &str = "/latest/api/token";
pub const ZONE_PATH: &str = "/latest/meta-data/placement/availability-zone";
pub const ROLE_PATH: &str = "/latest/meta-data/iam/security-credentials";
pub const CREDS_PATH: &str = "/latest/meta-data/iam/security-credentials/gcp-aws-role";

pub fn ctx() -> SourceContext {
    SourceContext::new(AUDIENCE, AWS_SUBJECT_TOKEN_TYPE)
}

pub fn creds_json(id: &str, secret: &str, token: &str) -> String {
    format!(
        r#"{{"Code":"Success","LastUpdated":"2020-08-11T06:55:22Z","Type":"AWS-HMAC","AccessKeyId":"{id}","SecretAccessKey":"{secret}","Token":"{token}","Expiration":"2020-08-11T12:55:22Z"}}"#
    )
}

/// The gcloud metadata URLs on `server` (the session-token URL only with `imdsv2`).
pub fn credential_source(server: &MockServer, imdsv2: bool) -> AwsCredentialSource {
    credential_source_at(&server.uri(), imdsv2)
}

/// The gcloud metadata URLs on the metadata service at `uri` (the session-token URL only with
/// `imdsv2`).
pub fn credential_source_at(uri: &str, imdsv2: bool) -> AwsCredentialSource {
    let mut source = AwsCredentialSource::default();
    source.environment_id = Some("aws1".into());
    source.region_url = Some(format!("{uri}{ZONE_PATH}"));
    source.url = Some(format!("{uri}{ROLE_PATH}"));
    if imdsv2 {
        source.imdsv2_session_token_url = Some(format!("{uri}{TOKEN_PATH}"));
    }
    source
}

/// A builder pointed at `server`, with a fixed clock, a quick retry policy and `env`.
pub fn builder(server: &MockServer, imdsv2: bool, env: MapEnvironment) -> AwsSourceBuilder {
    AwsSource::builder()
        .credential_source(&credential_source(server, imdsv2))
        .environment(Arc::new(env))
        .clock(Arc::new(FixedClock(
            UNIX_EPOCH + Duration::from_secs(1_597_128_922),
        )))
        .metadata_retry(wif_core::testing::quick_retries(3))
}

/// Mounts a complete metadata service. With `require_token`, GETs without the IMDSv2 token get 401.
pub async fn mount_imds(server: &MockServer, require_token: bool, zone: &str, creds: &str) {
    Mock::given(method("PUT"))
        .and(path(TOKEN_PATH))
        .and(header("x-aws-ec2-metadata-token-ttl-seconds", "300"))
        .respond_with(ResponseTemplate::new(200).set_body_string(IMDS_TOKEN))
        .mount(server)
        .await;
    for (p, body) in [(ZONE_PATH, zone), (ROLE_PATH, ROLE), (CREDS_PATH, creds)] {
        let mut mock = Mock::given(method("GET")).and(path(p));
        if require_token {
            mock = mock.and(header("x-aws-ec2-metadata-token", IMDS_TOKEN));
        }
        mock.respond_with(ResponseTemplate::new(200).set_body_string(body))
            .with_priority(1)
            .mount(server)
            .await;
    }
    if require_token {
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(401))
            .with_priority(5)
            .mount(server)
            .await;
    }
}

/// Mounts a 200 answer with `body` for every `m` request to `p`.
pub async fn answer_text(server: &MockServer, m: &str, p: &str, body: impl Into<String>) {
    answer(
        server,
        m,
        p,
        ResponseTemplate::new(200).set_body_string(body.into()),
    )
    .await;
}

/// Mounts `response` for every `m` request to `p`.
pub async fn answer(server: &MockServer, m: &str, p: &str, response: impl Respond + 'static) {
    Mock::given(method(m))
        .and(path(p))
        .respond_with(response)
        .mount(server)
        .await;
}

/// Static environment credentials (`AKIAENV` / `env-secret`), no region.
pub fn env_keys() -> MapEnvironment {
    MapEnvironment::new()
        .with("AWS_ACCESS_KEY_ID", "AKIAENV")
        .with("AWS_SECRET_ACCESS_KEY", "env-secret")
}

/// Starts a complete metadata service (see [`mount_imds`]).
pub async fn imds_server(require_token: bool, zone: &str, creds: &str) -> MockServer {
    let server = MockServer::start().await;
    mount_imds(&server, require_token, zone, creds).await;
    server
}

/// [`builder`] with an empty environment, built.
pub fn build(server: &MockServer, imdsv2: bool) -> AwsSource {
    builder(server, imdsv2, MapEnvironment::new())
        .build()
        .expect("builds")
}

/// (method, path, had an IMDSv2 token header) of every request the fake received.
pub async fn requests(server: &MockServer) -> Vec<(String, String, bool)> {
    summarize(&server.received_requests().await.unwrap_or_default())
}

/// (method, path, had an IMDSv2 token header) of each of `requests`.
pub fn summarize(requests: &[wiremock::Request]) -> Vec<(String, String, bool)> {
    requests
        .iter()
        .map(|r| {
            (
                r.method.to_string(),
                r.url.path().to_owned(),
                r.headers.contains_key("x-aws-ec2-metadata-token"),
            )
        })
        .collect()
}

/// Asserts `server` received no request at all; `why` says what had to stop before it.
pub async fn assert_untouched(server: &MockServer, why: &str) {
    let seen = requests(server).await;
    assert!(seen.is_empty(), "{why}: {seen:?}");
}

/// Asserts `server` received `m p` exactly `n` times; `why` says why that many.
pub async fn assert_requested(server: &MockServer, m: &str, p: &str, n: usize, why: &str) {
    let reqs = requests(server).await;
    assert_eq!(count(&reqs, m, p), n, "{m} {p}: {why}: {reqs:?}");
}

pub fn count(reqs: &[(String, String, bool)], m: &str, p: &str) -> usize {
    reqs.iter().filter(|(rm, rp, _)| rm == m && rp == p).count()
}

pub async fn decoded_token(source: &AwsSource) -> Decoded {
    let token = source.subject_token(&ctx()).await.expect("subject token");
    super::decode(token.secret().expose_secret())
}
