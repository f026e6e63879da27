//! The real-network section of `docs/benchmarks.md`: its targets with verdicts, the cold starts
//! per source, what one refresh costs, and callers across a refresh.

use crate::peers::Peer;
use crate::process::Stats;
use crate::report::{STEPS, Target, mib, ms, ratio, sequence, table, targets as targets_table};

use super::cold::{Client, ColdResults, Sample, Series};
use super::lambda::LambdaRow;
use super::refresh::{LOAD_RATE, LOAD_TASKS, Load, RefreshResults, quantile};
use super::{DNS_LATENCY, FEDERATED_LIFETIME, Host, METADATA_RTT, RTTS_MS, Source, TOKEN_LIFETIME};

/// The floor of a cold start with impersonation, in round trips, and the target's margin.
const FLOOR_RTT: f64 = 4.0;
const TARGET_RTT: f64 = 4.3;
/// How much faster than each peer wif's Lambda cold start must be.
const VS_PEERS: f64 = 1.4;

/// The whole section; `targets` gets this section's targets too.
pub fn section(
    cold: &ColdResults,
    refresh: &RefreshResults,
    lambda: &(u64, Vec<LambdaRow>),
    targets: &mut Vec<Target>,
) -> String {
    let mut body = String::new();
    for source in Source::ALL {
        body.push_str(&source_section(cold, source));
    }
    body.push_str(&refresh_section(refresh));
    body.push_str(&lambda_section(lambda.0, &lambda.1));
    cold_targets(cold, targets);
    refresh_targets(cold, refresh, targets);
    format!(
        "## Real network: TLS, DNS and round trips\n\n\
         Loopback hides what a cold start on Lambda or EC2 waits for: DNS lookups, TCP and TLS \
         handshakes to two Google hosts, and the round trips of the calls. Here every client runs \
         in a private network namespace against the production names and URLs \
         (`https://sts.googleapis.com/v1/token`, `https://iamcredentials.googleapis.com/…`, \
         `http://169.254.169.254/latest/…`): a resolver in the bench answers the names with \
         loopback addresses ({dns} per answer, as a resolver next door with the name cached) and \
         counts the lookups; each Google host sits behind a TCP link that delivers every byte \
         half a round-trip time later in each direction (to within a few microseconds: it sleeps \
         to just before the instant, then yields until it), so the TCP handshake (one round trip \
         before the client may send), TLS (one more) and each request pay as on a real network; \
         the metadata service is {metadata} away. TLS ends at a bench endpoint holding a \
         certificate from a CA made for the run, which every client is told to trust its own \
         way (wif: the builder or `--ca-certs`; google-cloud-auth: `SSL_CERT_FILE`; google-auth: \
         `REQUESTS_CA_BUNDLE`), and which counts handshakes; the emulator behind it counts \
         requests. Service-account tokens live {lifetime} s here and federated tokens {federated} s, \
         so refreshes come within seconds and each runs the whole chain.\n\n\
         With impersonation the floor is **{FLOOR_RTT} round trips**: TCP and TLS to the STS host \
         (2), the exchange (1), the `generateAccessToken` call (1) — the IAM host's handshakes can \
         overlap the exchange and both lookups can run at once. First-token times are \
         configuration to token in the process (google-auth: after its imports; `wif token`: \
         spawn to exit), medians of the timed runs with min–max; *÷ RTT* divides by the round \
         trip. The clients, the bench's TLS endpoint, links and emulator share the machine's \
         cores, so a millisecond or two of each time is CPU work a real network would spread \
         over two machines, and it varies from run to run; the round-trip counts do not. wif's \
         one `other` request is the `HEAD /` that opens the IAM Credentials connection ahead \
         (it carries no credential).\n\n\
         ### Targets (real network)\n\n{}\n{body}",
        targets_table(targets),
        dns = ms(DNS_LATENCY.as_secs_f64() * 1000.0),
        metadata = ms(METADATA_RTT.as_secs_f64() * 1000.0),
        lifetime = TOKEN_LIFETIME.as_secs(),
        federated = FEDERATED_LIFETIME.as_secs(),
    )
}

fn stats(series: Option<&Series>, value: impl Fn(&Sample) -> Option<f64>) -> Option<Stats> {
    let values: Vec<f64> = series?.samples.iter().filter_map(value).collect();
    Stats::of(&values)
}

fn time_cell(stats: Option<Stats>) -> String {
    stats.map_or("–".into(), |s| {
        format!(
            "{} ({}–{})",
            ms(s.median),
            ms(s.min).trim_end_matches(" ms"),
            ms(s.max)
        )
    })
}

fn rtt_cell(stats: Option<Stats>, rtt_ms: u64) -> String {
    stats.map_or("–".into(), |s| format!("{:.2}", s.median / rtt_ms as f64))
}

fn source_section(cold: &ColdResults, source: Source) -> String {
    let ec2 = source == Source::Ec2;
    let mut headers: Vec<String> = Vec::new();
    headers.push("client".into());
    for rtt in RTTS_MS {
        headers.push(format!("first token, RTT {rtt} ms"));
        headers.push("÷ RTT".into());
        if ec2 {
            headers.push("Google part ÷ RTT".into());
        }
    }
    headers.extend(["connections", "TLS handshakes", "DNS lookups", "requests"].map(String::from));
    let mut rows = Vec::new();
    let mut notes = String::new();
    let last_rtt = RTTS_MS[RTTS_MS.len() - 1];
    for client in cold.clients() {
        let mut row = vec![client.name().to_owned()];
        for rtt in RTTS_MS {
            let series = cold.get(client, source, rtt);
            let total = stats(series, |s| Some(s.ms));
            row.push(time_cell(total));
            row.push(rtt_cell(total, rtt));
            if ec2 {
                row.push(rtt_cell(stats(series, Sample::google_ms), rtt));
            }
        }
        let series = cold.get(client, source, last_rtt);
        match series.and_then(|s| s.samples.first()) {
            Some(sample) => {
                let log = &sample.log;
                let counts = |values: Vec<usize>| {
                    let (min, max) = (
                        values.iter().min().copied().unwrap_or(0),
                        values.iter().max().copied().unwrap_or(0),
                    );
                    if min == max {
                        min.to_string()
                    } else {
                        format!("{min}–{max}")
                    }
                };
                let all = series.map_or(&[][..], |s| &s.samples[..]);
                row.push(counts(all.iter().map(|s| s.log.connections()).collect()));
                row.push(counts(all.iter().map(|s| s.log.handshakes.len()).collect()));
                row.push(counts(all.iter().map(|s| s.log.lookups()).collect()));
                row.push(counts(
                    all.iter().map(|s| s.log.http.requests.len()).collect(),
                ));
                notes.push_str(&format!(
                    "- {}: {}{}; {}\n",
                    client.name(),
                    sequence(&log.http),
                    timeline(sample),
                    names(sample)
                ));
            }
            None => row.extend(std::iter::repeat_n("–".to_owned(), 4)),
        }
        for rtt in RTTS_MS {
            if let Some(failure) = cold
                .get(client, source, rtt)
                .and_then(|s| s.failure.as_ref())
            {
                notes.push_str(&format!(
                    "- {} failed at RTT {rtt} ms: `{}`\n",
                    client.name(),
                    failure.replace('`', "'")
                ));
            }
        }
        rows.push(row);
    }
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    format!(
        "### {}, with impersonation\n\n{}\n\
         Requests in order (`#n`: the connection), and when the IAM Credentials connection was \
         opened, at RTT {last_rtt} ms:\n\n{notes}\n",
        source.title(),
        table(&headers, rows)
    )
}

/// Lookups per name and handshakes per server name, e.g. `DNS: sts.googleapis.com ×1; TLS:
/// sts.googleapis.com ×1 (full)`.
fn names(sample: &Sample) -> String {
    let mut lookups: Vec<(&str, usize)> = Vec::new();
    for q in sample.log.dns.iter().filter(|q| q.is_lookup()) {
        match lookups.iter_mut().find(|(n, _)| *n == q.name) {
            Some((_, count)) => *count += 1,
            None => lookups.push((&q.name, 1)),
        }
    }
    let mut handshakes: Vec<(&str, usize, usize)> = Vec::new();
    for h in &sample.log.handshakes {
        let resumed = usize::from(h.resumed);
        match handshakes.iter_mut().find(|(n, _, _)| *n == h.server_name) {
            Some((_, count, r)) => {
                *count += 1;
                *r += resumed;
            }
            None => handshakes.push((&h.server_name, 1, resumed)),
        }
    }
    let list = |items: Vec<String>| {
        if items.is_empty() {
            "none".to_owned()
        } else {
            items.join(", ")
        }
    };
    format!(
        "DNS: {}; TLS: {}",
        list(lookups.iter().map(|(n, c)| format!("{n} ×{c}")).collect()),
        list(
            handshakes
                .iter()
                .map(|(n, c, r)| if *r > 0 {
                    format!("{n} ×{c} ({r} resumed)")
                } else {
                    format!("{n} ×{c}")
                })
                .collect()
        )
    )
}

/// When the IAM connection opened and when STS answered, from the run's first network event.
fn timeline(sample: &Sample) -> String {
    let log = &sample.log;
    let first = log
        .dns
        .iter()
        .map(|q| q.at)
        .chain(log.connections.values().flatten().map(|c| c.opened))
        .min();
    let iam_open = log
        .connections
        .get(&Host::Iam)
        .and_then(|c| c.iter().map(|c| c.opened).min());
    let sts_answer = sample.answer_arrived("STS");
    match (first, iam_open, sts_answer) {
        (Some(first), Some(iam), Some(sts)) => {
            let at = |t: std::time::Instant| {
                ms(t.saturating_duration_since(first).as_secs_f64() * 1000.0)
            };
            let order = if iam < sts { "before" } else { "after" };
            format!(
                "; IAM connection opened at +{}, {order} the STS answer arrived (+{})",
                at(iam),
                at(sts)
            )
        }
        _ => String::new(),
    }
}

fn refresh_section(refresh: &RefreshResults) -> String {
    let mut rows = Vec::new();
    for row in &refresh.rows {
        let mut cells = vec![row.client.name().to_owned(), row.source.label().to_owned()];
        match &row.cost {
            Ok(cost) => {
                cells.push(cost.metadata().to_string());
                let at = |step: &str| {
                    STEPS
                        .iter()
                        .position(|s| *s == step)
                        .map_or(0, |i| cost.requests[i])
                };
                cells.push(at("STS").to_string());
                cells.push(at("IAM").to_string());
                cells.push(at("other").to_string());
                cells.push(cost.connections.to_string());
                cells.push(cost.handshakes.to_string());
                cells.push(cost.lookups.to_string());
            }
            Err(e) => {
                cells.push(format!("failed: `{}`", e.replace('`', "'")));
                cells.extend(std::iter::repeat_n("–".to_owned(), 6));
            }
        }
        rows.push(cells);
    }
    let load = match &refresh.load {
        Ok(load) => load_table(load),
        Err(e) => format!("Not measured: `{e}`.\n"),
    };
    format!(
        "### Refresh\n\n\
         What one refresh costs, at RTT {rtt} ms: each client's second token, once its own rules \
         say the first is near expiry (wif: stale, refreshed in the background; \
         google-cloud-auth: its refresh task; google-auth: an explicit `refresh()`, the only way \
         it has). For the peers (separate processes) it is the whole run minus their cold start; \
         a negative count means the refresh did less than the cold start did there (connections \
         kept).\n\n{}\n\
         **Callers across a refresh** (wif, Lambda source, RTT {rtt} ms): {LOAD_TASKS} tasks \
         call `token()` {LOAD_RATE} times a second in all, from 3 s before the token turns stale \
         (half its life) to 4 s after; each call's wait, measured around the `await`. The calls \
         before it turned stale show what the busy machine itself adds (a thread preempted \
         mid-call waits a scheduler slice).\n\n{load}\n",
        table(
            &[
                "client",
                "source",
                "metadata calls",
                "STS",
                "IAM",
                "other",
                "new connections",
                "TLS handshakes",
                "DNS lookups"
            ],
            rows
        ),
        rtt = refresh.rtt_ms,
    )
}

fn micros(ns: Option<u64>) -> String {
    ns.map_or("–".into(), |ns| format!("{:.1} µs", ns as f64 / 1000.0))
}

fn load_table(load: &Load) -> String {
    let row = |what: &str, waits: &[u64]| {
        vec![
            what.to_owned(),
            waits.len().to_string(),
            micros(quantile(waits, 0.5)),
            micros(quantile(waits, 0.99)),
            micros(waits.last().copied()),
        ]
    };
    format!(
        "{}
Refreshes during the load: {} STS and {} IAM call(s); the token was {}; {} call(s) \
         failed.\n",
        table(
            &["calls", "count", "p50 wait", "p99 wait", "max wait"],
            vec![
                row(
                    "before the token turned stale (nothing to refresh)",
                    &load.quiet_waits_ns
                ),
                row("from then on, across the refresh", &load.waits_ns),
            ],
        ),
        load.sts_calls,
        load.iam_calls,
        if load.refreshed {
            "replaced"
        } else {
            "not replaced"
        },
        load.errors
    )
}

fn median(cold: &ColdResults, client: Client, source: Source, rtt: u64) -> Option<Stats> {
    stats(cold.get(client, source, rtt), |s| Some(s.ms))
}

fn cold_targets(cold: &ColdResults, targets: &mut Vec<Target>) {
    let within = |value: Option<Stats>, rtt: u64| match value {
        Some(s) => {
            let r = s.median / rtt as f64;
            (
                format!("{r:.2} × RTT ({})", ms(s.median)),
                Some(r <= TARGET_RTT),
            )
        }
        None => ("–".to_owned(), None),
    };
    for rtt in RTTS_MS {
        let (measured, met) = within(median(cold, Client::WifLibrary, Source::Lambda, rtt), rtt);
        targets.push(Target::new(
            format!("Lambda, impersonation: first token at RTT {rtt} ms"),
            format!("≤{TARGET_RTT} × RTT (floor {FLOOR_RTT})"),
            measured,
            met,
        ));
    }
    for peer in [Peer::GcAuth, Peer::GoogleAuth] {
        for rtt in RTTS_MS {
            let ours = median(cold, Client::WifLibrary, Source::Lambda, rtt);
            let theirs = median(cold, Client::Peer(peer), Source::Lambda, rtt);
            let (measured, met) = match (ours, theirs) {
                (Some(o), Some(t)) => {
                    let r = t.median / o.median;
                    (format!("{} faster", ratio(r)), Some(r >= VS_PEERS))
                }
                _ => ("–".to_owned(), None),
            };
            targets.push(Target::new(
                format!("Lambda at RTT {rtt} ms vs {}", peer.name()),
                format!("≥{VS_PEERS}× faster"),
                measured,
                met,
            ));
        }
    }
    for rtt in RTTS_MS {
        let google = stats(
            cold.get(Client::WifLibrary, Source::Ec2, rtt),
            Sample::google_ms,
        );
        let (measured, met) = within(google, rtt);
        targets.push(Target::new(
            format!("EC2 IMDSv2, impersonation: Google part at RTT {rtt} ms"),
            format!("≤{TARGET_RTT} × RTT"),
            measured,
            met,
        ));
    }
    let metadata = cold
        .get(Client::WifLibrary, Source::Ec2, RTTS_MS[0])
        .and_then(|s| s.samples.first())
        .map(|s| {
            crate::report::per_step(&s.log.http)[..4]
                .iter()
                .sum::<usize>()
        });
    targets.push(Target::new(
        "EC2 IMDSv2: metadata calls, cold",
        "≤4",
        metadata.map_or("–".into(), |n| n.to_string()),
        metadata.map(|n| n <= 4),
    ));
    for rtt in RTTS_MS {
        let (measured, met) = within(median(cold, Client::WifLibrary, Source::File, rtt), rtt);
        targets.push(Target::new(
            format!("File source, impersonation: first token at RTT {rtt} ms"),
            format!("≤{TARGET_RTT} × RTT"),
            measured,
            met,
        ));
    }
}

fn refresh_targets(cold: &ColdResults, refresh: &RefreshResults, targets: &mut Vec<Target>) {
    let _ = cold;
    let ec2 = refresh
        .rows
        .iter()
        .find(|r| r.client == Client::WifLibrary && r.source == Source::Ec2)
        .and_then(|r| r.cost.as_ref().ok());
    targets.push(Target::new(
        "EC2 IMDSv2: metadata calls per refresh",
        "≤2",
        ec2.map_or("–".into(), |c| c.metadata().to_string()),
        ec2.map(|c| c.metadata() <= 2),
    ));
    let (wait, once) = match &refresh.load {
        Ok(load) => {
            let max = load.waits_ns.last().copied();
            (
                (
                    format!(
                        "max {} (p99 {}) over {} calls",
                        micros(max),
                        micros(quantile(&load.waits_ns, 0.99)),
                        load.waits_ns.len()
                    ),
                    max.map(|m| m <= 1_000_000),
                ),
                (
                    format!(
                        "{} STS + {} IAM call{} (one whole chain), token {}",
                        load.sts_calls,
                        load.iam_calls,
                        if load.iam_calls == 1 { "" } else { "s" },
                        if load.refreshed {
                            "replaced"
                        } else {
                            "not replaced"
                        }
                    ),
                    Some(load.iam_calls == 1 && load.sts_calls == 1 && load.refreshed),
                ),
            )
        }
        Err(_) => (("–".to_owned(), None), ("–".to_owned(), None)),
    };
    targets.push(Target::new(
        format!("callers across a refresh ({LOAD_RATE} calls/s, {LOAD_TASKS} tasks)"),
        "no caller waits more than 1 ms",
        wait.0,
        wait.1,
    ));
    targets.push(Target::new(
        "refreshes across that boundary",
        "exactly one",
        once.0,
        once.1,
    ));
}

fn lambda_section(rtt_ms: u64, rows: &[LambdaRow]) -> String {
    if rows.is_empty() {
        return "### The Lambda example's cold start\n\nNot measured (no binaries given).\n\n"
            .to_owned();
    }
    let stats = |s: Option<Stats>| s.map_or("–".into(), |s| time_cell(Some(s)));
    let wif_token = rows.first().and_then(|r| r.to_token);
    let mut table_rows = Vec::new();
    let mut notes = String::new();
    for row in rows {
        let vs = match (row.to_token, wif_token) {
            (Some(t), Some(w)) if w.median > 0.0 => ratio(t.median / w.median),
            _ => "–".to_owned(),
        };
        table_rows.push(vec![
            row.name.to_owned(),
            row.binary_bytes.map_or("–".into(), mib),
            row.peak_rss_kib
                .map_or("–".into(), |s| mib(s.median as u64 * 1024)),
            stats(row.to_token),
            rtt_cell(row.to_token, rtt_ms),
            vs,
            stats(row.to_answer),
        ]);
        if let Some(failure) = &row.failure {
            notes.push_str(&format!(
                "- {} failed: `{}`\n",
                row.name,
                failure.replace('`', "'")
            ));
        }
    }
    format!(
        "### The Lambda example's cold start\n\n\
         `examples/aws-lambda` (release) against the same function on google-cloud-auth \
         (`xtask/peers/gcauth-bench/src/bin/gcauth-lambda.rs`: the same runtime crate, \
         current-thread Tokio, ADC, one `objects.list` per invocation; same release profile), \
         at RTT {rtt_ms} ms: each started under a loopback Lambda Runtime API with the execution \
         role's environment and the production configuration, given one invocation. *To first \
         token* is spawn to the moment IAM Credentials' answer reached the process; *to answer* \
         adds the Cloud Storage call on a third host. Peak RSS: the process's `VmHWM` once it \
         answered. Medians of the timed starts after one warm-up start.\n\n{}\n{notes}\n",
        table(
            &[
                "function",
                "binary size",
                "peak RSS",
                "spawn to first token",
                "÷ RTT",
                "× wif",
                "spawn to answer",
            ],
            table_rows
        )
    )
}
