//! End-to-end tests of `wif demo`, `wif emulator` and the commands that use a token (`wif
//! token`, `wif gcs`, `wif bq`) against a standalone `wif emulator`: the real executables, run
//! as child processes with a cleared environment, on 127.0.0.1 only.
//!
//! Every child runs under a timeout, and the emulator child is killed when its test ends, even
//! when the test fails.

// The helpers below are test code outside `#[test]` functions, where clippy's test allowances
// do not reach.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use support::{ChildGuard, Run, path_str, run_within, wif_command};
use wif_emulator::EmulatorConfig;

/// The bucket and table `wif emulator` seeds at start (see `demo_apis.rs`).
const BUCKET: &str = "wif-demo-bucket";
const TABLE: &str = "wif-demo.demo.events";
const PROJECT: &str = "wif-demo";

/// How long the emulator may take to start listening, and to stop after Ctrl-C.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The secrets of the emulated AWS role: they must never be printed or logged.
fn aws_secrets() -> [String; 2] {
    let aws = EmulatorConfig::default().aws;
    [aws.secret_access_key, aws.session_token]
}

/// Fails if `text` (the `stream` of `run`) holds an AWS secret or an issued access token.
#[track_caller]
fn assert_no_secret(run: &Run, stream: &str, text: &str) {
    for secret in aws_secrets() {
        assert!(
            !text.contains(&secret),
            "{}: {stream} leaked an AWS secret:\n{text}",
            run.what
        );
    }
    let tokens = wif_emulator::leaks::issued_tokens(text);
    assert!(
        tokens.is_empty(),
        "{}: {stream} leaked access tokens {tokens:?}:\n{text}",
        run.what
    );
}

/// The numbered step titles of the demo's narration (`" 3. Google STS …  [2.7 ms]"`), in order.
fn step_titles(stdout: &str) -> Vec<(u32, String)> {
    stdout
        .lines()
        .filter_map(|line| {
            let (number, title) = line.trim_start().split_once(". ")?;
            Some((number.parse().ok()?, title.to_owned()))
        })
        .collect()
}

fn run_demo(env: &[(&str, &str)]) -> Run {
    let home = tempfile::tempdir().unwrap();
    let mut command = wif_command(home.path());
    for (name, value) in env {
        command.env(name, value);
    }
    run_within(&["demo"], command)
}

#[test]
fn demo_narrates_every_step_of_the_chain_and_shows_no_secret() {
    let run = run_demo(&[]);
    run.assert_code(0);
    assert_no_secret(&run, "stdout", &run.stdout);
    assert_no_secret(&run, "stderr", &run.stderr);
    assert_eq!(run.stderr, "", "nothing on stderr without RUST_LOG");

    let steps = step_titles(&run.stdout);
    let numbers: Vec<u32> = steps.iter().map(|(n, _)| *n).collect();
    let expected: Vec<u32> = (1..=steps.len() as u32).collect();
    assert_eq!(numbers, expected, "steps numbered 1..N:\n{}", run.stdout);

    // Each part of the story is a step of its own, told in the order it happens.
    type IsStep = fn(&str) -> bool;
    let story: [(&str, IsStep); 10] = [
        ("Google STS exchange", |t| t.contains("STS")),
        ("impersonation", |t| {
            t.to_lowercase().contains("impersonation")
        }),
        ("BigQuery insert", |t| {
            t.contains("BigQuery") && t.to_lowercase().contains("insert")
        }),
        ("BigQuery query", |t| {
            // "BigQuery" itself does not count.
            t.contains("BigQuery") && t.to_lowercase().replace("bigquery", "").contains("query")
        }),
        ("Cloud Storage upload", |t| {
            t.contains("Cloud Storage") && t.to_lowercase().contains("upload")
        }),
        ("Cloud Storage download", |t| {
            t.contains("Cloud Storage") && t.to_lowercase().contains("download")
        }),
        ("AWS-issued JWT", |t| {
            t.contains("JWT") && t.contains("outbound identity federation")
        }),
        ("ECS", |t| t.contains("ECS task")),
        ("EKS Pod Identity", |t| t.contains("EKS Pod Identity")),
        ("EKS IRSA", |t| t.contains("EKS IRSA")),
    ];
    let mut previous = 0;
    for (what, matches) in story {
        let (number, _) = steps
            .iter()
            .find(|(_, title)| matches(title))
            .unwrap_or_else(|| panic!("no step for {what}:\n{}", run.stdout));
        assert!(
            *number > previous,
            "{what} is step {number}, after step {previous}:\n{}",
            run.stdout
        );
        previous = *number;
    }
    // ECS and EKS, like Lambda, find the identity in the environment.
    assert_eq!(
        run.stdout.matches("instance metadata calls: 0").count(),
        3,
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("every step succeeded"),
        "{}",
        run.stdout
    );
}

#[test]
fn demo_logs_at_trace_level_without_a_secret() {
    let run = run_demo(&[("RUST_LOG", "trace")]);
    run.assert_code(0);
    assert!(
        run.stderr.lines().count() > 10,
        "RUST_LOG=trace logs the chain on stderr:\n{}",
        run.stderr
    );
    assert_no_secret(&run, "stdout", &run.stdout);
    assert_no_secret(&run, "stderr", &run.stderr);
}

/// A `wif emulator --port 0 --config-dir DIR` child, with the base URL it printed.
struct Emulator {
    guard: ChildGuard,
    base_url: String,
    /// Holds `home/` (an empty HOME) and `configs/` (the emulator's `--config-dir`).
    dir: tempfile::TempDir,
    /// The emulator's stdout lines after the base URL line, as they come.
    stdout: mpsc::Receiver<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Emulator {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        // A directory that does not exist yet: the emulator creates it.
        let configs = dir.path().join("configs");
        let mut command = wif_command(&dir.path().join("home"));
        command
            .args([
                "emulator",
                "--port",
                "0",
                "--config-dir",
                path_str(&configs),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut guard = ChildGuard(command.spawn().unwrap());
        let (lines, stdout) = mpsc::channel();
        let out = guard.child().stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut err = guard.child().stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        });
        let deadline = std::time::Instant::now() + START_TIMEOUT;
        let base_url = loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match stdout.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("wif emulator listening on ") {
                        break url.trim().to_owned();
                    }
                }
                Err(e) => {
                    let status = guard.child().try_wait().unwrap();
                    drop(guard);
                    panic!(
                        "wif emulator printed no base URL ({e}; exit status {status:?}); stderr:\n{}",
                        stderr.join().unwrap()
                    );
                }
            }
        };
        Emulator {
            guard,
            base_url,
            dir,
            stdout,
            stderr,
        }
    }

    /// `127.0.0.1:PORT`, as `STORAGE_EMULATOR_HOST` and `BIGQUERY_EMULATOR_HOST` take it.
    fn host(&self) -> &str {
        self.base_url.strip_prefix("http://").unwrap()
    }

    fn config(&self, name: &str) -> PathBuf {
        self.dir.path().join("configs").join(name)
    }

    fn work_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The variables of `aws-lambda.env`, parsed as a shell would source its `export` lines.
    fn lambda_env(&self) -> Vec<(String, String)> {
        self.env_file("aws-lambda.env")
    }

    /// The variables of the environment file `name`, parsed as a shell would source its
    /// `export` lines.
    fn env_file(&self, name: &str) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(self.config(name)).unwrap();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let assignment = line
                    .strip_prefix("export ")
                    .unwrap_or_else(|| panic!("not an export line: {line}"));
                let (name, value) = assignment.split_once('=').unwrap();
                let value = value
                    .strip_prefix('\'')
                    .and_then(|v| v.strip_suffix('\''))
                    .unwrap_or(value);
                (name.to_owned(), value.to_owned())
            })
            .collect()
    }

    /// Runs `wif args…` with HOME, PATH and `env` only.
    fn wif(&self, args: &[&str], env: &[(String, String)]) -> Run {
        let mut command = wif_command(&self.dir.path().join("home"));
        command.current_dir(self.work_dir());
        for (name, value) in env {
            command.env(name, value);
        }
        run_within(args, command)
    }

    /// Runs `wif gcs|bq --credentials aws-lambda.json args…` as a Lambda function would: with
    /// the role's credentials in the environment, and both API emulator variables naming this
    /// emulator.
    fn api(&self, command: &str, args: &[&str]) -> Run {
        let credentials = self.config("aws-lambda.json");
        let mut all = vec![command, "--credentials", path_str(&credentials)];
        all.extend_from_slice(args);
        let mut env = self.lambda_env();
        env.push(("STORAGE_EMULATOR_HOST".into(), self.host().to_owned()));
        env.push(("BIGQUERY_EMULATOR_HOST".into(), self.host().to_owned()));
        self.wif(&all, &env)
    }

    /// Requests each emulated service has served so far (`GET /_emulator/counters`).
    fn counters(&self) -> Value {
        let mut stream = std::net::TcpStream::connect(self.host()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET /_emulator/counters HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.host()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{response}");
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
    }

    fn count(&self, endpoint: &str) -> u64 {
        self.counters()[endpoint].as_u64().unwrap()
    }

    /// Sends SIGINT (Ctrl-C) and returns the exit status, the rest of stdout and stderr.
    #[cfg(unix)]
    fn interrupt(mut self) -> (std::process::ExitStatus, String, String) {
        let pid = self.guard.child().id().to_string();
        let kill = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(kill.success(), "kill -INT {pid}");
        let status = self
            .guard
            .wait_within(STOP_TIMEOUT)
            .unwrap_or_else(|| panic!("wif emulator still running {STOP_TIMEOUT:?} after SIGINT"));
        // The process is gone, so both pipes are at end of file.
        let rest: Vec<String> = self.stdout.try_iter().collect();
        let stderr = self.stderr.join().unwrap();
        (status, rest.join("\n"), stderr)
    }
}

#[test]
fn emulator_configs_give_tokens_to_wif_token_and_ctrl_c_stops_it() {
    let emulator = Emulator::start();
    let port: u16 = emulator
        .host()
        .strip_prefix("127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("base URL {} is not 127.0.0.1:PORT", emulator.base_url));
    assert_ne!(port, 0, "--port 0 prints the port actually bound");

    // aws-lambda.env holds the emulated role's credentials, sourceable by a shell.
    let aws = EmulatorConfig::default().aws;
    let lambda_env = emulator.lambda_env();
    let names: Vec<&str> = lambda_env.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_REGION"
        ]
    );
    assert_eq!(lambda_env[0].1, aws.access_key_id);
    assert_eq!(lambda_env[1].1, aws.secret_access_key);
    assert_eq!(lambda_env[2].1, aws.session_token);

    let token = |config: &str, env: &[(String, String)]| {
        let path = emulator.config(config);
        let run = emulator.wif(&["token", "--credentials", path_str(&path)], env);
        run.assert_code(0);
        // Every configuration impersonates the demo's service account: the token printed is
        // the service account's, so the whole chain ran.
        let printed = run
            .stdout
            .strip_suffix('\n')
            .unwrap_or_else(|| panic!("{}: one line on stdout: {:?}", run.what, run.stdout));
        assert_eq!(
            wif_emulator::leaks::issued_tokens(printed),
            [printed],
            "{}: a service-account token: {printed:?}",
            run.what
        );
        assert!(printed.starts_with("emu-sa."), "{printed}");
        assert_no_secret(&run, "stderr", &run.stderr);
    };

    let imds_before = emulator.count("imds");
    token("aws-lambda.json", &lambda_env);
    assert_eq!(
        emulator.count("imds"),
        imds_before,
        "a Lambda function has no metadata service to call"
    );
    // The same configuration on ECS and EKS: the identity is in the environment the platform
    // gives (a container credentials endpoint, a web identity token), never in instance metadata.
    let workload_secrets = [
        std::fs::read_to_string(emulator.config("eks-pod-identity-token")).unwrap(),
        std::fs::read_to_string(emulator.config("eks-irsa-token.jwt")).unwrap(),
    ];
    for env_file in [
        "aws-ecs.env",
        "aws-eks-pod-identity.env",
        "aws-eks-irsa.env",
    ] {
        let mut env = emulator.env_file(env_file);
        assert!(
            env.iter().all(|(name, _)| name != "AWS_SECRET_ACCESS_KEY"),
            "{env_file} holds no keys: {env:?}"
        );
        // Traced at every level: the logs must not hold a key or a token either.
        env.push(("RUST_LOG".into(), "trace".into()));
        let path = emulator.config("aws-lambda.json");
        let run = emulator.wif(&["token", "--credentials", path_str(&path)], &env);
        run.assert_code(0);
        for secret in &workload_secrets {
            assert!(
                !run.stdout.contains(secret.as_str()) && !run.stderr.contains(secret.as_str()),
                "{env_file}: a workload token leaked"
            );
        }
        assert_no_secret(&run, "stderr", &run.stderr);
    }
    assert_eq!(
        emulator.count("imds"),
        imds_before,
        "ECS and EKS workloads have no metadata service to call"
    );
    assert_eq!(
        emulator.count("container-credentials"),
        2,
        "ECS and Pod Identity"
    );
    token("aws-ec2-imdsv2.json", &[]);
    assert!(
        emulator.count("imds") >= imds_before + 3,
        "IMDSv2: session token, region, role and credentials come from the metadata service"
    );
    token("file.json", &[]);
    token("url.json", &[]);
    assert_eq!(emulator.count("google-sts"), 7, "one exchange per run");
    assert_eq!(emulator.count("iam"), 7, "one impersonation per run");

    #[cfg(unix)]
    {
        let (status, stdout, stderr) = emulator.interrupt();
        assert_eq!(
            status.code(),
            Some(0),
            "Ctrl-C is a clean stop\nstderr:\n{stderr}"
        );
        // What it printed tells how to load the environment, without the values themselves.
        for secret in aws_secrets() {
            assert!(
                !stdout.contains(&secret),
                "stdout leaked a secret:\n{stdout}"
            );
            assert!(
                !stderr.contains(&secret),
                "stderr leaked a secret:\n{stderr}"
            );
        }
        assert!(stdout.contains("aws-lambda.env"), "{stdout}");
    }
}

#[test]
fn gcs_copies_lists_and_removes_objects_in_the_emulator() {
    let emulator = Emulator::start();
    let dir = emulator.work_dir();
    let content = "hello from wif gcs\nsecond line, unicode: é ✓\n";
    let local = dir.join("x.txt");
    std::fs::write(&local, content).unwrap();
    let object = format!("gs://{BUCKET}/x.txt");

    let up = emulator.api("gcs", &["cp", path_str(&local), &object]);
    up.assert_code(0);
    assert!(
        up.stderr
            .contains(&format!("to {object} ({} bytes", content.len())),
        "{}",
        up.stderr
    );
    assert_no_secret(&up, "stderr", &up.stderr);

    let ls = emulator.api("gcs", &["ls", &format!("gs://{BUCKET}")]);
    ls.assert_code(0);
    assert_eq!(ls.stdout, format!("{object}\n"));

    let cat = emulator.api("gcs", &["cp", &object, "-"]);
    cat.assert_code(0);
    assert_eq!(
        cat.stdout, content,
        "the object's bytes, exactly, on stdout"
    );

    let local2 = dir.join("x-copy.txt");
    let down = emulator.api("gcs", &["cp", &object, path_str(&local2)]);
    down.assert_code(0);
    assert_eq!(std::fs::read(&local2).unwrap(), content.as_bytes());
    assert_eq!(
        down.stdout, "",
        "a download to a file prints nothing on stdout"
    );

    let rm = emulator.api("gcs", &["rm", &object]);
    rm.assert_code(0);
    assert!(
        rm.stderr.contains(&format!("Removed {object}")),
        "{}",
        rm.stderr
    );

    let ls = emulator.api("gcs", &["ls", &format!("gs://{BUCKET}")]);
    ls.assert_code(0);
    assert_eq!(ls.stdout, "", "the bucket is empty again");

    // Removing it again is the server's 404: the chain worked, the object is gone.
    let again = emulator.api("gcs", &["rm", &object]);
    again.assert_code(1);
    assert!(again.stderr.contains("404"), "{}", again.stderr);
}

#[test]
fn gcs_rejects_bad_urls_before_any_request() {
    let emulator = Emulator::start();
    let local = emulator.work_dir().join("y.txt");
    std::fs::write(&local, "y").unwrap();
    let storage_before = emulator.count("storage");
    for args in [
        vec!["ls", "gs:///prefix"],
        vec!["ls", BUCKET],
        vec!["cp", "gs://", "out.txt"],
        vec!["cp", path_str(&local), "gs:///y.txt"],
        vec!["cp", "gs://a/x", "gs://b/y"],
        vec!["rm", "gs://wif-demo-bucket"],
    ] {
        let run = emulator.api("gcs", &args);
        run.assert_code(2);
        assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
        assert_eq!(run.stdout, "", "{}", run.what);
    }
    assert_eq!(
        emulator.count("storage"),
        storage_before,
        "bad URLs are refused before any request"
    );
}

#[test]
fn storage_emulator_host_also_takes_a_url() {
    // Google's tools accept `host:port` and `http://host:port`; `api()` uses the first form.
    let emulator = Emulator::start();
    let local = emulator.work_dir().join("z.txt");
    std::fs::write(&local, "zzz").unwrap();
    let credentials = emulator.config("aws-lambda.json");
    let mut env = emulator.lambda_env();
    env.push(("STORAGE_EMULATOR_HOST".into(), emulator.base_url.clone()));
    let object = format!("gs://{BUCKET}/z.txt");
    let gcs = |args: &[&str]| {
        let mut all = vec!["gcs", "--credentials", path_str(&credentials)];
        all.extend_from_slice(args);
        emulator.wif(&all, &env)
    };
    gcs(&["cp", path_str(&local), &object]).assert_code(0);
    let cat = gcs(&["cp", &object, "-"]);
    cat.assert_code(0);
    assert_eq!(cat.stdout, "zzz");
    assert_eq!(emulator.count("storage"), 2);
}

fn write_rows(emulator: &Emulator, name: &str, lines: &[&str]) -> PathBuf {
    let path = emulator.work_dir().join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[test]
fn bq_inserts_rows_and_queries_them_back_in_the_emulator() {
    let emulator = Emulator::start();
    let rows = write_rows(
        &emulator,
        "rows.jsonl",
        &[
            r#"{"id": 1, "source": "wif-cli-test", "message": "first", "at": "2026-01-02T03:04:05Z"}"#,
            r#"{"id": 2, "source": "wif-cli-test", "message": "second", "at": "2026-01-02T03:04:06Z"}"#,
            "",
            r#"{"id": 3, "source": "wif-cli-test"}"#,
        ],
    );
    let insert = emulator.api("bq", &["insert", TABLE, path_str(&rows)]);
    insert.assert_code(0);
    assert_eq!(
        insert.stdout,
        format!("inserted 3 rows into {TABLE} (1 requests)\n")
    );
    assert_no_secret(&insert, "stderr", &insert.stderr);

    let sql = format!("SELECT id FROM `{TABLE}`");
    let query = emulator.api("bq", &["query", &sql, "--project", PROJECT]);
    query.assert_code(0);
    let printed: Value = serde_json::from_str(&query.stdout)
        .unwrap_or_else(|e| panic!("{e}: not JSON:\n{}", query.stdout));
    let mut ids: Vec<i64> = printed
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["id"].as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [1, 2, 3], "{}", query.stdout);

    let sql = format!("SELECT id, message FROM `{TABLE}` WHERE id = 2");
    let table = emulator.api(
        "bq",
        &["query", &sql, "--project", PROJECT, "--format", "table"],
    );
    table.assert_code(0);
    assert_eq!(
        table.stdout,
        "+----+---------+\n| id | message |\n+----+---------+\n| 2  | second  |\n+----+---------+\n"
    );
}

#[test]
fn bq_insert_names_the_rejected_line() {
    let emulator = Emulator::start();
    // `id` is REQUIRED in the demo table.
    let rows = write_rows(
        &emulator,
        "bad.jsonl",
        &[r#"{"id": 7, "message": "fine"}"#, r#"{"message": "no id"}"#],
    );
    let insert = emulator.api("bq", &["insert", TABLE, path_str(&rows)]);
    insert.assert_code(1);
    assert!(
        insert
            .stderr
            .contains(&format!("not inserted into {TABLE}"))
            && insert.stderr.contains("line 2"),
        "{}",
        insert.stderr
    );
    assert_eq!(insert.stdout, "");
}

#[test]
fn api_commands_log_at_trace_level_without_a_token() {
    let emulator = Emulator::start();
    let local = emulator.work_dir().join("t.txt");
    std::fs::write(&local, "traced").unwrap();
    let credentials = emulator.config("aws-lambda.json");
    let mut env = emulator.lambda_env();
    env.push(("STORAGE_EMULATOR_HOST".into(), emulator.host().to_owned()));
    env.push(("BIGQUERY_EMULATOR_HOST".into(), emulator.host().to_owned()));
    env.push(("RUST_LOG".into(), "trace".into()));
    let sql = format!("SELECT id FROM `{TABLE}`");
    let object = format!("gs://{BUCKET}/t.txt");
    for args in [
        vec![
            "gcs",
            "--credentials",
            path_str(&credentials),
            "cp",
            path_str(&local),
            &object,
        ],
        vec![
            "gcs",
            "--credentials",
            path_str(&credentials),
            "cp",
            &object,
            "-",
        ],
        vec![
            "bq",
            "--credentials",
            path_str(&credentials),
            "query",
            &sql,
            "--project",
            PROJECT,
        ],
    ] {
        let run = emulator.wif(&args, &env);
        run.assert_code(0);
        assert!(!run.stderr.is_empty(), "{}: RUST_LOG=trace logs", run.what);
        assert_no_secret(&run, "stdout", &run.stdout);
        assert_no_secret(&run, "stderr", &run.stderr);
    }
}
