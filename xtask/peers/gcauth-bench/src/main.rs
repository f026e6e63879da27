//! google-cloud-auth (the official Rust client) doing what `cargo xtask bench` asks of every
//! client, against the wif emulator, so its numbers sit next to wif's from the same run.
//!
//! ```text
//! gcauth-bench cold   CONFIG                        # first token, whole process
//! gcauth-bench cached CONFIG BATCHES CALLS THREADS  # ns per cached access_token()
//! gcauth-bench herd   CONFIG CALLERS                # CALLERS concurrent cold callers
//! gcauth-bench refresh CONFIG                       # first token, then until it is replaced
//! ```
//!
//! CONFIG is an `external_account` file the emulator wrote; AWS variables, if any, come from this
//! process's environment (google-cloud-auth reads them there). One line goes to stdout,
//! `ok key=value…` or `error: …`; a token is never printed.

use std::future::Future;
use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use google_cloud_auth::credentials::AccessTokenCredentials;
use google_cloud_auth::credentials::external_account::Builder;

const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // google-cloud-auth without its default aws-lc backend needs a process-wide rustls provider,
    // or its reqwest clients refuse to build. ring, the same as wif's.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["cold", config] => cold(config),
        ["cached", config, batches, calls, threads] => (|| {
            cached(config, number(batches)?, number(calls)?, number(threads)?)
        })(),
        ["herd", config, callers] => (|| herd(config, number(callers)?))(),
        ["refresh", config] => refresh(config),
        _ => Err("usage: gcauth-bench cold CONFIG | cached CONFIG BATCHES CALLS THREADS | herd CONFIG CALLERS | refresh CONFIG".to_owned()),
    };
    match result {
        Ok(line) => {
            println!("ok {line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn number(text: &str) -> Result<usize, String> {
    text.parse().map_err(|_| format!("not a number: {text}"))
}

fn credentials(config: &str) -> Result<AccessTokenCredentials, String> {
    let text = std::fs::read_to_string(config).map_err(|e| format!("read {config}: {e}"))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("parse {config}: {e}"))?;
    Builder::new(json)
        .with_scopes([CLOUD_PLATFORM])
        .build_access_token_credentials()
        .map_err(|e| format!("build: {e}"))
}

/// The same runtime flavour as `wif token` (current thread), so the process costs compare.
fn cold(config: &str) -> Result<String, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    runtime.block_on(async {
        let started = Instant::now();
        let creds = credentials(config)?;
        let built = started.elapsed();
        let token = creds
            .access_token()
            .await
            .map_err(|e| format!("token: {e}"))?;
        let total = started.elapsed();
        if token.token.is_empty() {
            return Err("empty token".to_owned());
        }
        Ok(format!(
            "build_us={} token_us={}",
            built.as_micros(),
            (total - built).as_micros()
        ))
    })
}

/// The first token, then `access_token()` every 50 ms until the library's own refresh replaced
/// it (tokens that expire within seconds make it come soon): the bench counts the calls.
fn refresh(config: &str) -> Result<String, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    runtime.block_on(async {
        let creds = credentials(config)?;
        let first = creds
            .access_token()
            .await
            .map_err(|e| format!("token: {e}"))?;
        let started = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let token = creds
                .access_token()
                .await
                .map_err(|e| format!("token: {e}"))?;
            if token.token != first.token {
                return Ok(format!("replaced_after_us={}", started.elapsed().as_micros()));
            }
            if started.elapsed() > Duration::from_secs(120) {
                return Err("the token was not replaced within 120 s".to_owned());
            }
        }
    })
}

/// Polls once with a no-op waker: a cached token must be ready without waiting. The same
/// harness measures wif, so neither pays for an executor.
fn ready<F: Future>(fut: F) -> Result<F::Output, String> {
    let mut cx = Context::from_waker(Waker::noop());
    match std::pin::pin!(fut).poll(&mut cx) {
        Poll::Ready(out) => Ok(out),
        Poll::Pending => Err("a cached access_token() had to wait".to_owned()),
    }
}

fn cached(config: &str, batches: usize, calls: usize, threads: usize) -> Result<String, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let creds = runtime.block_on(async {
        let creds = credentials(config)?;
        creds
            .access_token()
            .await
            .map_err(|e| format!("warm-up token: {e}"))?;
        Ok::<_, String>(creds)
    })?;
    let barrier = Arc::new(Barrier::new(threads.max(1)));
    let per_thread: Vec<Result<Vec<f64>, String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                let creds = creds.clone();
                let barrier = barrier.clone();
                scope.spawn(move || {
                    barrier.wait();
                    let mut samples = Vec::with_capacity(batches);
                    for _ in 0..batches {
                        let started = Instant::now();
                        for _ in 0..calls {
                            let token = ready(creds.access_token())?
                                .map_err(|e| format!("cached token: {e}"))?;
                            std::hint::black_box(token);
                        }
                        samples.push(started.elapsed().as_nanos() as f64 / calls as f64);
                    }
                    Ok(samples)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err("worker panicked".to_owned()))
            })
            .collect()
    });
    let mut samples = Vec::new();
    for result in per_thread {
        samples.extend(result?);
    }
    samples.sort_by(f64::total_cmp);
    let median = samples.get(samples.len() / 2).copied().unwrap_or(f64::NAN);
    drop(creds);
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(format!("median_ns={median:.1}"))
}

fn herd(config: &str, callers: usize) -> Result<String, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    runtime.block_on(async {
        let creds = credentials(config)?;
        let gate = Arc::new(tokio::sync::Barrier::new(callers));
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..callers {
            let creds = creds.clone();
            let gate = gate.clone();
            tasks.spawn(async move {
                gate.wait().await;
                creds.access_token().await.is_ok()
            });
        }
        let mut ok = 0;
        while let Some(done) = tasks.join_next().await {
            ok += usize::from(done.unwrap_or(false));
        }
        Ok(format!(
            "served={ok} elapsed_us={}",
            started.elapsed().as_micros()
        ))
    })
}
