//! Retry with exponential backoff, jitter, bounded attempts and an overall deadline.
//!
//! Only errors that say they are retryable ([`Error::is_retryable`]: 408, 429, 5xx, transient OAuth
//! codes, connect failures and timeouts) are retried. A server's `Retry-After` is honoured when it
//! fits in the deadline. The deadline bounds the whole operation, so a Lambda handler with a
//! 10-second budget is never held for a minute by backoff.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::{Error, ErrorKind, Step};

/// How an operation is retried.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    multiplier: f64,
    deadline: Duration,
    jitter: bool,
}

impl Default for RetryPolicy {
    /// 3 attempts, 200 ms initial backoff doubling to at most 5 s, full jitter, 30 s deadline.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            multiplier: 2.0,
            deadline: Duration::from_secs(30),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// A policy that makes exactly one attempt.
    pub fn never() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Google's guidance for its Cloud APIs (BigQuery, Cloud Storage; their SLAs and clients):
    /// backoff from 1 s doubling to 32 s, with jitter, at most 6 attempts, all within
    /// `deadline`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = wif_core::RetryPolicy::google_api(Duration::from_secs(60));
    /// assert_eq!(p.backoff(1), Duration::from_secs(1));
    /// assert_eq!(p.backoff(10), Duration::from_secs(32));
    /// assert_eq!(p.deadline(), Duration::from_secs(60));
    /// ```
    pub fn google_api(deadline: Duration) -> Self {
        RetryPolicy::default()
            .with_max_attempts(6)
            .with_backoff(Duration::from_secs(1), Duration::from_secs(32))
            .with_deadline(deadline)
    }

    /// Sets the number of attempts (at least 1).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets the first backoff and the cap.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// Sets the overall deadline for all attempts and waits together.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Disables jitter (deterministic backoff; useful in tests).
    pub fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// The maximum number of attempts.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The overall deadline.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// The backoff before attempt `attempt + 1` (attempt counts from 1), before jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .multiplier
            .powi(attempt.saturating_sub(1).min(30) as i32);
        let secs = (self.initial_backoff.as_secs_f64() * exp).min(self.max_backoff.as_secs_f64());
        Duration::from_secs_f64(secs)
    }

    /// How long to wait after failed attempt `attempt` (from 1) ended in `err`: the
    /// exponential backoff, jittered unless [`without_jitter`](Self::without_jitter), and never
    /// shorter than the server's `Retry-After`. For callers with their own retry loop (multi-request
    /// transfers) that still follow this policy.
    pub fn wait_after(&self, attempt: u32, err: &Error) -> Duration {
        let mut wait = self.backoff(attempt);
        if self.jitter {
            // Full jitter: uniformly in [wait/2, wait], so herds spread out but still back off.
            wait = wait.mul_f64(0.5 + fastrand::f64() * 0.5);
        }
        if let Some(after) = err.retry_after() {
            wait = wait.max(after);
        }
        wait
    }

    /// Runs `op` (a call at `step`) until it succeeds, fails with a non-retryable error, runs out of attempts or the
    /// deadline passes. `op` receives the attempt number (from 1). Each attempt is also cut off at
    /// the remaining deadline, so a hanging server cannot outlast it, and is recorded with
    /// [`note_progress`](crate::note_progress) for a [`ChainDeadline`](crate::ChainDeadline) to
    /// name.
    pub async fn run<T, F, Fut>(&self, step: Step, what: &str, mut op: F) -> Result<T, Error>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let started = Instant::now();
        // `Duration::MAX` means "no deadline": saturate instead of overflowing the instant.
        let deadline = started
            .checked_add(self.deadline)
            .unwrap_or_else(|| started + Duration::from_secs(100 * 365 * 24 * 3600));
        let mut attempt = 1;
        loop {
            crate::deadline::note_progress(step, what, attempt);
            let remaining = deadline.saturating_duration_since(Instant::now());
            let result = match tokio::time::timeout(remaining, op(attempt)).await {
                Ok(result) => result,
                Err(_) => Err(deadline_error(step, what, self.deadline, attempt)),
            };
            let err = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if !err.is_retryable() || err.kind() == ErrorKind::Timeout && Instant::now() >= deadline
            {
                return Err(err);
            }
            if attempt >= self.max_attempts {
                tracing::debug!(call = what, attempt, "giving up: attempts exhausted");
                return Err(err);
            }
            let wait = self.wait_after(attempt, &err);
            // `Retry-After` is the server's number and can be absurd (u64::MAX seconds): an
            // instant that cannot be represented is past any deadline, not a panic.
            if Instant::now()
                .checked_add(wait)
                .is_none_or(|resume| resume >= deadline)
            {
                tracing::debug!(
                    call = what,
                    attempt,
                    "giving up: next wait would pass the deadline"
                );
                return Err(err);
            }
            tracing::info!(
                call = what,
                attempt,
                wait_ms = wait.as_millis() as u64,
                error = %err.message(),
                "retrying after a retryable failure"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

fn deadline_error(step: Step, what: &str, deadline: Duration, attempt: u32) -> Error {
    Error::new(
        step,
        ErrorKind::Timeout,
        format!(
            "{what}: no answer within the overall deadline of {:.1}s (attempt {attempt})",
            deadline.as_secs_f64()
        ),
    )
    .retryable(false)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy::default()
            .with_max_attempts(4)
            .with_backoff(Duration::from_millis(100), Duration::from_secs(1))
            .without_jitter()
    }

    /// Runs `policy` over an operation whose call number `n` (from 0) answers `outcome(n)`;
    /// returns the result and how many calls were made.
    async fn run_counted<T>(
        policy: RetryPolicy,
        outcome: impl Fn(u32) -> Result<T, Error>,
    ) -> (Result<T, Error>, u32) {
        let calls = AtomicU32::new(0);
        let out = policy
            .run(Step::Exchange, "test", |_| {
                let result = outcome(calls.fetch_add(1, Ordering::SeqCst));
                async move { result }
            })
            .await;
        (out, calls.load(Ordering::SeqCst))
    }

    #[test]
    fn backoff_grows_exponentially_and_caps() {
        let p = policy();
        assert_eq!(p.backoff(1), Duration::from_millis(100));
        assert_eq!(p.backoff(2), Duration::from_millis(200));
        assert_eq!(p.backoff(3), Duration::from_millis(400));
        assert_eq!(p.backoff(10), Duration::from_secs(1));
    }

    #[test]
    fn wait_after_follows_backoff_jitter_and_retry_after() {
        let p = policy();
        let e503 = Error::http(Step::Exchange, 503, b"");
        assert_eq!(
            p.wait_after(2, &e503),
            Duration::from_millis(200),
            "no jitter: exact"
        );
        let slow = Error::http(Step::Exchange, 429, b"").with_retry_after(Duration::from_secs(7));
        assert_eq!(
            p.wait_after(1, &slow),
            Duration::from_secs(7),
            "Retry-After wins"
        );
        let jittered =
            RetryPolicy::default().with_backoff(Duration::from_secs(1), Duration::from_secs(1));
        for _ in 0..50 {
            let w = jittered.wait_after(1, &e503);
            assert!(
                w >= Duration::from_millis(500) && w <= Duration::from_secs(1),
                "{w:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_retryable_errors_until_success() {
        let started = Instant::now();
        let (out, calls) = run_counted(policy(), |n| {
            if n < 2 {
                Err(Error::http(Step::Exchange, 503, b""))
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(out.ok(), Some(7));
        assert_eq!(calls, 3);
        assert_eq!(
            started.elapsed(),
            Duration::from_millis(300),
            "100 + 200 ms of backoff"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_non_retryable_errors() {
        let (out, calls) = run_counted::<()>(policy(), |_| {
            Err(Error::http(
                Step::Exchange,
                400,
                br#"{"error":"invalid_grant"}"#,
            ))
        })
        .await;
        assert_eq!(out.err().map(|e| e.status()), Some(Some(400)));
        assert_eq!(calls, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn stops_after_max_attempts() {
        let (out, calls) =
            run_counted::<()>(policy(), |_| Err(Error::http(Step::Exchange, 500, b""))).await;
        assert!(out.is_err());
        assert_eq!(calls, 4);
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_cuts_a_hanging_attempt() {
        let started = Instant::now();
        let out: Result<(), Error> = policy()
            .with_deadline(Duration::from_secs(2))
            .run(Step::Exchange, "hang", |_| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            })
            .await;
        let err = out.expect_err("deadline must fire");
        assert!(err.is_timeout(), "{err:?}");
        assert_eq!(started.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured_but_not_past_the_deadline() {
        let started = Instant::now();
        let (out, _) = run_counted(policy(), |n| {
            if n == 0 {
                Err(Error::http(Step::Exchange, 429, b"").with_retry_after(Duration::from_secs(3)))
            } else {
                Ok(())
            }
        })
        .await;
        assert!(out.is_ok());
        assert_eq!(started.elapsed(), Duration::from_secs(3));

        let (out, _) = run_counted::<()>(policy().with_deadline(Duration::from_secs(2)), |_| {
            Err(Error::http(Step::Exchange, 429, b"").with_retry_after(Duration::from_secs(60)))
        })
        .await;
        assert_eq!(
            out.err().and_then(|e| e.status()),
            Some(429),
            "gives up instead of sleeping past the deadline"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_unrepresentable_retry_after_gives_up_instead_of_panicking() {
        let (out, calls) = run_counted::<()>(policy(), |_| {
            Err(Error::http(Step::Exchange, 503, b"").with_retry_after(Duration::MAX))
        })
        .await;
        assert_eq!(out.err().and_then(|e| e.status()), Some(503));
        assert_eq!(calls, 1, "no second attempt");
    }
}
