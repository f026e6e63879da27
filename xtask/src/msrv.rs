//! The minimum supported Rust version, part of `cargo xtask ci`.
//!
//! The MSRV is `[workspace.package] rust-version`, inherited by every crate. `ci` checks that:
//!
//! 1. every workspace member declares that one version (a crate that sets its own would
//!    promise what nothing checks);
//! 2. no locked dependency needs a newer Rust (its own `rust-version`): a `cargo update` that
//!    pulls one in fails here, not at a user's;
//! 3. the workspace builds with that Rust. When the toolchain running `ci` *is* the MSRV
//!    (same minor release), every build and test of the run already proved it. When it is newer,
//!    `cargo +MSRV check --workspace --all-targets` runs with the MSRV toolchain, which rustup
//!    installs if needed. An older toolchain cannot build the workspace at all.
//!
//! Why the MSRV is what it is: docs/architecture.md, "Supported Rust".

use std::process::Command;

use serde_json::Value;

use crate::release::Member;

/// A Rust release as `major.minor.patch`; `rust-version` may leave out the patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct RustVersion {
    major: u64,
    minor: u64,
    patch: u64,
}

impl RustVersion {
    /// `1.95`, `1.95.0`, or the second word of `rustc --version` (`1.95.0`, `1.96.0-nightly`).
    pub(crate) fn parse(text: &str) -> Option<RustVersion> {
        let release = text.trim().split(['-', ' ']).next()?;
        let mut parts = release.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = match parts.next() {
            Some(p) => p.parse().ok()?,
            None => 0,
        };
        parts.next().is_none().then_some(RustVersion {
            major,
            minor,
            patch,
        })
    }

    /// Whether `self` is the same minor release as `other` (patch releases don't change the
    /// language or the standard library's API).
    fn same_release(self, other: RustVersion) -> bool {
        (self.major, self.minor) == (other.major, other.minor)
    }

    /// The rustup toolchain name: `1.95`.
    fn toolchain(self) -> String {
        format!("{}.{}", self.major, self.minor)
    }
}

impl std::fmt::Display for RustVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The one `rust-version` every member declares.
pub(crate) fn declared(members: &[Member]) -> Result<RustVersion, String> {
    let mut versions: Vec<(&str, Option<&str>)> = members
        .iter()
        .map(|m| (m.name.as_str(), m.rust_version.as_deref()))
        .collect();
    versions.sort_by_key(|(_, v)| *v);
    let Some((_, Some(first))) = versions.last() else {
        return Err("no workspace member declares a rust-version".to_owned());
    };
    let differing: Vec<String> = versions
        .iter()
        .filter(|(_, v)| *v != Some(*first))
        .map(|(name, v)| format!("{name} ({})", v.unwrap_or("none")))
        .collect();
    if !differing.is_empty() {
        return Err(format!(
            "every crate must inherit the workspace's rust-version {first} (`rust-version.workspace = true`); these don't: {}",
            differing.join(", ")
        ));
    }
    RustVersion::parse(first).ok_or_else(|| format!("rust-version {first:?} is not a version"))
}

/// `name version (needs X)` for every package in a full `cargo metadata` whose own
/// `rust-version` is newer than `msrv`.
pub(crate) fn dependencies_newer_than(metadata: &Value, msrv: RustVersion) -> Vec<String> {
    let mut newer: Vec<String> = metadata["packages"]
        .as_array()
        .map(|packages| {
            packages
                .iter()
                .filter_map(|p| {
                    let needs = RustVersion::parse(p["rust_version"].as_str()?)?;
                    (needs > msrv).then(|| {
                        format!(
                            "{} {} (needs {needs})",
                            p["name"].as_str().unwrap_or("?"),
                            p["version"].as_str().unwrap_or("?")
                        )
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    newer.sort();
    newer
}

/// What proves the workspace builds with the MSRV on this machine.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Proof {
    /// The toolchain running `ci` is the MSRV: the run's own builds and tests are the proof.
    ThisRun,
    /// A newer toolchain runs `ci`: check again with the MSRV's (rustup toolchain name).
    Toolchain(String),
}

/// How the MSRV is checked when `toolchain` runs `ci`.
pub(crate) fn proof(msrv: RustVersion, toolchain: RustVersion) -> Result<Proof, String> {
    if toolchain.same_release(msrv) {
        Ok(Proof::ThisRun)
    } else if toolchain > msrv {
        Ok(Proof::Toolchain(msrv.toolchain()))
    } else {
        Err(format!(
            "Rust {toolchain} is older than the workspace's minimum, {msrv}: update it (`rustup update stable`)"
        ))
    }
}

/// The version of the rustc cargo runs (`$RUSTC`, else `rustc`).
fn toolchain_version() -> Result<RustVersion, String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let output = Command::new(&rustc)
        .arg("--version")
        .output()
        .map_err(|e| format!("could not run {rustc} --version: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .nth(1)
        .and_then(RustVersion::parse)
        .ok_or_else(|| format!("unexpected `rustc --version`: {}", text.trim()))
}

/// Steps 1 and 2, and the plan for step 3 (cheap: run before the long steps).
pub(crate) fn prepare() -> Result<(RustVersion, Proof), String> {
    let members = crate::release::members(&crate::release::workspace_metadata()?)?;
    let msrv = declared(&members)?;
    let newer = dependencies_newer_than(&crate::release::cargo_metadata(&[])?, msrv);
    if !newer.is_empty() {
        return Err(format!(
            "locked dependencies need a newer Rust than the MSRV {msrv}: {}; pin older versions (`cargo update -p NAME --precise VERSION`) or raise rust-version",
            newer.join(", ")
        ));
    }
    let proof = proof(msrv, toolchain_version()?)?;
    if let Proof::Toolchain(toolchain) = &proof {
        ensure_toolchain(toolchain)?;
    }
    Ok((msrv, proof))
}

/// Installs the MSRV toolchain with rustup unless it is there.
fn ensure_toolchain(toolchain: &str) -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["run", toolchain, "cargo", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if installed {
        return Ok(());
    }
    eprintln!("xtask: installing Rust {toolchain}, the MSRV, to check the workspace with it");
    let status = Command::new("rustup")
        .args(["toolchain", "install", toolchain, "--profile", "minimal"])
        .status()
        .map_err(|e| {
            format!("the MSRV check needs Rust {toolchain} and rustup to install it: {e}")
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`rustup toolchain install {toolchain} --profile minimal` failed ({status})"
        ))
    }
}

/// Step 3.
pub(crate) fn check(msrv: RustVersion, proof: &Proof) -> Result<(), String> {
    match proof {
        Proof::ThisRun => {
            eprintln!(
                "xtask: MSRV {msrv}: this run's toolchain is that release, so the builds and tests above checked it"
            );
            Ok(())
        }
        Proof::Toolchain(toolchain) => {
            eprintln!("xtask: rustup run {toolchain} cargo check --workspace --all-targets");
            let status = Command::new("rustup")
                .args([
                    "run",
                    toolchain,
                    "cargo",
                    "check",
                    "--workspace",
                    "--all-targets",
                    "--locked",
                    "--features",
                    crate::WITH_EMULATOR,
                ])
                .envs(crate::CI_ENV.iter().copied())
                .current_dir(crate::repository_root())
                .status()
                .map_err(|e| format!("could not run the MSRV check: {e}"))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!(
                    "the workspace does not build with its MSRV, Rust {toolchain} ({status})"
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests;
