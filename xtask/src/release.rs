//! Release readiness, part of `cargo xtask ci`: every crate meant for crates.io carries the
//! registry metadata, depends on its workspace siblings by version as well as by path, and
//! packages and builds from its `.crate` file alone.
//!
//! "Publishable" is read from `cargo metadata`: every workspace member without `publish = false`.
//! New crates (bridges, adapters) are checked the moment they join the workspace.
//!
//! `cargo package --workspace` packages the publishable members against each other through a
//! local registry overlay, so no crate has to be on crates.io before its dependents can be
//! verified; verification builds each extracted `.crate` (its library and binaries, not its
//! tests), which catches a file left out of `include`, a path that only exists in the
//! repository, or a feature that only compiles with a sibling's features on.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// One workspace member, as `cargo metadata` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) version: String,
    /// Its directory, relative to the workspace root (`crates/wif`, `xtask`).
    pub(crate) directory: String,
    /// `publish = false` makes this false.
    pub(crate) publishable: bool,
    pub(crate) rust_version: Option<String>,
    /// Registry fields that are missing or empty.
    pub(crate) missing_metadata: Vec<&'static str>,
    /// Whether it has a library target (docs.rs documents libraries).
    pub(crate) has_library: bool,
    /// Whether `[package.metadata.docs.rs]` asks for every feature and the `docsrs` cfg.
    pub(crate) docs_rs_configured: bool,
    /// Dependencies by path without a version requirement (a published crate cannot have them).
    /// Dev-dependencies may: `cargo package` drops a path-only dev-dependency.
    pub(crate) unversioned_path_dependencies: Vec<String>,
    /// Workspace siblings this crate depends on with a version, and whether only as a
    /// dev-dependency: (name, dev-only).
    pub(crate) versioned_siblings: Vec<(String, bool)>,
}

/// The fields crates.io shows and searches by, beyond the name and version.
const REGISTRY_FIELDS: [&str; 8] = [
    "description",
    "license",
    "repository",
    "homepage",
    "readme",
    "keywords",
    "categories",
    "rust_version",
];

/// The workspace members of a `cargo metadata --format-version 1` document.
pub(crate) fn members(metadata: &Value) -> Result<Vec<Member>, String> {
    let ids: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .ok_or("cargo metadata has no workspace_members")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let packages = metadata["packages"]
        .as_array()
        .ok_or("cargo metadata has no packages")?;
    let mut members = Vec::new();
    for package in packages {
        if !package["id"].as_str().is_some_and(|id| ids.contains(&id)) {
            continue;
        }
        let name = package["name"]
            .as_str()
            .ok_or("a package without a name")?
            .to_owned();
        // `publish`: null means any registry, [] means `publish = false`.
        let publishable = !package["publish"]
            .as_array()
            .is_some_and(|registries| registries.is_empty());
        let missing_metadata = REGISTRY_FIELDS
            .into_iter()
            .filter(|field| match &package[*field] {
                Value::String(s) => s.trim().is_empty(),
                Value::Array(a) => a.is_empty(),
                _ => true,
            })
            .collect();
        let has_library = package["targets"].as_array().is_some_and(|targets| {
            targets.iter().any(|t| {
                t["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "lib"))
            })
        });
        let docs_rs = &package["metadata"]["docs"]["rs"];
        let docs_rs_configured = docs_rs["all-features"] == Value::Bool(true)
            && docs_rs["rustdoc-args"].as_array().is_some_and(|args| {
                args.windows(2)
                    .any(|pair| pair[0] == "--cfg" && pair[1] == "docsrs")
            });
        let path_dependencies: Vec<&Value> = package["dependencies"]
            .as_array()
            .map(|deps| deps.iter().filter(|d| d["path"].is_string()).collect())
            .unwrap_or_default();
        let name_of = |d: &Value| d["name"].as_str().map(str::to_owned);
        let unversioned_path_dependencies = path_dependencies
            .iter()
            .filter(|d| d["req"] == "*" && d["kind"] != "dev")
            .filter_map(|d| name_of(d))
            .collect();
        let mut versioned_siblings: Vec<(String, bool)> = Vec::new();
        for dependency in path_dependencies.iter().filter(|d| d["req"] != "*") {
            let Some(name) = name_of(dependency) else {
                continue;
            };
            let dev = dependency["kind"] == "dev";
            match versioned_siblings.iter_mut().find(|(n, _)| *n == name) {
                // Also a normal or build dependency: not dev-only.
                Some((_, dev_only)) => *dev_only &= dev,
                None => versioned_siblings.push((name, dev)),
            }
        }
        let root = metadata["workspace_root"].as_str().unwrap_or_default();
        let directory = package["manifest_path"]
            .as_str()
            .and_then(|m| m.strip_suffix("/Cargo.toml"))
            .map(|dir| {
                dir.strip_prefix(root)
                    .unwrap_or(dir)
                    .trim_start_matches('/')
                    .to_owned()
            })
            .unwrap_or_default();
        members.push(Member {
            name,
            version: package["version"].as_str().unwrap_or_default().to_owned(),
            directory,
            publishable,
            rust_version: package["rust_version"].as_str().map(str::to_owned),
            missing_metadata,
            has_library,
            docs_rs_configured,
            unversioned_path_dependencies,
            versioned_siblings,
        });
    }
    Ok(members)
}

/// `cargo metadata --no-deps` of this workspace.
pub(crate) fn workspace_metadata() -> Result<Value, String> {
    cargo_metadata(&["--no-deps"])
}

/// `cargo metadata --format-version 1 --locked` with `extra` arguments, parsed.
pub(crate) fn cargo_metadata(extra: &[&str]) -> Result<Value, String> {
    let mut args = vec!["metadata", "--format-version", "1", "--locked"];
    args.extend_from_slice(extra);
    let stdout = crate::cargo_stdout(&args)?;
    serde_json::from_slice(&stdout).map_err(|e| format!("cargo metadata's output: {e}"))
}

/// Versioned dev-dependencies that close a cycle between publishable crates (A's tests use B,
/// B depends on A). `cargo package` must put each crate's dependencies in its local registry
/// before the crate itself, so a cycle fails there with a bare "no matching package"; a
/// dev-dependency by path alone is dropped from the package and breaks the cycle.
pub(crate) fn dev_dependency_cycles(members: &[Member]) -> Vec<String> {
    let publishable: Vec<&Member> = members.iter().filter(|m| m.publishable).collect();
    let find = |name: &str| publishable.iter().find(|m| m.name == name).copied();
    // Whether `from` reaches `to` along versioned edges between publishable crates.
    let reaches = |from: &str, to: &str| {
        let mut seen = vec![from.to_owned()];
        let mut todo = vec![from.to_owned()];
        while let Some(name) = todo.pop() {
            for (next, _) in find(&name)
                .map(|m| m.versioned_siblings.as_slice())
                .unwrap_or(&[])
            {
                if next == to {
                    return true;
                }
                if find(next).is_some() && !seen.contains(next) {
                    seen.push(next.clone());
                    todo.push(next.clone());
                }
            }
        }
        false
    };
    let mut cycles = Vec::new();
    for member in &publishable {
        for (sibling, dev_only) in &member.versioned_siblings {
            if *dev_only && find(sibling).is_some() && reaches(sibling, &member.name) {
                cycles.push(format!(
                    "{}: its dev-dependency on {sibling} closes a cycle ({sibling} depends on {}); give it by path only, `{sibling} = {{ path = \"…\" }}`, which cargo package drops",
                    member.name, member.name
                ));
            }
        }
    }
    cycles
}

/// Every way the publishable members fall short of crates.io, one line each.
pub(crate) fn metadata_problems(members: &[Member]) -> Vec<String> {
    let mut problems = dev_dependency_cycles(members);
    for member in members.iter().filter(|m| m.publishable) {
        if !member.missing_metadata.is_empty() {
            problems.push(format!(
                "{}: no {} in [package] (or mark it `publish = false`)",
                member.name,
                member.missing_metadata.join(", ")
            ));
        }
        if member.has_library && !member.docs_rs_configured {
            problems.push(format!(
                "{}: [package.metadata.docs.rs] needs all-features = true and rustdoc-args = [\"--cfg\", \"docsrs\"]",
                member.name
            ));
        }
        if !member.unversioned_path_dependencies.is_empty() {
            problems.push(format!(
                "{}: path dependencies without a version (use the [workspace.dependencies] entry): {}",
                member.name,
                member.unversioned_path_dependencies.join(", ")
            ));
        }
    }
    problems
}

/// The `cargo package` arguments for this workspace: all of it, minus `publish = false`.
pub(crate) fn package_args(members: &[Member]) -> Vec<String> {
    let mut args: Vec<String> = ["package", "--workspace", "--locked", "--allow-dirty"]
        .map(str::to_owned)
        .to_vec();
    for member in members.iter().filter(|m| !m.publishable) {
        args.push("--exclude".to_owned());
        args.push(member.name.clone());
    }
    args
}

/// The CI step: metadata first (seconds), then `cargo package` with verification.
pub(crate) fn run() -> Result<(), String> {
    let members = members(&workspace_metadata()?)?;
    let problems = metadata_problems(&members);
    if !problems.is_empty() {
        return Err(format!(
            "crates not ready for crates.io:\n  {}",
            problems.join("\n  ")
        ));
    }
    let target = verify_target_dir();
    let cargo_home = cargo_home().ok_or("neither CARGO_HOME nor HOME is set")?;
    forget_earlier_packages(&members, &target, &cargo_home)?;
    let mut args = package_args(&members);
    args.push("--target-dir".to_owned());
    args.push(target.display().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    crate::cargo(&args, crate::CI_ENV)
}

/// Where the packages are verified: a target directory of their own, so what is built from the
/// `.crate` files never mixes with the workspace's own builds.
fn verify_target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::repository_root().join("target"))
        .join("package-verify")
}

fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))
}

/// Makes `cargo package` verify what the crates are now, not what they were the last time.
///
/// Cargo treats a registry version as immutable, and during verification our crates are served
/// from a local registry as `NAME 0.1.0` every time, whatever changed since: it reuses their
/// sources unpacked under `CARGO_HOME/registry/src` by an earlier run, and their compiled
/// artifacts too (a registry crate's fingerprint is its version). A second run then verified
/// stale code — it failed on `wif_core::causes` items main had since added, and could as well
/// have passed on code that no longer builds. So, before packaging: remove those unpacked
/// sources (cargo unpacks the new `.crate` again) and our crates' fingerprints in the verify
/// target directory (cargo rebuilds them; third-party dependencies stay built).
pub(crate) fn forget_earlier_packages(
    members: &[Member],
    target: &Path,
    cargo_home: &Path,
) -> Result<(), String> {
    let ours: Vec<&Member> = members.iter().filter(|m| m.publishable).collect();
    let remove = |path: &Path| {
        std::fs::remove_dir_all(path)
            .map_err(|e| format!("could not remove {}: {e}", path.display()))
    };
    // `registry/src/<registry>/<name>-<version>`, in every registry (a registry's unpacked
    // sources are a cache: cargo unpacks a missing one again).
    if let Ok(registries) = std::fs::read_dir(cargo_home.join("registry").join("src")) {
        for registry in registries.filter_map(Result::ok) {
            for member in &ours {
                let unpacked = registry
                    .path()
                    .join(format!("{}-{}", member.name, member.version));
                if unpacked.is_dir() {
                    remove(&unpacked)?;
                }
            }
        }
    }
    // `<target>/<profile>/.fingerprint/<name>-<16 hex digits>`.
    if let Ok(profiles) = std::fs::read_dir(target) {
        for profile in profiles.filter_map(Result::ok) {
            let Ok(units) = std::fs::read_dir(profile.path().join(".fingerprint")) else {
                continue;
            };
            for unit in units.filter_map(Result::ok) {
                let file_name = unit.file_name();
                let Some(unit_name) = file_name.to_str() else {
                    continue;
                };
                if ours.iter().any(|m| is_unit_of(unit_name, &m.name)) {
                    remove(&unit.path())?;
                }
            }
        }
    }
    Ok(())
}

/// Whether a fingerprint directory name is `<package>-<16 hex digits>` for this package (and
/// not for one whose name merely starts with it: `wif` is not `wif-core`).
fn is_unit_of(unit: &str, package: &str) -> bool {
    unit.strip_prefix(package)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|hash| hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests;
