//! Keeps the repository's citations pointing at things a reader of the repository can open.
//!
//! Code and docs once cited research notes that lived outside the repository ("the reference
//! §N" and their file names). What the code relies on is now in `docs/protocol.md`, cited as
//! `docs/protocol.md#section`. Two checks, run as tests (so `cargo xtask ci` runs them):
//!
//! * no text file cites the outside notes again;
//! * every `docs/protocol.md#anchor` (and every `` `#anchor` `` next to one) names a heading
//!   that exists in `docs/protocol.md`.

use std::path::{Path, PathBuf};

/// How the outside notes were cited. Written in pieces so that this file does not cite them.
fn stale_patterns() -> [String; 5] {
    [
        ["shared", "/"].concat(),
        ["reference", " §"].concat(),
        ["external-account", ".md"].concat(),
        ["external-account", " reference"].concat(),
        ["gcp-apis-and-aws", "-practice"].concat(),
    ]
}

/// Directories never scanned: build output and git's own.
const SKIPPED_DIRS: [&str; 3] = [".git", "target", "node_modules"];
/// This file, whose tests spell out what the checks must find.
const THIS_FILE: &str = "xtask/src/citations.rs";
/// Larger files are data, not prose.
const MAX_SCANNED_BYTES: u64 = 2 * 1024 * 1024;

/// Every UTF-8 text file under `root`, as (path relative to `root`, content).
fn text_files(root: &Path) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                let name = entry.file_name();
                if !SKIPPED_DIRS.iter().any(|s| name == *s) {
                    dirs.push(path);
                }
            } else if kind.is_file()
                && entry.metadata().is_ok_and(|m| m.len() <= MAX_SCANNED_BYTES)
                && let Ok(text) = std::fs::read_to_string(&path)
            {
                let relative = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
                if relative != Path::new(THIS_FILE) {
                    files.push((relative, text));
                }
            }
        }
    }
    files.sort();
    files
}

/// `file:line: text` for every line under `root` that cites the outside notes.
pub(crate) fn stale_citations(root: &Path) -> Vec<String> {
    let patterns = stale_patterns();
    let mut found = Vec::new();
    for (path, text) in text_files(root) {
        for (number, line) in text.lines().enumerate() {
            if patterns.iter().any(|p| line.contains(p.as_str())) {
                found.push(format!(
                    "{}:{}: {}",
                    path.display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    found
}

/// The anchor GitHub gives a Markdown heading: lowercased, punctuation other than `-` and `_`
/// dropped, spaces turned into `-`.
fn heading_anchor(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// The anchors of every heading of a Markdown document (fenced code blocks skipped).
fn anchors(markdown: &str) -> Vec<String> {
    let mut in_code = false;
    let mut anchors = Vec::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if !in_code && let Some(heading) = line.strip_prefix('#') {
            anchors.push(heading_anchor(heading.trim_start_matches('#')));
        }
    }
    anchors
}

/// The anchors `line` cites: `protocol.md#a`, `` `#b` ``, `, #c` and `](#d)`.
fn cited_anchors(line: &str) -> Vec<String> {
    let mut cited = Vec::new();
    for (at, _) in line.match_indices('#') {
        let before = &line[..at];
        let cites = ["protocol.md", "`", ", ", "]("];
        if !cites.iter().any(|c| before.ends_with(c)) {
            continue;
        }
        let anchor: String = line[at + 1..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_')
            .collect();
        if !anchor.is_empty() {
            cited.push(anchor);
        }
    }
    cited
}

/// `file:line: #anchor` for every cited section of `docs/protocol.md` that has no heading. An
/// anchor counts as cited on a line that names `protocol.md`, on the line after it (a citation
/// wrapped over two lines), and anywhere in `docs/protocol.md` itself (its own links).
pub(crate) fn broken_protocol_anchors(root: &Path) -> Vec<String> {
    let protocol = root.join("docs").join("protocol.md");
    let known = std::fs::read_to_string(&protocol)
        .map(|text| anchors(&text))
        .unwrap_or_default();
    let mut broken = Vec::new();
    for (path, text) in text_files(root) {
        let is_protocol = path == Path::new("docs").join("protocol.md");
        let lines: Vec<&str> = text.lines().collect();
        for (number, line) in lines.iter().enumerate() {
            let names_protocol = is_protocol
                || line.contains("protocol.md")
                || number
                    .checked_sub(1)
                    .is_some_and(|previous| lines[previous].contains("protocol.md"));
            if !names_protocol {
                continue;
            }
            for anchor in cited_anchors(line) {
                if !known.contains(&anchor) {
                    broken.push(format!("{}:{}: #{anchor}", path.display(), number + 1));
                }
            }
        }
    }
    broken
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_cites_nothing_outside_it() {
        let found = stale_citations(&crate::repository_root());
        assert!(
            found.is_empty(),
            "cite docs/protocol.md#section or a public source instead:\n{}",
            found.join("\n")
        );
    }

    #[test]
    fn every_cited_protocol_section_exists() {
        let root = crate::repository_root();
        assert!(
            !anchors(&std::fs::read_to_string(root.join("docs/protocol.md")).unwrap_or_default())
                .is_empty(),
            "docs/protocol.md has headings"
        );
        let broken = broken_protocol_anchors(&root);
        assert!(
            broken.is_empty(),
            "no such heading in docs/protocol.md:\n{}",
            broken.join("\n")
        );
    }

    /// A scratch repository: `files` written under a fresh temp directory.
    struct ScratchTree(PathBuf);

    impl ScratchTree {
        fn new(name: &str, files: &[(&str, &str)]) -> ScratchTree {
            let root =
                std::env::temp_dir().join(format!("xtask-citations-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&root);
            for (path, text) in files {
                let path = root.join(path);
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).expect("create dir");
                }
                std::fs::write(path, text).expect("write file");
            }
            ScratchTree(root)
        }
    }

    impl Drop for ScratchTree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn stale_citations_are_found_in_any_text_file_but_not_in_build_output() {
        // Spelled in pieces, so that this fixture is not itself a stale citation.
        let old = ["//! (external-account", " reference ", "§", "3.1)\n"].concat();
        let tree = ScratchTree::new(
            "stale",
            &[
                ("crates/a/src/lib.rs", &old),
                (
                    "README.md",
                    &["see `", "shared/", "reference/x`\n"].concat(),
                ),
                (
                    "docs/ok.md",
                    "the reference-client proof; `cargo xtask reference`\n",
                ),
                ("target/debug/out.rs", &old),
            ],
        );
        let found = stale_citations(&tree.0);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("README.md:1: "), "{found:?}");
        assert!(found[1].starts_with("crates/a/src/lib.rs:1: "), "{found:?}");
    }

    #[test]
    fn protocol_anchors_follow_githubs_rules() {
        let doc = "# Title\n## X.509 source\n### IMDSv1 and IMDSv2\n```sh\n# not a heading\n```\n### `credential_source` shapes\n";
        assert_eq!(
            anchors(doc),
            [
                "title",
                "x509-source",
                "imdsv1-and-imdsv2",
                "credential_source-shapes"
            ]
        );
    }

    #[test]
    fn broken_anchors_are_reported_with_their_place() {
        let tree = ScratchTree::new(
            "anchors",
            &[
                (
                    "docs/protocol.md",
                    "# Notes\n## STS request\nSee [options](#sts-options), [x](#sts-opts).\n## STS options\n",
                ),
                (
                    "crates/a/src/lib.rs",
                    "//! (`docs/protocol.md#sts-request` to\n//! `#sts-options`), and `#sts-missing`.\n//! `#not-a-citation` here\n#[derive(Debug)]\n",
                ),
                (
                    "docs/b.md",
                    "[x](protocol.md#sts-optoins), [y](protocol.md#notes)\n",
                ),
            ],
        );
        assert_eq!(
            broken_protocol_anchors(&tree.0),
            [
                "crates/a/src/lib.rs:2: #sts-missing",
                "docs/b.md:1: #sts-optoins",
                "docs/protocol.md:3: #sts-opts"
            ]
        );
    }
}
