//! Cold chain side by side (time, round trips per step, connections), cached token with one
//! harness for all, and footprint.

use std::time::Duration;

use crate::peers::{Peer, Tools};
use crate::process::{Outcome, Stats, gnu_time, peak_rss_kib};
use crate::proxy::Log;
use crate::report::{STEPS, Target, mib, ms, ms_stats, ns, per_step, ratio, sequence, table};
use crate::{ACCOUNTING_LATENCY_MS, Case, World, lambda, progress, wif_side};

const PROCESS_DEADLINE: Duration = Duration::from_secs(30);

/// One client's numbers for one case.
struct Row {
    client: String,
    /// Credentials built from the configuration, ms.
    build: Option<Stats>,
    /// The first token from them, ms.
    token: Option<Stats>,
    /// First token in-process, ms (configuration to token).
    in_process: Option<Stats>,
    /// Whole process, spawn to exit, ms.
    whole: Option<Stats>,
    /// The accounting run through the proxy.
    log: Option<Log>,
    /// The accounting run's first token, ms (in-process where the client reports it).
    slow_token: Option<f64>,
    /// What went wrong, if anything.
    note: Option<String>,
}

impl Row {
    fn new(client: &str) -> Row {
        Row {
            client: client.to_owned(),
            build: None,
            token: None,
            in_process: None,
            whole: None,
            log: None,
            slow_token: None,
            note: None,
        }
    }

    /// Runs a child once to warm up, then `runs` times, and keeps [`Row::whole`] from the timed
    /// runs; the first failure is noted and ends the series. Returns the timed outcomes.
    fn time_processes(
        &mut self,
        runs: usize,
        mut run: impl FnMut() -> Option<Outcome>,
    ) -> Vec<Outcome> {
        let mut timed = Vec::new();
        for i in 0..=runs {
            let Some(outcome) = run() else {
                break;
            };
            if !outcome.success {
                self.note = Some(outcome.failure());
                break;
            }
            if i > 0 {
                timed.push(outcome);
            }
        }
        let walls: Vec<f64> = timed.iter().map(|o| millis(o.wall)).collect();
        self.whole = Stats::of(&walls);
        timed
    }
}

fn micros_to_ms(us: f64) -> f64 {
    us / 1000.0
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The cold chain for both cases, every client.
pub async fn run(
    world: &World,
    tools: &Tools,
    runs: usize,
    targets: &mut Vec<Target>,
) -> Result<String, String> {
    let mut out = format!(
        "## Cold chain: the first token\n\n\
         Every client starts from nothing (no cache, a new HTTP client) and gets a service-account \
         token: subject token, Google STS exchange, IAM Credentials impersonation. *In-process* is \
         configuration to token inside the process (for google-auth: after `import`), split into \
         building the credentials from the file (medians) and the first token; *whole \
         process* is spawn to exit of `wif token`, the google-cloud-auth bench binary and the \
         google-auth script (interpreter start and imports included). Each process is run once to \
         warm the page cache, then measured. wif's in-process numbers come from this bench \
         (O3), google-cloud-auth's from its whole-process runs (release profile, opt-level s, \
         like `wif`).\n\n\
         Round trips and connections come from a separate run through a counting proxy that \
         follows requests and responses, with {ACCOUNTING_LATENCY_MS} ms of latency added to \
         every emulated service (so requests a client makes concurrently are unmistakably \
         concurrent); the last column is that run's first token (in-process, except for \
         `wif token`: whole process), which shows how the round trips add up on a real \
         network. *Reuse missed* counts new connections opened while an idle connection to \
         the same service was open (services as in production: the metadata service, Google STS \
         and IAM Credentials are three hosts there, one here). In the request sequences, `#n` is \
         the connection a request went on.\n\n",
    );
    for case in Case::ALL {
        progress(&format!("cold chain: {}", case.title()));
        let env = world.env(case);
        let direct = case.config(&world.direct);
        let proxied = case.config(&world.proxied);
        let mut rows = Vec::new();

        // wif, the library, in this process.
        let mut row = Row::new("wif (library)");
        wif_side::cold_once(direct, &env).await?;
        let (mut builds, mut tokens, mut totals) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs * 2 {
            let run = wif_side::cold_once(direct, &env).await?;
            builds.push(millis(run.build));
            tokens.push(millis(run.token));
            totals.push(millis(run.build + run.token));
        }
        row.build = Stats::of(&builds);
        row.token = Stats::of(&tokens);
        row.in_process = Stats::of(&totals);
        world.begin_accounting();
        let result = wif_side::cold_once(proxied, &env).await;
        let log = world.end_accounting();
        let run = result?;
        row.slow_token = Some(millis(run.build + run.token));
        row.log = Some(log);
        rows.push(row);

        // wif, the CLI.
        if tools.wif_cli.is_some() {
            let mut row = Row::new("wif (`wif token`)");
            let direct_arg = direct.to_string_lossy();
            row.time_processes(runs, || {
                tools.run_wif_token(&direct_arg, &env, PROCESS_DEADLINE)
            });
            world.begin_accounting();
            let outcome = tools.run_wif_token(&proxied.to_string_lossy(), &env, PROCESS_DEADLINE);
            let log = world.end_accounting();
            if let Some(o) = outcome.filter(|o| o.success) {
                row.slow_token = Some(millis(o.wall));
                row.log = Some(log);
            }
            rows.push(row);
        }

        for peer in tools.peers() {
            rows.push(peer_row(world, tools, peer, case, runs));
        }
        out.push_str(&render_case(case, &rows));
        case_targets(case, &rows, targets);
    }
    Ok(out)
}

fn peer_row(world: &World, tools: &Tools, peer: Peer, case: Case, runs: usize) -> Row {
    let env = world.env(case);
    let mut row = Row::new(peer.name());
    let direct = case.config(&world.direct).to_string_lossy().into_owned();
    let (mut builds, mut tokens, mut in_process) = (Vec::new(), Vec::new(), Vec::new());
    let timed = row.time_processes(runs, || {
        tools.run_peer(peer, &["cold", &direct], &env, PROCESS_DEADLINE)
    });
    for outcome in &timed {
        if let (Some(b), Some(t)) = (outcome.field("build_us"), outcome.field("token_us")) {
            builds.push(micros_to_ms(b));
            tokens.push(micros_to_ms(t));
            in_process.push(micros_to_ms(b + t));
        }
    }
    row.build = Stats::of(&builds);
    row.token = Stats::of(&tokens);
    row.in_process = Stats::of(&in_process);
    let proxied = case.config(&world.proxied).to_string_lossy().into_owned();
    world.begin_accounting();
    let outcome = tools.run_peer(peer, &["cold", &proxied], &env, PROCESS_DEADLINE);
    let log = world.end_accounting();
    if let Some(o) = outcome.filter(|o| o.success) {
        row.slow_token = match (o.field("build_us"), o.field("token_us")) {
            (Some(b), Some(t)) => Some(micros_to_ms(b + t)),
            _ => Some(millis(o.wall)),
        };
        row.log = Some(log);
    }
    row
}

fn render_case(case: Case, rows: &[Row]) -> String {
    let wif_in = rows.first().and_then(|r| r.in_process);
    let wif_whole = rows
        .iter()
        .find_map(|r| r.whole.filter(|_| r.client.starts_with("wif")));
    let vs = |value: Option<Stats>, base: Option<Stats>| match (value, base) {
        (Some(v), Some(b)) if b.median > 0.0 => ratio(v.median / b.median),
        _ => "–".to_owned(),
    };
    let timing = rows
        .iter()
        .map(|r| {
            let median = |s: Option<Stats>| s.map_or("–".into(), |s| ms(s.median));
            vec![
                r.client.clone(),
                median(r.build),
                median(r.token),
                r.in_process.as_ref().map_or("–".into(), ms_stats),
                vs(r.in_process, wif_in),
                r.whole.as_ref().map_or("–".into(), ms_stats),
                vs(r.whole, wif_whole),
            ]
        })
        .collect();
    let mut headers = vec!["client"];
    headers.extend(STEPS.iter().take(STEPS.len() - 1));
    let show_other = rows.iter().any(|r| {
        r.log
            .as_ref()
            .is_some_and(|l| per_step(l)[STEPS.len() - 1] > 0)
    });
    if show_other {
        headers.push("other");
    }
    let slow_header = format!("first token at {ACCOUNTING_LATENCY_MS} ms per request");
    headers.extend([
        "round trips",
        "TCP connections",
        "reuse missed",
        &slow_header,
    ]);
    let trips = rows
        .iter()
        .map(|r| {
            let mut row = vec![r.client.clone()];
            match &r.log {
                Some(log) => {
                    let counts = per_step(log);
                    let shown = if show_other {
                        STEPS.len()
                    } else {
                        STEPS.len() - 1
                    };
                    row.extend(counts.iter().take(shown).map(usize::to_string));
                    row.push(log.requests.len().to_string());
                    row.push(log.connections.to_string());
                    row.push(log.avoidable.to_string());
                    row.push(r.slow_token.map_or("–".into(), ms));
                }
                None => {
                    let shown = if show_other {
                        STEPS.len()
                    } else {
                        STEPS.len() - 1
                    };
                    row.extend(std::iter::repeat_n("–".to_owned(), shown + 4));
                }
            }
            row
        })
        .collect();
    let mut out = format!(
        "### {}\n\n{}\n{}\n",
        case.title(),
        table(
            &[
                "client",
                "build credentials",
                "first token",
                "in-process total",
                "× wif",
                "whole process",
                "× wif (CLI)"
            ],
            timing
        ),
        table(&headers, trips)
    );
    for r in rows {
        if let Some(log) = &r.log {
            out.push_str(&format!("- {}: {}\n", r.client, sequence(log)));
        }
        if let Some(note) = &r.note {
            out.push_str(&format!("- {} failed: `{note}`\n", r.client));
        }
    }
    out.push('\n');
    out
}

fn case_targets(case: Case, rows: &[Row], targets: &mut Vec<Target>) {
    let label = match case {
        Case::Lambda => "Lambda",
        Case::Ec2 => "EC2 IMDSv2",
    };
    let wif_whole = rows
        .iter()
        .find(|r| r.client.starts_with("wif (`"))
        .and_then(|r| r.whole);
    for (peer, goal) in [(Peer::GcAuth, 2.0), (Peer::GoogleAuth, 30.0)] {
        let peer_whole = rows
            .iter()
            .find(|r| r.client == peer.name())
            .and_then(|r| r.whole);
        let (measured, met) = match (wif_whole, peer_whole) {
            (Some(w), Some(p)) => {
                let r = p.median / w.median;
                (format!("{} faster", ratio(r)), Some(r >= goal))
            }
            _ => ("–".to_owned(), None),
        };
        targets.push(Target::new(
            format!("{label}: cold token, whole process, vs {}", peer.name()),
            format!("≥{goal}× faster"),
            measured,
            met,
        ));
    }
    let wif_log = rows.first().and_then(|r| r.log.as_ref());
    if let Some(log) = wif_log {
        let ours = log.requests.len();
        let peers: Vec<(String, usize)> = rows
            .iter()
            .skip(1)
            .filter(|r| !r.client.starts_with("wif"))
            .filter_map(|r| Some((r.client.clone(), r.log.as_ref()?.requests.len())))
            .collect();
        let mut measured = format!("wif {ours}");
        for (name, n) in &peers {
            measured.push_str(&format!("; {name} {n}"));
        }
        targets.push(Target::new(
            format!("{label}: HTTP round trips"),
            format!(
                "the minimum ({}), never more than a peer",
                case.minimum_round_trips()
            ),
            measured,
            Some(ours == case.minimum_round_trips() && peers.iter().all(|(_, n)| ours <= *n)),
        ));
        targets.push(Target::new(
            format!("{label}: connection reuse"),
            "keep-alive: no new connection to a service with an idle one open",
            format!(
                "{} connection{} for {} requests, {} reuse missed",
                log.connections,
                if log.connections == 1 { "" } else { "s" },
                log.requests.len(),
                log.avoidable
            ),
            Some(log.avoidable == 0),
        ));
    }
}

/// Cached `token()` with the same harness for every client: 30 batches of calls, the median ns
/// per call; 1 thread and one thread per core.
/// The ≤100 ns and flatness targets come from criterion when it ran (`criterion_ran`), from this
/// harness otherwise.
pub async fn cached(
    world: &World,
    tools: &Tools,
    criterion_ran: bool,
    targets: &mut Vec<Target>,
) -> Result<String, String> {
    progress("cached token");
    const BATCHES: usize = 30;
    const CALLS: usize = 100_000;
    const PYTHON_CALLS: usize = 20_000;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let config = world.direct.file.to_string_lossy().into_owned();

    let creds = wif_side::credentials(&world.direct.file, &[])?;
    wif::TokenProvider::token(&creds)
        .await
        .map_err(|e| format!("warm-up token: {e}"))?;
    let wif_one = wif_side::cached(&creds, BATCHES, CALLS, 1)?;
    let wif_many = if cores > 1 {
        Some(wif_side::cached(&creds, BATCHES, CALLS, cores)?)
    } else {
        None
    };
    let mut rows = vec![vec![
        "wif".to_owned(),
        "`Credentials::token()`".to_owned(),
        ns(wif_one),
        wif_many.map_or("–".into(), ns),
        "1.0×".to_owned(),
    ]];
    let mut gcauth_one = None;
    for peer in tools.peers() {
        let (call, one, many) = match peer {
            Peer::GcAuth => {
                let batches = BATCHES.to_string();
                let calls = CALLS.to_string();
                let run = |threads: usize| {
                    let threads = threads.to_string();
                    tools
                        .run_peer(
                            peer,
                            &["cached", &config, &batches, &calls, &threads],
                            &[],
                            Duration::from_secs(120),
                        )
                        .and_then(|o| o.field("median_ns"))
                };
                let one = run(1);
                gcauth_one = one;
                let many = if cores > 1 { run(cores) } else { None };
                ("`AccessTokenCredentials::access_token()`", one, many)
            }
            Peer::GoogleAuth => {
                let one = tools
                    .run_peer(
                        peer,
                        &[
                            "cached",
                            &config,
                            &BATCHES.to_string(),
                            &PYTHON_CALLS.to_string(),
                        ],
                        &[],
                        Duration::from_secs(120),
                    )
                    .and_then(|o| o.field("median_ns"));
                ("`if not creds.valid: refresh()`; `creds.token`", one, None)
            }
        };
        rows.push(vec![
            peer.name().to_owned(),
            call.to_owned(),
            one.map_or("failed".into(), ns),
            many.map_or("–".into(), ns),
            one.map_or("–".into(), |v| ratio(v / wif_one)),
        ]);
    }
    let many_header = format!("{cores} threads (each)");
    let out = format!(
        "## Cached token, same harness for every client\n\n\
         After one warm-up token, each client's cached-token call is timed in 30 batches \
         ({CALLS} calls per batch; {PYTHON_CALLS} for Python) and the median ns per call is \
         reported. Rust futures are polled once with a no-op waker (a cached token must be \
         ready at once), so no executor's cost is counted for either Rust client. Both Rust \
         libraries are compiled at O3 here, as applications build them (wif: this bench's \
         profile; google-cloud-auth: its bench binary's `inprocess` profile). With several \
         threads, each thread runs the same batches at once; the number is per call, per \
         thread. Criterion's numbers for wif are in the next section.\n\n{}\n",
        table(
            &[
                "client",
                "call",
                "1 thread",
                &many_header,
                "× wif (1 thread)"
            ],
            rows
        )
    );
    if !criterion_ran {
        targets.push(Target::new(
            "cached `token()`, 1 thread",
            "≤100 ns median",
            ns(wif_one),
            Some(wif_one <= 100.0),
        ));
        if let Some(many) = wif_many {
            targets.push(Target::new(
                format!("cached `token()`, {cores} threads"),
                "flat as threads grow (≤1.5× the 1-thread median, up to one thread per core)",
                format!(
                    "{} ({} the 1-thread median)",
                    ns(many),
                    ratio(many / wif_one)
                ),
                Some(many <= 1.5 * wif_one),
            ));
        }
    }
    targets.push(Target::new(
        "cached `token()` vs google-cloud-auth (same harness)",
        "≥3× cheaper",
        gcauth_one.map_or("–".into(), |g| format!("{} cheaper", ratio(g / wif_one))),
        gcauth_one.map(|g| g / wif_one >= 3.0),
    ));
    Ok(out)
}

/// Binary sizes, peak RSS, the Lambda example's cold start.
pub async fn footprint(world: &World, tools: &Tools, targets: &mut Vec<Target>) -> String {
    progress("footprint");
    let size = |path: &Option<std::path::PathBuf>| {
        path.as_ref()
            .and_then(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
    };
    let mut rows = Vec::new();
    let time = gnu_time();
    let rss = |program: Option<(std::path::PathBuf, Vec<String>)>,
               env: &[(String, String)],
               secret: bool| {
        let (time, (program, args)) = (time.as_ref()?, program?);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let samples: Vec<f64> = (0..3)
            .filter_map(|_| peak_rss_kib(time, &program, &args, env, secret, &world.scratch).ok())
            .map(|k| k as f64)
            .collect();
        Stats::of(&samples).map(|s| s.median as u64 * 1024)
    };
    let lambda_config = world.direct.aws_lambda.to_string_lossy().into_owned();
    let ec2_config = world.direct.aws_ec2_imdsv2.to_string_lossy().into_owned();
    let wif_token = |config: &str| {
        tools.wif_cli.clone().map(|p| {
            (
                p,
                vec![
                    "token".to_owned(),
                    "--credentials".to_owned(),
                    config.to_owned(),
                ],
            )
        })
    };
    let wif_rss_lambda = rss(wif_token(&lambda_config), &world.lambda_env, true);
    let wif_rss_ec2 = rss(wif_token(&ec2_config), &[], true);
    rows.push(vec![
        "`wif token` (wif CLI)".to_owned(),
        size(&tools.wif_cli).map_or("–".into(), mib),
        wif_rss_lambda.map_or("–".into(), mib),
        wif_rss_ec2.map_or("–".into(), mib),
    ]);
    for peer in tools.peers() {
        let binary = match peer {
            Peer::GcAuth => size(&tools.gcauth).map_or("–".into(), mib),
            Peer::GoogleAuth => "(interpreter)".to_owned(),
        };
        let lambda = rss(
            tools.invocation(peer, &["cold", &lambda_config]),
            &tools.peer_env(peer, &world.lambda_env),
            false,
        );
        let ec2 = rss(
            tools.invocation(peer, &["cold", &ec2_config]),
            &tools.peer_env(peer, &[]),
            false,
        );
        rows.push(vec![
            peer.name().to_owned(),
            binary,
            lambda.map_or("–".into(), mib),
            ec2.map_or("–".into(), mib),
        ]);
    }
    let peak = wif_rss_lambda.max(wif_rss_ec2);
    targets.push(Target::new(
        "`wif token` peak RSS",
        "≤6 MiB",
        peak.map_or("–".into(), mib),
        peak.map(|b| b <= 6 * 1024 * 1024),
    ));

    let mut lambda_line = String::from("not measured (no Lambda example binary)");
    if let Some(binary) = &tools.lambda {
        let mut samples = Vec::new();
        let mut failure = None;
        for i in 0..6 {
            match lambda::cold_start(
                binary,
                &world.direct.aws_lambda,
                world.emulator.base_url(),
                &world.lambda_env,
            )
            .await
            {
                Ok(d) if i > 0 => samples.push(millis(d)),
                Ok(_) => {}
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        lambda_line = match (Stats::of(&samples), failure) {
            (_, Some(e)) => format!("failed: {e}"),
            (Some(s), None) => format!(
                "binary {}, cold start to first answered invocation {}",
                size(&tools.lambda).map_or("–".into(), mib),
                ms_stats(&s)
            ),
            (None, None) => "no samples".to_owned(),
        };
    }
    format!(
        "## Footprint\n\n\
         Release builds (fat LTO in one codegen unit, opt-level s, panic = abort, symbols stripped — the same profile for \
         wif and the google-cloud-auth bench binary; `wif` with its default features, so without \
         the emulator, as `cargo install wif-cli` builds it). Peak RSS is GNU time's maximum resident \
         set size of one whole cold process, median of 3.\n\n{}\n\
         **Lambda example** (`examples/aws-lambda`, release): {lambda_line}. Measured from spawn \
         to the function's first answer under a loopback Lambda Runtime API: process start, \
         runtime client, the first token (exchange + impersonation) and one Cloud Storage list \
         at the emulator. Median of 5 after one warm-up start.\n\n",
        table(
            &[
                "program",
                "binary size",
                "peak RSS, Lambda case",
                "peak RSS, EC2 IMDSv2 case"
            ],
            rows
        ),
    )
}
