//! The clock the token cache's fast path reads.
//!
//! Deciding whether a cached token is still fresh needs "now" on every call, and a precise
//! monotonic read (`clock_gettime(CLOCK_MONOTONIC)`) costs ~20–25 ns on virtual machines — a third
//! of a cached `token()`. Freshness margins are minutes long, so Linux's coarse monotonic clock
//! (the same timeline, read from memory the kernel updates every tick, 1–10 ms) is precise
//! enough at a fifth of the price. Elsewhere there is no coarse clock and the cache reads the
//! precise one.

use std::time::Duration;

/// Time on the coarse monotonic clock, or `None` where there is none (the caller then uses the
/// precise clock).
#[cfg(target_os = "linux")]
#[inline]
pub(crate) fn now() -> Option<Duration> {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
    // Never negative on Linux; a nonsensical value makes the token look stale, which only costs
    // a trip through the precise path.
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u32::try_from(ts.tv_nsec).ok()?;
    Some(Duration::new(secs, nanos))
}

/// Time on the coarse monotonic clock, or `None` where there is none (the caller then uses the
/// precise clock).
#[cfg(not(target_os = "linux"))]
#[inline]
pub(crate) fn now() -> Option<Duration> {
    None
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn follows_the_precise_monotonic_clock_within_a_tick() {
        let precise = || {
            let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
            Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
        };
        let before = precise();
        let coarse = now().expect("Linux has a coarse clock");
        let after = precise();
        // Never ahead of the precise clock, and behind it by at most one tick (≤ 10 ms at
        // HZ=100; generous for a loaded machine).
        assert!(coarse <= after, "{coarse:?} > {after:?}");
        assert!(before.saturating_sub(coarse) < Duration::from_millis(50));
    }

    #[test]
    fn moves_forward() {
        let first = now().expect("coarse clock");
        std::thread::sleep(Duration::from_millis(30));
        let second = now().expect("coarse clock");
        assert!(
            second >= first + Duration::from_millis(20),
            "{first:?} → {second:?}"
        );
    }
}
