//! Cold starts over the private network: every client, every source, at each round-trip time,
//! started from nothing (a new process, or for the wif library new credentials: a new HTTP
//! client, no cache, no DNS answer kept), one warm-up run, then the timed ones. Each run's
//! connections, handshakes, lookups and requests come from the network itself.

use std::time::{Duration, Instant};

use crate::peers::{Peer, Tools};
use crate::process::Outcome;
use crate::{progress, wif_side};

use super::{METADATA_RTT, Network, RTTS_MS, RunLog, Source};

const PROCESS_DEADLINE: Duration = Duration::from_secs(30);

/// A client measured here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    /// wif in this process (configuration to token).
    WifLibrary,
    /// `wif token` (whole process).
    WifCli,
    /// A peer, in-process time as it reports it.
    Peer(Peer),
}

impl Client {
    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Client::WifLibrary => "wif (library)",
            Client::WifCli => "wif (`wif token`, whole process)",
            Client::Peer(peer) => peer.name(),
        }
    }
}

/// One timed cold start.
#[derive(Debug)]
pub struct Sample {
    /// Configuration to token, ms (for `wif token`: spawn to exit).
    pub ms: f64,
    /// What the network saw.
    pub log: RunLog,
    /// The Google hosts' round trip.
    pub rtt: Duration,
}

impl Sample {
    /// When the client received the last answer of `step` (a step of the report's request
    /// accounting): when it passed the proxy, plus the way back.
    pub fn answer_arrived(&self, step: &str) -> Option<Instant> {
        let back = if step == "IMDS token" || step == "region" || step.starts_with("role") {
            METADATA_RTT / 2
        } else {
            self.rtt / 2
        };
        Some(self.log.http.last_answer(step)? + back)
    }

    /// The Google part, ms: from the metadata service's last answer to IAM Credentials' answer,
    /// as the client received them (`None` without metadata calls).
    pub fn google_ms(&self) -> Option<f64> {
        let metadata = ["IMDS token", "region", "role", "role creds"]
            .iter()
            .filter_map(|step| self.answer_arrived(step))
            .max()?;
        let iam = self.answer_arrived("IAM")?;
        Some(iam.saturating_duration_since(metadata).as_secs_f64() * 1000.0)
    }
}

/// A client's runs for one source at one round-trip time.
#[derive(Debug)]
pub struct Series {
    /// Who.
    pub client: Client,
    /// Which source.
    pub source: Source,
    /// The round trip, ms.
    pub rtt_ms: u64,
    /// The timed runs.
    pub samples: Vec<Sample>,
    /// Why the series stopped early, if it did.
    pub failure: Option<String>,
}

/// Every series of the run.
#[derive(Debug, Default)]
pub struct ColdResults {
    /// In measurement order.
    pub series: Vec<Series>,
}

impl ColdResults {
    /// The series of `client` for `source` at `rtt_ms`.
    pub fn get(&self, client: Client, source: Source, rtt_ms: u64) -> Option<&Series> {
        self.series
            .iter()
            .find(|s| s.client == client && s.source == source && s.rtt_ms == rtt_ms)
    }

    /// The clients measured, in report order.
    pub fn clients(&self) -> Vec<Client> {
        let mut clients: Vec<Client> = Vec::new();
        for s in &self.series {
            if !clients.contains(&s.client) {
                clients.push(s.client);
            }
        }
        clients
    }
}

/// The clients that can run.
pub fn clients(tools: &Tools) -> Vec<Client> {
    let mut clients = vec![Client::WifLibrary];
    if tools.wif_cli.is_some() {
        clients.push(Client::WifCli);
    }
    clients.extend(tools.peers().into_iter().map(Client::Peer));
    clients
}

/// Every client, source and round-trip time, `runs` timed runs each.
pub async fn run(network: &Network, tools: &Tools, runs: usize) -> Result<ColdResults, String> {
    let mut results = ColdResults::default();
    for rtt_ms in RTTS_MS {
        network.set_rtt(Duration::from_millis(rtt_ms));
        for source in Source::ALL {
            progress(&format!(
                "real network: cold start, {}, RTT {rtt_ms} ms",
                source.label()
            ));
            for client in clients(tools) {
                let mut series = Series {
                    client,
                    source,
                    rtt_ms,
                    samples: Vec::new(),
                    failure: None,
                };
                for i in 0..=runs {
                    match once(network, tools, client, source).await {
                        Ok(sample) if i > 0 => series.samples.push(sample),
                        Ok(_) => {}
                        Err(e) => {
                            series.failure = Some(e);
                            break;
                        }
                    }
                }
                results.series.push(series);
            }
        }
    }
    Ok(results)
}

/// One cold start of `client`.
pub async fn once(
    network: &Network,
    tools: &Tools,
    client: Client,
    source: Source,
) -> Result<Sample, String> {
    let config = network.config(source);
    let config_arg = config.to_string_lossy().into_owned();
    let env = network.env(source);
    let rtt = network.rtt();
    network.begin();
    let ms = match client {
        Client::WifLibrary => {
            let run = wif_side::cold_once_trusting(config, &env, Some(&network.ca_pem)).await?;
            (run.build + run.token).as_secs_f64() * 1000.0
        }
        Client::WifCli => {
            let ca = network.ca.to_string_lossy().into_owned();
            let outcome = tools
                .run_wif(
                    &["token", "--credentials", &config_arg, "--ca-certs", &ca],
                    &env,
                    PROCESS_DEADLINE,
                )
                .ok_or("no wif binary")?;
            succeeded(&outcome)?;
            outcome.wall.as_secs_f64() * 1000.0
        }
        Client::Peer(peer) => {
            let mut env = env;
            env.extend(network.trust_env());
            let outcome = tools
                .run_peer(peer, &["cold", &config_arg], &env, PROCESS_DEADLINE)
                .ok_or("peer not available")?;
            succeeded(&outcome)?;
            match (outcome.field("build_us"), outcome.field("token_us")) {
                (Some(b), Some(t)) => (b + t) / 1000.0,
                _ => return Err(format!("no timing in {:?}", outcome.line)),
            }
        }
    };
    let sample = Sample {
        ms,
        log: network.take(),
        rtt,
    };
    if std::env::var_os("WIF_BENCH_TRACE").is_some() {
        trace(client, source, &sample);
    }
    Ok(sample)
}

/// Where the time went, on stderr (`WIF_BENCH_TRACE=1`): each request's passing of the proxy and
/// its answer, from the first lookup or connection.
fn trace(client: Client, source: Source, sample: &Sample) {
    let log = &sample.log;
    let Some(first) = log
        .dns
        .iter()
        .map(|q| q.at)
        .chain(log.connections.values().flatten().map(|c| c.opened))
        .min()
    else {
        return;
    };
    let at = |t: Instant| {
        format!(
            "{:.1}",
            t.saturating_duration_since(first).as_secs_f64() * 1e3
        )
    };
    let mut line = format!("{} {} {:.1} ms:", client.name(), source.label(), sample.ms);
    for (i, (m, p)) in log.http.requests.iter().enumerate() {
        line.push_str(&format!(
            " {} {}@{}→{}",
            m,
            crate::report::step_of(m, p),
            at(log.http.sent[i]),
            log.http.answered[i].map_or("-".into(), at)
        ));
    }
    eprintln!("trace: {line}");
}

fn succeeded(outcome: &Outcome) -> Result<(), String> {
    if outcome.success {
        Ok(())
    } else {
        Err(outcome.failure())
    }
}
