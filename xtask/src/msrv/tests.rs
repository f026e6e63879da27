//! The MSRV decisions, with hand-written versions and metadata, and this workspace's own.

use super::*;
use serde_json::json;

fn version(text: &str) -> RustVersion {
    RustVersion::parse(text).unwrap_or_else(|| panic!("{text} parses"))
}

fn member(name: &str, rust_version: Option<&str>) -> Member {
    Member {
        name: name.to_owned(),
        version: "0.1.0".to_owned(),
        directory: format!("crates/{name}"),
        publishable: true,
        rust_version: rust_version.map(str::to_owned),
        missing_metadata: Vec::new(),
        has_library: true,
        docs_rs_configured: true,
        unversioned_path_dependencies: Vec::new(),
        versioned_siblings: Vec::new(),
    }
}

#[test]
fn versions_parse_as_rust_version_and_rustc_write_them() {
    assert_eq!(version("1.95"), version("1.95.0"));
    assert!(version("1.95.1") > version("1.95"));
    assert!(version("1.100.0") > version("1.95.3"));
    assert_eq!(version("1.96.0-nightly"), version("1.96.0"));
    for bad in ["", "1", "one.two", "1.95.0.1", "1.x"] {
        assert_eq!(RustVersion::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn the_msrv_is_one_version_for_every_crate() {
    let members = [
        member("wif", Some("1.95")),
        member("wif-core", Some("1.95")),
    ];
    assert_eq!(declared(&members), Ok(version("1.95")));

    let members = [
        member("wif", Some("1.95")),
        member("wif-bridge", Some("1.88")),
        member("xtask", None),
    ];
    let error = declared(&members).expect_err("two versions and a missing one");
    assert!(error.contains("wif-bridge (1.88)"), "{error}");
    assert!(error.contains("xtask (none)"), "{error}");

    assert!(declared(&[member("wif", None)]).is_err());
}

#[test]
fn dependencies_needing_a_newer_rust_are_listed() {
    let metadata = json!({"packages": [
        {"name": "old", "version": "1.0.0", "rust_version": "1.70"},
        {"name": "same", "version": "2.0.0", "rust_version": "1.95.0"},
        {"name": "unstated", "version": "0.3.0", "rust_version": null},
        {"name": "newer", "version": "0.9.1", "rust_version": "1.96"}
    ]});
    assert_eq!(
        dependencies_newer_than(&metadata, version("1.95")),
        ["newer 0.9.1 (needs 1.96.0)"]
    );
    assert!(dependencies_newer_than(&metadata, version("1.96")).is_empty());
}

#[test]
fn the_proof_depends_on_the_toolchain_running_ci() {
    let msrv = version("1.95");
    assert_eq!(proof(msrv, version("1.95.0")), Ok(Proof::ThisRun));
    assert_eq!(proof(msrv, version("1.95.2")), Ok(Proof::ThisRun));
    assert_eq!(
        proof(msrv, version("1.97.0")),
        Ok(Proof::Toolchain("1.95".to_owned()))
    );
    let error = proof(msrv, version("1.94.1")).expect_err("too old");
    assert!(
        error.contains("older than the workspace's minimum"),
        "{error}"
    );
}

/// The declared MSRV of this workspace is what its own lock and toolchain satisfy. Fails when a
/// crate stops inheriting `rust-version`, or a `cargo update` locks a dependency that needs a
/// newer Rust.
#[test]
fn this_workspace_declares_one_msrv_its_dependencies_support() {
    let members = crate::release::members(&crate::release::workspace_metadata().expect("metadata"))
        .expect("members");
    let msrv = declared(&members).expect("one MSRV");
    let full = crate::release::cargo_metadata(&[]).expect("full metadata");
    let newer = dependencies_newer_than(&full, msrv);
    assert!(newer.is_empty(), "{newer:?}");
}
