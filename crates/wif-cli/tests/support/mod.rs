//! Shared harness of the CLI suites: the real `wif` binary run as a child process with a
//! controlled environment, against `wif::testing::FakeGoogle` on 127.0.0.1.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wif::testing::FakeGoogle;

/// The subject token in the token file: distinctive, so a leak anywhere is easy to spot.
pub const SUBJECT: &str = "SUBJECT-TOKEN-e2e-7c41f";
/// The access token FakeGoogle's STS hands out first.
pub const FEDERATED: &str = "federated-1";
/// The access token FakeGoogle's IAM Credentials hands out first.
pub const IMPERSONATED: &str = "impersonated-1";
pub const SERVICE_ACCOUNT: &str = "writer@my-project.iam.gserviceaccount.com";

/// One test's world: a runtime serving FakeGoogle, a temp dir with the subject token file, a
/// credential configuration and an empty home.
pub struct World {
    pub runtime: tokio::runtime::Runtime,
    pub google: FakeGoogle,
    pub dir: tempfile::TempDir,
}

impl World {
    pub fn new() -> Self {
        // The fake serves from the runtime's worker threads while the test thread blocks on the
        // child process.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let google = runtime.block_on(FakeGoogle::start());
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        // A trailing newline, as `echo` or a Kubernetes projected token writer leave it.
        std::fs::write(dir.path().join("subject-token"), format!("{SUBJECT}\n")).unwrap();
        World {
            runtime,
            google,
            dir,
        }
    }

    /// Writes FakeGoogle's configuration (optionally impersonating) and returns its path.
    pub fn config(&self, impersonate: Option<&str>) -> PathBuf {
        let json = self
            .google
            .config_json(&self.dir.path().join("subject-token"), impersonate);
        self.write_config("wif.json", &json)
    }

    pub fn write_config(&self, name: &str, json: &str) -> PathBuf {
        let file = self.dir.path().join(name);
        std::fs::write(&file, json).unwrap();
        file
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// Runs `wif args…` with only PATH, HOME and `env` in its environment.
    pub fn wif(&self, args: &[&str], env: &[(&str, &Path)]) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wif"));
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home());
        for (name, value) in env {
            command.env(name, value);
        }
        Run::new(args, command.output().unwrap())
    }

    pub fn requests(&self) -> Vec<wiremock::Request> {
        self.runtime
            .block_on(self.google.server().received_requests())
            .unwrap_or_default()
    }

    pub fn requests_to(&self, suffix: &str) -> Vec<wiremock::Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.url.path().ends_with(suffix))
            .collect()
    }

    pub fn sts_form(&self) -> Vec<(String, String)> {
        let sts = self.requests_to("/v1/token");
        assert_eq!(sts.len(), 1, "expected one STS exchange");
        url::form_urlencoded::parse(&sts[0].body)
            .into_owned()
            .collect()
    }
}

/// A finished child process, with its output as text.
pub struct Run {
    pub what: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn new(args: &[&str], output: Output) -> Self {
        Run {
            what: format!("wif {}", args.join(" ")),
            code: output.status.code(),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "{}: exit status\nstdout:\n{}\nstderr:\n{}",
            self.what,
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn assert_stderr_clean(&self, secrets: &[&str]) -> &Self {
        for secret in secrets {
            assert!(
                !self.stderr.contains(secret),
                "{}: stderr leaked {secret}:\n{}",
                self.what,
                self.stderr
            );
        }
        self
    }
}

pub fn form_value<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}
