//! `cargo xtask fuzz [--seconds N] [TARGET…]`: runs every coverage-guided fuzz target of `fuzz/`
//! (cargo-fuzz, libFuzzer) for N seconds each (default 10), failing on any crash, timeout or
//! out-of-memory. `ci` runs it with a short budget.
//!
//! cargo-fuzz needs nightly-only compiler flags (sanitizers, coverage instrumentation); on the
//! stable toolchain we set `RUSTC_BOOTSTRAP=1` for its builds only, which live in their own
//! workspace (`fuzz/`) and target directory (`target/fuzz`), so nothing else is built that way.
//!
//! Each target starts from the committed seed corpus `fuzz/corpus/<target>/` (read only) plus a
//! working corpus under `target/fuzz-work/<target>/corpus/` that keeps what earlier runs found,
//! so longer runs on demand pick up where the last one stopped. Crashing inputs are written to
//! `target/fuzz-work/<target>/artifacts/`; reproduce one with
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz --target-dir target/fuzz TARGET FILE`.

use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

/// Seconds per target when none are given.
const DEFAULT_SECONDS: u64 = 10;
/// Seconds per target in `cargo xtask ci`.
pub(crate) const CI_SECONDS: u64 = 5;

const FUZZ_DIR: &str = "fuzz";
const TARGET_DIR: &str = "target/fuzz";
const WORK_DIR: &str = "target/fuzz-work";

/// libFuzzer limits. Every input is at most a few KiB of text: a parse that takes seconds or
/// allocates hundreds of MiB is a bug (a quadratic loop, a length taken from the input), not a
/// slow machine. The RSS limit leaves room for AddressSanitizer's own bookkeeping; the malloc
/// limit catches a single huge allocation the moment it is asked for.
const LIBFUZZER_LIMITS: [&str; 3] = ["-rss_limit_mb=1024", "-malloc_limit_mb=256", "-timeout=10"];

/// `cargo xtask fuzz` with its command-line arguments.
pub(crate) fn cli(args: &[String]) -> Result<(), String> {
    let mut seconds = DEFAULT_SECONDS;
    let mut only = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                seconds = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|s| *s > 0)
                    .ok_or("--seconds needs a positive whole number of seconds")?;
            }
            flag if flag.starts_with('-') => {
                return Err(format!(
                    "unknown option `{flag}`; usage: cargo xtask fuzz [--seconds N] [TARGET…]"
                ));
            }
            target => only.push(target.to_owned()),
        }
    }
    run(seconds, &only)
}

/// Builds the fuzz targets, then runs each of `only` (all when empty) for `seconds`.
pub(crate) fn run(seconds: u64, only: &[String]) -> Result<(), String> {
    crate::preflight::ensure(
        &mut crate::preflight::Host::from_env(),
        &crate::preflight::FOR_FUZZ,
    )?;
    let all = list_targets()?;
    if let Some(unknown) = only.iter().find(|t| !all.contains(t)) {
        return Err(format!(
            "no fuzz target `{unknown}`; targets: {}",
            all.join(", ")
        ));
    }
    let targets: Vec<&String> = all
        .iter()
        .filter(|t| only.is_empty() || only.contains(t))
        .collect();

    fuzz_cargo(&["build", "--fuzz-dir", FUZZ_DIR, "--target-dir", TARGET_DIR])?;
    let mut failed = Vec::new();
    for target in targets {
        if let Err(e) = run_target(target, seconds) {
            eprintln!("xtask: fuzz target {target}: {e}");
            failed.push(format!("{target} ({e})"));
        }
    }
    if failed.is_empty() {
        eprintln!("xtask: every fuzz target ran {seconds} s without a failure");
        Ok(())
    } else {
        Err(format!("fuzzing failed: {}", failed.join("; ")))
    }
}

fn run_target(target: &str, seconds: u64) -> Result<(), String> {
    let work = Path::new(WORK_DIR).join(target);
    let root = crate::repository_root();
    let corpus = work.join("corpus");
    let artifacts = work.join("artifacts");
    for dir in [&corpus, &artifacts] {
        std::fs::create_dir_all(root.join(dir))
            .map_err(|e| format!("could not create {}: {e}", dir.display()))?;
    }
    let seeds = Path::new(FUZZ_DIR).join("corpus").join(target);
    let max_time = format!("-max_total_time={seconds}");
    // libFuzzer takes the prefix verbatim: the trailing slash makes it a directory.
    let artifact_prefix = format!("-artifact_prefix={}/", artifacts.display());
    let mut args = vec![
        "run",
        "--fuzz-dir",
        FUZZ_DIR,
        "--target-dir",
        TARGET_DIR,
        target,
        // New inputs go to the first directory: the working corpus, never the committed seeds.
        path_str(&corpus)?,
    ];
    if root.join(&seeds).is_dir() {
        args.push(path_str(&seeds)?);
    }
    args.extend(["--", &max_time, &artifact_prefix]);
    args.extend(LIBFUZZER_LIMITS);
    let started = SystemTime::now();
    fuzz_cargo(&args).map_err(|e| {
        // Only this run's: earlier crashes stay in the directory until someone deletes them.
        let found = std::fs::read_dir(root.join(&artifacts))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|entry| {
                        entry
                            .metadata()
                            .and_then(|m| m.modified())
                            .is_ok_and(|at| at >= started)
                    })
                    .map(|entry| artifacts.join(entry.file_name()).display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        format!("{e}; failing inputs: {found}")
    })
}

/// `cargo fuzz …` from the repository root, with the nightly flags unlocked on stable for this
/// invocation only.
fn fuzz_cargo(args: &[&str]) -> Result<(), String> {
    eprintln!("xtask: RUSTC_BOOTSTRAP=1 cargo fuzz {}", args.join(" "));
    let status = cargo_command()
        .arg("fuzz")
        .args(args)
        .env("RUSTC_BOOTSTRAP", "1")
        .status()
        .map_err(|e| format!("could not run cargo fuzz: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo fuzz {}` failed ({status})", args[0]))
    }
}

/// The targets `fuzz/Cargo.toml` declares, as cargo-fuzz lists them.
fn list_targets() -> Result<Vec<String>, String> {
    let output = cargo_command()
        .args(["fuzz", "list", "--fuzz-dir", FUZZ_DIR])
        .output()
        .map_err(|e| format!("could not run cargo fuzz list: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`cargo fuzz list` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let targets: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if targets.is_empty() {
        return Err("fuzz/Cargo.toml declares no fuzz targets".to_owned());
    }
    Ok(targets)
}

/// cargo, run from the repository root so the relative paths above hold wherever xtask was
/// started, with the PATH under which the set-up found (or installed) cargo-fuzz.
fn cargo_command() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command
        .current_dir(crate::repository_root())
        .env("PATH", crate::preflight::Host::from_env().path());
    command
}

fn path_str(path: &Path) -> Result<&str, String> {
    path.to_str()
        .ok_or_else(|| format!("{} is not valid UTF-8", path.display()))
}
