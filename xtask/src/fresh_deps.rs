//! `cargo xtask fresh-deps` (part of `ci`): the workspace built the way a downstream user builds
//! it, with the newest semver-compatible release of every dependency instead of our Cargo.lock.
//!
//! `cargo add wif` or `cargo install wif-cli` without `--locked` resolves afresh, so a dependency
//! release that deprecates an API we call shows up there first, as warnings our locked CI never
//! sees (rustls 0.23.48 deprecated ring's crypto provider that way). This step copies the
//! workspace's files (tracked, and untracked but not ignored: never `target/`) into
//! `target/fresh-deps/src`, runs `cargo update` there and checks every library and binary with
//! warnings denied, into `target/fresh-deps/target`. `check`, not `build`: deprecation and the
//! other rustc warnings come from the front end, and no code generation halves the time.
//!
//! The copy is made anew each run; its target directory is kept, so a second run only checks
//! what changed.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What gets checked: every library and binary, the emulator's CLI commands included.
const CHECK: &[&str] = &[
    "check",
    "--workspace",
    "--lib",
    "--bins",
    "--features",
    crate::WITH_EMULATOR,
];

pub(crate) fn run() -> Result<(), String> {
    let root = crate::repository_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let scratch = target.join("fresh-deps");
    let src = scratch.join("src");
    copy_workspace(&root, &src)?;

    cargo_in(&src, &["update"], &[])?;
    let scratch_target = scratch.join("target");
    let mut env = crate::CI_ENV.to_vec();
    // Our crates only: cargo caps the lints of registry dependencies.
    env.push(("RUSTFLAGS", "-D warnings"));
    env.push(("CARGO_TARGET_DIR", path_str(&scratch_target)?));
    cargo_in(&src, CHECK, &env)
}

/// Copies the files git knows of (tracked, or untracked and not ignored) from `root` to `dest`,
/// replacing whatever `dest` held.
fn copy_workspace(root: &Path, dest: &Path) -> Result<(), String> {
    if dest.exists() {
        std::fs::remove_dir_all(dest)
            .map_err(|e| format!("cannot clear {}: {e}", dest.display()))?;
    }
    let listing = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root)
        .output()
        .map_err(|e| format!("could not run git ls-files: {e}"))?;
    if !listing.status.success() {
        return Err(format!(
            "git ls-files failed ({}): {}",
            listing.status,
            String::from_utf8_lossy(&listing.stderr).trim()
        ));
    }
    let mut copied = 0usize;
    for name in listing.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = std::str::from_utf8(name)
            .map_err(|_| "a file name git lists is not UTF-8".to_owned())?;
        let from = root.join(name);
        // Tracked but deleted in the work tree: a downstream build would not see it either.
        if !from.is_file() {
            continue;
        }
        let to = dest.join(name);
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::copy(&from, &to)
            .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))?;
        copied += 1;
    }
    eprintln!("xtask: copied {copied} files to {}", dest.display());
    Ok(())
}

/// `cargo ARGS` run in `dir` (so that the copy's workspace and configuration are the ones used).
fn cargo_in(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("xtask: (in {}) cargo {}", dir.display(), args.join(" "));
    let status = Command::new(cargo)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(dir)
        .status()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`cargo {}` with freshly resolved dependencies failed ({status})",
            args.join(" ")
        ))
    }
}

fn path_str(path: &Path) -> Result<&str, String> {
    path.to_str()
        .ok_or_else(|| format!("{} is not a UTF-8 path", path.display()))
}
