//! Markdown for `docs/benchmarks.md`: tables, number formats, and the targets the issue set.

use crate::process::Stats;
use crate::proxy::Log;

/// One target of the issue and how this run did.
#[derive(Debug, Clone)]
pub struct Target {
    /// What is measured.
    pub what: String,
    /// The target.
    pub goal: String,
    /// What this run measured.
    pub measured: String,
    /// Met, missed, or not measured.
    pub met: Option<bool>,
}

impl Target {
    /// A target with its verdict.
    pub fn new(
        what: impl Into<String>,
        goal: impl Into<String>,
        measured: impl Into<String>,
        met: Option<bool>,
    ) -> Target {
        Target {
            what: what.into(),
            goal: goal.into(),
            measured: measured.into(),
            met,
        }
    }
}

/// The targets as a table.
pub fn targets(targets: &[Target]) -> String {
    let rows = targets
        .iter()
        .map(|t| {
            let verdict = match t.met {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "not measured",
            };
            vec![
                t.what.clone(),
                t.goal.clone(),
                t.measured.clone(),
                verdict.to_owned(),
            ]
        })
        .collect();
    table(&["what", "target", "measured", "verdict"], rows)
}

/// A markdown table.
pub fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut out = format!("| {} |\n", headers.join(" | "));
    out.push_str(&format!(
        "|{}\n",
        headers.iter().map(|_| "---|").collect::<String>()
    ));
    for row in rows {
        out.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    out
}

/// Milliseconds, with precision that suits the size.
pub fn ms(value: f64) -> String {
    if value < 1.0 {
        format!("{value:.3} ms")
    } else if value < 10.0 {
        format!("{value:.2} ms")
    } else if value < 100.0 {
        format!("{value:.1} ms")
    } else {
        format!("{value:.0} ms")
    }
}

/// Nanoseconds.
pub fn ns(value: f64) -> String {
    if value < 100.0 {
        format!("{value:.1} ns")
    } else {
        format!("{value:.0} ns")
    }
}

/// `median (min–max, n)` in ms.
pub fn ms_stats(stats: &Stats) -> String {
    format!(
        "{} ({}–{}, n={})",
        ms(stats.median),
        trim_unit(&ms(stats.min)),
        ms(stats.max),
        stats.n
    )
}

fn trim_unit(text: &str) -> &str {
    text.strip_suffix(" ms").unwrap_or(text)
}

/// `3.4×`.
pub fn ratio(value: f64) -> String {
    if value >= 10.0 {
        format!("{value:.0}×")
    } else {
        format!("{value:.1}×")
    }
}

/// Bytes as MiB.
pub fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The steps of the chain, in the order the columns show them.
pub const STEPS: [&str; 7] = [
    "IMDS token",
    "region",
    "role",
    "role creds",
    "STS",
    "IAM",
    "other",
];

/// Which step of the chain a request is.
pub fn step_of(method: &str, path: &str) -> &'static str {
    const CREDENTIALS: &str = "/latest/meta-data/iam/security-credentials";
    if method == "PUT" && path == "/latest/api/token" {
        "IMDS token"
    } else if path.starts_with("/latest/meta-data/placement/") {
        "region"
    } else if path.trim_end_matches('/') == CREDENTIALS {
        "role"
    } else if path.starts_with(CREDENTIALS) {
        "role creds"
    } else if path == "/v1/token" {
        "STS"
    } else if path.ends_with(":generateAccessToken") {
        "IAM"
    } else {
        "other"
    }
}

/// Requests per step, in [`STEPS`] order.
pub fn per_step(log: &Log) -> [usize; STEPS.len()] {
    let mut counts = [0; STEPS.len()];
    for (method, path) in &log.requests {
        let step = step_of(method, path);
        if let Some(i) = STEPS.iter().position(|s| *s == step) {
            counts[i] += 1;
        }
    }
    counts
}

/// The request sequence with the connection each came on (numbered from 1 in order of first
/// use), e.g. `IMDS token #1 → region #1 → role #2 → …`.
pub fn sequence(log: &Log) -> String {
    let mut numbers: Vec<u64> = Vec::new();
    let steps: Vec<String> = log
        .requests
        .iter()
        .zip(&log.connection_of)
        .map(|((m, p), c)| {
            let n = match numbers.iter().position(|seen| seen == c) {
                Some(i) => i + 1,
                None => {
                    numbers.push(*c);
                    numbers.len()
                }
            };
            format!("{} #{n}", step_of(m, p))
        })
        .collect();
    if steps.is_empty() {
        "none".to_owned()
    } else {
        steps.join(" → ")
    }
}
