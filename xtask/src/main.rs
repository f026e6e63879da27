//! Project automation. `cargo xtask ci` is what `.ci/run` and the README call.
//!
//! * `ci` — set-up (the tools below, installed where xtask can: see `preflight.rs`), format
//!   check, clippy with warnings denied, every test (and the opt-in `aws-config` feature's, and
//!   the TLS tests on the opt-in `aws-lc-rs`), `fresh-deps`, every fuzz target for 5 s, the
//!   reference-client proof, docs with warnings denied.
//! * `fresh-deps` — every library and binary checked with warnings denied after `cargo update`
//!   in a scratch copy, as a downstream build resolves them (see `fresh_deps.rs`); part of `ci`.
//! * `test` — just the tests.
//! * `fuzz [--seconds N] [TARGET…]` — every coverage-guided fuzz target of `fuzz/` for N seconds
//!   (default 10; `ci` runs them for 5), failing on any crash (see `fuzz.rs`).
//! * `reference` — the reference-client proof: Python google-auth (in a venv under
//!   `target/reference-venv`, installed from PyPI on first use) obtains tokens from the emulator
//!   with the credential configurations it writes (see `reference.rs`).
//! * `bench [--runs N]` — wif against google-cloud-auth and Python google-auth on one emulator;
//!   writes `docs/benchmarks.md` (see `bench.rs`). Never part of `ci`, which only compiles the
//!   benches.

mod bench;
#[cfg(test)]
mod citations;
mod fresh_deps;
mod fuzz;
mod preflight;
mod reference;

use std::process::{Command, ExitCode};

pub(crate) fn cargo(args: &[&str], envs: &[(&str, &str)]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new(cargo)
        .args(args)
        .envs(envs.iter().copied())
        .status()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed ({status})", args.join(" ")))
    }
}

/// What `ci` sets on every cargo it runs, to keep the target directory small: a clean run
/// needed 8.8 GB with incremental state (5.4 GB of it) and line tables, more than a CI machine's
/// disk may have free. One-shot builds gain nothing from incremental state; a panic still
/// prints its file and line without debug info.
pub(crate) const CI_ENV: &[(&str, &str)] = &[
    ("CARGO_INCREMENTAL", "0"),
    ("CARGO_PROFILE_DEV_DEBUG", "false"),
];

/// `cargo clippy --locked <selection> -- -D warnings`, with [`CI_ENV`].
fn clippy(selection: &[&str]) -> Result<(), String> {
    let mut args = vec!["clippy", "--locked"];
    args.extend_from_slice(selection);
    args.extend_from_slice(&["--", "-D", "warnings"]);
    cargo(&args, CI_ENV)
}

fn ci() -> Result<(), String> {
    // Every tool the steps below run, before the first of them: a bare machine gets what xtask
    // can install, or a list of what to install within seconds, not a failure minutes in.
    let mut tools = preflight::FOR_CI.to_vec();
    if reference::venv_ready() {
        tools.retain(|t| *t != preflight::Tool::PythonVenv);
    }
    let mut host = preflight::Host::from_env();
    preflight::ensure(&mut host, &tools)?;
    preflight::print_versions(&host);
    cargo(&["fmt", "--all", "--", "--check"], &[])?;
    clippy(&["--workspace", "--all-targets", "--features", WITH_EMULATOR])?;
    cargo(&test_workspace_args(), CI_ENV)?;
    // The `wif` users install has no emulator (the feature is off by default): lint and test
    // that build as well, so the default can't rot behind the feature.
    clippy(&["-p", "wif-cli", "--all-targets"])?;
    cargo(&["test", "-p", "wif-cli", "--locked"], CI_ENV)?;
    // The opt-in aws-config integration (ECS, EKS, SSO providers) is off in the default build;
    // lint and test it explicitly so it can't rot.
    clippy(&["-p", "wif", "--features", "aws-config"])?;
    cargo(
        &[
            "test",
            "-p",
            "wif-source-aws",
            "--features",
            "aws-config",
            "--locked",
        ],
        CI_ENV,
    )?;
    // TLS on aws-lc-rs (post-quantum key exchange) is opt-in: prove the feature's handshake.
    cargo(
        &[
            "test",
            "-p",
            "wif-core",
            "--features",
            "aws-lc-rs",
            "--test",
            "tls",
            "--locked",
        ],
        CI_ENV,
    )?;
    // What a downstream build resolves today, not our lock: new deprecations show up here.
    fresh_deps::run()?;
    // Every parser of untrusted input, briefly: long enough to replay the seed corpus and
    // mutate a little; `cargo xtask fuzz --seconds N` goes deeper on demand.
    fuzz::run(fuzz::CI_SECONDS, &[])?;
    // The emulator must speak the real protocol: Google's own Python client gets tokens from it.
    reference::run()?;
    let mut doc_env = CI_ENV.to_vec();
    doc_env.push(("RUSTDOCFLAGS", "-D warnings"));
    cargo(
        &[
            "doc",
            "--workspace",
            "--no-deps",
            "--locked",
            "--features",
            WITH_EMULATOR,
        ],
        &doc_env,
    )
}

/// The CLI's `emulator` feature (`wif emulator`, `wif demo`), which its end-to-end tests use.
pub(crate) const WITH_EMULATOR: &str = "wif-cli/emulator";

/// `cargo test` of the whole workspace, emulator included.
fn test_workspace_args() -> [&'static str; 5] {
    [
        "test",
        "--workspace",
        "--locked",
        "--features",
        WITH_EMULATOR,
    ]
}

fn test() -> Result<(), String> {
    cargo(&test_workspace_args(), &[])
}

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "ci" => ci(),
        "test" => test(),
        "reference" => reference::run(),
        "fresh-deps" => fresh_deps::run(),
        "bench" => bench::run(&std::env::args().skip(2).collect::<Vec<_>>()),
        "fuzz" => fuzz::cli(&std::env::args().skip(2).collect::<Vec<_>>()),
        _ => Err(format!(
            "unknown task `{task}`; tasks: ci (fmt, clippy, tests, docs), test, fresh-deps (check after cargo update, in a copy), fuzz [--seconds N] [TARGET…], reference (Python google-auth against the emulator), bench [--runs N] (docs/benchmarks.md)"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
