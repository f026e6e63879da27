//! The `wif` binary with executable-sourced credential configurations (Google's pluggable auth):
//! a tiny `#!/bin/sh` tool prints the subject token, against `wif::testing::FakeGoogle`.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};

use serde_json::json;
use support::*;
use wif_core::testing::assert_says;

/// What the tool prints as its token: distinctive, so a leak anywhere is easy to spot.
const EXEC_TOKEN: &str = "EXEC-ID-TOKEN-e2e-41d7";
/// What the tool prints on stderr; it must never be shown.
const EXEC_STDERR: &str = "EXEC-STDERR-SECRET-e2e-0b3";
const ALLOW: &str = "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES";

/// Writes the tool: it records its arguments and the protocol variables into `seen`, leaves
/// a secret on stderr, and prints a successful id_token response.
fn tool(world: &World) -> PathBuf {
    let seen = world.dir.path().join("seen.txt");
    let response = json!({
        "version": 1,
        "success": true,
        "token_type": "urn:ietf:params:oauth:token-type:id_token",
        "id_token": EXEC_TOKEN,
        "expiration_time": 9_999_999_999u64,
    });
    let script = format!(
        "#!/bin/sh\n\
         for a in \"$@\"; do echo \"arg=$a\" >> '{seen}'; done\n\
         echo \"audience=$GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE\" >> '{seen}'\n\
         echo \"token_type=$GOOGLE_EXTERNAL_ACCOUNT_TOKEN_TYPE\" >> '{seen}'\n\
         echo \"interactive=$GOOGLE_EXTERNAL_ACCOUNT_INTERACTIVE\" >> '{seen}'\n\
         echo \"email=${{GOOGLE_EXTERNAL_ACCOUNT_IMPERSONATED_EMAIL-<unset>}}\" >> '{seen}'\n\
         echo '{EXEC_STDERR}' >&2\n\
         echo '{response}'\n",
        seen = seen.display()
    );
    world.executable("get token", &script)
}

fn seen(world: &World) -> String {
    std::fs::read_to_string(world.dir.path().join("seen.txt")).unwrap_or_default()
}

/// A configuration as gcloud writes it for an executable source, against FakeGoogle.
fn config(world: &World, tool: &Path, impersonate: Option<&str>) -> PathBuf {
    let mut config = json!({
        "universe_domain": "googleapis.com",
        "type": "external_account",
        "audience": wif::testing::FAKE_AUDIENCE,
        "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
        "token_url": world.google.token_url(),
        "credential_source": {"executable": {
            "command": format!("\"{}\" --scope=\"a b\"", tool.display()),
            "timeout_millis": 5000,
        }},
    });
    if let Some(email) = impersonate {
        config["service_account_impersonation_url"] = json!(world.google.impersonation_url(email));
    }
    world.write_config("exec.json", &config.to_string())
}

#[test]
fn token_comes_from_the_executable() {
    let world = World::new();
    let tool = tool(&world);
    let config = config(&world, &tool, None);
    let run = world.token_with_env(&config, &[(ALLOW, Path::new("1"))]);
    run.assert_code(0)
        .assert_stderr_clean(&[EXEC_TOKEN, EXEC_STDERR, FEDERATED]);
    assert_eq!(run.stdout, format!("{FEDERATED}\n"));

    let form = world.sts_form();
    assert_eq!(form_value(&form, "subject_token"), Some(EXEC_TOKEN));
    assert_eq!(
        form_value(&form, "subject_token_type"),
        Some("urn:ietf:params:oauth:token-type:id_token")
    );
    let sts = world.requests_to("/v1/token");
    let metrics = sts[0]
        .headers
        .get("x-goog-api-client")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(metrics.contains("source/executable"), "{metrics}");

    assert_eq!(
        seen(&world),
        format!(
            "arg=--scope=a b\n\
             audience={}\n\
             token_type=urn:ietf:params:oauth:token-type:id_token\n\
             interactive=0\n\
             email=<unset>\n",
            wif::testing::FAKE_AUDIENCE
        )
    );
}

#[test]
fn impersonating_tells_the_executable_the_service_account() {
    let world = World::new();
    let tool = tool(&world);
    let config = config(&world, &tool, Some(SERVICE_ACCOUNT));
    let run = world.token_with_env(
        &config,
        &[(ALLOW, Path::new("1")), ("RUST_LOG", Path::new("trace"))],
    );
    run.assert_code(0)
        .assert_stderr_clean(&[EXEC_TOKEN, EXEC_STDERR, FEDERATED, IMPERSONATED]);
    assert_eq!(run.stdout, format!("{IMPERSONATED}\n"));
    assert!(
        run.stderr.contains("executable_subject_token"),
        "{}",
        run.stderr
    );
    assert!(
        seen(&world).contains(&format!("email={SERVICE_ACCOUNT}\n")),
        "{}",
        seen(&world)
    );
}

#[test]
fn executables_must_be_allowed() {
    let world = World::new();
    let tool = tool(&world);
    let config = config(&world, &tool, None);
    for env in [&[][..], &[(ALLOW, Path::new("0"))]] {
        let run = world.token_with_env(&config, env);
        run.assert_code(2)
            .assert_stderr_clean(&[EXEC_TOKEN, EXEC_STDERR]);
        assert!(
            run.stderr
                .contains("set GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES to '1'"),
            "{}",
            run.stderr
        );
        assert_eq!(run.stdout, "");
    }
    assert_eq!(seen(&world), "", "the tool ran");
    assert!(world.requests_to("/v1/token").is_empty(), "STS was called");
}

#[test]
fn a_failing_executable_is_reported_without_its_output() {
    let world = World::new();
    let tool = world.executable(
        "failing",
        &format!("#!/bin/sh\necho '{EXEC_STDERR}' >&2\necho '{EXEC_TOKEN}'\nexit 7\n"),
    );
    let config = config(&world, &tool, None);
    let run = world.token_with_env(
        &config,
        &[(ALLOW, Path::new("1")), ("RUST_LOG", Path::new("trace"))],
    );
    run.assert_code(1)
        .assert_stderr_clean(&[EXEC_TOKEN, EXEC_STDERR]);
    assert_says(&run.stderr, &["exit code 7", "not shown"]);
    assert!(world.requests_to("/v1/token").is_empty(), "STS was called");
}
