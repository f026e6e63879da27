//! The harness of `explain.rs`: an emulator on a multi-thread runtime, its credential
//! configurations in a temporary directory, and `wif explain` run against it with a cleared
//! environment, checking every run for leaked secrets.

use std::path::{Path, PathBuf};

use serde_json::Value;
use wif_emulator::configs::{aws_lambda_env, write_configs};
use wif_emulator::{Emulator, EmulatorConfig, RunningEmulator};

use crate::support::{Run, run_within, wif_command};

/// One emulated world and a directory of configurations for it.
pub(crate) struct World {
    // Field order: the emulator stops before its runtime is dropped.
    pub(crate) emulator: RunningEmulator,
    _runtime: tokio::runtime::Runtime,
    pub(crate) dir: tempfile::TempDir,
}

impl World {
    pub(crate) fn new(config: EmulatorConfig) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let emulator = runtime
            .block_on(Emulator::new(config).start_local())
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        write_configs(&emulator, dir.path()).unwrap();
        World {
            emulator,
            _runtime: runtime,
            dir,
        }
    }

    pub(crate) fn healthy() -> Self {
        World::new(EmulatorConfig::default())
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn write(&self, name: &str, config: &Value) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, config.to_string()).unwrap();
        path
    }

    /// The Lambda function's environment: role credentials and region.
    pub(crate) fn lambda_env(&self) -> Vec<(String, String)> {
        aws_lambda_env(&self.emulator)
    }

    pub(crate) fn aws_sts(&self) -> String {
        format!("{}/aws/sts", self.emulator.base_url())
    }

    /// `wif explain --credentials FILE args…` with only `env` (and PATH, HOME) set.
    pub(crate) fn explain(&self, config: &Path, args: &[&str], env: &[(String, String)]) -> Run {
        let mut command = wif_command(&self.dir.path().join("home"));
        for (k, v) in env {
            command.env(k, v);
        }
        command.env("WIF_AWS_STS_ENDPOINT", self.aws_sts());
        let mut all = vec!["explain", "--credentials", config.to_str().unwrap()];
        all.extend_from_slice(args);
        let run = run_within(&all, command);
        self.assert_no_secrets(&run);
        run
    }

    pub(crate) fn lambda(&self, args: &[&str]) -> Run {
        self.explain(&self.path("aws-lambda.json"), args, &self.lambda_env())
    }

    /// Nothing secret in either stream: AWS secret key and session token, the signature, the
    /// IMDSv2 session token, federated and service-account tokens, the OIDC token.
    #[track_caller]
    pub(crate) fn assert_no_secrets(&self, run: &Run) {
        let aws = &self.emulator.config().aws;
        let jwt = std::fs::read_to_string(self.path("oidc-token.jwt")).unwrap();
        let jwt_signature = jwt.trim().rsplit('.').next().unwrap().to_owned();
        // The EKS workloads' tokens: Pod Identity's authorization token, IRSA's projected one.
        let pod_token = std::fs::read_to_string(self.path("eks-pod-identity-token")).unwrap();
        let irsa_token = std::fs::read_to_string(self.path("eks-irsa-token.jwt")).unwrap();
        let secrets = [
            pod_token.trim(),
            irsa_token.trim(),
            aws.secret_access_key.as_str(),
            aws.session_token.as_str(),
            "Signature=",
            "AQAEAemu",
            "emu-federated.",
            "emu-sa.",
            jwt.trim(),
            jwt_signature.as_str(),
        ];
        for secret in secrets {
            for (name, stream) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
                assert!(
                    !stream.contains(secret),
                    "{}: {name} leaked {secret:?}:\n{stream}",
                    run.what
                );
            }
        }
    }
}

/// The config `name` of `world` with `edit` applied.
pub(crate) fn edited(world: &World, name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(world.path(name)).unwrap()).unwrap();
    edit(&mut config);
    world.write(&format!("edited-{name}"), &config)
}

/// Asserts each needle is in stdout, comparing with runs of whitespace collapsed (the text
/// aligns its columns per step).
#[track_caller]
pub(crate) fn assert_contains(run: &Run, needles: &[&str]) {
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = squash(&run.stdout);
    for needle in needles {
        assert!(
            text.contains(&squash(needle)),
            "{}: stdout lacks {needle:?}:\n{}\nstderr:\n{}",
            run.what,
            run.stdout,
            run.stderr
        );
    }
}

pub(crate) fn json_of(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{}: not JSON ({e}):\n{}", run.what, run.stdout))
}

pub(crate) fn step<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {report:#}"))
}

pub(crate) fn causes(step: &Value) -> Vec<String> {
    step["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["cause"].as_str().unwrap().to_owned())
        .collect()
}
