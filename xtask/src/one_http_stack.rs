//! `cargo xtask ci`'s "one reqwest" step: wif, its bridges and the `wif` CLI, built together,
//! resolve a single `reqwest`.
//!
//! wif moved to reqwest 0.13 so that an application using it beside the Rust GCP clients
//! (google-cloud-*, object_store, gcloud-*) compiles one HTTP stack, not two
//! (docs/architecture.md, "TLS"). A dependency bump that brings a second reqwest back compiles
//! and passes every test, so only a look at the resolved graph catches it. This step runs
//! `cargo tree -d` over [`CHECKED`] (no build: about a second) and fails naming every reqwest
//! version found and the dependency chains that pull each one in.

/// The packages whose combined build must hold one reqwest: the facade, the CLI users install,
/// and every bridge. A bridge's foreign client is its normal dependency (object_store,
/// google-cloud-auth, reqwest-middleware for the gcloud-* clients) or the dev-dependency
/// its end-to-end tests drive (google-cloud-storage, gcloud-storage): dev-dependencies are in
/// the checked graph, so those tests are the "application using wif with google-cloud-storage
/// and object_store" that must build one HTTP stack.
///
/// Not checked: `wif-example-integrations`. Its gcp-bigquery-client recipe builds
/// gcp-bigquery-client 0.28, still on reqwest 0.12, a second HTTP stack that docs/integrations.md
/// owns up to; that is the foreign crate's choice, not ours.
pub(crate) const CHECKED: &[&str] = &[
    "wif",
    "wif-cli",
    "wif-google-cloud",
    "wif-object-store",
    "wif-gcloud",
    "wif-tonic",
];

/// The crate that must be resolved once.
const HTTP_CLIENT: &str = "reqwest";

/// How many chains per version the failure lists; the rest are counted.
const CHAINS_SHOWN: usize = 4;

/// The step of `ci`: [`CHECKED`].
pub(crate) fn run() -> Result<(), String> {
    check(CHECKED)
}

/// `cargo xtask one-reqwest [PACKAGE…]`: the check over the packages named, or [`CHECKED`].
pub(crate) fn cli(packages: &[String]) -> Result<(), String> {
    if packages.is_empty() {
        return run();
    }
    check(&packages.iter().map(String::as_str).collect::<Vec<_>>())
}

fn check(packages: &[&str]) -> Result<(), String> {
    let versions = reqwest_versions(packages)?;
    eprintln!(
        "xtask: one {HTTP_CLIENT} ({}) in the build of {}",
        versions.join(", "),
        packages.join(", ")
    );
    Ok(())
}

/// The reqwest versions in the combined build of `packages` (all features, every target, their
/// tests' dependencies too); an error naming each version and who pulls it in when there is more
/// than one.
pub(crate) fn reqwest_versions(packages: &[&str]) -> Result<Vec<String>, String> {
    let duplicates = cargo_tree(packages, &["--duplicates"])?;
    let versions = duplicated_versions(&duplicates, HTTP_CLIENT);
    if versions.len() <= 1 {
        // Not duplicated, so `-d` does not list it: the one reqwest, for the log (wif-core
        // depends on it, so cargo finds it in every checked build).
        let tree = cargo_tree(packages, &["--invert", HTTP_CLIENT, "--depth", "0"])?;
        return Ok(parse_tree(&tree).into_iter().map(|n| n.version).collect());
    }
    let mut pulled = Vec::new();
    for version in &versions {
        let tree = cargo_tree(packages, &["--invert", &format!("{HTTP_CLIENT}@{version}")])?;
        pulled.push((version.clone(), chains(&parse_tree(&tree))));
    }
    Err(two_stacks_report(packages, &pulled))
}

/// `cargo tree --locked` over `packages` with every edge a build or test of them can use, in the
/// machine-readable shape `parse_tree` reads.
fn cargo_tree(packages: &[&str], extra: &[&str]) -> Result<String, String> {
    let mut args = vec![
        "tree",
        "--locked",
        "--edges",
        "normal,dev",
        "--all-features",
        "--target",
        "all",
        "--prefix",
        "depth",
        "--format",
        "{p}",
    ];
    for package in packages {
        args.extend_from_slice(&["--package", package]);
    }
    args.extend_from_slice(extra);
    String::from_utf8(crate::cargo_stdout(&args)?)
        .map_err(|_| "cargo tree printed non-UTF-8".to_owned())
}

/// One line of `cargo tree --prefix depth --format {p}`: `2object_store v0.14.2`, or
/// `1wif v0.1.0 (/path) (*)` for a package whose subtree was printed earlier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TreeNode {
    depth: usize,
    name: String,
    version: String,
    /// `(*)`: printed in full earlier, its subtree left out here.
    repeated: bool,
}

impl TreeNode {
    fn parse(line: &str) -> Option<TreeNode> {
        let digits = line.len() - line.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let depth = line[..digits].parse().ok()?;
        let mut words = line[digits..].split_whitespace();
        let name = words.next()?.to_owned();
        let version = words.next()?.strip_prefix('v')?.to_owned();
        Some(TreeNode {
            depth,
            name,
            version,
            repeated: line.trim_end().ends_with("(*)"),
        })
    }

    fn label(&self) -> String {
        format!("{} {}", self.name, self.version)
    }
}

/// The nodes of `cargo tree`'s output, skipping blank lines and anything that is not a node.
pub(crate) fn parse_tree(output: &str) -> Vec<TreeNode> {
    output.lines().filter_map(TreeNode::parse).collect()
}

/// The distinct versions of `name` among the roots of `cargo tree --duplicates` (each root is a
/// duplicated package; one version can be a root twice, built for the host and the target).
pub(crate) fn duplicated_versions(output: &str, name: &str) -> Vec<String> {
    let mut versions: Vec<String> = parse_tree(output)
        .into_iter()
        .filter(|n| n.depth == 0 && n.name == name)
        .map(|n| n.version)
        .collect();
    versions.dedup();
    versions.sort();
    versions.dedup();
    versions
}

/// The chains of an inverted tree (`cargo tree -i`), from the package each root is pulled by
/// down to the workspace package that depends on it: `["gcp-bigquery-client 0.28.0",
/// "wif-example-integrations 0.1.0"]`. A chain that ends in a repeated node (`(*)`) is left out:
/// the same dependents were printed in full on an earlier chain.
pub(crate) fn chains(nodes: &[TreeNode]) -> Vec<Vec<String>> {
    let mut chains = Vec::new();
    let mut path: Vec<&TreeNode> = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        path.truncate(node.depth);
        path.push(node);
        let is_leaf = nodes.get(i + 1).is_none_or(|next| next.depth <= node.depth);
        if is_leaf && node.depth > 0 && !node.repeated {
            chains.push(path[1..].iter().map(|n| n.label()).collect());
        }
    }
    chains
}

/// The failure: every version, and for each the chains that pull it in.
fn two_stacks_report(packages: &[&str], pulled: &[(String, Vec<Vec<String>>)]) -> String {
    let versions: Vec<&str> = pulled.iter().map(|(v, _)| v.as_str()).collect();
    let mut report = format!(
        "{} versions of {HTTP_CLIENT} ({}) in the build of {}: an application using wif beside the GCP clients would compile two HTTP stacks.",
        versions.len(),
        versions.join(" and "),
        packages.join(", "),
    );
    for (version, chains) in pulled {
        report.push_str(&format!("\n  {HTTP_CLIENT} {version} is pulled in by:"));
        for chain in chains.iter().take(CHAINS_SHOWN) {
            report.push_str(&format!("\n    {}", chain.join(" <- ")));
        }
        if chains.len() > CHAINS_SHOWN {
            report.push_str(&format!("\n    … and {} more", chains.len() - CHAINS_SHOWN));
        }
    }
    report.push_str(&format!(
        "\n  Fix: move the dependency that pulls the odd version to a release on the {HTTP_CLIENT} the rest use, or keep it out of these crates (`cargo tree -i {HTTP_CLIENT}@VERSION` shows the whole graph)."
    ));
    report
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// `cargo tree -d` as it printed for the examples crate (abridged): reqwest twice, a repeated
    /// root, and jiff-core once per platform.
    const DUPLICATES: &str = "\
0base64 v0.22.1
1reqwest v0.12.28
2gcp-bigquery-client v0.28.0
3wif-example-integrations v0.1.0 (/w/examples/integrations)

0jiff-core v0.1.8

0jiff-core v0.1.8

0reqwest v0.13.5 (*)

0reqwest v0.12.28 (*)
";

    /// `cargo tree -i reqwest@0.13.5` (abridged): two direct dependents, one repeated below.
    const INVERTED: &str = "\
0reqwest v0.13.5
1object_store v0.14.2
2wif-object-store v0.14.0 (/w/crates/wif-object-store)
1wif-core v0.1.0 (/w/crates/wif-core)
2wif v0.1.0 (/w/crates/wif)
3wif-object-store v0.14.0 (/w/crates/wif-object-store)
2wif-object-store v0.14.0 (/w/crates/wif-object-store) (*)
1reqwest-middleware v0.5.2
2wif-gcloud v1.0.0 (/w/crates/wif-gcloud)
";

    #[test]
    fn lines_parse_into_depth_name_version_and_repetition() {
        assert_eq!(
            TreeNode::parse("3wif v0.1.0 (/w/crates/wif) (*)"),
            Some(TreeNode {
                depth: 3,
                name: "wif".into(),
                version: "0.1.0".into(),
                repeated: true
            })
        );
        let deep = TreeNode::parse("12deep v1.0.0").unwrap();
        assert_eq!((deep.depth, deep.repeated), (12, false));
        assert_eq!(TreeNode::parse(""), None);
        assert_eq!(TreeNode::parse("reqwest v0.13.5"), None, "no depth");
        assert_eq!(TreeNode::parse("0reqwest 0.13.5"), None, "no version");
    }

    #[test]
    fn duplicated_versions_are_the_distinct_roots_of_that_name() {
        assert_eq!(
            duplicated_versions(DUPLICATES, "reqwest"),
            ["0.12.28", "0.13.5"],
            "the nested reqwest line is not a root; the repeated root counts once"
        );
        assert_eq!(duplicated_versions(DUPLICATES, "jiff-core"), ["0.1.8"]);
        assert!(duplicated_versions(DUPLICATES, "base").is_empty());
    }

    #[test]
    fn chains_run_from_the_dependent_to_the_workspace_package() {
        let chains = chains(&parse_tree(INVERTED));
        assert_eq!(
            chains,
            [
                vec!["object_store 0.14.2", "wif-object-store 0.14.0"],
                vec!["wif-core 0.1.0", "wif 0.1.0", "wif-object-store 0.14.0"],
                vec!["reqwest-middleware 0.5.2", "wif-gcloud 1.0.0"],
            ],
            "a repeated leaf is left out"
        );
    }

    #[test]
    fn the_report_names_both_versions_and_who_pulls_each() {
        let report = two_stacks_report(
            &["wif", "wif-tonic"],
            &[
                (
                    "0.12.28".into(),
                    vec![vec![
                        "gcp-bigquery-client 0.28.0".into(),
                        "wif-example-integrations 0.1.0".into(),
                    ]],
                ),
                (
                    "0.13.5".into(),
                    (0..6).map(|i| vec![format!("dependent {i}")]).collect(),
                ),
            ],
        );
        assert!(report.contains("(0.12.28 and 0.13.5) in the build of wif, wif-tonic"));
        assert!(report.contains(
            "reqwest 0.12.28 is pulled in by:\n    gcp-bigquery-client 0.28.0 <- wif-example-integrations 0.1.0"
        ));
        assert!(report.contains("dependent 3") && !report.contains("dependent 4"));
        assert!(report.contains("… and 2 more"));
    }

    /// The step against the real graph: the examples crate, which the step leaves out, has two
    /// reqwests, and the step says so and who pulls the second. When gcp-bigquery-client moves
    /// to reqwest 0.13 this fails: then drop the note in `CHECKED` and docs/integrations.md.
    #[test]
    fn the_examples_crate_has_two_and_the_check_names_gcp_bigquery_client() {
        let error = reqwest_versions(&["wif-example-integrations"]).unwrap_err();
        assert!(error.contains("2 versions of reqwest (0.12."), "{error}");
        assert!(
            error.contains("is pulled in by:\n    gcp-bigquery-client 0.28"),
            "{error}"
        );
    }

    #[test]
    fn the_checked_packages_build_one_reqwest() {
        let versions = reqwest_versions(CHECKED).unwrap();
        assert_eq!(versions.len(), 1, "{versions:?}");
        assert!(versions[0].starts_with("0.13."), "{versions:?}");
    }
}
