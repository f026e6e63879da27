//! Refresh over the private network, where every token lives [`TOKEN_LIFETIME`]:
//!
//! * **What one refresh costs** — each client gets its first token, then the next one once its
//!   own rules say the first is near expiry (wif: the refresh-ahead margin; google-cloud-auth:
//!   its background task; google-auth: an explicit `refresh()`, its only way). The refresh's
//!   calls, connections, handshakes and lookups: for wif, everything the network saw after the
//!   first token; for the peers (separate processes), the whole run's minus their cold start's.
//! * **Callers across a refresh** — wif under steady load (8 tasks, 10,000 `token()` calls per
//!   second in all) from a few seconds before its token turns stale until well after the
//!   background refresh landed: how long each call took, and how many refreshes happened.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wif_emulator::Endpoint;

use crate::peers::{Peer, Tools};
use crate::report::STEPS;
use crate::{progress, wif_side};

use super::cold::{Client, ColdResults};
use super::{Network, RTTS_MS, RunLog, Source, TOKEN_LIFETIME};

/// Sources whose refresh is measured.
pub const SOURCES: [Source; 2] = [Source::Lambda, Source::Ec2];
/// Load: tasks, and calls per second in all.
pub const LOAD_TASKS: usize = 8;
/// Calls per second, all tasks together.
pub const LOAD_RATE: u32 = 10_000;

/// What one refresh made a client do.
#[derive(Debug, Clone, Default)]
pub struct RefreshCost {
    /// Requests per step ([`STEPS`] order).
    pub requests: [i64; STEPS.len()],
    /// New connections.
    pub connections: i64,
    /// TLS handshakes.
    pub handshakes: i64,
    /// DNS lookups.
    pub lookups: i64,
}

impl RefreshCost {
    fn of(log: &RunLog) -> RefreshCost {
        let counts = crate::report::per_step(&log.http);
        let mut requests = [0; STEPS.len()];
        for (r, c) in requests.iter_mut().zip(counts) {
            *r = c as i64;
        }
        RefreshCost {
            requests,
            connections: log.connections() as i64,
            handshakes: log.handshakes.len() as i64,
            lookups: log.lookups() as i64,
        }
    }

    fn minus(mut self, cold: &RefreshCost) -> RefreshCost {
        for (r, c) in self.requests.iter_mut().zip(cold.requests) {
            *r -= c;
        }
        self.connections -= cold.connections;
        self.handshakes -= cold.handshakes;
        self.lookups -= cold.lookups;
        self
    }

    /// Metadata requests (session token, region, role, credentials).
    pub fn metadata(&self) -> i64 {
        self.requests[..4].iter().sum()
    }
}

/// One client's refresh for one source.
#[derive(Debug)]
pub struct RefreshRow {
    /// Who.
    pub client: Client,
    /// Which source.
    pub source: Source,
    /// The cost, or why it could not be measured.
    pub cost: Result<RefreshCost, String>,
}

/// Per-call waits of the steady load, ns, sorted.
#[derive(Debug, Default)]
pub struct Load {
    /// The duration of every call made from the moment the token turned stale, sorted: the
    /// calls across the refresh.
    pub waits_ns: Vec<u64>,
    /// The same for the calls before it turned stale (nothing to refresh yet): what the machine
    /// itself adds (preemption on a busy machine shows here as well).
    pub quiet_waits_ns: Vec<u64>,
    /// STS and IAM calls the emulator answered during the load.
    pub sts_calls: u64,
    /// See `sts_calls`.
    pub iam_calls: u64,
    /// Calls that returned an error.
    pub errors: u64,
    /// The load's length.
    pub span: Duration,
    /// The token changed during the load (a refresh landed).
    pub refreshed: bool,
}

/// The `q` quantile (0..=1) of sorted `waits`.
pub fn quantile(waits: &[u64], q: f64) -> Option<u64> {
    let n = waits.len();
    (n > 0).then(|| waits[((n - 1) as f64 * q).round() as usize])
}

/// Both measurements.
#[derive(Debug)]
pub struct RefreshResults {
    /// What one refresh costs, per client and source.
    pub rows: Vec<RefreshRow>,
    /// wif under steady load across a refresh, or why not.
    pub load: Result<Load, String>,
    /// The round trip both ran at, ms.
    pub rtt_ms: u64,
}

/// Runs both at the first round-trip time.
pub async fn run(
    network: &Network,
    tools: &Tools,
    cold: &ColdResults,
) -> Result<RefreshResults, String> {
    let rtt_ms = RTTS_MS[0];
    network.set_rtt(Duration::from_millis(rtt_ms));
    let mut rows = Vec::new();
    for source in SOURCES {
        progress(&format!("real network: one refresh, {}", source.label()));
        rows.push(RefreshRow {
            client: Client::WifLibrary,
            source,
            cost: wif_refresh(network, source).await,
        });
        for peer in tools.peers() {
            let cold_cost = cold
                .get(Client::Peer(peer), source, rtt_ms)
                .and_then(|s| s.samples.first())
                .map(|s| RefreshCost::of(&s.log));
            let cost = match cold_cost {
                Some(cold_cost) => {
                    peer_refresh(network, tools, peer, source).map(|whole| whole.minus(&cold_cost))
                }
                None => Err("no cold run to subtract".to_owned()),
            };
            rows.push(RefreshRow {
                client: Client::Peer(peer),
                source,
                cost,
            });
        }
    }
    progress("real network: steady load across a refresh");
    let load = steady_load(network).await;
    Ok(RefreshResults { rows, load, rtt_ms })
}

/// wif's credentials for `source` over the real network (trusting the run's CA), and their
/// first token.
async fn wif_with_first_token(
    network: &Network,
    source: Source,
) -> Result<(wif::Credentials, wif::AccessToken), String> {
    let creds = wif_side::credentials_trusting(
        network.config(source),
        &network.env(source),
        Some(&network.ca_pem),
    )?;
    let first = creds
        .token()
        .await
        .map_err(|e| format!("first token: {e}"))?;
    Ok((creds, first))
}

/// wif in this process: first token, then `token()` every 20 ms until it hands out another;
/// everything the network saw after the first token.
async fn wif_refresh(network: &Network, source: Source) -> Result<RefreshCost, String> {
    let (creds, first) = wif_with_first_token(network, source).await?;
    network.begin();
    let deadline = Instant::now() + TOKEN_LIFETIME;
    loop {
        let token = creds.token().await.map_err(|e| format!("token: {e}"))?;
        // A new token expires later; its value is never looked at.
        if token.expires_at() != first.expires_at() {
            break;
        }
        if Instant::now() > deadline {
            return Err("no refresh within the token's lifetime".to_owned());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A background refresh of the inner (federated) token may still be on its way.
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(RefreshCost::of(&network.take()))
}

/// A peer's `refresh` mode: its whole run, cold start included.
fn peer_refresh(
    network: &Network,
    tools: &Tools,
    peer: Peer,
    source: Source,
) -> Result<RefreshCost, String> {
    let mut env = network.env(source);
    env.extend(network.trust_env());
    let config = network.config(source).to_string_lossy().into_owned();
    network.begin();
    let outcome = tools
        .run_peer(
            peer,
            &["refresh", &config],
            &env,
            TOKEN_LIFETIME + Duration::from_secs(30),
        )
        .ok_or("peer not available")?;
    let log = network.take();
    if outcome.success {
        Ok(RefreshCost::of(&log))
    } else {
        Err(outcome.failure())
    }
}

/// wif under steady load from 3 s before its token turns stale to 4 s after (the refresh-ahead
/// margin of a [`TOKEN_LIFETIME`] token is half of it).
async fn steady_load(network: &Network) -> Result<Load, String> {
    let source = Source::Lambda;
    let (creds, first) = wif_with_first_token(network, source).await?;
    let fetched = Instant::now();
    let stale_at = fetched + TOKEN_LIFETIME / 2;
    tokio::time::sleep_until((stale_at - Duration::from_secs(3)).into()).await;
    let until = stale_at + Duration::from_secs(4);
    let sts = network.emulator.requests(Endpoint::GoogleSts);
    let iam = network.emulator.requests(Endpoint::IamCredentials);
    let started = Instant::now();
    let period = Duration::from_secs(1) * LOAD_TASKS as u32 / LOAD_RATE;
    let first = Arc::new(first);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..LOAD_TASKS {
        let creds = creds.clone();
        let first = first.clone();
        tasks.spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let (mut waits, mut quiet, mut errors, mut changed) =
                (Vec::new(), Vec::new(), 0u64, false);
            while Instant::now() < until {
                ticks.tick().await;
                let called = Instant::now();
                let result = creds.token().await;
                let wait = called.elapsed().as_nanos() as u64;
                if called < stale_at {
                    quiet.push(wait);
                } else {
                    waits.push(wait);
                }
                match result {
                    Ok(token) => changed |= token.expires_at() != first.expires_at(),
                    Err(_) => errors += 1,
                }
            }
            (waits, quiet, errors, changed)
        });
    }
    let mut load = Load::default();
    while let Some(done) = tasks.join_next().await {
        let (waits, quiet, errors, changed) = done.map_err(|e| format!("load task: {e}"))?;
        load.waits_ns.extend(waits);
        load.quiet_waits_ns.extend(quiet);
        load.errors += errors;
        load.refreshed |= changed;
    }
    load.span = started.elapsed();
    load.sts_calls = network.emulator.requests(Endpoint::GoogleSts) - sts;
    load.iam_calls = network.emulator.requests(Endpoint::IamCredentials) - iam;
    load.waits_ns.sort_unstable();
    load.quiet_waits_ns.sort_unstable();
    Ok(load)
}
