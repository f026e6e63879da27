//! The clients measured in child processes: the `wif` CLI, google-cloud-auth (the bench binary
//! in `xtask/peers/gcauth-bench`) and Python google-auth (`xtask/peers/google_auth_bench.py` in
//! the venv `cargo xtask bench` prepares). Each is optional: a missing one is reported as not
//! measured, never guessed.

use std::path::PathBuf;
use std::time::Duration;

use crate::process::{Outcome, command, run};

/// A peer library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// The official Rust client, `google-cloud-auth`.
    GcAuth,
    /// Python `google-auth`.
    GoogleAuth,
}

impl Peer {
    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Peer::GcAuth => "google-cloud-auth (Rust)",
            Peer::GoogleAuth => "google-auth (Python)",
        }
    }
}

/// Paths of the programs the bench runs; `None` when not built or not asked for.
#[derive(Debug, Default)]
pub struct Tools {
    /// The release `wif` binary.
    pub wif_cli: Option<PathBuf>,
    /// The release Lambda example binary.
    pub lambda: Option<PathBuf>,
    /// The release `gcauth-bench` binary (size-optimized, like `wif`): whole processes.
    pub gcauth: Option<PathBuf>,
    /// `gcauth-bench` at O3 (its `inprocess` profile, like this bench's): the library measured
    /// inside one process (cached token, thundering herd). Falls back to `gcauth`.
    pub gcauth_inprocess: Option<PathBuf>,
    /// `gcauth-lambda`: the Lambda example's shape on google-cloud-auth (release).
    pub gcauth_lambda: Option<PathBuf>,
    /// The venv's Python interpreter.
    pub python: Option<PathBuf>,
    /// `google_auth_bench.py`.
    pub script: Option<PathBuf>,
}

impl Tools {
    /// The peers that can run.
    pub fn peers(&self) -> Vec<Peer> {
        let mut peers = Vec::new();
        if self.gcauth.is_some() {
            peers.push(Peer::GcAuth);
        }
        if self.python.is_some() && self.script.is_some() {
            peers.push(Peer::GoogleAuth);
        }
        peers
    }

    /// The program and arguments that run `peer` with `args`.
    pub fn invocation(&self, peer: Peer, args: &[&str]) -> Option<(PathBuf, Vec<String>)> {
        let args = args.iter().map(|a| (*a).to_owned());
        match peer {
            Peer::GcAuth => {
                let in_process = matches!(args.clone().next().as_deref(), Some("cached" | "herd"));
                let program = match (&self.gcauth_inprocess, in_process) {
                    (Some(o3), true) => o3.clone(),
                    _ => self.gcauth.clone()?,
                };
                Some((program, args.collect()))
            }
            Peer::GoogleAuth => {
                let script = self.script.as_ref()?.to_string_lossy().into_owned();
                Some((
                    self.python.clone()?,
                    std::iter::once(script).chain(args).collect(),
                ))
            }
        }
    }

    /// The environment `peer` runs with, on top of `env`.
    pub fn peer_env(&self, peer: Peer, env: &[(String, String)]) -> Vec<(String, String)> {
        let mut vars = env.to_vec();
        if peer == Peer::GoogleAuth {
            vars.push(("PYTHONDONTWRITEBYTECODE".into(), "1".into()));
            // Only consulted by google.auth.default(); set so nothing looks a project up.
            vars.push(("GOOGLE_CLOUD_PROJECT".into(), "wif-demo".into()));
        }
        vars
    }

    /// Runs `peer args` with `env` until `deadline`.
    pub fn run_peer(
        &self,
        peer: Peer,
        args: &[&str],
        env: &[(String, String)],
        deadline: Duration,
    ) -> Option<Outcome> {
        let (program, args) = self.invocation(peer, args)?;
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Some(run(
            &mut command(&program, &args, &self.peer_env(peer, env)),
            deadline,
            false,
        ))
    }

    /// Runs `wif token --credentials config` with `env` until `deadline` (stdout, the token,
    /// is discarded).
    pub fn run_wif_token(
        &self,
        config: &str,
        env: &[(String, String)],
        deadline: Duration,
    ) -> Option<Outcome> {
        self.run_wif(&["token", "--credentials", config], env, deadline)
    }

    /// Runs `wif args` with `env` until `deadline`; stdout (a token) is discarded.
    pub fn run_wif(
        &self,
        args: &[&str],
        env: &[(String, String)],
        deadline: Duration,
    ) -> Option<Outcome> {
        let program = self.wif_cli.as_ref()?;
        Some(run(&mut command(program, args, env), deadline, true))
    }
}
