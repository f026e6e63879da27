//! wif in this process: the cold chain (credentials built from the emulator's configuration, then
//! the first token), the cached token with the same harness the peers get, and a stampede of
//! cold callers.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use wif::{Credentials, MapEnvironment};

/// Time to build the credentials, and to get the first token from them.
#[derive(Debug, Clone, Copy)]
pub struct ColdRun {
    /// Configuration parsed and layers assembled (no I/O).
    pub build: Duration,
    /// The whole chain: subject token, exchange, impersonation.
    pub token: Duration,
}

/// Credentials from `config` that see only `env`.
pub fn credentials(config: &Path, env: &[(String, String)]) -> Result<Credentials, String> {
    credentials_trusting(config, env, None)
}

/// Like [`credentials`], also trusting the CA `ca_pem` (the real-network run's).
pub fn credentials_trusting(
    config: &Path,
    env: &[(String, String)],
    ca_pem: Option<&str>,
) -> Result<Credentials, String> {
    let env = env.iter().cloned().collect::<MapEnvironment>();
    let mut builder = Credentials::builder().environment(Arc::new(env));
    if let Some(pem) = ca_pem {
        builder = builder.add_root_certificates_pem(pem.as_bytes().to_vec());
    }
    builder
        .config_file(config)
        .and_then(|b| b.build())
        .map_err(|e| format!("build: {e}"))
}

/// One cold start: new credentials (so a new HTTP client and no cache), first token.
pub async fn cold_once(config: &Path, env: &[(String, String)]) -> Result<ColdRun, String> {
    cold_once_trusting(config, env, None).await
}

/// Like [`cold_once`], also trusting the CA `ca_pem`.
pub async fn cold_once_trusting(
    config: &Path,
    env: &[(String, String)],
    ca_pem: Option<&str>,
) -> Result<ColdRun, String> {
    let started = Instant::now();
    let creds = credentials_trusting(config, env, ca_pem)?;
    let built = started.elapsed();
    creds.token().await.map_err(|e| format!("token: {e}"))?;
    Ok(ColdRun {
        build: built,
        token: started.elapsed() - built,
    })
}

fn ready<F: Future>(fut: F) -> Result<F::Output, String> {
    let mut cx = Context::from_waker(Waker::noop());
    match std::pin::pin!(fut).poll(&mut cx) {
        Poll::Ready(out) => Ok(out),
        Poll::Pending => Err("a cached token() had to wait".to_owned()),
    }
}

/// The peers' harness, in Rust for wif: `threads` threads each time `batches` batches of
/// `calls` cached `token()` calls; the median ns per call over all batches.
pub fn cached(
    creds: &Credentials,
    batches: usize,
    calls: usize,
    threads: usize,
) -> Result<f64, String> {
    let barrier = std::sync::Barrier::new(threads);
    let per_thread: Vec<Result<Vec<f64>, String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let mut samples = Vec::with_capacity(batches);
                    for _ in 0..batches {
                        let started = Instant::now();
                        for _ in 0..calls {
                            let token =
                                ready(creds.token())?.map_err(|e| format!("cached token: {e}"))?;
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
    crate::process::Stats::of(&samples)
        .map(|s| s.median)
        .ok_or_else(|| "no samples".to_owned())
}

/// `callers` tasks ask fresh credentials for a token at the same moment; how many got one, and
/// how long until the last did.
pub async fn herd(creds: Credentials, callers: usize) -> (usize, Duration) {
    let gate = Arc::new(tokio::sync::Barrier::new(callers));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..callers {
        let creds = creds.clone();
        let gate = gate.clone();
        tasks.spawn(async move {
            gate.wait().await;
            creds.token().await.is_ok()
        });
    }
    let mut served = 0;
    while let Some(done) = tasks.join_next().await {
        served += usize::from(done.unwrap_or(false));
    }
    (served, started.elapsed())
}
