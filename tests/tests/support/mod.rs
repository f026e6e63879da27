//! What the emulator-driven suites (`emulator.rs`, `faults.rs`, `leak_sweep.rs`) share: an emulator with every
//! credential configuration written for it, and credentials that see only an injected
//! environment.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use wif::layers::source_aws::{AwsJwtSource, JWT_SUBJECT_TOKEN_TYPE};
use wif::{Credentials, CredentialsBuilder, MapEnvironment, RetryPolicy};
use wif_emulator::config::DEFAULT_SERVICE_ACCOUNT;
use wif_emulator::configs::{WrittenConfigs, impersonation_url, read_env_file, write_configs};
use wif_emulator::{Emulator, EmulatorConfig, Endpoint, Fault, RunningEmulator};

/// A running emulator and the configurations `wif emulator` would write for it.
pub struct World {
    pub emulator: RunningEmulator,
    pub configs: WrittenConfigs,
    pub dir: tempfile::TempDir,
}

pub async fn world() -> World {
    world_of(EmulatorConfig::default()).await
}

/// A fresh emulator whose `endpoint` misbehaves as `fault` says.
pub async fn world_with_fault(endpoint: Endpoint, fault: Fault) -> World {
    let world = world().await;
    world.emulator.faults().set(endpoint, fault);
    world
}

pub async fn world_of(config: EmulatorConfig) -> World {
    let emulator = Emulator::new(config).start_local().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let configs = write_configs(&emulator, dir.path()).unwrap();
    World {
        emulator,
        configs,
        dir,
    }
}

/// A builder for `config`, seeing only `env` (never the process environment), retrying quickly
/// so fault tests stay short.
pub fn builder(config: &Path, env: MapEnvironment) -> CredentialsBuilder {
    wif::Credentials::builder()
        .environment(Arc::new(env))
        .config_file(config)
        .unwrap()
        .retry_policy(quick_retries())
}

/// The default policy (3 attempts, 30 s deadline) with backoff in tens of milliseconds.
pub fn quick_retries() -> RetryPolicy {
    RetryPolicy::default().with_backoff(Duration::from_millis(20), Duration::from_millis(100))
}

/// The environment of the emulated Lambda function (role credentials and region).
pub fn lambda_env(configs: &WrittenConfigs) -> MapEnvironment {
    read_env_file(&configs.aws_lambda_env)
        .unwrap()
        .into_iter()
        .collect::<MapEnvironment>()
}

/// `GET /_emulator/tokeninfo` with `token`: the emulator's verdict (200, or 401 when expired).
pub async fn tokeninfo_status(emulator: &RunningEmulator, token: &str) -> u16 {
    wif_core::http::default_client()
        .unwrap()
        .get(format!("{}/_emulator/tokeninfo", emulator.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// An AWS outbound-federation JWT source asking the emulator's AWS STS for `audience`, with the
/// AWS credentials and region of `env`.
pub fn aws_jwt_source(
    emulator: &RunningEmulator,
    env: MapEnvironment,
    audience: String,
) -> AwsJwtSource {
    AwsJwtSource::builder()
        .audience(audience)
        .endpoint(format!("{}/aws/sts", emulator.base_url()))
        .environment(Arc::new(env))
        .build()
        .unwrap()
}

/// Credentials over `source` for the emulator's `aws-jwt` provider; `impersonate` adds the
/// default service account. (No credential file can say "AWS JWT": the source is plugged in.)
pub fn aws_jwt_credentials(
    emulator: &RunningEmulator,
    source: AwsJwtSource,
    impersonate: bool,
) -> Credentials {
    let mut builder = Credentials::builder()
        .source(source)
        .audience(emulator.config().aws_jwt_audience())
        .subject_token_type(JWT_SUBJECT_TOKEN_TYPE)
        .token_url(format!("{}/v1/token", emulator.base_url()))
        .environment(Arc::new(MapEnvironment::new()))
        .retry_policy(quick_retries());
    if impersonate {
        builder = builder.impersonation_url(impersonation_url(emulator, DEFAULT_SERVICE_ACCOUNT));
    }
    builder.build().unwrap()
}
