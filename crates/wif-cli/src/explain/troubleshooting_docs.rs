//! docs/troubleshooting.md and docs/ja/troubleshooting.md, checked against the catalogue of
//! causes (every layer's, and `wif explain`'s own): one section per cause, headed
//! `` ### `[ID]` Title `` right under an `<a id="ID"></a>` anchor (the cause's doc anchor), and
//! no section for an id the catalogue does not have. The English title is the cause's summary.

use std::collections::BTreeSet;

use wif::Cause;

const EN: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/troubleshooting.md"
));
const JA: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/ja/troubleshooting.md"
));

fn catalogue() -> Vec<&'static Cause> {
    let mut all = wif::causes::catalogue();
    all.extend(super::diagnose::causes::ALL.iter());
    all
}

/// "the instance requires IMDSv2" → "The instance requires IMDSv2".
fn heading_of(summary: &str) -> String {
    let mut chars = summary.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Everything wrong with `page` against the catalogue; `english` also compares the titles
/// with the summaries.
fn problems(page: &str, english: bool) -> Vec<String> {
    let catalogue = catalogue();
    let lines: Vec<&str> = page.lines().collect();
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some(id) = line
            .strip_prefix("<a id=\"")
            .and_then(|r| r.strip_suffix("\"></a>"))
        {
            let next = lines.get(i + 1).copied().unwrap_or_default();
            if !next.starts_with(&format!("### `[{id}]` ")) {
                problems.push(format!("anchor {id} is not right above its section"));
            }
        }
        let Some(heading) = line.strip_prefix("### ") else {
            continue;
        };
        let Some((id, title)) = heading.strip_prefix("`[").and_then(|r| r.split_once("]` ")) else {
            if heading.contains("`[") {
                problems.push(format!("not one cause's section: {heading}"));
            }
            continue;
        };
        if title.contains("`[") {
            problems.push(format!("more than one cause in: {heading}"));
        }
        if i.checked_sub(1).map(|j| lines[j]) != Some(&format!("<a id=\"{id}\"></a>")) {
            problems.push(format!("[{id}] has no anchor right above it"));
        }
        if !seen.insert(id.to_owned()) {
            problems.push(format!("[{id}] has two sections"));
        }
        match catalogue.iter().find(|c| c.id == id) {
            None => problems.push(format!("[{id}] is no cause of the catalogue")),
            Some(cause) if english && title.replace('`', "") != heading_of(cause.summary) => {
                problems.push(format!(
                    "[{id}] is titled {title:?}, its summary is {:?}",
                    cause.summary
                ));
            }
            Some(_) => {}
        }
    }
    for cause in &catalogue {
        if !seen.contains(cause.id) {
            problems.push(format!("[{}] has no section", cause.id));
        }
    }
    problems
}

#[test]
fn every_cause_has_one_section_in_both_languages_and_every_section_a_cause() {
    let catalogue = catalogue();
    let ids: BTreeSet<&str> = catalogue.iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), catalogue.len(), "the catalogue repeats an id");
    assert_eq!(
        problems(EN, true),
        Vec::<String>::new(),
        "docs/troubleshooting.md"
    );
    assert_eq!(
        problems(JA, false),
        Vec::<String>::new(),
        "docs/ja/troubleshooting.md"
    );
    for cause in catalogue {
        assert!(EN.contains(&format!("<a id=\"{}\">", cause.doc_anchor())));
    }
}

#[test]
fn the_check_catches_each_kind_of_drift() {
    let region = "<a id=\"no_region\"></a>\n### `[no_region]` No AWS region";
    assert!(EN.contains(region));
    let drifts = [
        // A section without its anchor.
        EN.replace(region, "### `[no_region]` No AWS region"),
        // A section for a cause nobody has.
        EN.replace("`[no_region]`", "`[no_regions]`")
            .replace("\"no_region\"", "\"no_regions\""),
        // A cause without a section.
        EN.replace(region, "### No AWS region"),
        // Two causes in one section.
        EN.replace(
            region,
            "<a id=\"no_region\"></a>\n### `[no_region]` `[no_instance_role]` x",
        ),
        // A heading that says something else than the summary.
        EN.replace(
            region,
            "<a id=\"no_region\"></a>\n### `[no_region]` The region is missing",
        ),
    ];
    for drifted in drifts {
        assert!(!problems(&drifted, true).is_empty());
    }
}
