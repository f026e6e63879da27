//! The release checks against hand-written `cargo metadata` documents, and against this
//! workspace's own.

use super::*;
use serde_json::json;

/// A `cargo metadata` package entry with every registry field set.
fn complete(name: &str, dir: &str) -> Value {
    json!({
        "name": name,
        "version": "0.1.0",
        "id": format!("path+file:///w/{dir}#0.1.0"),
        "manifest_path": format!("/w/{dir}/Cargo.toml"),
        "publish": null,
        "description": "what it is",
        "license": "MIT OR Apache-2.0",
        "repository": "https://github.com/wif-rs/wif-rs",
        "homepage": "https://github.com/wif-rs/wif-rs",
        "readme": "README.md",
        "keywords": ["gcp"],
        "categories": ["authentication"],
        "rust_version": "1.95",
        "targets": [{"kind": ["lib"], "name": name}],
        "metadata": {"docs": {"rs": {"all-features": true, "rustdoc-args": ["--cfg", "docsrs"]}}},
        "dependencies": [
            {"name": "wif-core", "req": "^0.1.0", "path": "/w/crates/wif-core"},
            {"name": "serde", "req": "^1", "path": null}
        ]
    })
}

fn metadata(packages: Vec<Value>) -> Value {
    let ids: Vec<Value> = packages.iter().map(|p| p["id"].clone()).collect();
    json!({"packages": packages, "workspace_members": ids, "workspace_root": "/w"})
}

#[test]
fn a_complete_crate_has_no_problems() {
    let members = members(&metadata(vec![complete("wif-sts", "crates/wif-sts")])).expect("parse");
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].directory, "crates/wif-sts");
    assert!(members[0].publishable);
    assert_eq!(metadata_problems(&members), Vec::<String>::new());
}

#[test]
fn missing_registry_fields_are_named() {
    let mut package = complete("wif-bridge", "crates/wif-bridge");
    package["keywords"] = json!([]);
    package["categories"] = json!([]);
    package["homepage"] = Value::Null;
    package["rust_version"] = Value::Null;
    package["description"] = json!("  ");
    let problems = metadata_problems(&members(&metadata(vec![package])).expect("parse"));
    assert_eq!(
        problems,
        [
            "wif-bridge: no description, homepage, keywords, categories, rust_version in [package] (or mark it `publish = false`)"
        ]
    );
}

#[test]
fn libraries_need_the_docs_rs_settings_binaries_do_not() {
    let mut library = complete("wif-lib", "crates/wif-lib");
    library["metadata"] = Value::Null;
    let mut half = complete("wif-half", "crates/wif-half");
    half["metadata"]["docs"]["rs"]["rustdoc-args"] = json!(["--cfg", "other"]);
    let mut binary = complete("wif-cli", "crates/wif-cli");
    binary["metadata"] = Value::Null;
    binary["targets"] = json!([{"kind": ["bin"], "name": "wif"}]);
    let problems =
        metadata_problems(&members(&metadata(vec![library, half, binary])).expect("parse"));
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].starts_with("wif-lib: [package.metadata.docs.rs]"));
    assert!(problems[1].starts_with("wif-half: [package.metadata.docs.rs]"));
}

#[test]
fn path_dependencies_need_a_version() {
    let mut package = complete("wif", "crates/wif");
    package["dependencies"] = json!([
        {"name": "wif-sts", "req": "*", "path": "/w/crates/wif-sts"},
        {"name": "wif-core", "req": "^0.1.0", "path": "/w/crates/wif-core"},
        {"name": "anything", "req": "*", "path": null}
    ]);
    let problems = metadata_problems(&members(&metadata(vec![package])).expect("parse"));
    assert_eq!(
        problems,
        [
            "wif: path dependencies without a version (use the [workspace.dependencies] entry): wif-sts"
        ]
    );
}

#[test]
fn unpublished_members_are_excluded_from_packaging_and_not_checked() {
    let mut xtask = complete("xtask", "xtask");
    xtask["publish"] = json!([]);
    xtask["keywords"] = json!([]);
    let members = members(&metadata(vec![complete("wif", "crates/wif"), xtask])).expect("parse");
    assert!(metadata_problems(&members).is_empty());
    assert_eq!(
        package_args(&members),
        [
            "package",
            "--workspace",
            "--locked",
            "--allow-dirty",
            "--exclude",
            "xtask"
        ]
    );
}

#[test]
fn packages_outside_the_workspace_are_not_members() {
    let mut dependency = complete("serde", "registry/serde");
    dependency["id"] = json!("registry+https://github.com/rust-lang/crates.io-index#serde@1.0.0");
    let mut doc = metadata(vec![complete("wif", "crates/wif")]);
    doc["packages"]
        .as_array_mut()
        .expect("array")
        .push(dependency);
    let members = members(&doc).expect("parse");
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].name, "wif");
}

/// This workspace, as cargo reads it: every crate meant for crates.io is ready, and the
/// automation, test suites and examples are never published.
#[test]
fn this_workspace_is_ready_for_crates_io() {
    let members = members(&workspace_metadata().expect("cargo metadata")).expect("parse");
    let problems = metadata_problems(&members);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    for member in &members {
        let tooling = member.directory == "xtask"
            || member.directory == "tests"
            || member.directory.starts_with("examples/");
        assert!(
            !(tooling && member.publishable),
            "{} ({}) must say `publish = false`",
            member.name,
            member.directory
        );
    }
    assert!(
        members.iter().any(|m| m.name == "wif" && m.publishable),
        "{members:?}"
    );
}

fn with_dependencies(mut package: Value, dependencies: Value) -> Value {
    package["dependencies"] = dependencies;
    package
}

/// wif-emulator's tests use wif-bigquery and wif-bigquery's tests use wif-emulator: with both
/// edges versioned, `cargo package` fails with a bare "no matching package named wif-bigquery".
#[test]
fn a_versioned_dev_dependency_cycle_is_named_and_a_path_only_edge_breaks_it() {
    let core = complete("wif-core", "crates/wif-core");
    let bigquery = with_dependencies(
        complete("wif-bigquery", "crates/wif-bigquery"),
        json!([
            {"name": "wif-core", "req": "^0.1.0", "path": "/w/crates/wif-core", "kind": null},
            {"name": "wif-emulator", "req": "^0.1.0", "path": "/w/crates/wif-emulator", "kind": "dev"}
        ]),
    );
    let emulator = |bigquery_req: &str| {
        with_dependencies(
            complete("wif-emulator", "crates/wif-emulator"),
            json!([
                {"name": "wif-bigquery", "req": bigquery_req, "path": "/w/crates/wif-bigquery", "kind": "dev"},
                {"name": "wif-core", "req": "^0.1.0", "path": "/w/crates/wif-core", "kind": "dev"}
            ]),
        )
    };

    let cyclic = members(&metadata(vec![
        core.clone(),
        bigquery.clone(),
        emulator("^0.1.0"),
    ]))
    .expect("parse");
    let problems = metadata_problems(&cyclic);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].starts_with("wif-bigquery: its dev-dependency on wif-emulator closes a cycle"),
        "{problems:?}"
    );
    assert!(
        problems[1].starts_with("wif-emulator: its dev-dependency on wif-bigquery closes a cycle"),
        "{problems:?}"
    );

    // By path alone (cargo package drops it): no cycle, and no "path without a version" either.
    let broken = members(&metadata(vec![core, bigquery, emulator("*")])).expect("parse");
    assert_eq!(metadata_problems(&broken), Vec::<String>::new());
}

#[test]
fn a_dev_dependency_on_a_crate_that_does_not_depend_back_is_no_cycle() {
    let core = complete("wif-core", "crates/wif-core");
    let sts = with_dependencies(
        complete("wif-sts", "crates/wif-sts"),
        json!([
            {"name": "wif-core", "req": "^0.1.0", "path": "/w/crates/wif-core", "kind": null},
            {"name": "wif-core", "req": "^0.1.0", "path": "/w/crates/wif-core", "kind": "dev"}
        ]),
    );
    let members = members(&metadata(vec![core, sts])).expect("parse");
    assert!(dev_dependency_cycles(&members).is_empty());
    assert_eq!(
        members[1].versioned_siblings,
        [("wif-core".to_owned(), false)]
    );
}

/// A scratch directory, removed on drop.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("xtask-release-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Scratch(dir)
    }

    fn dir(&self, relative: &str) -> std::path::PathBuf {
        let path = self.0.join(relative);
        std::fs::create_dir_all(&path).expect("create dir");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The second `cargo package` of an unchanged version must not reuse the first one's unpacked
/// sources or artifacts of our crates; everything else stays.
#[test]
fn earlier_packages_of_our_crates_are_forgotten_and_nothing_else() {
    let home = Scratch::new("home");
    let target = Scratch::new("target");
    let ours = [
        home.dir("registry/src/-20e1b8475f1753df/wif-core-0.1.0"),
        home.dir("registry/src/-20e1b8475f1753df/wif-0.1.0"),
        home.dir("registry/src/index.crates.io-1949cf8c6b5b557f/wif-core-0.1.0"),
        target.dir("debug/.fingerprint/wif-core-0123456789abcdef"),
        target.dir("debug/.fingerprint/wif-fedcba9876543210"),
    ];
    let theirs = [
        home.dir("registry/src/index.crates.io-1949cf8c6b5b557f/serde-1.0.228"),
        home.dir("registry/src/-20e1b8475f1753df/wif-core-0.2.0"),
        home.dir("registry/src/-20e1b8475f1753df/wif-tests-0.1.0"),
        target.dir("debug/.fingerprint/serde-0123456789abcdef"),
        target.dir("debug/.fingerprint/wif-core-extra-0123456789abcdef"),
        target.dir("debug/.fingerprint/wif-tests-0123456789abcdef"),
        target.dir("debug/deps"),
    ];
    let mut tests = complete("wif-tests", "tests");
    tests["publish"] = json!([]);
    let members = members(&metadata(vec![
        complete("wif-core", "crates/wif-core"),
        complete("wif", "crates/wif"),
        tests,
    ]))
    .expect("parse");

    forget_earlier_packages(&members, &target.0, &home.0).expect("forget");
    for gone in &ours {
        assert!(!gone.exists(), "{} is still there", gone.display());
    }
    for kept in &theirs {
        assert!(kept.exists(), "{} was removed", kept.display());
    }
    // Nothing to forget (a clean clone): fine.
    forget_earlier_packages(&members, &target.0.join("none"), &home.0.join("none"))
        .expect("nothing there");
}
