//! The `wif` binary with executable-sourced credential configurations (Google's pluggable auth)
//! against the emulator: a `#!/bin/sh` tool prints an OIDC token the emulator minted, the
//! emulator's Google STS verifies it and its IAM Credentials impersonates, so `wif token` prints
//! a service-account token only when the whole chain worked.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};

use serde_json::json;
use support::*;
use wif_emulator::config::DEFAULT_SERVICE_ACCOUNT;
use wif_emulator::configs::{executable_response, impersonation_url, write_configs};
use wif_emulator::{Emulator, EmulatorConfig, Endpoint, RunningEmulator};

const ALLOW: &str = "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES";
const SUBJECT: &str = "exec-workload-7";

fn start(world: &World) -> RunningEmulator {
    world
        .runtime
        .block_on(Emulator::new(EmulatorConfig::default()).start_local())
        .unwrap()
}

/// Writes a tool printing `id_token` (a pluggable-auth response) that records the audience and
/// impersonated email it was given into `seen.txt`.
fn tool(world: &World, id_token: &str) -> PathBuf {
    let seen = world.dir.path().join("seen.txt");
    let response = executable_response(id_token, 9_999_999_999);
    let script = format!(
        "#!/bin/sh\n\
         echo \"audience=$GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE\" >> '{seen}'\n\
         echo \"email=${{GOOGLE_EXTERNAL_ACCOUNT_IMPERSONATED_EMAIL-<unset>}}\" >> '{seen}'\n\
         echo '{response}'\n",
        seen = seen.display()
    );
    world.executable("emulator-token.sh", &script)
}

/// What gcloud writes for an executable source, every URL at the emulator.
fn config(world: &World, emulator: &RunningEmulator, tool: &Path) -> PathBuf {
    let config = json!({
        "universe_domain": "googleapis.com",
        "type": "external_account",
        "audience": emulator.config().oidc_audience(),
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": format!("{}/v1/token", emulator.base_url()),
        "service_account_impersonation_url": impersonation_url(emulator, DEFAULT_SERVICE_ACCOUNT),
        "credential_source": {"executable": {
            "command": tool.display().to_string(),
            "timeout_millis": 5000,
        }},
    });
    world.write_config("exec-emulator.json", &config.to_string())
}

#[test]
fn the_executables_oidc_token_becomes_a_service_account_token() {
    let world = World::new();
    let emulator = start(&world);
    let id_token = emulator.mint_oidc_token(SUBJECT);
    let tool = tool(&world, &id_token);
    let config = config(&world, &emulator, &tool);

    let run = world.token_with_env(
        &config,
        &[(ALLOW, Path::new("1")), ("RUST_LOG", Path::new("debug"))],
    );
    run.assert_code(0).assert_stderr_clean(&[&id_token]);
    let token = run.stdout.trim_end();
    assert!(token.starts_with("emu-sa."), "{}", run.stdout);
    run.assert_stderr_clean(&[token]);
    assert_eq!(
        tokeninfo(&world, &emulator, token)["principal"],
        DEFAULT_SERVICE_ACCOUNT
    );
    assert_eq!(emulator.requests(Endpoint::GoogleSts), 1);
    assert_eq!(emulator.requests(Endpoint::IamCredentials), 1);

    let seen = std::fs::read_to_string(world.dir.path().join("seen.txt")).unwrap();
    assert_eq!(
        seen,
        format!(
            "audience={}\nemail={DEFAULT_SERVICE_ACCOUNT}\n",
            emulator.config().oidc_audience()
        )
    );
}

#[test]
fn a_token_the_emulator_did_not_mint_is_refused_by_its_sts() {
    let world = World::new();
    let emulator = start(&world);
    let other = start(&world);
    // Signed by another emulator's key: the exchange must fail, and say why.
    let foreign = other.mint_oidc_token(SUBJECT);
    let tool = tool(&world, &foreign);
    let config = config(&world, &emulator, &tool);

    let run = world.token_with_env(&config, &[(ALLOW, Path::new("1"))]);
    run.assert_code(1).assert_stderr_clean(&[&foreign]);
    assert!(run.stderr.contains("invalid_grant"), "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert_eq!(emulator.requests(Endpoint::GoogleSts), 1);
    assert_eq!(emulator.requests(Endpoint::IamCredentials), 0);
}

#[test]
fn the_written_executable_configuration_works() {
    let world = World::new();
    let emulator = start(&world);
    let written = write_configs(&emulator, &world.dir.path().join("configs")).unwrap();
    let args = ["token", "--credentials", path_str(&written.executable)];

    // Refused until executables are allowed, before anything runs or is called.
    let run = world.wif(&args, &[]);
    run.assert_code(2);
    assert!(run.stderr.contains(ALLOW), "{}", run.stderr);
    assert_eq!(emulator.requests(Endpoint::GoogleSts), 0);

    let run = world.wif(&args, &[(ALLOW, Path::new("1"))]);
    run.assert_code(0);
    let token = run.stdout.trim_end();
    assert!(token.starts_with("emu-sa."), "{}", run.stdout);
    assert_eq!(
        tokeninfo(&world, &emulator, token)["principal"],
        DEFAULT_SERVICE_ACCOUNT
    );
}
