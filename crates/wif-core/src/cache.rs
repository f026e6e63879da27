//! Step 5 of the chain: the token cache.
//!
//! [`TokenCache`] wraps any [`TokenProvider`] and decides, per call, from the cached token's
//! remaining life (monotonic clock):
//!
//! * **fresh** — more than the refresh-ahead margin left: hand it out, no I/O.
//! * **stale** — inside the margin but still comfortably valid: hand it out *and* start one
//!   refresh in the background, so callers never wait on the network after the first call.
//! * **invalid** — no token, or less than the minimum validity left: wait for a refresh.
//!
//! All refreshes are **single-flight**: however many callers arrive, one upstream call runs and
//! every waiter gets its result. A failed refresh keeps serving a token that is still valid. A
//! panic inside the provider becomes an [`ErrorKind::Internal`] error for that refresh only; it
//! never poisons the cache. No task is started at construction (no runtime needed), and the one
//! background refresh that may be running is aborted when the last clone of the cache is dropped.
//!
//! The default margin, 3 min 45 s, is Google's own (`google-auth`'s `REFRESH_THRESHOLD`,
//! `cloud.google.com/go/auth`'s `defaultExpiryDelta`).

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use async_trait::async_trait;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::{AccessToken, Error, ErrorKind, Step, TokenProvider};

/// Timing knobs of a [`TokenCache`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheOptions {
    /// Start a background refresh when this much (or less) life is left. Capped at half the
    /// token's lifetime, so short-lived tokens are not refreshed continuously.
    pub refresh_ahead: Duration,
    /// A token with less than this left is not handed out without first trying to refresh it.
    pub min_validity: Duration,
    /// After a failed background refresh, wait this long before trying another one in the
    /// background (callers keep getting the still-valid token meanwhile).
    pub retry_failed_after: Duration,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            refresh_ahead: Duration::from_secs(225),
            min_validity: Duration::from_secs(10),
            retry_failed_after: Duration::from_secs(5),
        }
    }
}

impl CacheOptions {
    /// Sets the refresh-ahead margin.
    pub fn with_refresh_ahead(mut self, margin: Duration) -> Self {
        self.refresh_ahead = margin;
        self
    }

    /// Sets the minimum validity of a handed-out token.
    pub fn with_min_validity(mut self, min: Duration) -> Self {
        self.min_validity = min;
        self
    }

    /// Sets the pause between failed background refreshes.
    pub fn with_retry_failed_after(mut self, pause: Duration) -> Self {
        self.retry_failed_after = pause;
        self
    }
}

type Refresh = Shared<BoxFuture<'static, Result<AccessToken, Error>>>;

/// A single-flight, refresh-ahead cache around any [`TokenProvider`]. Cheap to clone; clones share
/// the cached token.
pub struct TokenCache<P> {
    shared: Arc<CacheShared<P>>,
}

struct CacheShared<P> {
    provider: Arc<P>,
    options: CacheOptions,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    token: Option<Cached>,
    refresh: Option<Refresh>,
    last_failure: Option<Instant>,
    background: Option<AbortHandle>,
}

#[derive(Clone)]
struct Cached {
    token: AccessToken,
    fetched_at: Instant,
}

enum Freshness {
    Fresh,
    Stale,
    Invalid,
}

impl<P> Clone for TokenCache<P> {
    fn clone(&self) -> Self {
        TokenCache {
            shared: self.shared.clone(),
        }
    }
}

impl<P> Drop for CacheShared<P> {
    fn drop(&mut self) {
        if let Some(handle) = lock(&self.state).background.take() {
            handle.abort();
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // The lock is never held across an await or a call into user code, so poisoning can only
    // come from a bug in this module; the state stays consistent either way.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<P: TokenProvider + 'static> TokenCache<P> {
    /// Caches `provider` with the default options.
    pub fn new(provider: P) -> Self {
        Self::with_options(provider, CacheOptions::default())
    }

    /// Caches `provider` with `options`.
    pub fn with_options(provider: P, options: CacheOptions) -> Self {
        TokenCache {
            shared: Arc::new(CacheShared {
                provider: Arc::new(provider),
                options,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// The wrapped provider.
    pub fn provider(&self) -> &P {
        &self.shared.provider
    }

    /// Forgets the cached token (e.g. after an API answered 401), so the next call refreshes.
    /// Only this layer's token is dropped; caches further down the chain keep theirs.
    pub fn invalidate(&self) {
        lock(&self.shared.state).token = None;
    }

    fn freshness(&self, cached: &Cached, now: Instant) -> Freshness {
        let Some(expires_at) = cached.token.expires_at() else {
            return Freshness::Fresh;
        };
        let remaining = expires_at.saturating_duration_since(now);
        let lifetime = expires_at.saturating_duration_since(cached.fetched_at);
        let ahead = self.shared.options.refresh_ahead.min(lifetime / 2);
        if remaining <= self.shared.options.min_validity {
            Freshness::Invalid
        } else if remaining <= ahead {
            Freshness::Stale
        } else {
            Freshness::Fresh
        }
    }

    /// The in-flight refresh, starting one if none runs.
    fn refresh_locked(&self, state: &mut State) -> Refresh {
        if let Some(refresh) = &state.refresh {
            return refresh.clone();
        }
        let provider = self.shared.provider.clone();
        let weak: Weak<CacheShared<P>> = Arc::downgrade(&self.shared);
        let fut = async move {
            let started = Instant::now();
            let result = match AssertUnwindSafe(provider.token()).catch_unwind().await {
                Ok(result) => result,
                Err(_) => Err(Error::new(
                    Step::Exchange,
                    ErrorKind::Internal,
                    "the token provider panicked during refresh",
                )
                .retryable(true)),
            };
            if let Some(shared) = weak.upgrade() {
                let mut state = lock(&shared.state);
                state.refresh = None;
                state.background = None;
                match &result {
                    Ok(token) => {
                        state.token = Some(Cached {
                            token: token.clone(),
                            fetched_at: started,
                        });
                        state.last_failure = None;
                    }
                    Err(_) => state.last_failure = Some(Instant::now()),
                }
            }
            match &result {
                Ok(_) => tracing::debug!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "token refreshed"
                ),
                Err(e) => tracing::warn!(error = %e, "token refresh failed"),
            }
            result
        }
        .boxed()
        .shared();
        state.refresh = Some(fut.clone());
        fut
    }
}

impl<P> fmt::Debug for TokenCache<P>
where
    P: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.shared.state);
        f.debug_struct("TokenCache")
            .field("provider", &self.shared.provider)
            .field("options", &self.shared.options)
            .field("cached", &state.token.as_ref().map(|c| &c.token))
            .field("refreshing", &state.refresh.is_some())
            .finish()
    }
}

#[async_trait]
impl<P: TokenProvider + 'static> TokenProvider for TokenCache<P> {
    async fn token(&self) -> Result<AccessToken, Error> {
        let now = Instant::now();
        let (refresh, fallback) = {
            let mut state = lock(&self.shared.state);
            match state.token.clone() {
                Some(cached) => match self.freshness(&cached, now) {
                    Freshness::Fresh => return Ok(cached.token),
                    Freshness::Stale => {
                        let paused = state.last_failure.is_some_and(|at| {
                            now.saturating_duration_since(at)
                                < self.shared.options.retry_failed_after
                        });
                        // Without a Tokio runtime (another executor) there is no background
                        // refresh; the token is then refreshed in the foreground once invalid.
                        if state.refresh.is_none()
                            && !paused
                            && let Ok(handle) = tokio::runtime::Handle::try_current()
                        {
                            let refresh = self.refresh_locked(&mut state);
                            let task = handle.spawn(async move {
                                let _ = refresh.await;
                            });
                            state.background = Some(task.abort_handle());
                        }
                        return Ok(cached.token);
                    }
                    Freshness::Invalid => (self.refresh_locked(&mut state), Some(cached.token)),
                },
                None => (self.refresh_locked(&mut state), None),
            }
        };
        match refresh.await {
            Ok(token) => Ok(token),
            Err(err) => match fallback {
                // Still valid, just closer to expiry than we like: better than an error.
                Some(token) if token.remaining().is_some_and(|r| r > Duration::ZERO) => {
                    tracing::warn!(error = %err, "refresh failed; serving the still-valid cached token");
                    Ok(token)
                }
                _ => Err(err),
            },
        }
    }

    fn invalidate(&self) {
        TokenCache::invalidate(self);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    use super::*;

    /// A provider that counts calls, takes `latency` and returns tokens of `lifetime`;
    /// calls listed in `fail_on` fail, calls listed in `panic_on` panic.
    #[derive(Debug)]
    struct Upstream {
        calls: AtomicU32,
        latency: Duration,
        lifetime: Duration,
        fail_on: Vec<u32>,
        panic_on: Vec<u32>,
        dropped_midway: Arc<AtomicBool>,
    }

    impl Upstream {
        fn new(lifetime: Duration) -> Self {
            Upstream {
                calls: AtomicU32::new(0),
                latency: Duration::from_millis(100),
                lifetime,
                fail_on: vec![],
                panic_on: vec![],
                dropped_midway: Arc::new(AtomicBool::new(false)),
            }
        }
        fn calls(&self) -> u32 {
            self.calls.load(Ordering::SeqCst)
        }
    }

    struct DropFlag(Arc<AtomicBool>, bool);
    impl Drop for DropFlag {
        fn drop(&mut self) {
            if !self.1 {
                self.0.store(true, Ordering::SeqCst);
            }
        }
    }

    #[async_trait]
    impl TokenProvider for Upstream {
        async fn token(&self) -> Result<AccessToken, Error> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            let mut guard = DropFlag(self.dropped_midway.clone(), false);
            let started = Instant::now();
            tokio::time::sleep(self.latency).await;
            guard.1 = true;
            if self.panic_on.contains(&n) {
                panic!("provider bug on call {n}");
            }
            if self.fail_on.contains(&n) {
                return Err(Error::http(Step::Exchange, 503, b""));
            }
            Ok(AccessToken::expiring_in(
                format!("token-{n}"),
                started,
                self.lifetime,
            ))
        }
    }

    fn value(t: &AccessToken) -> String {
        use secrecy::ExposeSecret;
        t.secret().expose_secret().to_owned()
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[tokio::test(start_paused = true)]
    async fn cold_cache_is_single_flight_for_many_callers() {
        let cache = TokenCache::new(Upstream::new(HOUR));
        let calls = (0..200).map(|_| {
            let c = cache.clone();
            tokio::spawn(async move { c.token().await })
        });
        let results = futures::future::join_all(calls).await;
        for r in results {
            let token = r.expect("task ran").expect("token");
            assert_eq!(value(&token), "token-1");
        }
        assert_eq!(
            cache.provider().calls(),
            1,
            "200 cold callers must cause exactly one upstream call"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn fresh_tokens_are_served_without_upstream_calls() {
        let cache = TokenCache::new(Upstream::new(HOUR));
        cache.token().await.expect("first");
        tokio::time::advance(Duration::from_secs(1800)).await;
        let t = cache.token().await.expect("second");
        assert_eq!(value(&t), "token-1");
        assert_eq!(cache.provider().calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn stale_tokens_are_served_at_once_and_refreshed_in_the_background() {
        let cache = TokenCache::new(Upstream::new(HOUR));
        cache.token().await.expect("first");
        // Into the refresh-ahead window (225 s before expiry).
        tokio::time::advance(HOUR - Duration::from_secs(200)).await;
        let before = Instant::now();
        let handles: Vec<_> = (0..100)
            .map(|_| {
                let c = cache.clone();
                tokio::spawn(async move { c.token().await })
            })
            .collect();
        for h in handles {
            let t = h.await.expect("task").expect("stale token served");
            assert_eq!(
                value(&t),
                "token-1",
                "callers get the cached token, not a wait"
            );
        }
        assert_eq!(
            before.elapsed(),
            Duration::ZERO,
            "no caller waited on the network"
        );
        // Let the single background refresh finish.
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(
            cache.provider().calls(),
            2,
            "exactly one background refresh for 100 callers"
        );
        assert_eq!(
            value(&cache.token().await.expect("after refresh")),
            "token-2"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn failed_refresh_keeps_serving_a_still_valid_token() {
        let mut upstream = Upstream::new(HOUR);
        upstream.fail_on = vec![2, 3, 4, 5, 6, 7, 8];
        let cache = TokenCache::new(upstream);
        cache.token().await.expect("first");
        tokio::time::advance(HOUR - Duration::from_secs(200)).await;
        assert_eq!(value(&cache.token().await.expect("stale")), "token-1");
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(
            cache.provider().calls(),
            2,
            "background refresh ran and failed"
        );
        // Inside min_validity: callers wait for a refresh, which fails, yet the token is valid.
        tokio::time::advance(Duration::from_secs(195)).await;
        let t = cache
            .token()
            .await
            .expect("still-valid token served despite failure");
        assert_eq!(value(&t), "token-1");
        // Past expiry: the failure surfaces.
        tokio::time::advance(Duration::from_secs(10)).await;
        let err = cache.token().await.expect_err("expired and refresh fails");
        assert_eq!(err.status(), Some(503), "{err:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_provider_does_not_poison_the_cache() {
        let mut upstream = Upstream::new(HOUR);
        upstream.panic_on = vec![1];
        let cache = TokenCache::new(upstream);
        let a = cache.clone();
        let b = cache.clone();
        let (ra, rb) = tokio::join!(a.token(), b.token());
        for r in [ra, rb] {
            let err = r.expect_err("panic becomes an error");
            assert_eq!(err.kind(), ErrorKind::Internal, "{err:?}");
        }
        let t = cache.token().await.expect("next refresh works");
        assert_eq!(value(&t), "token-2");
    }

    #[tokio::test(start_paused = true)]
    async fn short_lived_tokens_are_not_refreshed_continuously() {
        let cache = TokenCache::new(Upstream::new(Duration::from_secs(120)));
        cache.token().await.expect("first");
        tokio::time::advance(Duration::from_secs(30)).await;
        cache.token().await.expect("second");
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(
            cache.provider().calls(),
            1,
            "a 120 s token is fresh for its first 60 s"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_the_cache_aborts_its_background_refresh() {
        let mut upstream = Upstream::new(HOUR);
        upstream.latency = Duration::from_secs(60);
        let dropped = upstream.dropped_midway.clone();
        let cache = TokenCache::new(upstream);
        // The first fill takes 60 s of virtual time.
        cache.token().await.expect("first");
        tokio::time::advance(HOUR - Duration::from_secs(200)).await;
        cache
            .token()
            .await
            .expect("stale, starts background refresh");
        tokio::task::yield_now().await;
        drop(cache);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(
            dropped.load(Ordering::SeqCst),
            "background refresh must be cancelled with the cache"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn invalidate_forces_a_refresh() {
        let cache = TokenCache::new(Upstream::new(HOUR));
        cache.token().await.expect("first");
        cache.invalidate();
        assert_eq!(value(&cache.token().await.expect("second")), "token-2");
    }

    #[test]
    fn construction_needs_no_runtime() {
        let cache = TokenCache::new(Upstream::new(HOUR));
        assert!(format!("{cache:?}").contains("TokenCache"));
    }
}
