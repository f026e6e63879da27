//! Project automation. `cargo xtask ci` is what `.ci/run` and the README call.
//!
//! * `ci` — set-up (the tools the steps run, installed where xtask can: `preflight.rs`), the
//!   MSRV's bookkeeping (`msrv.rs`), format check, one `reqwest` in the build of wif, its
//!   bridges and the CLI (`one_http_stack.rs`), clippy with warnings denied, every test (and
//!   the opt-in `aws-config` feature's, and the TLS tests on the opt-in `aws-lc-rs`),
//!   `fresh-deps`, every fuzz target for 5 s, the reference-client proof, docs as docs.rs builds
//!   them with warnings and broken links denied, `cargo package` of every publishable crate
//!   (`release.rs`), and the MSRV build.
//! * `fresh-deps` — every library and binary checked with warnings denied after `cargo update`
//!   in a scratch copy, as a downstream build resolves them (see `fresh_deps.rs`); part of `ci`.
//! * `one-reqwest [PACKAGE…]` — the one-reqwest check of `ci`, alone or over other packages
//!   (see `one_http_stack.rs`).
//! * `test` — just the tests.
//! * `fuzz [--seconds N] [TARGET…]` — every coverage-guided fuzz target of `fuzz/` for N seconds
//!   (default 10; `ci` runs them for 5), failing on any crash (see `fuzz.rs`).
//! * `reference` — the reference-client proof: Python google-auth (in a venv under
//!   `target/reference-venv`, installed from PyPI on first use) obtains tokens from the emulator
//!   with the credential configurations it writes (see `reference.rs`).
//! * `package` — the registry metadata check and `cargo package` of `ci`, alone.
//! * `bench [--runs N]` — wif against google-cloud-auth and Python google-auth on one emulator;
//!   writes `docs/benchmarks.md` (see `bench.rs`). Never part of `ci`, which only compiles the
//!   benches.

mod bench;
#[cfg(test)]
mod citations;
mod fresh_deps;
mod fuzz;
mod msrv;
mod one_http_stack;
mod preflight;
mod reference;
mod release;

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

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

/// Runs `cargo args` in the repository root and returns what it printed on stdout; a failure
/// quotes cargo's stderr.
pub(crate) fn cargo_stdout(args: &[&str]) -> Result<Vec<u8>, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(args)
        .current_dir(repository_root())
        .output()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`cargo {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(output.stdout)
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
    let mut steps = Steps::default();
    let result = ci_steps(&mut steps);
    steps.print();
    result
}

fn ci_steps(steps: &mut Steps) -> Result<(), String> {
    // Every tool the steps below run, before the first of them: a bare machine gets what xtask
    // can install, or a list of what to install within seconds, not a failure minutes in.
    steps.run("set-up", || {
        let mut tools = preflight::FOR_CI.to_vec();
        if reference::venv_ready() {
            tools.retain(|t| *t != preflight::Tool::PythonVenv);
        }
        let mut host = preflight::Host::from_env();
        preflight::ensure(&mut host, &tools)?;
        preflight::print_versions(&host);
        Ok(())
    })?;
    // One declared MSRV, no locked dependency beyond it, and its toolchain at hand (seconds).
    let mut msrv_plan = None;
    steps.run("MSRV bookkeeping", || {
        msrv_plan = Some(msrv::prepare()?);
        Ok(())
    })?;
    steps.run("fmt", || cargo(&["fmt", "--all", "--", "--check"], &[]))?;
    // wif, its bridges and the CLI resolve one reqwest, the GCP clients' (a second compiles and
    // passes every test; only the resolved graph shows it). `cargo tree`, no build: a second.
    steps.run("one reqwest", one_http_stack::run)?;
    steps.run("clippy", || {
        clippy(&["--workspace", "--all-targets", "--features", WITH_EMULATOR])
    })?;
    steps.run("tests", || cargo(&test_workspace_args(), CI_ENV))?;
    // The `wif` users install has no emulator (the feature is off by default): lint and test
    // that build as well, so the default can't rot behind the feature.
    steps.run("wif-cli without the emulator", || {
        clippy(&["-p", "wif-cli", "--all-targets"])?;
        cargo(&["test", "-p", "wif-cli", "--locked"], CI_ENV)
    })?;
    // Every kind of AWS profile (assume-role chains, SSO: aws-config's profile provider) is
    // opt-in, off in the default build and in the workspace run above; lint and test it
    // explicitly so it can't rot.
    steps.run("profile-chains feature", || {
        clippy(&["-p", "wif", "--features", "aws-profile-chains"])?;
        cargo(
            &[
                "test",
                "-p",
                "wif-source-aws",
                "--features",
                "profile-chains",
                "--locked",
            ],
            CI_ENV,
        )
    })?;
    // TLS on aws-lc-rs (post-quantum key exchange) is opt-in: prove the feature's handshake.
    steps.run("aws-lc-rs feature", || {
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
        )
    })?;
    // What a downstream build resolves today, not our lock: new deprecations show up here.
    steps.run("fresh-deps", fresh_deps::run)?;
    // Every parser of untrusted input, briefly: long enough to replay the seed corpus and
    // mutate a little; `cargo xtask fuzz --seconds N` goes deeper on demand.
    steps.run("fuzz", || fuzz::run(fuzz::CI_SECONDS, &[]))?;
    // The emulator must speak the real protocol: Google's own Python client gets tokens from it.
    steps.run("reference client", reference::run)?;
    steps.run("docs (as docs.rs)", docs_as_docs_rs_builds_them)?;
    // Every publishable crate packages and builds from its .crate alone.
    steps.run("cargo package", release::run)?;
    let (msrv, proof) = msrv_plan.ok_or("the MSRV bookkeeping did not run")?;
    steps.run("MSRV build", || msrv::check(msrv, &proof))
}

/// How long each step of `ci` took, printed at the end (also when a step fails), so the cost
/// of adding a step is on record.
#[derive(Default)]
struct Steps(Vec<(&'static str, Duration)>);

impl Steps {
    fn run(
        &mut self,
        name: &'static str,
        step: impl FnOnce() -> Result<(), String>,
    ) -> Result<(), String> {
        let started = Instant::now();
        let result = step();
        self.0.push((name, started.elapsed()));
        result.map_err(|e| format!("{name}: {e}"))
    }

    fn print(&self) {
        let total: Duration = self.0.iter().map(|(_, d)| *d).sum();
        eprintln!("xtask: step times (total {}):", minutes(total));
        for (name, took) in &self.0 {
            eprintln!("xtask:   {name:<30} {}", minutes(*took));
        }
    }
}

fn minutes(d: Duration) -> String {
    let secs = d.as_secs();
    format!("{}m{:02}s", secs / 60, secs % 60)
}

/// `cargo doc` the way docs.rs runs it (every feature, `--cfg docsrs`, so feature-gated items
/// carry their `doc(cfg)` badge), with warnings and broken intra-doc links denied.
///
/// `doc(cfg)` is unstable; docs.rs builds with nightly. On stable, `RUSTC_BOOTSTRAP` set to our
/// own crates' names unlocks it for them alone: dependencies are built exactly as in a stable
/// build.
fn docs_as_docs_rs_builds_them() -> Result<(), String> {
    let members = release::members(&release::workspace_metadata()?)?;
    let ours: Vec<String> = members
        .iter()
        .filter(|m| m.has_library)
        .map(|m| m.name.replace('-', "_"))
        .collect();
    let bootstrap = ours.join(",");
    let mut env = CI_ENV.to_vec();
    env.push((
        "RUSTDOCFLAGS",
        "--cfg docsrs -D warnings -D rustdoc::broken_intra_doc_links",
    ));
    env.push(("RUSTC_BOOTSTRAP", &bootstrap));
    cargo(
        &[
            "doc",
            "--workspace",
            "--no-deps",
            "--locked",
            "--all-features",
        ],
        &env,
    )
}

/// The CLI's `emulator` feature (`wif emulator`, `wif demo`), which its end-to-end tests use.
pub(crate) const WITH_EMULATOR: &str = "wif-cli/emulator";

/// The workspace root, whatever directory xtask was started from.
pub(crate) fn repository_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| std::path::PathBuf::from("."))
}

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
        "one-reqwest" => one_http_stack::cli(&std::env::args().skip(2).collect::<Vec<_>>()),
        "bench" => bench::run(&std::env::args().skip(2).collect::<Vec<_>>()),
        "fuzz" => fuzz::cli(&std::env::args().skip(2).collect::<Vec<_>>()),
        "package" => release::run(),
        _ => Err(format!(
            "unknown task `{task}`; tasks: ci (fmt, one reqwest, clippy, tests, fresh-deps, fuzz, reference, docs, package, MSRV), test, fresh-deps (check after cargo update, in a copy), one-reqwest [PACKAGE…] (one reqwest in their build), package (cargo package of every publishable crate), fuzz [--seconds N] [TARGET…], reference (Python google-auth against the emulator), bench [--runs N] (docs/benchmarks.md)"
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
