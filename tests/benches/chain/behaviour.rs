//! Behaviour under load and failure, every client against the same faults: a thundering herd of
//! cold callers, an STS 503, and a Lambda whose configuration names IMDSv2 while the metadata
//! service never answers.

use std::time::{Duration, Instant};

use wif_emulator::{Endpoint, Fault};

use crate::peers::{Peer, Tools};
use crate::process::Outcome;
use crate::report::{Target, ms, table};
use crate::{Case, World, progress, wif_side};

const CALLERS: usize = 1000;
/// Holds the first exchange open long enough for every caller to arrive while it is in flight.
const HERD_STS_LATENCY: Duration = Duration::from_millis(100);
/// How long a client may take in the failure scenarios before it counts as hanging.
const DEADLINE: Duration = Duration::from_secs(8);

fn counts(world: &World) -> (u64, u64) {
    (
        world.emulator.requests(Endpoint::GoogleSts),
        world.emulator.requests(Endpoint::IamCredentials),
    )
}

/// A table cell from free text: one line, at most ~160 characters, cut at a word.
fn cell(text: &str) -> String {
    let text = text.trim().strip_prefix("error: ").unwrap_or(text.trim());
    let mut out: String = text.chars().take(160).collect();
    if out.len() < text.len()
        && let Some(space) = out.rfind(' ')
    {
        out.truncate(space);
        out.push_str(" …");
    }
    out.replace('|', "\\|").replace('\n', " ")
}

fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what} call")
    } else {
        format!("{n} {what} calls")
    }
}

/// 1,000 cold callers at once on one credentials object, per client.
pub async fn herd(world: &World, tools: &Tools, targets: &mut Vec<Target>) -> String {
    progress("thundering herd");
    world
        .emulator
        .faults()
        .set(Endpoint::GoogleSts, Fault::latency(HERD_STS_LATENCY));
    let config = Case::Lambda.config(&world.direct);
    let mut rows = Vec::new();

    let before = counts(world);
    let wif_result = match wif_side::credentials(config, &world.lambda_env) {
        Ok(creds) => Some(wif_side::herd(creds, CALLERS).await),
        Err(_) => None,
    };
    let after = counts(world);
    let wif_calls = (after.0 - before.0, after.1 - before.1);
    if let Some((served, elapsed)) = wif_result {
        rows.push(vec![
            "wif".to_owned(),
            format!("{served}/{CALLERS}"),
            wif_calls.0.to_string(),
            wif_calls.1.to_string(),
            ms(elapsed.as_secs_f64() * 1000.0),
        ]);
        targets.push(Target::new(
            "thundering herd: 1,000 concurrent cold callers",
            "exactly 1 STS + 1 IAM call",
            format!(
                "{} STS + {} IAM, {served}/{CALLERS} served",
                wif_calls.0, wif_calls.1
            ),
            Some(wif_calls == (1, 1) && served == CALLERS),
        ));
    }

    let config_arg = config.to_string_lossy().into_owned();
    let callers = CALLERS.to_string();
    for peer in tools.peers() {
        let before = counts(world);
        let outcome = tools.run_peer(
            peer,
            &["herd", &config_arg, &callers],
            &world.lambda_env,
            Duration::from_secs(180),
        );
        let after = counts(world);
        let mut row = vec![peer.name().to_owned()];
        match outcome {
            Some(o) if o.success => {
                row.push(format!(
                    "{}/{CALLERS}",
                    o.field("served").unwrap_or(0.0) as u64
                ));
                row.push((after.0 - before.0).to_string());
                row.push((after.1 - before.1).to_string());
                row.push(
                    o.field("elapsed_us")
                        .map_or("–".into(), |us| ms(us / 1000.0)),
                );
            }
            Some(o) => {
                row.push(format!("failed: {}", cell(&o.failure())));
                row.push((after.0 - before.0).to_string());
                row.push((after.1 - before.1).to_string());
                row.push("–".to_owned());
            }
            None => continue,
        }
        rows.push(row);
    }
    world.emulator.faults().clear();
    format!(
        "## Thundering herd: {CALLERS} cold callers\n\n\
         One credentials object (Lambda case), {CALLERS} callers released at once by a barrier \
         (tasks for the Rust clients, threads for Python, each thread with its own transport). \
         Google STS answers after {} so every caller arrives while the first exchange is in \
         flight. Calls counted by the emulator.\n\n{}\n",
        ms(HERD_STS_LATENCY.as_secs_f64() * 1000.0),
        table(
            &[
                "client",
                "served",
                "STS calls",
                "IAM calls",
                "until the last caller had a token"
            ],
            rows
        )
    )
}

/// What a cold start did under a fault.
fn describe(
    ok: bool,
    timed_out: bool,
    elapsed: Duration,
    failure: &str,
    calls: u64,
    what: &str,
) -> String {
    if ok {
        format!(
            "token in {}; {}",
            ms(elapsed.as_secs_f64() * 1000.0),
            plural(calls, what)
        )
    } else if timed_out {
        format!(
            "**no token after {:.0?}** (hung; killed); {}",
            elapsed,
            plural(calls, what)
        )
    } else {
        format!(
            "**error** after {}; {}: `{}`",
            ms(elapsed.as_secs_f64() * 1000.0),
            plural(calls, what),
            cell(failure).replace('`', "'")
        )
    }
}

fn peer_cold(tools: &Tools, peer: Peer, config: &str, env: &[(String, String)]) -> Option<Outcome> {
    tools.run_peer(peer, &["cold", config], env, DEADLINE)
}

/// The known peer behaviours, each client facing the same fault.
pub async fn peer_behaviours(world: &World, tools: &Tools) -> String {
    progress("peer behaviours");
    let env = &world.lambda_env;
    let mut headers = vec!["scenario", "wif"];
    let peers = tools.peers();
    headers.extend(peers.iter().map(|p| p.name()));
    let mut rows = Vec::new();

    // 1. One STS 503.
    let lambda = Case::Lambda.config(&world.direct);
    let lambda_arg = lambda.to_string_lossy().into_owned();
    let sts_503 = || {
        world.emulator.faults().clear();
        world
            .emulator
            .faults()
            .set(Endpoint::GoogleSts, Fault::fail_next(1, 503));
        world.emulator.requests(Endpoint::GoogleSts)
    };
    let mut row = vec!["Google STS answers 503 once (Lambda case)".to_owned()];
    let before = sts_503();
    let started = Instant::now();
    let result = wif_side::cold_once(lambda, env).await;
    let calls = world.emulator.requests(Endpoint::GoogleSts) - before;
    row.push(describe(
        result.is_ok(),
        false,
        started.elapsed(),
        result.as_ref().err().map_or("", String::as_str),
        calls,
        "STS",
    ));
    for &peer in &peers {
        let before = sts_503();
        let outcome = peer_cold(tools, peer, &lambda_arg, env);
        let calls = world.emulator.requests(Endpoint::GoogleSts) - before;
        row.push(outcome.map_or("–".into(), |o| {
            describe(o.success, o.timed_out, o.wall, &o.failure(), calls, "STS")
        }));
    }
    rows.push(row);

    // 2. A Lambda with an `--enable-imdsv2` configuration; the metadata service never answers
    //    (on Lambda there is none).
    let imdsv2 = Case::Ec2.config(&world.direct);
    let imdsv2_arg = imdsv2.to_string_lossy().into_owned();
    let silent_imds = || {
        world.emulator.faults().clear();
        world
            .emulator
            .faults()
            .set(Endpoint::Imds, Fault::latency(Duration::from_secs(30)));
        world.emulator.requests(Endpoint::Imds)
    };
    let mut row = vec![
        "Lambda with an `--enable-imdsv2` configuration; the metadata service never answers"
            .to_owned(),
    ];
    let before = silent_imds();
    let started = Instant::now();
    let result = tokio::time::timeout(DEADLINE, wif_side::cold_once(imdsv2, env)).await;
    let calls = world.emulator.requests(Endpoint::Imds) - before;
    row.push(match result {
        Ok(r) => describe(
            r.is_ok(),
            false,
            started.elapsed(),
            r.as_ref().err().map_or("", String::as_str),
            calls,
            "IMDS",
        ),
        Err(_) => describe(false, true, started.elapsed(), "", calls, "IMDS"),
    });
    for &peer in &peers {
        let before = silent_imds();
        let outcome = peer_cold(tools, peer, &imdsv2_arg, env);
        let calls = world.emulator.requests(Endpoint::Imds) - before;
        row.push(outcome.map_or("–".into(), |o| {
            describe(o.success, o.timed_out, o.wall, &o.failure(), calls, "IMDS")
        }));
    }
    rows.push(row);
    world.emulator.faults().clear();

    format!(
        "## Peer behaviours\n\n\
         Each client makes a cold start against the same injected fault (emulator fault \
         injection). Calls counted by the emulator; a client with no token after {:.0?} is \
         killed. The concurrent-caller behaviour is in the thundering-herd table above.\n\n{}\n",
        DEADLINE,
        table(&headers, rows)
    )
}
