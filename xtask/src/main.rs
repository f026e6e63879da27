//! Project automation. `cargo xtask ci` is what `.ci/run` and the README call.
//!
//! * `ci` — format check, clippy with warnings denied, every test (and the opt-in `aws-config`
//!   feature's), the reference-client proof, docs with warnings denied.
//! * `test` — just the tests.
//! * `reference` — the reference-client proof: Python google-auth (in a venv under
//!   `target/reference-venv`, installed from PyPI on first use) obtains tokens from the emulator
//!   with the credential configurations it writes (see `reference.rs`).

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

fn ci() -> Result<(), String> {
    cargo(&["fmt", "--all", "--", "--check"], &[])?;
    cargo(
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    test()?;
    // The opt-in aws-config integration (ECS, EKS, SSO providers) is off in the default build;
    // lint and test it explicitly so it can't rot.
    cargo(
        &[
            "clippy",
            "-p",
            "wif",
            "--features",
            "aws-config",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    cargo(
        &[
            "test",
            "-p",
            "wif-source-aws",
            "--features",
            "aws-config",
            "--locked",
        ],
        &[],
    )?;
    // The emulator must speak the real protocol: Google's own Python client gets tokens from it.
    reference::run()?;
    cargo(
        &["doc", "--workspace", "--no-deps", "--locked"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )
}

fn test() -> Result<(), String> {
    cargo(&["test", "--workspace", "--locked"], &[])
}

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "ci" => ci(),
        "test" => test(),
        "reference" => reference::run(),
        _ => Err(format!(
            "unknown task `{task}`; tasks: ci (fmt, clippy, tests, docs), test, reference (Python google-auth against the emulator)"
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
