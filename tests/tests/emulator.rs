//! End to end through the emulator: every credential configuration `wif emulator` writes gives
//! `wif::Credentials` a service-account token the emulator accepts, and a stampede of cold
//! callers costs exactly one STS exchange and one impersonation.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use wif::{Credentials, MapEnvironment};
use wif_emulator::config::DEFAULT_SERVICE_ACCOUNT;
use wif_emulator::{Endpoint, Fault};

use support::{World, lambda_env, world, world_with_fault};

/// Credentials from `config`, seeing only `env` (never the process environment).
fn credentials(config: &Path, env: MapEnvironment) -> Credentials {
    Credentials::builder()
        .environment(Arc::new(env))
        .config_file(config)
        .unwrap()
        .build()
        .unwrap()
}

/// What every emulated Google API does with a bearer token: it must be a live service-account
/// token of the default service account.
async fn assert_accepted(world: &World, creds: &Credentials, what: &str) {
    let token = creds
        .token()
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let response = wif_core::http::default_client()
        .unwrap()
        .get(format!("{}/_emulator/tokeninfo", world.emulator.base_url()))
        .bearer_auth(token.secret().expose_secret())
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "{what}: the emulator refused the token"
    );
    let issued: serde_json::Value = response.json().await.unwrap();
    assert_eq!(issued["kind"], "service_account", "{what}");
    assert_eq!(issued["principal"], DEFAULT_SERVICE_ACCOUNT, "{what}");
    assert_eq!(
        world.emulator.requests(Endpoint::GoogleSts),
        1,
        "{what}: one exchange"
    );
    assert_eq!(
        world.emulator.requests(Endpoint::IamCredentials),
        1,
        "{what}: one impersonation"
    );
}

#[tokio::test]
async fn the_file_config_yields_an_accepted_token() {
    let world = world().await;
    let creds = credentials(&world.configs.file, MapEnvironment::new());
    assert_accepted(&world, &creds, "file.json").await;
}

#[tokio::test]
async fn the_url_config_yields_an_accepted_token() {
    let world = world().await;
    let creds = credentials(&world.configs.url, MapEnvironment::new());
    assert_accepted(&world, &creds, "url.json").await;
}

#[tokio::test]
async fn the_lambda_config_with_its_env_yields_an_accepted_token() {
    let world = world().await;
    let creds = credentials(&world.configs.aws_lambda, lambda_env(&world.configs));
    assert_accepted(&world, &creds, "aws-lambda.json").await;
    // Everything came from the environment: no metadata lookups, and the signed request was
    // verified by Google STS without calling AWS STS.
    assert_eq!(world.emulator.requests(Endpoint::Imds), 0);
    assert_eq!(world.emulator.requests(Endpoint::AwsSts), 0);
}

#[tokio::test]
async fn the_ec2_imdsv2_config_yields_an_accepted_token() {
    let world = world().await;
    let creds = credentials(&world.configs.aws_ec2_imdsv2, MapEnvironment::new());
    assert_accepted(&world, &creds, "aws-ec2-imdsv2.json").await;
    // Region, role name and role credentials came from the metadata service.
    assert!(world.emulator.requests(Endpoint::Imds) >= 3);
}

#[tokio::test]
async fn the_lambda_config_without_credentials_in_env_fails_before_google() {
    // Only the region: credentials then come from IMDS, and the emulator plays IMDS too, so to
    // see a failure the metadata service must be down.
    let world = world_with_fault(Endpoint::Imds, Fault::fail_next(100, 500)).await;
    let creds = credentials(
        &world.configs.aws_lambda,
        MapEnvironment::new().with("AWS_REGION", "us-east-1"),
    );
    assert!(creds.token().await.is_err());
    assert_eq!(world.emulator.requests(Endpoint::GoogleSts), 0);
}

/// The distinct tokens `callers` tasks get from `creds`, all asking at once (each must succeed).
async fn tokens_of_simultaneous_callers(
    creds: &Credentials,
    callers: usize,
) -> std::collections::HashSet<String> {
    let mut tasks = tokio::task::JoinSet::new();
    let start = Arc::new(tokio::sync::Barrier::new(callers));
    for _ in 0..callers {
        let creds = creds.clone();
        let start = start.clone();
        tasks.spawn(async move {
            start.wait().await;
            creds
                .token()
                .await
                .map(|t| t.secret().expose_secret().to_owned())
        });
    }
    let mut tokens = std::collections::HashSet::new();
    while let Some(result) = tasks.join_next().await {
        tokens.insert(result.unwrap().unwrap());
    }
    tokens
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_cold_callers_cost_one_exchange_and_one_impersonation() {
    type Chain = fn(&World) -> Credentials;
    let cases: [(&str, Chain); 2] = [
        ("file source", |world| {
            credentials(&world.configs.file, MapEnvironment::new())
        }),
        ("AWS Lambda", |world| {
            credentials(&world.configs.aws_lambda, lambda_env(&world.configs))
        }),
    ];
    for (case, chain) in cases {
        // Slow STS down so that every caller arrives while the first refresh is in flight.
        let world = world_with_fault(
            Endpoint::GoogleSts,
            Fault::latency(Duration::from_millis(200)),
        )
        .await;
        let tokens = tokens_of_simultaneous_callers(&chain(&world), 1000).await;
        assert_eq!(tokens.len(), 1, "{case}: every caller got the same token");
        assert_eq!(world.emulator.requests(Endpoint::GoogleSts), 1, "{case}");
        assert_eq!(
            world.emulator.requests(Endpoint::IamCredentials),
            1,
            "{case}"
        );
    }
}

#[tokio::test]
async fn transient_sts_failures_are_retried_through_to_a_token() {
    let world = world_with_fault(
        Endpoint::GoogleSts,
        Fault::fail_next(2, 503).with_retry_after(0),
    )
    .await;
    let creds = credentials(&world.configs.file, MapEnvironment::new());
    creds.token().await.unwrap();
    assert_eq!(world.emulator.requests(Endpoint::GoogleSts), 3);
    assert_eq!(world.emulator.requests(Endpoint::IamCredentials), 1);
}
