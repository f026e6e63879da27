//! The default credential chain against wiremock fakes: web identity (EKS IRSA) through AWS
//! STS `AssumeRoleWithWebIdentity`, container credentials (ECS, EKS Pod Identity), the order
//! (environment keys beat the rest, IRSA beats the container), reuse of temporary credentials
//! until shortly before they expire, and bad settings failing before any request.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wif_core::testing::Scripted;
use wif_core::{Clock, ErrorKind, MapEnvironment, SubjectTokenSource};
use wif_source_aws::{
    AwsJwtSource, AwsSource, AwsSourceBuilder, CredentialsFrom, REFRESH_MARGIN, Resolved, causes,
};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use support::imds::assert_untouched;

const ROLE: &str = "arn:aws:iam::123456789012:role/irsa-app";
const WEB_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6bnM6YXBwIn0.c2lnbmVk-web-identity";
const POD_TOKEN: &str = "pod-identity-authorization-token-1";
const NOW: u64 = 1_797_000_000;

/// A clock tests move forward.
#[derive(Debug, Clone)]
struct TestClock(Arc<Mutex<SystemTime>>);

impl TestClock {
    fn new() -> Self {
        TestClock(Arc::new(Mutex::new(UNIX_EPOCH + Duration::from_secs(NOW))))
    }
    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

fn rfc3339(at: SystemTime) -> String {
    let at = time::OffsetDateTime::from(at);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn sts_answer(expires_at: SystemTime) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_string(format!(
        "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
         <AssumeRoleWithWebIdentityResult><AssumedRoleUser>\
         <Arn>arn:aws:sts::123456789012:assumed-role/irsa-app/wif-1</Arn><AssumedRoleId>AROA:wif-1</AssumedRoleId>\
         </AssumedRoleUser><Credentials><AccessKeyId>ASIAIRSA</AccessKeyId>\
         <SecretAccessKey>irsa-secret-key</SecretAccessKey><SessionToken>irsa-session-token</SessionToken>\
         <Expiration>{}</Expiration></Credentials></AssumeRoleWithWebIdentityResult>\
         <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>",
        rfc3339(expires_at)
    ))
}

fn container_answer(expires_at: SystemTime, role: bool) -> ResponseTemplate {
    let mut body = serde_json::json!({
        "AccessKeyId": "ASIACONTAINER",
        "SecretAccessKey": "container-secret-key",
        "Token": "container-session-token",
        "Expiration": rfc3339(expires_at),
    });
    if role {
        body["RoleArn"] = "arn:aws:iam::123456789012:role/ecs-task".into();
    }
    ResponseTemplate::new(200).set_body_json(body)
}

fn temp_dir() -> PathBuf {
    tempfile::tempdir().expect("temp dir").keep()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let file = dir.join(name);
    std::fs::write(&file, text).expect("write");
    file
}

/// A source with the metadata URLs of gcloud's configuration pointing at `server` (so any
/// metadata call would be seen), the environment `env` and the test clock.
fn source(server: &MockServer, env: MapEnvironment, clock: &TestClock) -> AwsSource {
    builder(server, env, clock).build().expect("builds")
}

/// What the source for `env` at `server` resolves to; it must resolve.
async fn resolved_with(server: &MockServer, env: MapEnvironment, clock: &TestClock) -> Resolved {
    source(server, env, clock)
        .resolve()
        .await
        .expect("resolves")
}

fn builder(server: &MockServer, env: MapEnvironment, clock: &TestClock) -> AwsSourceBuilder {
    AwsSource::builder()
        .environment_id("aws1")
        .region_url(format!(
            "{}/latest/meta-data/placement/availability-zone",
            server.uri()
        ))
        .credentials_url(format!(
            "{}/latest/meta-data/iam/security-credentials",
            server.uri()
        ))
        .imdsv2_session_token_url(format!("{}/latest/api/token", server.uri()))
        .environment(Arc::new(env))
        .clock(Arc::new(clock.clone()))
}

fn irsa_env(server: &MockServer, token_file: &Path) -> MapEnvironment {
    MapEnvironment::new()
        .with("AWS_REGION", "eu-west-1")
        .with("AWS_ROLE_ARN", ROLE)
        .with(
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            token_file.display().to_string(),
        )
        .with("AWS_ENDPOINT_URL_STS", format!("{}/sts", server.uri()))
}

/// A fake AWS (STS at `/sts` once a test mounts it), a test clock, and IRSA's web identity
/// token file holding [`WEB_TOKEN`].
async fn irsa_world() -> (MockServer, TestClock, PathBuf) {
    let token_file = write(&temp_dir(), "token", WEB_TOKEN);
    (MockServer::start().await, TestClock::new(), token_file)
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

fn metadata_calls(requests: &[Request]) -> usize {
    requests
        .iter()
        .filter(|r| r.url.path().starts_with("/latest/"))
        .count()
}

async fn mount_sts(server: &MockServer, expires_at: SystemTime) {
    Mock::given(method("POST"))
        .and(path("/sts"))
        .and(body_string_contains("Action=AssumeRoleWithWebIdentity"))
        .respond_with(sts_answer(expires_at))
        .mount(server)
        .await;
}

#[tokio::test]
async fn irsa_assumes_the_role_with_the_token_file_and_never_asks_the_metadata_service() {
    let (server, clock, token_file) = irsa_world().await;
    // The file's token ends with a newline, which is not part of it.
    std::fs::write(&token_file, format!("{WEB_TOKEN}\n")).expect("write");
    mount_sts(&server, clock.now() + Duration::from_secs(3600)).await;
    let env = irsa_env(&server, &token_file).with("AWS_ROLE_SESSION_NAME", "checkout");
    let source = source(&server, env, &clock);

    let resolved = source.resolve().await.expect("resolves");
    assert_eq!(resolved.region, "eu-west-1");
    assert_eq!(resolved.credentials.access_key_id(), "ASIAIRSA");
    assert_eq!(
        resolved.provenance.credentials_from,
        CredentialsFrom::WebIdentity {
            role_arn: ROLE.into(),
            session_arn: Some("arn:aws:sts::123456789012:assumed-role/irsa-app/wif-1".into()),
        }
    );
    assert_eq!(resolved.provenance.credentials_from.role_arn(), Some(ROLE));

    let decoded = support::imds::decoded_token(&source).await;
    assert_eq!(decoded.access_key_id(), "ASIAIRSA");
    assert_eq!(
        decoded.header("x-amz-security-token"),
        Some("irsa-session-token")
    );
    support::verify(&decoded, "irsa-secret-key").expect("signed with the assumed role's key");

    let reqs = requests(&server).await;
    assert_eq!(metadata_calls(&reqs), 0, "no metadata call");
    let sts: Vec<&Request> = reqs.iter().filter(|r| r.url.path() == "/sts").collect();
    assert_eq!(sts.len(), 1, "the second refresh reused the credentials");
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&sts[0].body)
        .into_owned()
        .collect();
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(field("Action"), Some("AssumeRoleWithWebIdentity"));
    assert_eq!(field("RoleArn"), Some(ROLE));
    assert_eq!(field("RoleSessionName"), Some("checkout"));
    assert_eq!(
        field("WebIdentityToken"),
        Some(WEB_TOKEN),
        "the file's token, trimmed"
    );
    assert!(
        sts[0].headers.get("authorization").is_none(),
        "AssumeRoleWithWebIdentity is unsigned"
    );
}

#[tokio::test]
async fn aws_endpoint_url_is_honoured_when_there_is_no_sts_one() {
    let (server, clock, token_file) = irsa_world().await;
    Mock::given(method("POST"))
        .and(path("/all-services/"))
        .respond_with(sts_answer(clock.now() + Duration::from_secs(3600)))
        .expect(1)
        .mount(&server)
        .await;
    let env = MapEnvironment::new()
        .with("AWS_REGION", "eu-west-1")
        .with("AWS_ROLE_ARN", ROLE)
        .with(
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            token_file.display().to_string(),
        )
        .with(
            "AWS_ENDPOINT_URL",
            format!("{}/all-services/", server.uri()),
        );
    let resolved = resolved_with(&server, env, &clock).await;
    assert_eq!(resolved.credentials.access_key_id(), "ASIAIRSA");
}

#[tokio::test]
async fn temporary_credentials_are_replaced_before_they_expire_never_after() {
    let (server, clock, token_file) = irsa_world().await;
    // Valid for 20 minutes from the start.
    mount_sts(&server, clock.now() + Duration::from_secs(20 * 60)).await;
    let source = source(&server, irsa_env(&server, &token_file), &clock);
    let sts_calls = |reqs: &[Request]| reqs.iter().filter(|r| r.url.path() == "/sts").count();

    source.resolve().await.expect("first");
    clock.advance(Duration::from_secs(10 * 60));
    source.resolve().await.expect("10 min later: reused");
    assert_eq!(sts_calls(&requests(&server).await), 1);

    // 4 minutes left: inside the refresh margin, so new credentials before signing.
    clock.advance(
        Duration::from_secs(20 * 60) - Duration::from_secs(10 * 60) - REFRESH_MARGIN
            + Duration::from_secs(60),
    );
    source.resolve().await.expect("refreshed");
    assert_eq!(
        sts_calls(&requests(&server).await),
        2,
        "refreshed inside the margin"
    );
}

#[tokio::test]
async fn credentials_that_are_already_expired_are_never_signed_with() {
    let (server, clock, token_file) = irsa_world().await;
    mount_sts(&server, clock.now() - Duration::from_secs(30)).await;
    let source = source(&server, irsa_env(&server, &token_file), &clock);
    let err = source
        .subject_token(&support::imds::ctx())
        .await
        .expect_err("expired");
    assert_eq!(err.known_cause(), Some(&causes::AWS_CREDENTIALS_EXPIRED));
    assert!(err.to_string().contains("expired 30 s ago"), "{err}");
    assert!(!err.to_string().contains("irsa-secret-key"), "{err}");
}

#[tokio::test]
async fn environment_keys_beat_irsa_and_the_container() {
    let (server, clock, token_file) = irsa_world().await;
    let env = irsa_env(&server, &token_file)
        .with("AWS_ACCESS_KEY_ID", "ASIALAMBDA")
        .with("AWS_SECRET_ACCESS_KEY", "lambda-secret")
        .with("AWS_SESSION_TOKEN", "lambda-session")
        .with(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("{}/container", server.uri()),
        );
    let resolved = resolved_with(&server, env, &clock).await;
    assert_eq!(resolved.credentials.access_key_id(), "ASIALAMBDA");
    assert_eq!(
        resolved.provenance.credentials_from,
        CredentialsFrom::Environment {
            session_token: true
        }
    );
    assert_untouched(&server, "not one request").await;
}

#[tokio::test]
async fn irsa_beats_container_credentials() {
    let (server, clock, token_file) = irsa_world().await;
    mount_sts(&server, clock.now() + Duration::from_secs(3600)).await;
    let env = irsa_env(&server, &token_file).with(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        format!("{}/container", server.uri()),
    );
    let resolved = resolved_with(&server, env, &clock).await;
    assert_eq!(resolved.credentials.access_key_id(), "ASIAIRSA");
    let reqs = requests(&server).await;
    assert!(
        reqs.iter().all(|r| r.url.path() == "/sts"),
        "only STS: {reqs:?}"
    );
}

#[tokio::test]
async fn ecs_style_container_credentials_carry_the_task_role() {
    let server = MockServer::start().await;
    let clock = TestClock::new();
    Mock::given(method("GET"))
        .and(path("/v2/credentials/task"))
        .respond_with(container_answer(
            clock.now() + Duration::from_secs(6 * 3600),
            true,
        ))
        .expect(1)
        .mount(&server)
        .await;
    let env = MapEnvironment::new().with("AWS_REGION", "us-east-2").with(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        format!("{}/v2/credentials/task", server.uri()),
    );
    let source = source(&server, env, &clock);
    let resolved = source.resolve().await.expect("resolves");
    source.resolve().await.expect("reused: one call");
    assert_eq!(resolved.credentials.access_key_id(), "ASIACONTAINER");
    assert_eq!(
        resolved.provenance.credentials_from,
        CredentialsFrom::Container {
            pod_identity: false,
            role_arn: Some("arn:aws:iam::123456789012:role/ecs-task".into())
        }
    );
    let reqs = requests(&server).await;
    assert_eq!(metadata_calls(&reqs), 0);
    assert!(reqs[0].headers.get("authorization").is_none());
}

#[tokio::test]
async fn the_authorization_token_file_is_sent_and_read_again_each_call() {
    let server = MockServer::start().await;
    let clock = TestClock::new();
    for (token, expires_in) in [
        (POD_TOKEN, 60),
        ("pod-identity-authorization-token-2", 3600),
    ] {
        Mock::given(method("GET"))
            .and(path("/v1/credentials"))
            .and(header("authorization", token))
            .respond_with(container_answer(
                clock.now() + Duration::from_secs(expires_in),
                false,
            ))
            .expect(1)
            .mount(&server)
            .await;
    }
    let dir = temp_dir();
    let token_file = write(&dir, "eks-pod-identity-token", &format!("{POD_TOKEN}\n"));
    let env = support::pod_identity_env(
        "us-east-2",
        format!("{}/v1/credentials", server.uri()),
        &token_file,
    );
    let source = source(&server, env, &clock);
    source.resolve().await.expect("first token");
    // The first credentials expire within the margin, so they are not kept; EKS rotated the
    // token meanwhile.
    write(
        &dir,
        "eks-pod-identity-token",
        "pod-identity-authorization-token-2",
    );
    let resolved = source.resolve().await.expect("second token");
    assert_eq!(resolved.credentials.access_key_id(), "ASIACONTAINER");
}

#[tokio::test]
async fn container_refusals_and_outages() {
    let server = MockServer::start().await;
    let clock = TestClock::new();
    Mock::given(path("/denied"))
        .respond_with(ResponseTemplate::new(403).set_body_json(serde_json::json!({
            "code": "AccessDeniedException",
            "message": format!("Authorization token {POD_TOKEN} is not valid")
        })))
        .mount(&server)
        .await;
    let fresh = container_answer(clock.now() + Duration::from_secs(3600), false);
    Mock::given(path("/flaky"))
        .respond_with(Scripted::new(fresh).first(1, ResponseTemplate::new(503)))
        .mount(&server)
        .await;
    let env = |p: &str| {
        MapEnvironment::new()
            .with("AWS_REGION", "us-east-2")
            .with(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                format!("{}{p}", server.uri()),
            )
            .with("AWS_CONTAINER_AUTHORIZATION_TOKEN", POD_TOKEN)
    };
    let retry = wif_core::RetryPolicy::default()
        .with_max_attempts(3)
        .with_backoff(Duration::from_millis(5), Duration::from_millis(10));
    let source = |p: &str| {
        builder(&server, env(p), &clock)
            .metadata_retry(retry)
            .build()
            .unwrap()
    };
    let err = source("/denied").resolve().await.expect_err("403");
    assert_eq!(err.status(), Some(403));
    assert_eq!(
        err.known_cause(),
        Some(&causes::CONTAINER_CREDENTIALS_REFUSED)
    );
    assert_eq!(
        err.server_error().and_then(|s| s.code.as_deref()),
        Some("AccessDeniedException")
    );
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains(POD_TOKEN),
        "the echoed token is scrubbed: {shown}"
    );

    let resolved = source("/flaky").resolve().await.expect("a 503 is retried");
    assert_eq!(resolved.credentials.access_key_id(), "ASIACONTAINER");
}

#[tokio::test]
async fn aws_sts_refusals_of_the_web_identity_are_named() {
    for (code, cause) in [
        ("AccessDenied", &causes::WEB_IDENTITY_NOT_TRUSTED),
        ("InvalidIdentityToken", &causes::WEB_IDENTITY_TOKEN_REJECTED),
        (
            "ExpiredTokenException",
            &causes::WEB_IDENTITY_TOKEN_REJECTED,
        ),
    ] {
        let (server, clock, token_file) = irsa_world().await;
        Mock::given(path("/sts"))
            .respond_with(ResponseTemplate::new(400).set_body_string(format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>\
                 <Message>Not authorized for token {WEB_TOKEN}</Message></Error></ErrorResponse>"
            )))
            .mount(&server)
            .await;
        let err = source(&server, irsa_env(&server, &token_file), &clock)
            .resolve()
            .await
            .expect_err(code);
        assert_eq!(err.known_cause(), Some(cause), "{code}: {err}");
        assert!(!err.is_retryable(), "{code}");
        let shown = format!("{err} {err:?}");
        assert!(
            !shown.contains(WEB_TOKEN),
            "{code}: the token is scrubbed: {shown}"
        );
        assert_eq!(requests(&server).await.len(), 1, "{code}: not retried");
    }
}

#[tokio::test]
async fn bad_settings_fail_before_any_request() {
    let server = MockServer::start().await;
    let clock = TestClock::new();
    let dir = temp_dir();
    let empty = write(&dir, "empty", " \n");
    let irsa = |file: &str| {
        MapEnvironment::new()
            .with("AWS_REGION", "eu-west-1")
            .with("AWS_ROLE_ARN", ROLE)
            .with("AWS_WEB_IDENTITY_TOKEN_FILE", file)
            .with("AWS_ENDPOINT_URL_STS", format!("{}/sts", server.uri()))
    };
    let cases: Vec<(&str, MapEnvironment, &wif_core::Cause, &str)> = vec![
        (
            "token file missing",
            irsa(&dir.join("absent").display().to_string()),
            &causes::WEB_IDENTITY_TOKEN_UNREADABLE,
            "not found",
        ),
        (
            "token file empty",
            irsa(&empty.display().to_string()),
            &causes::WEB_IDENTITY_TOKEN_UNREADABLE,
            "is empty",
        ),
        (
            "token file a directory",
            irsa(&dir.display().to_string()),
            &causes::WEB_IDENTITY_TOKEN_UNREADABLE,
            "directory",
        ),
        (
            "AWS_ROLE_ARN without a token file",
            MapEnvironment::new()
                .with("AWS_REGION", "eu-west-1")
                .with("AWS_ROLE_ARN", ROLE),
            &causes::WEB_IDENTITY_INCOMPLETE,
            "AWS_WEB_IDENTITY_TOKEN_FILE is not",
        ),
        (
            "FULL_URI on a refused host",
            MapEnvironment::new().with("AWS_REGION", "eu-west-1").with(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://192.0.2.10/creds",
            ),
            &causes::CONTAINER_URI_REFUSED,
            "plain http",
        ),
        (
            "pod identity token file missing",
            support::pod_identity_env(
                "eu-west-1",
                format!("{}/v1/credentials", server.uri()),
                &dir.join("absent"),
            ),
            &causes::CONTAINER_CREDENTIALS_REFUSED,
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        ),
    ];
    for (what, env, cause, says) in cases {
        let err = source(&server, env, &clock)
            .resolve()
            .await
            .expect_err(what);
        assert_eq!(err.known_cause(), Some(cause), "{what}: {err}");
        assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{what}");
        assert!(
            err.to_string().contains(says),
            "{what}: want {says:?} in {err}"
        );
        assert!(!err.is_retryable(), "{what}");
    }
    assert_untouched(&server, "no request at all").await;
}

#[tokio::test]
async fn a_pod_or_task_without_a_role_is_named_as_such() {
    let server = MockServer::start().await;
    let clock = TestClock::new();
    for (var, value, cause) in [
        (
            "KUBERNETES_SERVICE_HOST",
            "10.100.0.1",
            &causes::EKS_POD_WITHOUT_ROLE,
        ),
        (
            "ECS_CONTAINER_METADATA_URI_V4",
            "http://169.254.170.2/v4/abc",
            &causes::ECS_TASK_WITHOUT_ROLE,
        ),
    ] {
        // No metadata url: nothing left to try, and the platform says why.
        let env = MapEnvironment::new()
            .with("AWS_REGION", "eu-west-1")
            .with(var, value);
        let err = AwsSource::builder()
            .environment(Arc::new(env.clone()))
            .build()
            .unwrap()
            .resolve()
            .await
            .expect_err(var);
        assert_eq!(err.known_cause(), Some(cause), "{var}: {err}");
        // The node's metadata service refuses (hop limit, blocked): the same cause.
        Mock::given(method("PUT"))
            .respond_with(ResponseTemplate::new(403))
            .mount(&server)
            .await;
        let err = source(&server, env, &clock).resolve().await.expect_err(var);
        assert_eq!(err.known_cause(), Some(cause), "{var}: {err}");
        assert!(err.to_string().contains(var), "{err}");
    }
}

#[tokio::test]
async fn the_jwt_source_resolves_through_the_same_chain() {
    let (server, clock, token_file) = irsa_world().await;
    mount_sts(&server, clock.now() + Duration::from_secs(3600)).await;
    let source = AwsJwtSource::builder()
        .audience("https://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/jwt")
        .environment(Arc::new(irsa_env(&server, &token_file)))
        .clock(Arc::new(clock))
        .build()
        .expect("builds");
    let resolved = source.resolver().resolve().await.expect("resolves");
    assert_eq!(resolved.credentials.access_key_id(), "ASIAIRSA");
    assert_eq!(resolved.provenance.credentials_from.role_arn(), Some(ROLE));
}
