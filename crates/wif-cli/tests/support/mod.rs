//! Shared harness of the CLI suites: the real `wif` binary run as a child process with a
//! controlled environment, against `wif::testing::FakeGoogle` on 127.0.0.1.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wif::testing::FakeGoogle;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

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
    /// Writes `script` as the executable `name` (mode 0755) in the test directory; returns its
    /// path.
    #[cfg(unix)]
    pub fn executable(&self, name: &str, script: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join(name);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    pub fn config(&self, impersonate: Option<&str>) -> PathBuf {
        let json = self
            .google
            .config_json(&self.dir.path().join("subject-token"), impersonate);
        self.write_config("wif.json", &json)
    }

    /// FakeGoogle's configuration (not impersonating) with `edit` applied, written as `name`.
    pub fn edited_config(&self, name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
        let mut json: serde_json::Value = serde_json::from_str(
            &self
                .google
                .config_json(&self.dir.path().join("subject-token"), None),
        )
        .unwrap();
        edit(&mut json);
        self.write_config(name, &json.to_string())
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

    /// Runs `wif token --credentials <config> flags…` with no extra environment.
    pub fn token(&self, config: &Path, flags: &[&str]) -> Run {
        let mut args = vec!["token", "--credentials", path_str(config)];
        args.extend_from_slice(flags);
        self.wif(&args, &[])
    }

    /// Runs `wif token --credentials <config>` with `env` added to its environment.
    pub fn token_with_env(&self, config: &Path, env: &[(&str, &Path)]) -> Run {
        self.wif(&["token", "--credentials", path_str(config)], env)
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

/// A certificate (X.509) configuration of `certificate` (the `credential_source.certificate`
/// object) for FakeGoogle's audience, at `token_url` or the default.
pub fn certificate_config(certificate: serde_json::Value, token_url: Option<&str>) -> String {
    let mut config = serde_json::json!({
        "type": "external_account",
        "audience": wif::testing::FAKE_AUDIENCE,
        "subject_token_type": "urn:ietf:params:oauth:token-type:mtls",
        "credential_source": { "certificate": certificate }
    });
    if let Some(url) = token_url {
        config["token_url"] = url.into();
    }
    config.to_string()
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// How long any one `wif` child may run before a test gives up on it (generous: debug builds on
/// a loaded CI machine; a healthy run takes milliseconds).
pub const CHILD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// `wif` with a cleared environment: only PATH and HOME (`home`) set, so the developer's
/// credentials, gcloud files and proxy settings never take part.
pub fn wif_command(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wif"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home);
    command
}

/// A child process killed (and reaped) when dropped, so a failing test never leaves one behind.
pub struct ChildGuard(pub std::process::Child);

impl ChildGuard {
    /// The running process.
    pub fn child(&mut self) -> &mut std::process::Child {
        &mut self.0
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub fn wait_within(
        &mut self,
        timeout: std::time::Duration,
    ) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Runs `command` (`wif args…`) to completion with its output captured, killing it and failing
/// the test if it takes longer than [`CHILD_TIMEOUT`].
pub fn run_within(args: &[&str], mut command: Command) -> Run {
    use std::io::Read as _;
    use std::process::Stdio;

    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut guard = ChildGuard(command.spawn().unwrap());
    // Drain both pipes on threads: a child blocked on a full pipe would never exit.
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(guard.child().stdout.take().unwrap()));
    let stderr = drain(Box::new(guard.child().stderr.take().unwrap()));
    let Some(status) = guard.wait_within(CHILD_TIMEOUT) else {
        drop(guard);
        panic!(
            "wif {}: still running after {CHILD_TIMEOUT:?}",
            args.join(" ")
        );
    };
    let output = Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    Run::new(args, output)
}

/// Who the emulator says `token` is (`GET /_emulator/tokeninfo`; the token must be accepted).
pub fn tokeninfo(
    world: &World,
    emulator: &wif_emulator::RunningEmulator,
    token: &str,
) -> serde_json::Value {
    world.runtime.block_on(async {
        let response = wif::layers::core::http::default_client()
            .unwrap()
            .get(format!("{}/_emulator/tokeninfo", emulator.base_url()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "the emulator refused {token}");
        response.json().await.unwrap()
    })
}

/// Mounts a bucket listing (`bkt`: `a.txt`) and a query answer (one row, `n` = 7, in project
/// `p`) on the fake Google server.
pub fn serve_apis(world: &World) {
    let server = world.google.server();
    world.runtime.block_on(async {
        Mock::given(method("GET"))
            .and(path("/storage/v1/b/bkt/o"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "kind": "storage#objects",
                "items": [{"name": "a.txt", "bucket": "bkt", "generation": "1", "metageneration": "1", "size": "3"}]
            })))
            .mount(server)
            .await;
        Mock::given(method("POST"))
            .and(path("/bigquery/v2/projects/p/queries"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "jobComplete": true,
                "schema": {"fields": [{"name": "n", "type": "INT64"}]},
                "rows": [{"f": [{"v": "7"}]}],
                "totalRows": "1"
            })))
            .mount(server)
            .await;
    });
}
