//! The chain deadline: one bound on a whole refresh — subject token, STS exchange,
//! impersonation, with all their retries — so a caller's `token()` never waits longer than it,
//! however slow each step is within its own timeouts and retry deadline.
//!
//! Each step bounds itself (per-attempt timeouts, a [`RetryPolicy`](crate::RetryPolicy) deadline
//! per step), but the bounds add up: STS and IAM Credentials each answering in 9 s after two
//! 503s kept a caller waiting 55 s. [`ChainDeadline`] wraps the chain's provider and cuts the
//! refresh off at its limit with a [`Timeout`](crate::ErrorKind::Timeout) error that names the
//! step that was running. The work is dropped at that moment: no request of that refresh is
//! sent after the deadline.
//!
//! The steps report where they are with [`note_progress`] ([`RetryPolicy::run`] does it for every
//! attempt it makes); outside a [`ChainDeadline`] that costs nothing and records nothing.
//!
//! [`RetryPolicy::run`]: crate::RetryPolicy::run

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use crate::{AccessToken, Error, ErrorKind, Step, TokenProvider};

/// The default chain deadline: 30 seconds.
///
/// The same bound as one step's default retry deadline and the default HTTP client's
/// whole-request timeout, so no single call or step of a default chain is cut short by it
/// alone, while the chain as a whole — which had no bound, up to the sum of every step's — can
/// no longer keep a caller longer than one step already could. A healthy chain takes well under
/// two seconds (network round trips); an executable source whose command takes most of its own
/// timeout (30 s by default, up to 120 s) needs a longer deadline.
pub const DEFAULT_CHAIN_DEADLINE: Duration = Duration::from_secs(30);

tokio::task_local! {
    /// Where the refresh running under the innermost [`ChainDeadline`] is.
    static PROGRESS: Arc<Progress>;
}

/// Records that the chain is at `step`, making `call` (a description without secrets:
/// `POST https://sts.googleapis.com/v1/token`, `executable \`get-token\``), attempt `attempt`
/// (from 1). A [`ChainDeadline`] that cuts the refresh off names the last one recorded. Does
/// nothing outside a [`ChainDeadline`].
pub fn note_progress(step: Step, call: &str, attempt: u32) {
    let _ = PROGRESS.try_with(|progress| {
        *progress.at.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((step, call.to_owned(), attempt));
    });
}

/// What the refresh under a deadline last said it was doing.
#[derive(Default)]
struct Progress {
    at: Mutex<Option<(Step, String, u32)>>,
}

impl Progress {
    fn deadline_error(&self, limit: Duration) -> Error {
        let at = self
            .at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let (step, running) = match at {
            Some((step, call, attempt)) => {
                let attempt = if attempt > 1 {
                    format!(" (attempt {attempt})")
                } else {
                    String::new()
                };
                (step, format!("; it was at the {step}: {call}{attempt}"))
            }
            None => (Step::Source, String::new()),
        };
        Error::new(
            step,
            ErrorKind::Timeout,
            format!(
                "the token chain did not finish within its deadline of {:.1}s{running}",
                limit.as_secs_f64()
            ),
        )
        .retryable(true)
        .with_known_cause(&crate::causes::CHAIN_DEADLINE)
        .with_hint(format!(
            "the step named above is slow or not answering: {}",
            crate::causes::CHAIN_DEADLINE.fix
        ))
    }
}

/// A token provider whose [`token`](TokenProvider::token) gives up after `limit`: the bound of
/// one whole refresh of the chain it wraps (see the module docs).
///
/// ```
/// use std::time::Duration;
/// use wif_core::{AccessToken, ChainDeadline, StaticTokenProvider, TokenCache, TokenProvider};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wif_core::Error> {
/// let chain = StaticTokenProvider::new(AccessToken::new("ya29.example"));
/// // The cache shares one bounded refresh among all its callers.
/// let credentials = TokenCache::new(ChainDeadline::new(chain, Duration::from_secs(10)));
/// let token = credentials.token().await?;
/// # let _ = token; Ok(()) }
/// ```
#[derive(Clone)]
pub struct ChainDeadline<P> {
    provider: P,
    limit: Duration,
}

impl<P> ChainDeadline<P> {
    /// Bounds every [`token`](TokenProvider::token) call of `provider` by `limit`.
    /// [`Duration::MAX`] means no bound.
    pub fn new(provider: P, limit: Duration) -> Self {
        ChainDeadline { provider, limit }
    }

    /// The bound.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// The wrapped provider.
    pub fn provider(&self) -> &P {
        &self.provider
    }
}

impl<P: fmt::Debug> fmt::Debug for ChainDeadline<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainDeadline")
            .field("limit", &self.limit)
            .field("provider", &self.provider)
            .finish()
    }
}

#[async_trait]
impl<P: TokenProvider> TokenProvider for ChainDeadline<P> {
    /// The wrapped provider's token, or a [`Timeout`](ErrorKind::Timeout) error at the step that
    /// was running when `limit` passed (retryable: the next refresh starts afresh). The
    /// refresh's work is dropped then.
    async fn token(&self) -> Result<AccessToken, Error> {
        let progress = Arc::new(Progress::default());
        let refresh = PROGRESS.scope(progress.clone(), self.provider.token());
        match tokio::time::timeout(self.limit, refresh).await {
            Ok(result) => result,
            Err(_elapsed) => {
                let err = progress.deadline_error(self.limit);
                tracing::debug!(error = %err.message(), "chain deadline passed");
                Err(err)
            }
        }
    }

    fn invalidate(&self) {
        self.provider.invalidate();
    }

    fn invalidate_all(&self) {
        self.provider.invalidate_all();
    }

    fn endpoint_base_url(&self) -> Option<&str> {
        self.provider.endpoint_base_url()
    }
}

#[cfg(test)]
mod tests;
