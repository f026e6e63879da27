//! The credential configurations written for a running emulator: gcloud's shape, every URL at
//! the emulator, and subject tokens the emulator accepts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::Value;
use support::{get_json, start_default as start, unix_now};
use tempfile::TempDir;
use wif_emulator::RunningEmulator;
use wif_emulator::config::DEFAULT_SERVICE_ACCOUNT;
use wif_emulator::configs::{WrittenConfigs, read_env_file, write_configs};
use wif_emulator::oidc;

fn read(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A running emulator with its configurations written to a fresh directory (kept alive with it).
async fn emulator_with_configs() -> (RunningEmulator, TempDir, WrittenConfigs) {
    let emulator = start().await;
    let dir = tempfile::tempdir().unwrap();
    let written = write_configs(&emulator, dir.path()).unwrap();
    (emulator, dir, written)
}

#[tokio::test]
async fn every_config_points_at_the_emulator() {
    let emulator = start().await;
    let dir = tempfile::tempdir().unwrap();
    // A directory that doesn't exist yet is created.
    let written = write_configs(&emulator, &dir.path().join("configs")).unwrap();
    let base = emulator.base_url();
    let impersonation = format!(
        "{base}/v1/projects/-/serviceAccounts/{DEFAULT_SERVICE_ACCOUNT}:generateAccessToken"
    );

    for (name, path) in written.all() {
        let config = read(path);
        assert_eq!(config["type"], "external_account", "{name}");
        assert_eq!(config["universe_domain"], "googleapis.com", "{name}");
        assert_eq!(config["token_url"], format!("{base}/v1/token"), "{name}");
        assert_eq!(
            config["service_account_impersonation_url"], impersonation,
            "{name}"
        );
    }

    for (path, imdsv2) in [
        (&written.aws_lambda, false),
        (&written.aws_ec2_imdsv2, true),
    ] {
        let config = read(path);
        assert_eq!(
            config["audience"],
            emulator.config().aws_audience().as_str()
        );
        assert_eq!(
            config["subject_token_type"],
            "urn:ietf:params:aws:token-type:aws4_request"
        );
        let source = &config["credential_source"];
        assert_eq!(source["environment_id"], "aws1");
        assert_eq!(
            source["region_url"],
            format!("{base}/latest/meta-data/placement/availability-zone")
        );
        assert_eq!(
            source["url"],
            format!("{base}/latest/meta-data/iam/security-credentials")
        );
        // Clients insist on https here; it is signed, never called.
        assert_eq!(
            source["regional_cred_verification_url"],
            "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
        );
        if imdsv2 {
            assert_eq!(
                source["imdsv2_session_token_url"],
                format!("{base}/latest/api/token")
            );
        } else {
            assert!(source.get("imdsv2_session_token_url").is_none());
        }
    }

    let oidc_audience = emulator.config().oidc_audience();
    let file = read(&written.file);
    assert_eq!(file["audience"], oidc_audience.as_str());
    assert_eq!(
        file["subject_token_type"],
        "urn:ietf:params:oauth:token-type:jwt"
    );
    assert_eq!(
        file["credential_source"]["file"],
        written.oidc_token.to_str().unwrap()
    );
    assert_eq!(file["credential_source"]["format"]["type"], "text");

    let url = read(&written.url);
    assert_eq!(url["audience"], oidc_audience.as_str());
    assert_eq!(
        url["credential_source"]["url"],
        format!("{base}/oidc/token")
    );
    assert_eq!(url["credential_source"]["format"]["type"], "json");
    assert_eq!(
        url["credential_source"]["format"]["subject_token_field_name"],
        "id_token"
    );
}

#[tokio::test]
async fn the_subject_tokens_are_ones_the_emulator_accepts() {
    let (emulator, _dir, written) = emulator_with_configs().await;
    let audience = emulator.config().oidc_audience();

    let token = std::fs::read_to_string(&written.oidc_token).unwrap();
    let claims = oidc::verify(emulator.state(), &token, &audience).unwrap();
    // Valid for days: a developer session with `wif emulator` doesn't outlive it.
    assert!(claims.exp > unix_now() + 24 * 3600);

    // What the URL source reads.
    let url = read(&written.url);
    let body = get_json(url["credential_source"]["url"].as_str().unwrap()).await;
    oidc::verify(
        emulator.state(),
        body["id_token"].as_str().unwrap(),
        &audience,
    )
    .unwrap();

    // Another emulator's configs don't work here.
    let other = start().await;
    assert!(oidc::verify(other.state(), &token, &other.config().oidc_audience()).is_err());
}

#[tokio::test]
async fn the_lambda_env_file_holds_the_roles_credentials() {
    let (emulator, _dir, written) = emulator_with_configs().await;
    let text = std::fs::read_to_string(&written.aws_lambda_env).unwrap();
    assert!(text.lines().all(|l| l.starts_with("export AWS_")), "{text}");
    let aws = &emulator.config().aws;
    let vars = read_env_file(&written.aws_lambda_env).unwrap();
    let expect = |name: &str, value: &str| {
        assert!(
            vars.iter().any(|(n, v)| n == name && v == value),
            "{name} missing from {vars:?}"
        );
    };
    expect("AWS_ACCESS_KEY_ID", &aws.access_key_id);
    expect("AWS_SECRET_ACCESS_KEY", &aws.secret_access_key);
    expect("AWS_SESSION_TOKEN", &aws.session_token);
    expect("AWS_REGION", &aws.region);
    assert_eq!(vars.len(), 4);
}

#[tokio::test]
async fn writing_twice_replaces_the_files() {
    let emulator = start().await;
    let dir = tempfile::tempdir().unwrap();
    write_configs(&emulator, dir.path()).unwrap();
    let other = start().await;
    let written = write_configs(&other, dir.path()).unwrap();
    let config = read(&written.url);
    assert_eq!(
        config["credential_source"]["url"],
        format!("{}/oidc/token", other.base_url())
    );
    let token = std::fs::read_to_string(&written.oidc_token).unwrap();
    oidc::verify(other.state(), &token, &other.config().oidc_audience()).unwrap();
}

/// The executable configuration's script prints a pluggable-auth response whose token the
/// emulator accepts, and `wif::Credentials` runs it when executables are allowed.
#[cfg(unix)]
#[tokio::test]
async fn the_executable_script_prints_a_token_the_emulator_accepts() {
    use secrecy::ExposeSecret as _;

    let (emulator, _dir, written) = emulator_with_configs().await;
    let config = read(&written.executable);
    assert_eq!(
        config["audience"],
        emulator.config().oidc_audience().as_str()
    );
    assert_eq!(
        config["credential_source"]["executable"]["command"],
        written.executable_script.to_str().unwrap()
    );
    assert_eq!(
        config["credential_source"]["executable"]["timeout_millis"],
        30_000
    );

    let output = std::process::Command::new(&written.executable_script)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let response: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(response["version"], 1);
    assert_eq!(response["success"], true);
    assert_eq!(response["token_type"], config["subject_token_type"]);
    let claims = oidc::verify(
        emulator.state(),
        response["id_token"].as_str().unwrap(),
        &emulator.config().oidc_audience(),
    )
    .unwrap();
    assert_eq!(claims.sub, wif_emulator::configs::EXECUTABLE_TOKEN_SUBJECT);
    assert_eq!(response["expiration_time"], claims.exp);

    let env = wif::MapEnvironment::new().with("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES", "1");
    let credentials = wif::Credentials::builder()
        .environment(std::sync::Arc::new(env))
        .config_file(&written.executable)
        .unwrap()
        .build()
        .unwrap();
    let token = credentials.token().await.unwrap();
    assert!(
        token.secret().expose_secret().starts_with("emu-sa."),
        "a service-account token"
    );
}
