//! The `testing` fakes are public API: the instance metadata fake tested against `AwsSource`,
//! the container credentials fake against a plain HTTP client and against the source's own
//! container credentials provider (ECS, EKS Pod Identity).

#![allow(clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use secrecy::ExposeSecret;
use wif_core::MapEnvironment;
use wif_source_aws::testing::{
    CONTAINER_ROLE_ARN, ContainerCredentialsError, ContainerCredentialsResponder,
    FakeContainerCredentials, FakeImds, IMDS_ROLE, ImdsCall, ImdsError, ImdsResponder,
    imds_requests, mount_imds, mount_imds_next,
};
use wif_source_aws::{AwsSource, AwsSourceBuilder, CredentialsFrom, causes};
use wiremock::MockServer;

fn builder(imds: &FakeImds, imdsv2: bool) -> AwsSourceBuilder {
    AwsSource::builder()
        .credential_source(&imds.credential_source(imdsv2))
        .environment(Arc::new(MapEnvironment::new()))
        .metadata_retry(wif_core::testing::quick_retries(1))
}

fn calls(requests: &[wif_source_aws::testing::ImdsRequest]) -> Vec<ImdsCall> {
    requests.iter().map(|r| r.call.clone()).collect()
}

#[tokio::test]
async fn imdsv1_hands_out_the_zone_role_and_rotating_credentials() {
    let imds = FakeImds::start_with(ImdsResponder::new().zone("eu-west-3c")).await;
    let source = builder(&imds, false).build().expect("valid");
    let first = source.resolve().await.expect("resolved");
    assert_eq!(first.region, "eu-west-3");
    assert_eq!(first.credentials.access_key_id(), "ASIAFAKEIMDS00000001");
    assert_eq!(
        first.provenance.credentials_from,
        CredentialsFrom::Metadata {
            imdsv2: false,
            role: IMDS_ROLE.to_owned()
        }
    );
    let second = source.resolve().await.expect("resolved again");
    assert_eq!(second.credentials.access_key_id(), "ASIAFAKEIMDS00000002");
    assert_eq!(
        support::session_token_of(&second.credentials),
        Some("fake-imds-session-token-2")
    );

    let sent = imds.requests().await;
    assert_eq!(
        calls(&sent),
        [
            ImdsCall::Region,
            ImdsCall::RoleName,
            ImdsCall::Credentials {
                role: IMDS_ROLE.into()
            },
            ImdsCall::Credentials {
                role: IMDS_ROLE.into()
            },
        ],
        "the region and the role name are kept, credentials are read again"
    );
    assert!(sent.iter().all(|r| r.session_token.is_none()));
}

#[tokio::test]
async fn an_imdsv2_only_instance_checks_session_tokens() {
    let imds = FakeImds::start_with(ImdsResponder::new().require_imdsv2().role("web")).await;
    let err = builder(&imds, false)
        .build()
        .expect("valid")
        .resolve()
        .await
        .expect_err("v1 is refused");
    assert_eq!(err.known_cause(), Some(&causes::IMDSV2_REQUIRED), "{err}");

    let resolved = builder(&imds, true)
        .build()
        .expect("valid")
        .resolve()
        .await
        .expect("v2 works");
    assert_eq!(
        resolved.provenance.credentials_from,
        CredentialsFrom::Metadata {
            imdsv2: true,
            role: "web".into()
        }
    );
    let sent = imds.requests().await;
    let first_put = sent
        .iter()
        .position(|r| matches!(r.call, ImdsCall::SessionToken { .. }))
        .expect("the v2 source asked for a session token");
    assert!(
        sent[..first_put].iter().all(|r| r.session_token.is_none()),
        "the v1 source sent none"
    );
    let v2 = &sent[first_put..];
    assert_eq!(
        v2[0].call,
        ImdsCall::SessionToken {
            ttl_seconds: Some(300)
        }
    );
    assert!(
        v2[1..].iter().all(|r| r
            .session_token
            .as_ref()
            .is_some_and(|t| t.expose_secret() == "fake-imdsv2-session-token-1")),
        "one PUT, its token on every GET"
    );
    assert!(!format!("{sent:?}").contains("fake-imdsv2-session-token"));
}

#[tokio::test]
async fn every_refusal_reaches_the_source_explained() {
    for error in ImdsError::ALL {
        let imds = FakeImds::start_with(ImdsResponder::error(error)).await;
        let imdsv2 = error == ImdsError::SessionTokenRejected;
        let err = builder(&imds, imdsv2)
            .build()
            .expect("valid")
            .resolve()
            .await
            .expect_err("refused");
        assert_eq!(err.status(), Some(error.status()), "{error:?}: {err}");
        assert_eq!(
            err.is_retryable(),
            error == ImdsError::Unavailable,
            "{error:?}"
        );
        let cause = match error {
            ImdsError::Disabled => Some(&causes::METADATA_REFUSED),
            ImdsError::Imdsv2Required => Some(&causes::IMDSV2_REQUIRED),
            ImdsError::NoRole => Some(&causes::NO_INSTANCE_ROLE),
            _ => None,
        };
        assert_eq!(err.known_cause(), cause, "{error:?}: {err}");
        assert_eq!(
            err.hint().is_some(),
            error != ImdsError::Unavailable,
            "{error:?}: {err}"
        );
    }
}

#[tokio::test]
async fn refusals_hit_only_their_calls() {
    // No role: the zone is still served.
    let imds = FakeImds::start_with(ImdsResponder::error(ImdsError::NoRole)).await;
    let err = builder(&imds, false)
        .build()
        .expect("valid")
        .resolve()
        .await
        .expect_err("no role");
    assert_eq!(err.status(), Some(404));
    assert_eq!(
        calls(&imds.requests().await)[..2],
        [ImdsCall::Region, ImdsCall::RoleName]
    );
}

#[tokio::test]
async fn flaky_slow_and_injected_faults() {
    let responder = ImdsResponder::new().flaky(2);
    let kept = responder.clone();
    let imds = FakeImds::start_with(responder).await;
    builder(&imds, false)
        .metadata_retry(wif_core::testing::quick_retries(3))
        .build()
        .expect("valid")
        .resolve()
        .await
        .expect("the zone's third attempt succeeds");
    assert_eq!(kept.answered(), 5, "2 failures, zone, role, credentials");
    assert_eq!(kept.credentials_issued(), 1);

    let slow = FakeImds::start_with(ImdsResponder::new().slow(Duration::from_secs(30))).await;
    let err = builder(&slow, false)
        .metadata_timeout(Duration::from_millis(100))
        .build()
        .expect("valid")
        .resolve()
        .await
        .expect_err("times out");
    assert!(err.is_timeout(), "{err}");

    let imds = FakeImds::start().await;
    imds.fail_next(1, ImdsError::Disabled).await;
    let source = builder(&imds, false).build().expect("valid");
    let err = source.resolve().await.expect_err("injected");
    assert_eq!(err.known_cause(), Some(&causes::METADATA_REFUSED));
    source.resolve().await.expect("served again");
}

#[tokio::test]
async fn expired_then_valid_credentials_documents() {
    let imds = FakeImds::start_with(ImdsResponder::expired_then_valid()).await;
    let url = format!(
        "{}/latest/meta-data/iam/security-credentials/{IMDS_ROLE}",
        imds.base_url()
    );
    let client = wif_core::http::default_client().expect("the default client");
    // The zone first: the expired document is the first *credentials* read, whatever came before.
    client
        .get(format!(
            "{}/latest/meta-data/placement/availability-zone",
            imds.base_url()
        ))
        .send()
        .await
        .expect("zone");
    let now = SystemTime::now();
    for (n, expired) in [(1, true), (2, false)] {
        let doc: serde_json::Value = client
            .get(&url)
            .send()
            .await
            .expect("answered")
            .json()
            .await
            .expect("JSON");
        assert_eq!(doc["AccessKeyId"], format!("ASIAFAKEIMDS0000000{n}"));
        let expiration = time::OffsetDateTime::parse(
            doc["Expiration"].as_str().expect("a string"),
            &time::format_description::well_known::Rfc3339,
        )
        .expect("RFC 3339");
        assert_eq!(SystemTime::from(expiration) < now, expired, "{doc}");
    }
}

#[tokio::test]
async fn mounted_on_a_shared_server() {
    let server = MockServer::start().await;
    mount_imds(&server, ImdsResponder::new()).await;
    mount_imds_next(&server, 1, ImdsResponder::error(ImdsError::Unavailable)).await;
    let client = wif_core::http::default_client().expect("the default client");
    let region_url = format!("{}/latest/meta-data/placement/region", server.uri());
    let status = client
        .get(&region_url)
        .send()
        .await
        .expect("answered")
        .status();
    assert_eq!(status, 503);
    let region = client
        .get(&region_url)
        .send()
        .await
        .expect("answered")
        .text()
        .await
        .expect("text");
    assert_eq!(region, "us-east-1");
    assert_eq!(
        calls(&imds_requests(&server).await),
        [ImdsCall::Region, ImdsCall::Region]
    );
}

async fn get_credentials(
    fake: &FakeContainerCredentials,
    authorization: Option<&str>,
    timeout: Duration,
) -> Result<reqwest::Response, reqwest::Error> {
    let mut request = wif_core::http::default_client()
        .expect("the default client")
        .get(fake.full_uri())
        .timeout(timeout);
    if let Some(token) = authorization {
        request = request.header("authorization", token);
    }
    request.send().await
}

#[tokio::test]
async fn container_credentials_documents_and_authorization() {
    let fake = FakeContainerCredentials::start_with(
        ContainerCredentialsResponder::new().requiring_authorization("pod-token-SECRET"),
    )
    .await;
    let long = Duration::from_secs(10);
    let status = |r: Result<reqwest::Response, reqwest::Error>| r.expect("answered").status();
    assert_eq!(status(get_credentials(&fake, None, long).await), 401);
    assert_eq!(
        status(get_credentials(&fake, Some("other"), long).await),
        403
    );
    let doc: serde_json::Value = get_credentials(&fake, Some("pod-token-SECRET"), long)
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    assert_eq!(doc["RoleArn"], CONTAINER_ROLE_ARN);
    assert_eq!(doc["AccessKeyId"], "ASIAFAKETASK00000001");
    assert!(doc["Token"].is_string() && doc["SecretAccessKey"].is_string());

    let sent = fake.requests().await;
    assert_eq!(sent.len(), 3);
    assert!(sent[0].authorization.is_none());
    assert_eq!(
        sent[2].authorization.as_ref().map(|t| t.expose_secret()),
        Some("pod-token-SECRET")
    );
    assert_eq!(sent[2].path, fake.relative_uri());
    assert!(!format!("{sent:?}").contains("SECRET"));
}

#[tokio::test]
async fn container_credentials_errors_and_faults() {
    let long = Duration::from_secs(10);
    for error in ContainerCredentialsError::ALL {
        let fake =
            FakeContainerCredentials::start_with(ContainerCredentialsResponder::error(error)).await;
        let response = get_credentials(&fake, None, long).await.expect("answered");
        assert_eq!(response.status(), error.status(), "{error:?}");
        let body: serde_json::Value = response.json().await.expect("JSON");
        assert!(body["code"].is_string(), "{body}");
    }

    let responder = ContainerCredentialsResponder::expired_then_valid().flaky(1);
    let kept = responder.clone();
    let fake = FakeContainerCredentials::start_with(responder).await;
    let now = SystemTime::now();
    let expirations: Vec<Option<bool>> = {
        let mut out = Vec::new();
        for _ in 0..3 {
            let response = get_credentials(&fake, None, long).await.expect("answered");
            if !response.status().is_success() {
                out.push(None);
                continue;
            }
            let doc: serde_json::Value = response.json().await.expect("JSON");
            let at = time::OffsetDateTime::parse(
                doc["Expiration"].as_str().expect("a string"),
                &time::format_description::well_known::Rfc3339,
            )
            .expect("RFC 3339");
            out.push(Some(SystemTime::from(at) < now));
        }
        out
    };
    assert_eq!(expirations, [Some(true), None, Some(false)]);
    assert_eq!((kept.answered(), kept.issued()), (3, 2));

    fake.fail_next(1, ContainerCredentialsError::NotFound).await;
    assert_eq!(
        get_credentials(&fake, None, long)
            .await
            .expect("answered")
            .status(),
        404
    );

    let slow = FakeContainerCredentials::start_with(
        ContainerCredentialsResponder::new().slow(Duration::from_secs(30)),
    )
    .await;
    let err = get_credentials(&slow, None, Duration::from_millis(100))
        .await
        .expect_err("times out");
    assert!(err.is_timeout());
}

#[tokio::test]
async fn the_source_reads_its_container_credentials_from_the_fake() {
    let fake = FakeContainerCredentials::start_with(
        ContainerCredentialsResponder::new().requiring_authorization("pod-token-SECRET"),
    )
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("eks-pod-identity-token");
    std::fs::write(&token_file, "pod-token-SECRET\n").expect("written");
    let env = support::pod_identity_env("eu-west-1", fake.full_uri(), &token_file);
    let source = AwsSource::builder()
        .environment(Arc::new(env))
        .build()
        .expect("builds");
    let resolved = source.resolve().await.expect("resolves");
    assert_eq!(resolved.credentials.access_key_id(), "ASIAFAKETASK00000001");
    assert_eq!(
        resolved.provenance.credentials_from,
        CredentialsFrom::Container {
            pod_identity: true,
            role_arn: Some(CONTAINER_ROLE_ARN.to_owned()),
        }
    );
    let sent = fake.requests().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].authorization.as_ref().map(|t| t.expose_secret()),
        Some("pod-token-SECRET"),
        "the token file's content, trimmed"
    );
}

#[tokio::test]
async fn expired_or_refused_container_credentials_are_never_signed_with() {
    let fake =
        FakeContainerCredentials::start_with(ContainerCredentialsResponder::expired_then_valid())
            .await;
    let env = MapEnvironment::new()
        .with("AWS_REGION", "eu-west-1")
        .with("AWS_CONTAINER_CREDENTIALS_FULL_URI", fake.full_uri());
    let source = AwsSource::builder()
        .environment(Arc::new(env.clone()))
        .build()
        .expect("builds");
    let err = source.resolve().await.expect_err("expired credentials");
    assert_eq!(err.known_cause(), Some(&causes::AWS_CREDENTIALS_EXPIRED));
    assert!(!err.to_string().contains("SECRET"), "{err}");
    // The next refresh asks again and gets fresh ones.
    source.resolve().await.expect("fresh credentials");

    fake.fail_next(1, ContainerCredentialsError::Forbidden)
        .await;
    let other = AwsSource::builder()
        .environment(Arc::new(env))
        .build()
        .expect("builds");
    let err = other.resolve().await.expect_err("refused");
    assert_eq!(
        err.known_cause(),
        Some(&causes::CONTAINER_CREDENTIALS_REFUSED)
    );
}
