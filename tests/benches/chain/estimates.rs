//! Criterion's results of this run (`cached_token` bench, read from `target/criterion`), as a
//! section of the report and as the cached-token targets.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::report::{Target, ns, ratio, table};

/// One criterion benchmark's estimates, in ns per iteration.
#[derive(Debug, Clone)]
pub struct Estimate {
    /// `cached_token/credentials` or `cached_token/token_cache`.
    pub group: String,
    /// The thread count (criterion's parameter).
    pub threads: usize,
    /// Median point estimate.
    pub median: f64,
    /// 95% confidence interval of the median.
    pub median_ci: (f64, f64),
    /// Slope of the linear regression, when criterion sampled linearly.
    pub slope: Option<f64>,
}

/// Every `new/` result under `dir`, sorted by group and threads.
pub fn read(dir: &Path) -> Vec<Estimate> {
    let mut found = Vec::new();
    collect(dir, &mut found);
    let mut estimates: Vec<Estimate> = found.iter().filter_map(|d| parse(d)).collect();
    estimates.sort_by(|a, b| (&a.group, a.threads).cmp(&(&b.group, b.threads)));
    estimates
}

fn collect(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            found.push(path);
        } else {
            collect(&path, found);
        }
    }
}

fn parse(dir: &Path) -> Option<Estimate> {
    let json = |name: &str| -> Option<Value> {
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).ok()?).ok()
    };
    let benchmark = json("benchmark.json")?;
    let estimates = json("estimates.json")?;
    let median = &estimates["median"];
    Some(Estimate {
        group: benchmark["group_id"].as_str()?.to_owned(),
        threads: benchmark["value_str"].as_str()?.parse().ok()?,
        median: median["point_estimate"].as_f64()?,
        median_ci: (
            median["confidence_interval"]["lower_bound"].as_f64()?,
            median["confidence_interval"]["upper_bound"].as_f64()?,
        ),
        slope: estimates["slope"]["point_estimate"].as_f64(),
    })
}

/// The section.
pub fn section(estimates: &[Estimate]) -> String {
    let rows = estimates
        .iter()
        .map(|e| {
            vec![
                format!("`{}`", e.group),
                e.threads.to_string(),
                ns(e.median),
                format!(
                    "{}–{}",
                    ns(e.median_ci.0).trim_end_matches(" ns"),
                    ns(e.median_ci.1)
                ),
                e.slope.map_or("–".into(), ns),
            ]
        })
        .collect();
    format!(
        "## Criterion: cached `token()`\n\n\
         `tests/benches/cached_token.rs`, `--warm-up-time 1 --measurement-time 3`. \
         `credentials` is `wif::Credentials::token()`, the call users make, after one token \
         from the emulator; `token_cache` is `wif_core::TokenCache` alone around a static \
         provider, the floor under it. With `threads=N`, one iteration is one call on each of N \
         threads at once, so the time is what each caller waits; with more threads than cores \
         threads share a core and take longer for that reason alone. Run-to-run differences of \
         10–20% are usual on shared virtual machines (code placement, neighbours): near a \
         target, compare several runs rather than one number.\n\n{}\n",
        table(
            &[
                "benchmark",
                "threads",
                "median per call",
                "95% CI of the median",
                "slope"
            ],
            rows
        )
    )
}

/// The cached-token targets, from criterion's `credentials` group.
pub fn targets(estimates: &[Estimate], targets: &mut Vec<Target>) {
    let credentials = |threads: usize| {
        estimates
            .iter()
            .find(|e| e.group == "cached_token/credentials" && e.threads == threads)
    };
    let Some(one) = credentials(1) else {
        return;
    };
    targets.push(Target::new(
        "cached `token()`, 1 thread (criterion)",
        "≤100 ns median",
        ns(one.median),
        Some(one.median <= 100.0),
    ));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if let Some(many) = (cores > 1).then(|| credentials(cores.min(16))).flatten() {
        let growth = many.median / one.median;
        targets.push(Target::new(
            format!("cached `token()`, {} threads (criterion)", many.threads),
            "flat as threads grow (≤1.5× the 1-thread median, up to one thread per core)",
            format!(
                "{} ({} the 1-thread median)",
                ns(many.median),
                ratio(growth)
            ),
            Some(growth <= 1.5),
        ));
    }
}
