//! `wif explain` and `wif token` for AWS workloads whose identity arrives through the
//! environment, against the emulator with the unchanged gcloud configuration
//! (`aws-lambda.json`): which provider gave the keys and the role ARN; the typed cause of each
//! platform's usual mistake; bad settings refused before any network call; and a laptop's
//! `AWS_PROFILE`. Every run is checked for leaked secrets, the workloads' tokens included.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;
// Shared with explain.rs, which uses all of it.
#[allow(dead_code)]
#[path = "explain/world.rs"]
mod world;

use std::path::Path;

use support::{path_str, run_within, wif_command};
use wif_emulator::Endpoint;
use wif_emulator::configs::read_env_file;
use world::{World, assert_contains, edited};

fn env_of(world: &World, file: &str) -> Vec<(String, String)> {
    read_env_file(&world.path(file)).unwrap()
}

#[test]
fn explain_names_the_provider_and_the_role_of_each_workload() {
    let world = World::healthy();
    let config = world.path("aws-lambda.json");
    let role = world.emulator.config().aws.iam_role_arn();
    for (env_file, provider, words) in [
        ("aws-ecs.env", "container", "the ECS task role"),
        (
            "aws-eks-pod-identity.env",
            "container",
            "the EKS Pod Identity agent",
        ),
        (
            "aws-eks-irsa.env",
            "web identity",
            "AssumeRoleWithWebIdentity",
        ),
    ] {
        let run = world.explain(&config, &[], &env_of(&world, env_file));
        run.assert_code(0);
        assert_contains(
            &run,
            &[
                &format!("AWS provider {provider}"),
                words,
                "2. Subject token: ok",
                "5. Access token: ok",
            ],
        );
        if env_file != "aws-eks-pod-identity.env" {
            // ECS names the task's role; IRSA's is AWS_ROLE_ARN. (Pod Identity's agent does not say.)
            assert_contains(&run, &[&format!("role ARN {role}")]);
        }
    }
    assert_eq!(world.emulator.requests(Endpoint::Imds), 0);
}

/// The gcloud configuration without the metadata `url`: nothing after the environment.
fn without_metadata(world: &World) -> std::path::PathBuf {
    edited(world, "aws-lambda.json", |c| {
        c["credential_source"]
            .as_object_mut()
            .unwrap()
            .remove("url");
    })
}

/// Environment variables, as `World::explain` takes them.
type Env = Vec<(String, String)>;

fn env(pairs: &[(&str, &str)]) -> Env {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn a_pod_without_irsa_and_a_task_without_a_role_are_named() {
    let world = World::healthy();
    let config = without_metadata(&world);
    let run = world.explain(
        &config,
        &[],
        &env(&[
            ("AWS_REGION", "us-east-1"),
            ("KUBERNETES_SERVICE_HOST", "10.100.0.1"),
        ]),
    );
    run.assert_code(2);
    assert_contains(
        &run,
        &["[eks_pod_without_role]", "eks.amazonaws.com/role-arn"],
    );
    let run = world.explain(
        &config,
        &[],
        &env(&[
            ("AWS_REGION", "us-east-1"),
            (
                "ECS_CONTAINER_METADATA_URI_V4",
                "http://169.254.170.2/v4/abc",
            ),
        ]),
    );
    run.assert_code(2);
    assert_contains(&run, &["[ecs_task_without_role]", "taskRoleArn"]);
}

/// The workload, its variables beside `AWS_CONTAINER_CREDENTIALS_FULL_URI`, what explain says.
type UnansweredEndpoint<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);

#[test]
fn a_container_endpoint_that_does_not_answer_is_named() {
    let world = World::healthy();
    // A loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let full_uri = format!("http://127.0.0.1:{port}/v1/credentials");
    let pod_token = world.path("eks-pod-identity-token").display().to_string();
    let cases: [UnansweredEndpoint<'_>; 2] = [
        (
            "an ECS task's endpoint",
            &[],
            &["[container_credentials_unreachable]"],
        ),
        (
            "EKS Pod Identity without its agent",
            &[("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &pod_token)],
            &[
                "[pod_identity_agent_unreachable]",
                "the EKS Pod Identity agent is not running",
                "eks-pod-identity-agent",
            ],
        ),
    ];
    for (workload, extra, says) in cases {
        let mut vars = env(&[
            ("AWS_REGION", "us-east-1"),
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &full_uri),
        ]);
        vars.extend(env(extra));
        let run = world.explain(&world.path("aws-lambda.json"), &[], &vars);
        assert_ne!(run.code, Some(0), "{workload}");
        assert_contains(&run, says);
        assert_eq!(
            world.emulator.requests(Endpoint::Imds),
            0,
            "{workload}: no fallback to metadata"
        );
    }
}

#[test]
fn bad_workload_settings_fail_before_any_call() {
    let world = World::healthy();
    let config = world.path("aws-lambda.json");
    let missing = world.path("no-such-token");
    let empty = world.path("empty-token");
    std::fs::write(&empty, "\n").unwrap();
    let role = world.emulator.config().aws.iam_role_arn();
    // (environment, the cause explain names, what `wif token` says)
    let cases: Vec<(Env, &str, &str)> = vec![
        (
            env(&[("AWS_ROLE_ARN", &role)]),
            "[web_identity_incomplete]",
            "AWS_ROLE_ARN is set but AWS_WEB_IDENTITY_TOKEN_FILE is not",
        ),
        (
            env(&[
                ("AWS_ROLE_ARN", &role),
                ("AWS_WEB_IDENTITY_TOKEN_FILE", path_str(&missing)),
            ]),
            "[web_identity_token_unreadable]",
            "no-such-token",
        ),
        (
            env(&[
                ("AWS_ROLE_ARN", &role),
                ("AWS_WEB_IDENTITY_TOKEN_FILE", path_str(&empty)),
            ]),
            "[web_identity_token_unreadable]",
            "is empty",
        ),
        (
            env(&[(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://10.0.0.7/creds",
            )]),
            "[container_uri_refused]",
            "names 10.0.0.7 over plain http",
        ),
    ];
    for (mut vars, cause, says) in cases {
        vars.push(("AWS_REGION".into(), "us-east-1".into()));
        let run = world.explain(&config, &[], &vars);
        run.assert_code(2);
        assert_contains(&run, &[cause]);
        // `wif token` says the same, exit status 2 (a configuration problem).
        let mut command = wif_command(&world.path("home"));
        for (k, v) in &vars {
            command.env(k, v);
        }
        let token = run_within(&["token", "--credentials", path_str(&config)], command);
        token.assert_code(2);
        assert!(token.stderr.contains(says), "{cause}: {}", token.stderr);
        world.assert_no_secrets(&token);
    }
    for endpoint in [
        Endpoint::Imds,
        Endpoint::AwsSts,
        Endpoint::ContainerCredentials,
        Endpoint::GoogleSts,
    ] {
        assert_eq!(
            world.emulator.requests(endpoint),
            0,
            "{endpoint:?}: no call was made"
        );
    }
}

/// A developer's machine: `~/.aws/config` and `~/.aws/credentials` in a temporary HOME.
fn laptop(world: &World, config: &str, credentials: &str) -> std::path::PathBuf {
    let home = world.path("laptop-home");
    let aws = home.join(".aws");
    std::fs::create_dir_all(&aws).unwrap();
    std::fs::write(aws.join("config"), config).unwrap();
    std::fs::write(aws.join("credentials"), credentials).unwrap();
    home
}

fn token_on(world: &World, home: &Path, profile: &str) -> support::Run {
    let mut command = wif_command(home);
    command.env("AWS_PROFILE", profile);
    let config = world.path("aws-lambda.json");
    run_within(&["token", "--credentials", path_str(&config)], command)
}

/// A token printed alone on stdout, and no AWS secret on stderr.
#[track_caller]
fn assert_printed_a_token(world: &World, run: &support::Run) {
    run.assert_code(0);
    let aws = &world.emulator.config().aws;
    assert!(run.stdout.starts_with("emu-sa."), "{}", run.stdout);
    for secret in [&aws.secret_access_key, &aws.session_token] {
        assert!(
            !run.stderr.contains(secret.as_str()),
            "{}: {}",
            run.what,
            run.stderr
        );
    }
}

#[test]
fn aws_profile_dev_works_on_a_laptop() {
    let world = World::healthy();
    let aws = world.emulator.config().aws.clone();
    let home = laptop(
        &world,
        "[profile dev]\nregion = us-east-1\n\n[profile tool]\nregion = us-east-1\ncredential_process = ./print-credentials\n",
        &format!(
            "[dev]\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = {}\n",
            aws.access_key_id, aws.secret_access_key, aws.session_token
        ),
    );
    assert_printed_a_token(&world, &token_on(&world, &home, "dev"));

    // credential_process: a program prints the keys (the command runs in the current directory).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let script = home.join("print-credentials");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nprintf '%s' '{{\"Version\":1,\"AccessKeyId\":\"{}\",\"SecretAccessKey\":\"{}\",\"SessionToken\":\"{}\"}}'\n",
                aws.access_key_id, aws.secret_access_key, aws.session_token
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut command = wif_command(&home);
        command.env("AWS_PROFILE", "tool").current_dir(&home);
        let config = world.path("aws-lambda.json");
        let run = run_within(&["token", "--credentials", path_str(&config)], command);
        assert_printed_a_token(&world, &run);
    }

    // A profile that is not there is named, not silently replaced by instance metadata.
    let run = token_on(&world, &home, "prod");
    world.assert_no_secrets(&run);
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("AWS_PROFILE=\"prod\", but the shared files have no such profile"),
        "{}",
        run.stderr
    );
    assert_eq!(world.emulator.requests(Endpoint::Imds), 0);
}
