//! The chain deadline end to end against the emulator: a chain whose steps are each slow and
//! retried (the STS and IAM Credentials at high latency with two 503s each) ends at the
//! deadline in a retryable timeout naming the step that was running, and sends nothing after
//! it; the same chain without a deadline gets its token; a healthy chain is untouched.
//!
//! Real time (the emulator is a real server), but no timed assertion: what is checked is the
//! error and that the request counts stop.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use wif::{Credentials, ErrorKind, MapEnvironment, Step};
use wif_core::causes;
use wif_emulator::{Endpoint, Fault, RunningEmulator};

use support::{World, builder, quick_retries, world};

/// Every answer of STS and IAM Credentials takes `latency`, and the first two of each are 503s.
async fn slow_world(latency: Duration) -> World {
    let world = world().await;
    for endpoint in [Endpoint::GoogleSts, Endpoint::IamCredentials] {
        let mut fault = Fault::fail_next(2, 503);
        fault.latency = latency;
        world.emulator.faults().set(endpoint, fault);
    }
    world
}

/// The file configuration (file → STS → IAM), retries bounded only by a long per-step deadline.
fn credentials(world: &World, chain_deadline: Duration) -> Credentials {
    builder(&world.configs.file, MapEnvironment::new())
        .retry_policy(quick_retries().with_deadline(Duration::from_secs(120)))
        .chain_deadline(chain_deadline)
        .build()
        .unwrap()
}

fn calls(emulator: &RunningEmulator) -> u64 {
    emulator.requests(Endpoint::GoogleSts) + emulator.requests(Endpoint::IamCredentials)
}

#[tokio::test]
async fn a_slow_retried_chain_ends_at_the_deadline_and_sends_nothing_after_it() {
    let world = slow_world(Duration::from_millis(400)).await;
    let creds = credentials(&world, Duration::from_secs(1));
    let err = creds
        .token()
        .await
        .expect_err("cut off by the chain deadline");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    assert!(err.is_retryable(), "a later refresh may succeed: {err:?}");
    assert_eq!(err.known_cause(), Some(&causes::CHAIN_DEADLINE), "{err:?}");
    // Three STS answers alone take 1.2 s: the exchange was running.
    assert_eq!(err.step(), Step::Exchange, "{err}");
    let shown = err.to_string();
    assert!(
        shown.contains("did not finish within its deadline of 1.0s"),
        "{shown}"
    );
    assert!(shown.contains("/v1/token"), "names the call: {shown}");
    assert_eq!(world.emulator.requests(Endpoint::IamCredentials), 0);

    // Nothing is sent after the deadline: the count settles and stays.
    let mut settled = calls(&world.emulator);
    loop {
        tokio::time::sleep(Duration::from_millis(600)).await;
        let now = calls(&world.emulator);
        if now == settled {
            break;
        }
        settled = now;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        calls(&world.emulator),
        settled,
        "a request after the deadline"
    );
}

#[tokio::test]
async fn the_same_chain_without_a_deadline_gets_its_token() {
    let world = slow_world(Duration::from_millis(400)).await;
    let creds = credentials(&world, Duration::MAX);
    creds.token().await.expect("retried through to a token");
    assert_eq!(world.emulator.requests(Endpoint::GoogleSts), 3);
    assert_eq!(world.emulator.requests(Endpoint::IamCredentials), 3);
}

#[tokio::test]
async fn a_healthy_chain_is_untouched_by_the_default_deadline() {
    let world = world().await;
    let creds = builder(&world.configs.file, MapEnvironment::new())
        .build()
        .unwrap();
    creds.token().await.expect("a token");
}
