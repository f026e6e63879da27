//! The crate's modules import each other in one direction only: no two modules (or longer loops
//! of them) depend on each other, so each can be read, and changed, from the bottom up. The
//! graph is read from the source: every `crate::…` path outside comments, in each module's
//! files, with the crate root's re-exports followed to the module that defines the item.

#![allow(clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Module → the modules it uses.
type Graph = BTreeMap<String, BTreeSet<String>>;

#[test]
fn the_modules_of_wif_source_aws_import_each_other_in_one_direction() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = module_graph(&src);
    assert!(
        graph.len() >= 10,
        "the crate's modules were not found: {graph:?}"
    );
    assert!(
        graph["source"].contains("resolver") && graph["jwt_source"].contains("resolver"),
        "both sources use the shared resolver: {graph:?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "modules import each other: {}\n(the graph: {graph:#?})",
            cycle.join(" → ")
        );
    }
}

#[test]
fn the_check_finds_a_cycle_and_reads_use_trees() {
    let files = [
        (
            "lib.rs",
            "mod a;\nmod b;\npub use b::{Thing, Other as Renamed};\npub const ROOT: u8 = 1;\n",
        ),
        (
            "a.rs",
            "// use crate::b::Commented;\nuse crate::{Renamed, ROOT};\nfn f() { crate::c::g() }\n",
        ),
        ("b.rs", "use crate::{\n    c::{self, x},\n    Thing,\n};\n"),
        ("c.rs", "/// [`crate::a`] in a doc link\npub fn g() {}\n"),
    ];
    let graph = graph_of(&files);
    let edges = |m: &str| graph[m].iter().cloned().collect::<Vec<_>>();
    assert_eq!(edges("a"), ["b", "c"], "{graph:?}");
    assert_eq!(
        edges("b"),
        ["c"],
        "a module using itself is no edge: {graph:?}"
    );
    assert!(
        edges("c").is_empty(),
        "doc comments are not imports: {graph:?}"
    );
    assert_eq!(find_cycle(&graph), None);

    let mut looped = files;
    looped[3] = ("c.rs", "use crate::Thing;\n");
    let cycle = find_cycle(&graph_of(&looped)).expect("b → c → b");
    assert_eq!(cycle.first(), cycle.last(), "{cycle:?}");
    assert!(cycle.contains(&"b".to_owned()) && cycle.contains(&"c".to_owned()));
}

fn graph_of(files: &[(&str, &str)]) -> Graph {
    let dir = tempdir();
    for (name, text) in files {
        fs::write(dir.join(name), text).expect("write");
    }
    let graph = module_graph(&dir);
    fs::remove_dir_all(&dir).expect("clean up");
    graph
}

fn tempdir() -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("wif-module-graph-{}-{n}", std::process::id()));
    fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The graph of the modules under `src`: `src/x.rs` and everything under `src/x/` are module
/// `x`; `lib.rs` (the root) is no module, but its `pub use x::{…}` lines say where a name
/// imported as `crate::Name` lives.
fn module_graph(src: &Path) -> Graph {
    let root = code(&fs::read_to_string(src.join("lib.rs")).expect("lib.rs"));
    let mut modules = BTreeSet::new();
    let mut files = Vec::new();
    collect(src, src, &mut files);
    for (module, _) in &files {
        if module != "lib" {
            modules.insert(module.clone());
        }
    }
    let mut reexports = BTreeMap::new();
    for path in crate_paths(&root, "pub use ") {
        if let [module, name] = path.as_slice()
            && modules.contains(module)
        {
            // `Item as Alias`: importers use the alias.
            let used = name.split_whitespace().last().unwrap_or(name);
            reexports.insert(used.to_owned(), module.clone());
        }
    }
    let mut graph: Graph = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    for (module, text) in files {
        if module == "lib" {
            continue;
        }
        for path in crate_paths(&code(&text), "crate::") {
            let Some(first) = path.first() else { continue };
            let first = first.split_whitespace().next().unwrap_or(first).to_owned();
            let first = &first;
            let target = if modules.contains(first) {
                Some(first.clone())
            } else {
                reexports.get(first).cloned()
            };
            if let Some(target) = target
                && target != module
            {
                graph.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    graph
}

fn collect(src: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect(src, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(src).expect("under src");
            let first = relative
                .components()
                .next()
                .expect("a component")
                .as_os_str()
                .to_string_lossy();
            let module = first.trim_end_matches(".rs").to_owned();
            out.push((module, fs::read_to_string(&path).expect("read")));
        }
    }
}

/// The text without `//` comments (doc comments included: their links are not imports). A
/// `//` after an odd number of quotes is inside a string (a URL), not a comment.
fn code(text: &str) -> String {
    text.lines()
        .map(|line| {
            let comment = line
                .match_indices("//")
                .map(|(at, _)| at)
                .find(|&at| line[..at].matches('"').count() % 2 == 0);
            comment.map_or(line, |at| &line[..at])
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path that follows `prefix` (`crate::` or `pub use `), use trees expanded:
/// `crate::{a::{self, b}, C}` gives `[a, self]`, `[a, b]` and `[C]`.
fn crate_paths(text: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue; // `$crate::`, `wif_crate::`, …
        }
        let tree = take_tree(rest);
        expand(tree, &mut Vec::new(), &mut out);
    }
    out
}

/// The use tree at the start of `text`: `a::b::C`, or `a::{…}` with its braces balanced.
fn take_tree(text: &str) -> &str {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return &text[..i],
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &text[..=i];
                }
            }
            c if depth == 0 && !(c.is_alphanumeric() || c == '_' || c == ':') => {
                return &text[..i];
            }
            _ => {}
        }
    }
    text
}

fn expand(tree: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    let (head, group) = match tree.find('{') {
        Some(open) => (&tree[..open], Some(&tree[open + 1..tree.len() - 1])),
        None => (tree, None),
    };
    let depth = prefix.len();
    // A last segment `Item as Alias` is kept whole: see the callers.
    for segment in head.split("::").map(str::trim).filter(|s| !s.is_empty()) {
        prefix.push(segment.to_owned());
    }
    match group {
        None => {
            if prefix.len() > depth {
                out.push(prefix.clone());
            }
        }
        Some(group) => {
            for item in split_top_level(group) {
                expand(item, prefix, out);
            }
        }
    }
    prefix.truncate(depth);
}

fn split_top_level(group: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&group[start..]);
    items.into_iter().filter(|s| !s.trim().is_empty()).collect()
}

/// A cycle, as the modules on it with the first repeated at the end, if there is one.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &Graph,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let from = stack.iter().position(|n| n == node).unwrap_or(0);
                let mut cycle = stack[from..].to_vec();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node.to_owned(), Mark::Open);
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, marks, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        marks.insert(node.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut marks, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}
