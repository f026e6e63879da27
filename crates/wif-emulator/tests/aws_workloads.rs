//! AWS workloads whose identity arrives through the environment, end to end against the
//! emulator with the unchanged gcloud AWS configuration (`aws-lambda.json`): an ECS task (the
//! container credentials endpoint), an EKS pod with Pod Identity (the agent and its
//! authorization token) and an EKS pod with IRSA (AWS STS `AssumeRoleWithWebIdentity`). Each
//! gets a Google token from the environment file `write_configs` writes, with no metadata call.
//! And the emulated endpoints themselves refuse what AWS refuses, without echoing a secret.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use support::{authorize, start_default};
use wif::{Credentials, MapEnvironment};
use wif_emulator::configs::{WrittenConfigs, read_env_file, write_configs};
use wif_emulator::{Endpoint, RunningEmulator, TokenKind};

fn environment(path: &std::path::Path) -> MapEnvironment {
    let mut env = MapEnvironment::new();
    for (name, value) in read_env_file(path).unwrap() {
        env.set(name, value);
    }
    env
}

/// `wif::Credentials` from `aws-lambda.json` (as `Credentials::from_file` reads it) in the
/// environment of `env_file`: a service-account token of the demo's writer.
async fn token_in(
    emulator: &RunningEmulator,
    written: &WrittenConfigs,
    env_file: &std::path::Path,
) {
    let credentials = Credentials::builder()
        .environment(Arc::new(environment(env_file)))
        .config_file(&written.aws_lambda)
        .unwrap()
        .build()
        .unwrap();
    let token = credentials
        .token()
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", env_file.display()));
    let issued = authorize(
        emulator,
        token.secret().expose_secret(),
        TokenKind::ServiceAccount,
    );
    assert_eq!(
        issued.principal,
        wif_emulator::config::DEFAULT_SERVICE_ACCOUNT
    );
}

#[tokio::test]
async fn ecs_pod_identity_and_irsa_get_a_token_without_the_metadata_service() {
    let emulator = start_default().await;
    let dir = tempfile::tempdir().unwrap();
    let written = write_configs(&emulator, dir.path()).unwrap();

    token_in(&emulator, &written, &written.aws_ecs_env).await;
    assert_eq!(emulator.requests(Endpoint::ContainerCredentials), 1);
    assert_eq!(emulator.requests(Endpoint::AwsSts), 0);

    token_in(&emulator, &written, &written.aws_eks_pod_identity_env).await;
    assert_eq!(emulator.requests(Endpoint::ContainerCredentials), 2);

    token_in(&emulator, &written, &written.aws_eks_irsa_env).await;
    assert_eq!(
        emulator.requests(Endpoint::AwsSts),
        1,
        "one AssumeRoleWithWebIdentity"
    );
    assert_eq!(emulator.requests(Endpoint::ContainerCredentials), 2);

    assert_eq!(
        emulator.requests(Endpoint::Imds),
        0,
        "the identity came from the environment: the metadata service is never asked"
    );
    assert_eq!(emulator.requests(Endpoint::GoogleSts), 3);
}

async fn get(url: &str, authorization: Option<&str>) -> (u16, String) {
    let mut request = wif::layers::core::http::default_client().unwrap().get(url);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn the_container_agents_answer_as_ecs_and_eks_do() {
    let emulator = start_default().await;
    let aws = &emulator.config().aws;
    let base = emulator.base_url();

    let (status, body) = get(&format!("{base}/ecs/v2/credentials/task-1"), None).await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["AccessKeyId"], aws.access_key_id.as_str());
    assert_eq!(answer["RoleArn"], aws.iam_role_arn().as_str());
    assert!(answer["Expiration"].as_str().unwrap().ends_with('Z'));

    let pod = format!("{base}/eks/v1/credentials");
    let (status, body) = get(&pod, None).await;
    assert_eq!(status, 400, "no Authorization: {body}");
    let forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.forged-signature-value";
    let (status, body) = get(&pod, Some(forged)).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("AccessDeniedException"), "{body}");
    assert!(
        !body.contains(forged),
        "the agent never echoes a token: {body}"
    );
    let (status, body) = get(&pod, Some(emulator.pod_identity_token())).await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["SecretAccessKey"], aws.secret_access_key.as_str());
    assert_eq!(answer["AccountId"], aws.account.as_str());
    assert_eq!(emulator.requests(Endpoint::ContainerCredentials), 4);
}

async fn assume_role(emulator: &RunningEmulator, params: &[(&str, &str)]) -> (u16, String) {
    let response = wif::layers::core::http::default_client()
        .unwrap()
        .post(format!("{}/aws/sts", emulator.base_url()))
        .form(params)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn assume_role_with_web_identity_checks_the_token_and_the_role() {
    let emulator = start_default().await;
    let aws = emulator.config().aws.clone();
    let role = aws.iam_role_arn();
    let token = emulator.mint_irsa_token("system:serviceaccount:ns:app", Duration::from_secs(600));
    let call = |role: String, token: String| {
        let emulator = &emulator;
        async move {
            assume_role(
                emulator,
                &[
                    ("Action", "AssumeRoleWithWebIdentity"),
                    ("Version", "2011-06-15"),
                    ("RoleArn", &role),
                    ("RoleSessionName", "app-session"),
                    ("WebIdentityToken", &token),
                ],
            )
            .await
        }
    };

    let (status, body) = call(role.clone(), token.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!("<AccessKeyId>{}</AccessKeyId>", aws.access_key_id)));
    assert!(body.contains(&format!(
        "<Arn>arn:aws:sts::{}:assumed-role/{}/app-session</Arn>",
        aws.account, aws.role
    )));
    assert!(body.contains("<SubjectFromWebIdentityToken>system:serviceaccount:ns:app<"));

    let other_role = format!("arn:aws:iam::{}:role/someone-else", aws.account);
    let (status, body) = call(other_role, token.clone()).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");

    // An OIDC token for Google's audience is not one for AWS STS.
    let google_token = emulator.mint_oidc_token("system:serviceaccount:ns:app");
    let (status, body) = call(role.clone(), google_token.clone()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("<Code>InvalidIdentityToken</Code>"), "{body}");
    assert!(!body.contains(&google_token), "{body}");

    let expired = emulator.mint_irsa_token("system:serviceaccount:ns:app", Duration::ZERO);
    let (status, body) = call(role.clone(), expired).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("<Code>ExpiredTokenException</Code>"),
        "{body}"
    );

    let (status, body) = call(role.clone(), format!("{token}x")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("<Code>InvalidIdentityToken</Code>"), "{body}");
    assert!(!body.contains(&token), "{body}");

    let (status, body) = assume_role(
        &emulator,
        &[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleSessionName", "app-session"),
            ("WebIdentityToken", &token),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("<Code>ValidationError</Code>"), "{body}");
    assert!(!body.contains(&token), "{body}");
}
