//! Backoff for multi-request operations (resumable uploads, resumed downloads), where
//! [`RetryPolicy::run`] does not fit: each failure streak is retried under the policy's attempts
//! and deadline, and any progress starts a new streak, so a long transfer is not cut off by a
//! deadline meant for one request.

use tokio::time::Instant;
use wif_core::{Error, RetryPolicy};

/// Backoff across the requests of one chunk: consecutive failures count against the policy's
/// attempts and deadline; progress resets both.
pub(crate) struct Backoff {
    policy: RetryPolicy,
    failures: u32,
    streak_started: Option<Instant>,
}

impl Backoff {
    pub(crate) fn new(policy: RetryPolicy) -> Self {
        Backoff {
            policy,
            failures: 0,
            streak_started: None,
        }
    }

    pub(crate) fn progressed(&mut self) {
        self.failures = 0;
        self.streak_started = None;
    }

    /// Waits before the next try, or gives `err` back when attempts or deadline are spent.
    pub(crate) async fn wait(&mut self, err: Error) -> Result<(), Error> {
        self.failures += 1;
        let started = *self.streak_started.get_or_insert_with(Instant::now);
        if self.failures >= self.policy.max_attempts() {
            return Err(err);
        }
        let wait = self.policy.wait_after(self.failures, &err);
        if started.elapsed().saturating_add(wait) > self.policy.deadline() {
            return Err(err);
        }
        tracing::info!(
            attempt = self.failures,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            error = %err.message(),
            "transfer: retrying after a retryable failure"
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use wif_core::Step;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn streaks_are_bounded_and_reset_by_progress() {
        let policy = RetryPolicy::default()
            .with_max_attempts(3)
            .with_backoff(Duration::from_secs(1), Duration::from_secs(4));
        let mut b = Backoff::new(policy);
        let e = || Error::http(Step::Api, 503, b"");
        assert!(b.wait(e()).await.is_ok());
        assert!(b.wait(e()).await.is_ok());
        assert!(
            b.wait(e()).await.is_err(),
            "third failure in a row: give up"
        );
        b.progressed();
        assert!(b.wait(e()).await.is_ok(), "progress starts a new streak");
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_beyond_the_deadline_gives_up() {
        let policy = RetryPolicy::default().with_deadline(Duration::from_secs(5));
        let mut b = Backoff::new(policy);
        let e = Error::http(Step::Api, 429, b"").with_retry_after(Duration::from_secs(60));
        let started = Instant::now();
        assert!(b.wait(e).await.is_err());
        assert_eq!(started.elapsed(), Duration::ZERO, "no pointless sleep");
    }
}
