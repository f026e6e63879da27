//! The token cache: what callers meet first, in front of the chain's steps.
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
//! Handing out a fresh token takes no lock and writes no memory other threads read: the cached
//! token sits behind an [`arc_swap::ArcSwapOption`] with the instant it stops being fresh worked
//! out when it was stored, and [`AccessToken`] clones are private copies. So the cost of a cached
//! call stays the same however many threads make it. Everything else (stale, invalid, refreshing)
//! goes through one mutex, which is never held across an await.
//!
//! The default margin, 3 min 45 s, is Google's own (`google-auth`'s `REFRESH_THRESHOLD`,
//! `cloud.google.com/go/auth`'s `defaultExpiryDelta`).

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::{AccessToken, Error, ErrorKind, Step, TokenProvider, coarse_clock};

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
    /// The clock that decides, on the fast path, whether the cached token is still fresh.
    pub clock: CacheClock,
}

/// The clock a [`TokenCache`] reads on every call to decide that its token is still fresh.
///
/// Every other decision (stale, invalid, expiry) always uses Tokio's clock,
/// [`tokio::time::Instant`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheClock {
    /// The system's coarse monotonic clock where there is one (Linux: `CLOCK_MONOTONIC_COARSE`,
    /// a memory read; it lags real time by at most one kernel tick, 1–10 ms, so a token may be
    /// called fresh that much longer — harmless against margins of seconds to minutes), the
    /// precise clock elsewhere. It does not follow Tokio's paused time.
    #[default]
    System,
    /// [`tokio::time::Instant::now`] on every call: follows `tokio::time::pause`/`advance` (tests
    /// with `#[tokio::test(start_paused = true)]` that expect a refresh after advancing time need
    /// it), at the price of a precise clock read per call.
    Tokio,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            refresh_ahead: Duration::from_secs(225),
            min_validity: Duration::from_secs(10),
            retry_failed_after: Duration::from_secs(5),
            clock: CacheClock::System,
        }
    }
}

impl CacheOptions {
    crate::builder_setters! {
        /// Sets the refresh-ahead margin.
        pub fn with_refresh_ahead(margin: Duration) => refresh_ahead;

        /// Sets the minimum validity of a handed-out token.
        pub fn with_min_validity(min: Duration) => min_validity;

        /// Sets the clock of the fast path (see [`CacheClock`]).
        pub fn with_clock(clock: CacheClock) => clock;

        /// Sets the pause between failed background refreshes.
        pub fn with_retry_failed_after(pause: Duration) => retry_failed_after;
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
    /// The cached token: read without locking, replaced (under `state`'s lock) when a refresh
    /// succeeds or the token is invalidated.
    current: ArcSwapOption<Cached>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    refresh: Option<Refresh>,
    last_failure: Option<Instant>,
    background: Option<AbortHandle>,
}

struct Cached {
    token: AccessToken,
    /// Until when the token is handed out with no further thought; `None`: it never expires.
    fresh_until: Option<Instant>,
    /// The same moment on the coarse clock, when there is one.
    coarse_fresh_until: Option<Duration>,
}

impl Cached {
    fn new(token: AccessToken, fetched_at: Instant, options: &CacheOptions) -> Self {
        let fresh_until = token.expires_at().map(|expires_at| {
            let lifetime = expires_at.saturating_duration_since(fetched_at);
            let margin = options
                .refresh_ahead
                .min(lifetime / 2)
                .max(options.min_validity);
            // A margin longer than the token's whole life: never fresh.
            expires_at.checked_sub(margin).unwrap_or(fetched_at)
        });
        let coarse_fresh_until = fresh_until.and_then(|until| {
            let left = until.saturating_duration_since(Instant::now());
            coarse_clock::now().map(|now| now + left)
        });
        Cached {
            token,
            fresh_until,
            coarse_fresh_until,
        }
    }

    fn is_fresh(&self, now: Instant) -> bool {
        self.fresh_until.is_none_or(|until| now < until)
    }

    /// [`is_fresh`](Self::is_fresh) now, on `clock`. A "no" is only a hint: the caller then
    /// takes the locked path, which decides on Tokio's clock.
    fn is_fresh_now(&self, clock: CacheClock) -> bool {
        let Some(until) = self.fresh_until else {
            return true;
        };
        match (clock, self.coarse_fresh_until) {
            (CacheClock::System, Some(coarse_until)) => {
                coarse_clock::now().is_some_and(|now| now < coarse_until)
            }
            _ => Instant::now() < until,
        }
    }
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
                current: ArcSwapOption::empty(),
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
        let _state = lock(&self.shared.state);
        self.shared.current.store(None);
    }

    /// Forgets the cached token and asks the wrapped provider to forget everything below it
    /// too ([`TokenProvider::invalidate_all`]): the next call runs the whole chain.
    pub fn invalidate_all(&self) {
        self.invalidate();
        self.shared.provider.invalidate_all();
    }

    /// The cached token if it is fresh (outside the refresh-ahead margin), without waiting,
    /// locking or starting anything; `None` otherwise. [`token`](TokenProvider::token) starts
    /// with this, so a caller that only wants the fast path (e.g. to decide whether to await)
    /// can use it directly.
    pub fn fresh_token(&self) -> Option<AccessToken> {
        let current = self.shared.current.load();
        match current.as_deref() {
            Some(cached) if cached.is_fresh_now(self.shared.options.clock) => {
                Some(cached.token.clone())
            }
            _ => None,
        }
    }

    fn freshness(&self, cached: &Cached, now: Instant) -> Freshness {
        if cached.is_fresh(now) {
            return Freshness::Fresh;
        }
        let remaining = cached
            .token
            .expires_at()
            .map_or(Duration::MAX, |at| at.saturating_duration_since(now));
        if remaining <= self.shared.options.min_validity {
            Freshness::Invalid
        } else {
            Freshness::Stale
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
                        shared.current.store(Some(Arc::new(Cached::new(
                            token.clone(),
                            started,
                            &shared.options,
                        ))));
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
        let current = self.shared.current.load();
        f.debug_struct("TokenCache")
            .field("provider", &self.shared.provider)
            .field("options", &self.shared.options)
            .field("cached", &current.as_ref().map(|c| &c.token))
            .field("refreshing", &state.refresh.is_some())
            .finish()
    }
}

impl<P: TokenProvider + 'static> TokenCache<P> {
    /// A token: the cached one while fresh (see [`fresh_token`](Self::fresh_token)); a stale
    /// one at once while one background refresh runs; otherwise the result of the one refresh
    /// every concurrent caller shares. [`TokenProvider::token`] calls this; calling it directly
    /// (`cache.token()`) also spares the boxed future of the trait method.
    pub async fn token(&self) -> Result<AccessToken, Error> {
        if let Some(token) = self.fresh_token() {
            return Ok(token);
        }
        let now = Instant::now();
        let (refresh, fallback) = {
            let mut state = lock(&self.shared.state);
            match self.shared.current.load_full() {
                Some(cached) => match self.freshness(&cached, now) {
                    Freshness::Fresh => return Ok(cached.token.clone()),
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
                        return Ok(cached.token.clone());
                    }
                    Freshness::Invalid => {
                        (self.refresh_locked(&mut state), Some(cached.token.clone()))
                    }
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
}

#[async_trait]
impl<P: TokenProvider + 'static> TokenProvider for TokenCache<P> {
    async fn token(&self) -> Result<AccessToken, Error> {
        TokenCache::token(self).await
    }

    fn invalidate(&self) {
        TokenCache::invalidate(self);
    }

    fn invalidate_all(&self) {
        TokenCache::invalidate_all(self);
    }

    fn endpoint_base_url(&self) -> Option<&str> {
        self.shared.provider.endpoint_base_url()
    }

    fn fresh_token(&self) -> Option<AccessToken> {
        TokenCache::fresh_token(self)
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

    /// Most tests drive time with `tokio::time::advance`, which only Tokio's clock sees.
    fn on_tokio_clock(upstream: Upstream) -> TokenCache<Upstream> {
        TokenCache::with_options(
            upstream,
            CacheOptions::default().with_clock(CacheClock::Tokio),
        )
    }

    /// The default clock, in real time: a token is fresh, then (after half its 600 ms life)
    /// stale and refreshed in the background, then fresh again.
    #[tokio::test]
    async fn system_clock_sees_tokens_go_stale_in_real_time() {
        let mut upstream = Upstream::new(Duration::from_millis(600));
        upstream.latency = Duration::ZERO;
        let options = CacheOptions::default()
            .with_refresh_ahead(Duration::from_secs(1))
            .with_min_validity(Duration::ZERO);
        assert_eq!(options.clock, CacheClock::System);
        let cache = TokenCache::with_options(upstream, options);
        assert!(cache.fresh_token().is_none(), "nothing cached yet");

        assert_eq!(value(&cache.token().await.expect("first")), "token-1");
        let fresh = cache.fresh_token().expect("a new token is fresh");
        assert_eq!(value(&fresh), "token-1");

        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(cache.fresh_token().is_none(), "past half its life: stale");
        // Stale but valid: served at once, refreshed in the background.
        assert_eq!(value(&cache.token().await.expect("stale")), "token-1");
        for _ in 0..100 {
            if cache.provider().calls() == 2 && cache.fresh_token().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(cache.provider().calls(), 2);
        assert_eq!(value(&cache.fresh_token().expect("refreshed")), "token-2");
    }

    #[tokio::test(start_paused = true)]
    async fn fresh_token_never_waits_or_refreshes() {
        let cache = on_tokio_clock(Upstream::new(HOUR));
        assert!(cache.fresh_token().is_none());
        assert_eq!(cache.provider().calls(), 0, "fresh_token starts nothing");
        cache.token().await.expect("first");
        assert_eq!(value(&cache.fresh_token().expect("fresh")), "token-1");
        // Inside the refresh-ahead margin: not fresh, and still no refresh started by asking.
        tokio::time::advance(HOUR - Duration::from_secs(200)).await;
        assert!(cache.fresh_token().is_none());
        tokio::task::yield_now().await;
        assert_eq!(cache.provider().calls(), 1);
        cache.invalidate();
        assert!(cache.fresh_token().is_none(), "invalidated");
    }

    #[tokio::test(start_paused = true)]
    async fn the_trait_answers_fresh_token_from_the_cache() {
        let cache = on_tokio_clock(Upstream::new(HOUR));
        // As a layer (wif-tonic, the bridges) sees it: behind the trait, behind an Arc.
        let provider: std::sync::Arc<dyn TokenProvider> = std::sync::Arc::new(cache.clone());
        assert!(provider.fresh_token().is_none());
        assert_eq!(cache.provider().calls(), 0, "fresh_token starts nothing");
        cache.token().await.expect("first");
        let fresh = provider.fresh_token().expect("fresh through the trait");
        assert_eq!(value(&fresh), "token-1");
        tokio::time::advance(HOUR - Duration::from_secs(200)).await;
        assert!(provider.fresh_token().is_none(), "inside the margin");
        // A provider without a cache says nothing is fresh: callers await token().
        assert!(cache.provider().fresh_token().is_none());
    }

    #[test]
    fn a_margin_longer_than_the_lifetime_is_never_fresh() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("runtime");
        runtime.block_on(async {
            // 5 s of life, 10 s minimum validity: every call must go upstream.
            let cache = on_tokio_clock(Upstream::new(Duration::from_secs(5)));
            cache.token().await.expect("first");
            assert!(cache.fresh_token().is_none());
            cache.token().await.expect("second");
            assert_eq!(cache.provider().calls(), 2);
        });
    }

    #[tokio::test(start_paused = true)]
    async fn cold_cache_is_single_flight_for_many_callers() {
        let cache = on_tokio_clock(Upstream::new(HOUR));
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
        let cache = on_tokio_clock(Upstream::new(HOUR));
        cache.token().await.expect("first");
        tokio::time::advance(Duration::from_secs(1800)).await;
        let t = cache.token().await.expect("second");
        assert_eq!(value(&t), "token-1");
        assert_eq!(cache.provider().calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn stale_tokens_are_served_at_once_and_refreshed_in_the_background() {
        let cache = on_tokio_clock(Upstream::new(HOUR));
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

    /// Steady callers across several expiries: while a token is valid, every call is answered at
    /// its first poll (no caller ever waits on a refresh), and each token's approach to expiry
    /// causes exactly one upstream call.
    #[tokio::test(start_paused = true)]
    async fn steady_callers_across_expiries_never_wait_and_cause_one_refresh_each() {
        // 60 s tokens: fresh for 30 s (half the life), then stale for 20 s.
        let cache = on_tokio_clock(Upstream::new(Duration::from_secs(60)));
        cache.token().await.expect("cold");
        let mut seen = vec!["token-1".to_owned()];
        let started = Instant::now();
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        // Four lifetimes, 20 calls a second.
        while started.elapsed() < Duration::from_secs(240) {
            for _ in 0..10 {
                let call = cache.token();
                let token = match std::pin::pin!(call).poll(&mut cx) {
                    std::task::Poll::Ready(token) => token.expect("token"),
                    std::task::Poll::Pending => {
                        panic!("a caller waited at {:?}", started.elapsed())
                    }
                };
                assert!(token.remaining().is_some_and(|r| r > Duration::ZERO));
                if seen.last() != Some(&value(&token)) {
                    seen.push(value(&token));
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let calls = cache.provider().calls() as usize;
        assert_eq!(
            calls,
            seen.len(),
            "one upstream call per token handed out: {seen:?}"
        );
        // The cold fill, then one refresh per 30 s of freshness over 240 s.
        assert!((8..=9).contains(&calls), "{calls} refreshes: {seen:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn failed_refresh_keeps_serving_a_still_valid_token() {
        let mut upstream = Upstream::new(HOUR);
        upstream.fail_on = vec![2, 3, 4, 5, 6, 7, 8];
        let cache = on_tokio_clock(upstream);
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
        let cache = on_tokio_clock(upstream);
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
        let cache = on_tokio_clock(Upstream::new(Duration::from_secs(120)));
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
        let cache = on_tokio_clock(upstream);
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
        let cache = on_tokio_clock(Upstream::new(HOUR));
        cache.token().await.expect("first");
        cache.invalidate();
        assert_eq!(value(&cache.token().await.expect("second")), "token-2");
    }

    #[tokio::test(start_paused = true)]
    async fn invalidate_all_reaches_the_caches_below() {
        // Two layers, as an impersonated chain has: the outer cache around an inner one.
        let inner = on_tokio_clock(Upstream::new(HOUR));
        let outer = TokenCache::with_options(
            inner.clone(),
            CacheOptions::default().with_clock(CacheClock::Tokio),
        );
        outer.token().await.expect("first");
        outer.invalidate();
        outer.token().await.expect("from the inner cache");
        assert_eq!(
            inner.provider().calls(),
            1,
            "invalidate leaves the inner cache"
        );
        outer.invalidate_all();
        assert_eq!(value(&outer.token().await.expect("refetched")), "token-2");
        assert_eq!(inner.provider().calls(), 2, "invalidate_all empties both");
        // Through the trait object too, as `Arc<dyn TokenProvider>` holders call it.
        let shared: Arc<dyn TokenProvider> = Arc::new(outer.clone());
        shared.invalidate_all();
        assert_eq!(value(&outer.token().await.expect("again")), "token-3");
    }

    #[test]
    fn construction_needs_no_runtime() {
        let cache = on_tokio_clock(Upstream::new(HOUR));
        assert!(format!("{cache:?}").contains("TokenCache"));
    }
}
