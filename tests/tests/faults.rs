//! Fault injection against the emulator: every failure a network or a Google service can throw
//! at the chain — latency beyond the deadline, 5xx bursts, connection resets, bodies cut short,
//! 429 with `Retry-After`, tokens expired server-side, a skewed clock — ends in a token after
//! bounded retries or in a clear error within the deadline. A cached, still-valid token keeps
//! being served while refreshes fail, and dropping `Credentials` stops all of its work.
//!
//! Real time throughout (the emulator is a real server on loopback): bounds are generous.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use secrecy::ExposeSecret;
use wif::{AccessToken, CacheOptions, Credentials, ErrorKind, MapEnvironment, RetryPolicy, Step};
use wif_core::FixedClock;
use wif_emulator::config::DEFAULT_SERVICE_ACCOUNT;
use wif_emulator::configs::impersonation_url;
use wif_emulator::{Endpoint, Fault, RunningEmulator};

use support::{
    World, builder, lambda_env, quick_retries, tokeninfo_status, world, world_with_fault,
};

fn value(token: &AccessToken) -> String {
    token.secret().expose_secret().to_owned()
}

/// The file configuration's credentials (file → STS → IAM), retrying quickly.
fn file_credentials(world: &World) -> Credentials {
    builder(&world.configs.file, MapEnvironment::new())
        .build()
        .unwrap()
}

/// The AWS EC2 (IMDSv2) configuration's credentials, retrying quickly.
fn imds_credentials(world: &World) -> Credentials {
    builder(&world.configs.aws_ec2_imdsv2, MapEnvironment::new())
        .build()
        .unwrap()
}

/// Every call takes 300 ms and then fails with a 503, (practically) without end.
fn slow_endless_503s() -> Fault {
    let mut fault = Fault::fail_next(10_000, 503);
    fault.latency = Duration::from_millis(300);
    fault
}

/// Asserts less than `bound` has passed since `started`.
fn assert_took_under(started: Instant, bound: Duration) {
    assert!(started.elapsed() < bound, "{:?}", started.elapsed());
}

fn with_deadline(world: &World, deadline: Duration) -> Credentials {
    builder(&world.configs.file, MapEnvironment::new())
        .retry_policy(quick_retries().with_deadline(deadline))
        .build()
        .unwrap()
}

#[tokio::test]
async fn latency_beyond_the_deadline_is_a_timeout_within_it() {
    for (endpoint, step) in [
        (Endpoint::GoogleSts, Step::Exchange),
        (Endpoint::IamCredentials, Step::Impersonation),
    ] {
        let world = world_with_fault(endpoint, Fault::latency(Duration::from_secs(30))).await;
        let creds = with_deadline(&world, Duration::from_secs(1));
        let started = Instant::now();
        let err = creds.token().await.unwrap_err();
        let elapsed = started.elapsed();
        assert!(err.is_timeout(), "{endpoint:?}: {err:?}");
        assert_eq!(err.step(), step, "{endpoint:?}: {err}");
        assert!(
            err.to_string().contains("deadline"),
            "{endpoint:?}: the error names the deadline: {err}"
        );
        assert!(
            elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5),
            "{endpoint:?}: gave up after {elapsed:?}, the deadline is 1 s"
        );
        // The hanging call was not retried past the deadline.
        assert_eq!(world.emulator.requests(endpoint), 1, "{endpoint:?}");
    }
}

#[tokio::test]
async fn a_hanging_metadata_service_fails_the_source_within_its_timeout() {
    let world = world_with_fault(Endpoint::Imds, Fault::latency(Duration::from_secs(30))).await;
    let creds = imds_credentials(&world);
    let started = Instant::now();
    let err = creds.token().await.unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(err.step(), Step::Source, "{err}");
    assert!(err.is_timeout(), "{err:?}");
    // The metadata client's own per-call timeout (3 s), not the 30 s retry deadline.
    assert!(elapsed < Duration::from_secs(8), "{elapsed:?}");
    assert_eq!(world.emulator.requests(Endpoint::GoogleSts), 0);
}

#[tokio::test]
async fn a_5xx_burst_is_retried_through_to_a_token() {
    for endpoint in [
        Endpoint::GoogleSts,
        Endpoint::IamCredentials,
        Endpoint::Imds,
    ] {
        let world = world_with_fault(endpoint, Fault::fail_next(2, 503)).await;
        let config = if endpoint == Endpoint::Imds {
            &world.configs.aws_ec2_imdsv2
        } else {
            &world.configs.file
        };
        let creds = builder(config, MapEnvironment::new()).build().unwrap();
        let token = creds
            .token()
            .await
            .unwrap_or_else(|e| panic!("{endpoint:?}: {e}"));
        assert_eq!(tokeninfo_status(&world.emulator, &value(&token)).await, 200);
        if endpoint != Endpoint::Imds {
            assert_eq!(world.emulator.requests(endpoint), 3, "{endpoint:?}");
        }
    }
}

#[tokio::test]
async fn a_longer_5xx_burst_ends_in_a_retryable_error_after_bounded_attempts() {
    for (endpoint, step) in [
        (Endpoint::GoogleSts, Step::Exchange),
        (Endpoint::IamCredentials, Step::Impersonation),
    ] {
        let world = world_with_fault(endpoint, Fault::fail_next(100, 500)).await;
        let creds = file_credentials(&world);
        let started = Instant::now();
        let err = creds.token().await.unwrap_err();
        assert_eq!(err.step(), step, "{err}");
        assert_eq!(err.status(), Some(500), "{err}");
        assert!(err.is_retryable(), "a later call may succeed: {err:?}");
        assert!(
            err.to_string().contains("injected fault"),
            "the server's words: {err}"
        );
        assert_eq!(world.emulator.requests(endpoint), 3, "max attempts: {err}");
        assert_took_under(started, Duration::from_secs(3));
    }
}

#[tokio::test]
async fn connection_resets_are_retried_through_to_a_token() {
    for endpoint in [Endpoint::GoogleSts, Endpoint::IamCredentials] {
        let world = world_with_fault(endpoint, Fault::reset_next(2)).await;
        let creds = file_credentials(&world);
        creds
            .token()
            .await
            .unwrap_or_else(|e| panic!("{endpoint:?}: {e}"));
        assert_eq!(world.emulator.requests(endpoint), 3, "{endpoint:?}");
    }
}

#[tokio::test]
async fn endless_connection_resets_end_in_a_transport_error() {
    let world = world_with_fault(Endpoint::GoogleSts, Fault::reset_next(100)).await;
    let creds = file_credentials(&world);
    let started = Instant::now();
    let err = creds.token().await.unwrap_err();
    assert_eq!(err.step(), Step::Exchange, "{err}");
    assert_eq!(err.kind(), ErrorKind::Transport, "{err:?}");
    assert_eq!(err.status(), None, "no HTTP answer: {err}");
    assert_eq!(world.emulator.requests(Endpoint::GoogleSts), 3);
    assert_took_under(started, Duration::from_secs(3));
}

#[tokio::test]
async fn truncated_bodies_are_retried_through_to_a_token() {
    for endpoint in [Endpoint::GoogleSts, Endpoint::IamCredentials] {
        let world = world_with_fault(endpoint, Fault::truncate_next(1)).await;
        let creds = file_credentials(&world);
        let token = creds
            .token()
            .await
            .unwrap_or_else(|e| panic!("{endpoint:?}: {e}"));
        assert_eq!(tokeninfo_status(&world.emulator, &value(&token)).await, 200);
        assert_eq!(world.emulator.requests(endpoint), 2, "{endpoint:?}");
    }
}

#[tokio::test]
async fn a_truncated_metadata_answer_is_a_clear_source_error() {
    let world = world_with_fault(Endpoint::Imds, Fault::truncate_next(100)).await;
    let creds = imds_credentials(&world);
    let err = creds.token().await.unwrap_err();
    assert_eq!(err.step(), Step::Source, "{err}");
    assert!(
        err.to_string().contains("metadata"),
        "names the service: {err}"
    );
    assert_eq!(world.emulator.requests(Endpoint::GoogleSts), 0);
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out() {
    let world = world_with_fault(
        Endpoint::GoogleSts,
        Fault::fail_next(1, 429).with_retry_after(1),
    )
    .await;
    let creds = file_credentials(&world);
    let started = Instant::now();
    creds.token().await.unwrap();
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(950),
        "Retry-After: 1 was honoured, not the 20 ms backoff: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    assert_eq!(world.emulator.requests(Endpoint::GoogleSts), 2);
}

#[tokio::test]
async fn a_retry_after_beyond_the_deadline_fails_at_once() {
    let world = world_with_fault(
        Endpoint::IamCredentials,
        Fault::fail_next(1, 429).with_retry_after(120),
    )
    .await;
    let creds = with_deadline(&world, Duration::from_secs(5));
    let started = Instant::now();
    let err = creds.token().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no point waiting 120 s with a 5 s deadline: {:?}",
        started.elapsed()
    );
    assert_eq!(err.step(), Step::Impersonation, "{err}");
    assert_eq!(err.status(), Some(429), "{err}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)), "{err:?}");
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(world.emulator.requests(Endpoint::IamCredentials), 1);
}

#[tokio::test]
async fn tokens_expired_by_the_server_are_replaced_after_invalidate() {
    let world = world().await;
    let creds = file_credentials(&world);
    let first = value(&creds.token().await.unwrap());
    assert_eq!(tokeninfo_status(&world.emulator, &first).await, 200);

    // Google revokes or expires tokens before their time; the emulator's control API does too.
    let expired = wif_core::http::default_client()
        .unwrap()
        .post(format!(
            "{}/_emulator/tokens/expire",
            world.emulator.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert!(expired.status().is_success(), "{}", expired.status());
    assert_eq!(tokeninfo_status(&world.emulator, &first).await, 401);

    // Still cached locally, as it should be: nothing told the client.
    assert_eq!(value(&creds.token().await.unwrap()), first);
    // What an API client does after a 401.
    creds.invalidate();
    let second = value(&creds.token().await.unwrap());
    assert_ne!(second, first);
    assert_eq!(tokeninfo_status(&world.emulator, &second).await, 200);
}

#[tokio::test]
async fn an_adapter_recovers_from_tokens_expired_by_the_server() {
    let world = world().await;
    let creds = file_credentials(&world);
    let project = world.emulator.config().project_id.clone();
    wif_emulator::bigquery::create_table(
        world.emulator.state(),
        &project,
        "faults",
        "events",
        &[wif_emulator::bigquery::TableField::new("id", "INT64")],
    )
    .unwrap();
    let bq = wif_bigquery::BigQuery::builder()
        .provider(creds.clone())
        .project(project.clone())
        .base_url(world.emulator.bigquery_base_url())
        .build()
        .unwrap();
    let table = bq.table("faults", "events");
    let rows = [serde_json::json!({"id": 1})];
    bq.insert_rows(&table, &rows, Default::default())
        .await
        .unwrap()
        .into_result()
        .unwrap();

    world.emulator.state().expire_all_tokens();
    // The 401 makes the adapter invalidate the credentials and replay the call once.
    let report = bq
        .insert_rows(&table, &rows, Default::default())
        .await
        .unwrap_or_else(|e| panic!("the adapter should refresh after a 401: {e}"));
    report.into_result().unwrap();
}

#[tokio::test]
async fn clock_skew_within_tolerance_passes_and_beyond_it_fails_clearly() {
    let world = world().await;
    let emulator = &world.emulator;
    let tolerance = emulator.config().max_clock_skew;
    let credentials_skewed_by = |behind: Duration| {
        let env = Arc::new(lambda_env(&world.configs));
        let source = wif::layers::source_aws::AwsSource::builder()
            .environment_id("aws1")
            .environment(env.clone())
            .clock(Arc::new(FixedClock(SystemTime::now() - behind)))
            .build()
            .unwrap();
        Credentials::builder()
            .environment(env)
            .source(source)
            .audience(emulator.config().aws_audience())
            .subject_token_type(wif::layers::source_aws::AWS_SUBJECT_TOKEN_TYPE)
            .token_url(format!("{}/v1/token", emulator.base_url()))
            .impersonation_url(impersonation_url(emulator, DEFAULT_SERVICE_ACCOUNT))
            .retry_policy(quick_retries())
            .build()
            .unwrap()
    };

    let within = credentials_skewed_by(tolerance - Duration::from_secs(60));
    within.token().await.unwrap();

    let beyond = credentials_skewed_by(tolerance + Duration::from_secs(60));
    let started = Instant::now();
    let err = beyond.token().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(err.step(), Step::Exchange, "{err}");
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(
        !err.is_retryable(),
        "the same clock fails the same way: {err:?}"
    );
    let hint = err.hint().unwrap_or_default();
    assert!(hint.contains("clock"), "the hint names the clock: {err}");
}

/// A chain whose service-account tokens live `lifetime`, refreshed ahead `ahead` before expiry,
/// retrying failed refreshes `retry_failed_after`.
fn short_lived(world: &World, lifetime: Duration, ahead: Duration) -> Credentials {
    builder(&world.configs.file, MapEnvironment::new())
        .token_lifetime(lifetime)
        .cache_options(
            CacheOptions::default()
                .with_refresh_ahead(ahead)
                .with_min_validity(Duration::from_millis(300))
                .with_retry_failed_after(Duration::from_millis(200)),
        )
        .retry_policy(
            RetryPolicy::default()
                .with_max_attempts(2)
                .with_backoff(Duration::from_millis(20), Duration::from_millis(50)),
        )
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_valid_cached_token_is_served_while_refreshes_fail() {
    let world = world().await;
    let creds = short_lived(&world, Duration::from_secs(6), Duration::from_secs(3));
    let first = creds.token().await.unwrap();
    let expires_at = first.expires_at().unwrap();
    let iam_before = world.emulator.requests(Endpoint::IamCredentials);

    world
        .emulator
        .faults()
        .set(Endpoint::IamCredentials, Fault::fail_next(10_000, 503));
    // Into the refresh-ahead window, then until just before expiry: every call gets the cached
    // token at once while background (then foreground) refreshes fail.
    tokio::time::sleep_until(expires_at - Duration::from_millis(2_800)).await;
    while tokio::time::Instant::now() < expires_at - Duration::from_millis(150) {
        let started = Instant::now();
        let served = creds
            .token()
            .await
            .unwrap_or_else(|e| panic!("a valid token exists, yet: {e}"));
        assert_eq!(value(&served), value(&first));
        assert_took_under(started, Duration::from_millis(500));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        world.emulator.requests(Endpoint::IamCredentials) > iam_before + 2,
        "refreshes were attempted (and failed) meanwhile"
    );

    // Once it has expired there is nothing left to serve: the refresh's error comes through.
    tokio::time::sleep_until(expires_at + Duration::from_millis(100)).await;
    let err = creds.token().await.unwrap_err();
    assert_eq!(err.step(), Step::Impersonation, "{err}");
    assert_eq!(err.status(), Some(503), "{err}");

    // And the service coming back heals it.
    world.emulator.faults().clear();
    let fresh = creds.token().await.unwrap();
    assert_ne!(value(&fresh), value(&first));
}

/// Waits until `endpoint`'s request count has not moved for `quiet`, and returns it.
async fn settled(emulator: &RunningEmulator, endpoint: Endpoint, quiet: Duration) -> u64 {
    let mut last = emulator.requests(endpoint);
    loop {
        tokio::time::sleep(quiet).await;
        let now = emulator.requests(endpoint);
        if now == last {
            return now;
        }
        last = now;
    }
}

/// Once `endpoint`'s calls have settled (400 ms without one), asserts none follow for a second.
async fn assert_calls_stopped(emulator: &RunningEmulator, endpoint: Endpoint, why: &str) {
    let after_drop = settled(emulator, endpoint, Duration::from_millis(400)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(emulator.requests(endpoint), after_drop, "{why}");
}

#[tokio::test]
async fn dropping_credentials_aborts_a_background_refresh() {
    let world = world().await;
    let creds = short_lived(&world, Duration::from_secs(4), Duration::from_secs(2));
    let first = creds.token().await.unwrap();
    // Every IAM call now takes 300 ms and fails; a refresh retries without end.
    world
        .emulator
        .faults()
        .set(Endpoint::IamCredentials, slow_endless_503s());

    // Stale: served at once, and a background refresh starts.
    tokio::time::sleep_until(first.expires_at().unwrap() - Duration::from_millis(1_500)).await;
    let before = world.emulator.requests(Endpoint::IamCredentials);
    creds.token().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    creds.token().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        world.emulator.requests(Endpoint::IamCredentials) > before,
        "the background refresh was running"
    );

    drop(creds);
    assert_calls_stopped(
        &world.emulator,
        Endpoint::IamCredentials,
        "no call after the credentials were dropped",
    )
    .await;
}

#[tokio::test]
async fn dropping_a_waiting_caller_and_the_credentials_stops_a_slow_refresh() {
    // A slow, failing STS: a cold refresh retries for up to 30 s.
    let world = world_with_fault(Endpoint::GoogleSts, slow_endless_503s()).await;
    let creds = builder(&world.configs.file, MapEnvironment::new())
        .retry_policy(
            RetryPolicy::default()
                .with_max_attempts(1_000)
                .with_backoff(Duration::from_millis(20), Duration::from_millis(50)),
        )
        .build()
        .unwrap();
    let caller = tokio::spawn({
        let creds = creds.clone();
        async move { creds.token().await.map(|_| ()) }
    });
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert!(
        world.emulator.requests(Endpoint::GoogleSts) >= 2,
        "the refresh was retrying"
    );

    caller.abort();
    assert!(caller.await.unwrap_err().is_cancelled());
    drop(creds);
    assert_calls_stopped(
        &world.emulator,
        Endpoint::GoogleSts,
        "no call after the caller and the credentials were dropped",
    )
    .await;
    assert_eq!(world.emulator.requests(Endpoint::IamCredentials), 0);
}
