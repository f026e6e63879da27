//! The chain deadline on Tokio's paused clock: no wall-clock time passes, and "the work
//! stopped" is checked by advancing the clock far past the deadline and counting attempts.

use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::{RetryPolicy, TokenCache};

/// A chain of two steps, each a [`RetryPolicy`] run whose attempts take `latency` and fail
/// with a 503 `failures` times before succeeding: the issue's "STS and IAM each at 9 s latency
/// with two 503s".
#[derive(Debug)]
struct SlowChain {
    latency: Duration,
    failures: u32,
    attempts: Arc<AtomicU32>,
}

impl SlowChain {
    fn new(latency: Duration, failures: u32) -> Self {
        SlowChain {
            latency,
            failures,
            attempts: Arc::new(AtomicU32::new(0)),
        }
    }

    async fn step(&self, step: Step, what: &str) -> Result<(), Error> {
        let policy = RetryPolicy::default()
            .with_max_attempts(10)
            .with_deadline(Duration::from_secs(3600))
            .without_jitter();
        policy
            .run(step, what, |attempt| async move {
                self.attempts.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(self.latency).await;
                if attempt <= self.failures {
                    Err(Error::http(step, 503, b""))
                } else {
                    Ok(())
                }
            })
            .await
    }
}

#[async_trait]
impl TokenProvider for SlowChain {
    async fn token(&self) -> Result<AccessToken, Error> {
        note_progress(Step::Source, "file /var/run/token", 1);
        self.step(Step::Exchange, "POST https://sts.googleapis.com/v1/token")
            .await?;
        self.step(
            Step::Impersonation,
            "POST https://iamcredentials.googleapis.com/v1/…:generateAccessToken",
        )
        .await?;
        Ok(AccessToken::expiring_in(
            "ya29.slow",
            tokio::time::Instant::now(),
            Duration::from_secs(3600),
        ))
    }
}

#[tokio::test(start_paused = true)]
async fn the_issues_slow_chain_is_cut_off_at_the_deadline_naming_the_step() {
    // Unbounded, it takes 2 × (3 × 9 s + backoff) ≈ 55 s.
    let chain = SlowChain::new(Duration::from_secs(9), 2);
    let attempts = chain.attempts.clone();
    let bounded = ChainDeadline::new(chain, Duration::from_secs(30));
    let started = tokio::time::Instant::now();
    let err = bounded.token().await.expect_err("cut off");
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    assert!(err.is_timeout() && err.is_retryable(), "{err:?}");
    assert_eq!(err.known_cause(), Some(&crate::causes::CHAIN_DEADLINE));
    // 3 STS attempts (27 s and backoff), then the first IAM attempt was running.
    assert_eq!(err.step(), Step::Impersonation, "{err}");
    let shown = err.to_string();
    for part in [
        "did not finish within its deadline of 30.0s",
        "it was at the service account impersonation: POST https://iamcredentials",
    ] {
        assert!(shown.contains(part), "{part:?} is missing from: {shown}");
    }
    assert!(
        err.hint().is_some_and(|h| h.contains("chain_deadline")),
        "{err}"
    );

    // The refresh's work was dropped: no attempt starts afterwards.
    let made = attempts.load(Ordering::SeqCst);
    assert_eq!(made, 4, "three STS attempts and one IAM attempt");
    tokio::time::advance(Duration::from_secs(3600)).await;
    tokio::task::yield_now().await;
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        made,
        "no attempt after the deadline"
    );
}

#[tokio::test(start_paused = true)]
async fn the_step_and_attempt_running_are_named() {
    let err = ChainDeadline::new(
        SlowChain::new(Duration::from_secs(9), 100),
        // Attempt 1 takes 0–9 s, attempt 2 9.2–18.2 s.
        Duration::from_secs(15),
    )
    .token()
    .await
    .expect_err("cut off");
    assert_eq!(err.step(), Step::Exchange, "{err}");
    assert!(
        err.to_string().contains(
            "it was at the STS token exchange: POST https://sts.googleapis.com/v1/token (attempt 2)"
        ),
        "{err}"
    );

    // Stuck in the source, before any retried call.
    let err = ChainDeadline::new(StuckSource, Duration::from_secs(5))
        .token()
        .await
        .expect_err("cut off");
    assert_eq!(err.step(), Step::Source, "{err}");
    assert!(
        err.to_string()
            .contains("it was at the subject token source: executable `get-token`"),
        "{err}"
    );
    assert!(!err.to_string().contains("attempt"), "{err}");
}

/// A source whose command never finishes.
#[derive(Debug)]
struct StuckSource;

#[async_trait]
impl TokenProvider for StuckSource {
    async fn token(&self) -> Result<AccessToken, Error> {
        note_progress(Step::Source, "executable `get-token`", 1);
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_chain_within_its_deadline_is_untouched_and_each_refresh_gets_the_whole_deadline() {
    let chain = ChainDeadline::new(
        SlowChain::new(Duration::from_secs(9), 0),
        Duration::from_secs(20),
    );
    assert_eq!(chain.limit(), Duration::from_secs(20));
    for _ in 0..3 {
        let token = chain.token().await.expect("18 s of work fits in 20 s");
        assert_eq!(token.remaining(), Some(Duration::from_secs(3600)));
    }
    assert_eq!(chain.provider().attempts.load(Ordering::SeqCst), 6);
    // Unbounded: Duration::MAX must not overflow.
    ChainDeadline::new(SlowChain::new(Duration::from_secs(9), 2), Duration::MAX)
        .token()
        .await
        .expect("no deadline");
}

#[tokio::test(start_paused = true)]
async fn every_caller_of_a_cache_waits_at_most_the_deadline() {
    let cache = TokenCache::new(ChainDeadline::new(
        SlowChain::new(Duration::from_secs(60), 0),
        Duration::from_secs(30),
    ));
    let started = tokio::time::Instant::now();
    let late = async {
        // Joins the refresh already in flight, 10 s after it started.
        tokio::time::sleep(Duration::from_secs(10)).await;
        cache.token().await
    };
    let (first, second) = tokio::join!(cache.token(), late);
    for result in [first, second] {
        let err = result.expect_err("cut off");
        assert_eq!(
            err.known_cause(),
            Some(&crate::causes::CHAIN_DEADLINE),
            "{err}"
        );
    }
    assert_eq!(started.elapsed(), Duration::from_secs(30));
}

#[test]
fn progress_outside_a_deadline_is_ignored() {
    note_progress(Step::Exchange, "nowhere", 1);
}
