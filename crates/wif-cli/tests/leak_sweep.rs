//! The secret-leak sweep, CLI side: the real `wif` binary at `RUST_LOG=trace` against an
//! in-process emulator — `wif token` for the file, URL, AWS environment (Lambda), AWS IMDSv2 and
//! executable sources, each with and without impersonation; its failure paths (STS 400 with a
//! client secret, IAM 403); `wif explain`; `wif gcs` and `wif bq`; `wif demo`; and
//! `wif subject-token`. No secret may appear in any stderr, nor in any stdout except the one
//! token `wif token` exists to print (and the subject token `wif subject-token` prints):
//! the AWS secret key and session token, `client_secret`, subject tokens (the token file's, and
//! anything shaped like a JWT or a SigV4 signature) and access tokens (`emu-federated.<hex>`,
//! `emu-sa.<hex>`).
//!
//! The library side of the sweep (logs, `Debug`, errors, the API adapters) is
//! `tests/tests/leak_sweep.rs` at the workspace root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::{Run, path_str, run_within, wif_command};
use wif_emulator::bigquery::{TableField, create_table};
use wif_emulator::configs::{impersonation_url, read_env_file, write_configs};
use wif_emulator::{Emulator, EmulatorConfig, RunningEmulator, ServiceAccount};

const CLIENT_ID: &str = "leak-sweep-client";
const CLIENT_SECRET: &str = "CLIENT-SECRET-b81e55d2";
/// A service account that exists but trusts nobody: impersonating it is a 403.
const LOCKED_SERVICE_ACCOUNT: &str = "locked@wif-demo.iam.gserviceaccount.com";
const BUCKET: &str = "sweep-bucket";

/// Environment variables of a child process.
type Env = Vec<(String, String)>;

/// An emulator serving from its own runtime's threads while the test blocks on children.
struct World {
    _runtime: tokio::runtime::Runtime,
    emulator: RunningEmulator,
    dir: tempfile::TempDir,
    configs: wif_emulator::configs::WrittenConfigs,
    lambda_env: Env,
}

impl World {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut config = EmulatorConfig::default();
        config.service_accounts.push(ServiceAccount::new(
            LOCKED_SERVICE_ACCOUNT,
            Vec::<String>::new(),
        ));
        let emulator = runtime
            .block_on(Emulator::new(config).start_local())
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        let configs = write_configs(&emulator, &dir.path().join("configs")).unwrap();
        let lambda_env = read_env_file(&configs.aws_lambda_env).unwrap();
        World {
            _runtime: runtime,
            emulator,
            dir,
            configs,
            lambda_env,
        }
    }

    /// Writes `config` as `name` and returns its path.
    fn write(&self, name: &str, config: &Value) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, config.to_string()).unwrap();
        path
    }

    /// `wif args…` at `RUST_LOG=trace`, with only PATH, HOME and `env` in its environment.
    fn wif(&self, args: &[&str], env: &[(String, String)]) -> Run {
        let mut command = wif_command(&self.dir.path().join("home"));
        command.env("RUST_LOG", "trace");
        for (name, value) in env {
            command.env(name, value);
        }
        run_within(args, command)
    }
}

fn config(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn without_impersonation(mut config: Value) -> Value {
    config
        .as_object_mut()
        .unwrap()
        .remove("service_account_impersonation_url");
    config
}

fn env(pairs: &[(&str, &str)]) -> Env {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

/// What a run may show: `printed` is the one token its stdout exists to print (`None`: its
/// stdout holds no token at all; `Some("")`: stdout is not checked, as for `wif subject-token`).
struct Checked {
    run: Run,
    printed: Option<String>,
}

#[test]
fn no_secret_reaches_cli_output_at_trace_level() {
    let world = World::start();
    let aws = world.emulator.config().aws.clone();
    let mut secrets = vec![
        aws.secret_access_key.clone(),
        aws.session_token.clone(),
        CLIENT_SECRET.to_owned(),
        std::fs::read_to_string(&world.configs.oidc_token)
            .unwrap()
            .trim()
            .to_owned(),
    ];
    let mut checked = Vec::new();

    // `wif token` for every source, impersonated and not: stdout is exactly the token.
    let allow_exec = env(&[("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES", "1")]);
    let sources: [(&str, &Path, Env); 5] = [
        ("file", &world.configs.file, vec![]),
        ("url", &world.configs.url, vec![]),
        (
            "aws-env",
            &world.configs.aws_lambda,
            world.lambda_env.clone(),
        ),
        ("aws-imdsv2", &world.configs.aws_ec2_imdsv2, vec![]),
        ("executable", &world.configs.executable, allow_exec.clone()),
    ];
    for (name, path, env) in &sources {
        let impersonated = config(path);
        let direct = without_impersonation(impersonated.clone());
        for (variant, json, prefix) in [
            ("impersonated", impersonated, "emu-sa."),
            ("federated", direct, "emu-federated."),
        ] {
            let file = world.write(&format!("{name}-{variant}.json"), &json);
            let run = world.wif(&["token", "--credentials", path_str(&file)], env);
            run.assert_code(0);
            let token = run.stdout.trim().to_owned();
            assert!(token.starts_with(prefix), "{}: {}", run.what, run.stdout);
            assert!(
                run.stderr.lines().count() > 10,
                "{}: RUST_LOG=trace logs the chain:\n{}",
                run.what,
                run.stderr
            );
            secrets.push(token.clone());
            checked.push(Checked {
                run,
                printed: Some(token),
            });
        }
    }

    // Failure paths: STS 400 (client authentication with a secret), IAM 403.
    let mut bad_audience = config(&world.configs.file);
    bad_audience["audience"] = json!(world.emulator.config().audience("no-such-provider"));
    bad_audience["client_id"] = json!(CLIENT_ID);
    bad_audience["client_secret"] = json!(CLIENT_SECRET);
    let file = world.write("sts-400.json", &bad_audience);
    let run = world.wif(&["token", "--credentials", path_str(&file)], &[]);
    assert_ne!(run.code, Some(0), "{}: {}", run.what, run.stderr);
    assert!(run.stderr.contains("400"), "{}: {}", run.what, run.stderr);
    checked.push(Checked { run, printed: None });

    let mut locked = config(&world.configs.file);
    locked["service_account_impersonation_url"] =
        json!(impersonation_url(&world.emulator, LOCKED_SERVICE_ACCOUNT));
    let file = world.write("iam-403.json", &locked);
    let run = world.wif(&["token", "--credentials", path_str(&file)], &[]);
    assert_ne!(run.code, Some(0), "{}: {}", run.what, run.stderr);
    assert!(run.stderr.contains("403"), "{}: {}", run.what, run.stderr);
    checked.push(Checked { run, printed: None });

    // `wif explain` walks every step and reports on stdout.
    for (_, path, env) in &sources {
        let run = world.wif(&["explain", "--credentials", path_str(path)], env);
        run.assert_code(0);
        checked.push(Checked { run, printed: None });
    }

    // The API commands, with the Lambda configuration as the demo uses it.
    world.emulator.state().create_bucket(BUCKET);
    let project = world.emulator.config().project_id.clone();
    create_table(
        world.emulator.state(),
        &project,
        "sweep",
        "events",
        &[TableField::new("id", "INT64").required()],
    )
    .unwrap();
    let host = world.emulator.addr().to_string();
    let mut api_env = world.lambda_env.clone();
    api_env.extend(env(&[
        ("STORAGE_EMULATOR_HOST", &host),
        ("BIGQUERY_EMULATOR_HOST", &host),
    ]));
    let local = world.dir.path().join("object.txt");
    std::fs::write(&local, "sweep object\n").unwrap();
    let lambda = path_str(&world.configs.aws_lambda);
    let object = format!("gs://{BUCKET}/object.txt");
    let sql = format!("SELECT id FROM `{project}.sweep.events`");
    for args in [
        vec![
            "gcs",
            "--credentials",
            lambda,
            "cp",
            path_str(&local),
            &object,
        ],
        vec!["gcs", "--credentials", lambda, "cp", &object, "-"],
        vec![
            "bq",
            "--credentials",
            lambda,
            "query",
            &sql,
            "--project",
            &project,
        ],
    ] {
        let run = world.wif(&args, &api_env);
        run.assert_code(0);
        checked.push(Checked { run, printed: None });
    }

    // The demo runs its own emulator and the whole chain, narrating on stdout.
    let run = world.wif(&["demo"], &[]);
    run.assert_code(0);
    checked.push(Checked { run, printed: None });

    // `wif subject-token` prints the subject token by design; its logs must not.
    let run = world.wif(
        &["subject-token", "--credentials", lambda],
        &world.lambda_env,
    );
    run.assert_code(0);
    checked.push(Checked {
        run,
        printed: Some(String::new()),
    });

    for Checked { run, printed } in &checked {
        let mut streams = vec![("stderr", run.stderr.as_str())];
        match printed.as_deref() {
            // Only the printed token (already checked to be all of stdout) may be there.
            Some("") => {}
            Some(token) => streams.push(("stdout", run.stdout.trim().trim_end_matches(token))),
            None => streams.push(("stdout", run.stdout.as_str())),
        }
        for (stream, text) in streams {
            for secret in &secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "{}: {stream} shows the secret {secret:?}:\n{text}",
                    run.what
                );
            }
            let shaped = wif_emulator::leaks::secret_shapes(text);
            assert!(
                shaped.is_empty(),
                "{}: {stream} shows {shaped:?}:\n{text}",
                run.what
            );
        }
    }
}
