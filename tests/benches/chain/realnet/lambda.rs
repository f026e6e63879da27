//! The Lambda example's cold start over the private network, against the same function built on
//! google-cloud-auth (`xtask/peers/gcauth-bench/src/bin/gcauth-lambda.rs`): each release binary
//! is started under a loopback Lambda Runtime API with the execution role's environment, the
//! production configuration and `GCS_BASE_URL=https://storage.googleapis.com`, and given one
//! invocation (a token, then one Cloud Storage list). Each trusts the run's CA its own way: the
//! wif example through `WIF_CA_CERTS`, google-cloud-auth's through `SSL_CERT_FILE`.
//!
//! *To first token* is spawn to the moment IAM Credentials' answer reached the process (seen on
//! the network: when it left the server, plus the way back); *to answer* adds the Cloud Storage
//! call, on a third host. Peak RSS is the process's `VmHWM` once it answered.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::lambda::{BUCKET, run_once};
use crate::process::Stats;
use crate::progress;

use super::{Host, Network, RTTS_MS, Source};

/// One function's numbers.
#[derive(Debug)]
pub struct LambdaRow {
    /// Which build.
    pub name: &'static str,
    /// Its size on disk, bytes.
    pub binary_bytes: Option<u64>,
    /// Spawn to first token, ms.
    pub to_token: Option<Stats>,
    /// Spawn to the invocation's answer, ms.
    pub to_answer: Option<Stats>,
    /// Peak RSS once it answered, KiB (median).
    pub peak_rss_kib: Option<Stats>,
    /// What went wrong, if anything.
    pub failure: Option<String>,
}

/// Both functions, `runs` cold starts each after a warm-up one, at the first round-trip time.
pub async fn run(
    network: &Network,
    wif: Option<&Path>,
    gcauth: Option<&Path>,
    runs: usize,
) -> (u64, Vec<LambdaRow>) {
    let rtt_ms = RTTS_MS[0];
    network.set_rtt(Duration::from_millis(rtt_ms));
    network.emulator.create_bucket(BUCKET);
    let mut rows = Vec::new();
    for (name, binary) in [
        ("wif (`examples/aws-lambda`)", wif),
        ("google-cloud-auth (`gcauth-lambda`)", gcauth),
    ] {
        let Some(binary) = binary else { continue };
        progress(&format!("real network: Lambda cold start, {name}"));
        rows.push(function(network, name, binary.to_path_buf(), runs).await);
    }
    (rtt_ms, rows)
}

async fn function(
    network: &Network,
    name: &'static str,
    binary: PathBuf,
    runs: usize,
) -> LambdaRow {
    let mut env = network.env(Source::Lambda);
    env.extend([
        (
            "GOOGLE_APPLICATION_CREDENTIALS".to_owned(),
            network
                .config(Source::Lambda)
                .to_string_lossy()
                .into_owned(),
        ),
        (
            "GCS_BASE_URL".to_owned(),
            format!("https://{}", Host::Storage.name()),
        ),
        (
            "SSL_CERT_FILE".to_owned(),
            network.ca.to_string_lossy().into_owned(),
        ),
        (
            "WIF_CA_CERTS".to_owned(),
            network.ca.to_string_lossy().into_owned(),
        ),
    ]);
    let rtt = network.rtt();
    let (mut to_token, mut to_answer, mut rss) = (Vec::new(), Vec::new(), Vec::new());
    let mut failure = None;
    for i in 0..=runs {
        network.begin();
        let start = match run_once(&binary, &env).await {
            Ok(start) => start,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        let log = network.take();
        if i == 0 {
            continue;
        }
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        to_answer.push(ms(start.answered.saturating_duration_since(start.spawned)));
        if let Some(iam) = log.http.last_answer("IAM") {
            to_token.push(ms((iam + rtt / 2).saturating_duration_since(start.spawned)));
        }
        if let Some(kib) = start.peak_rss_kib {
            rss.push(kib as f64);
        }
    }
    LambdaRow {
        name,
        binary_bytes: std::fs::metadata(&binary).ok().map(|m| m.len()),
        to_token: Stats::of(&to_token),
        to_answer: Stats::of(&to_answer),
        peak_rss_kib: Stats::of(&rss),
        failure,
    }
}
