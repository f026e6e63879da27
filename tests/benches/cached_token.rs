//! Cached `token()`: what every API call pays once the chain has run (the cache step of the flow).
//!
//! * `cached_token/credentials` — `wif::Credentials::token()` on a warm cache, the call users
//!   make; the credentials come from the emulator's `file.json` and got their token from it.
//! * `cached_token/token_cache` — `wif_core::TokenCache` alone, around a static provider: the
//!   floor under the facade.
//!
//! Each at 1 thread and more. With `threads=N`, one iteration is one call on each of N threads at
//! once, so the time per iteration is what each caller waits; flat means no contention (up to
//! the machine's cores — beyond them threads share a core and the time grows with N/cores).
//!
//! Futures are polled once with a no-op waker: a cached token must be ready without waiting (it
//! panics otherwise), and no executor's cost hides in the number.
//!
//! `cargo xtask bench` runs this (`--warm-up-time 1 --measurement-time 3`); CI only compiles it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::future::Future;
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use wif::{AccessToken, Credentials, MapEnvironment};
use wif_core::{StaticTokenProvider, TokenCache};
use wif_emulator::configs::write_configs;
use wif_emulator::{Emulator, EmulatorConfig};

fn ready<F: Future>(fut: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match std::pin::pin!(fut).poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a cached token() had to wait"),
    }
}

/// 1, 2, 4 and the machine's parallelism, at most 16.
fn thread_counts() -> Vec<usize> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut counts = vec![1, 2, 4, cores.min(16)];
    counts.sort_unstable();
    counts.dedup();
    counts
}

/// `iters` calls on each of `threads` threads released together; the longest any thread took.
fn on_threads<F: Fn() -> AccessToken + Sync>(call: &F, threads: usize, iters: u64) -> Duration {
    let barrier = Barrier::new(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let started = Instant::now();
                    for _ in 0..iters {
                        black_box(call());
                    }
                    started.elapsed()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap())
            .max()
            .unwrap_or_default()
    })
}

/// `call` is one cached `token()`, as a user's code makes it.
fn bench_calls<F: Fn() -> AccessToken + Sync>(c: &mut Criterion, group: &str, call: F) {
    let mut group = c.benchmark_group(group);
    for threads in thread_counts() {
        group.bench_with_input(
            BenchmarkId::new("threads", threads),
            &threads,
            |b, &threads| {
                if threads == 1 {
                    b.iter(|| black_box(call()));
                } else {
                    b.iter_custom(|iters| on_threads(&call, threads, iters));
                }
            },
        );
    }
    group.finish();
}

fn cached_token(c: &mut Criterion) {
    // The emulator serves on its own runtime for the warm-up call; the measured calls never
    // leave the cache.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (emulator, creds) = runtime.block_on(async {
        let emulator = Emulator::new(EmulatorConfig::default())
            .start_local()
            .await
            .unwrap();
        let configs = write_configs(&emulator, dir.path()).unwrap();
        let creds = Credentials::builder()
            .environment(Arc::new(MapEnvironment::new()))
            .config_file(&configs.file)
            .unwrap()
            .build()
            .unwrap();
        creds.token().await.unwrap();
        (emulator, creds)
    });
    // `creds.token()` resolves to the inherent `Credentials::token`, as in users' code.
    bench_calls(c, "cached_token/credentials", || {
        ready(creds.token()).unwrap()
    });

    let cache = TokenCache::new(StaticTokenProvider::new(AccessToken::expiring_in(
        "bench-token",
        tokio::time::Instant::now(),
        Duration::from_secs(3600),
    )));
    runtime.block_on(cache.token()).unwrap();
    // `cache.token()`: the inherent method, as a user of wif-core alone calls it.
    bench_calls(c, "cached_token/token_cache", || {
        ready(cache.token()).unwrap()
    });

    drop(creds);
    runtime.block_on(emulator.shutdown());
}

criterion_group!(benches, cached_token);
criterion_main!(benches);
