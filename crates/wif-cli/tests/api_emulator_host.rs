//! `wif gcs` / `wif bq` with `STORAGE_EMULATOR_HOST` / `BIGQUERY_EMULATOR_HOST`: anonymous by
//! default (ADC not even read), a token only with `--credentials` and only to this machine or
//! over https, and a plain-http host elsewhere refused before any request.
//!
//! The listener is `wif::testing::FakeGoogle`'s wiremock server on 127.0.0.1: it records every
//! request, so the tests see exactly which headers arrived, and whether anything arrived at all.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

mod support;

use support::*;
use wif_core::testing::assert_says;

fn port(world: &World) -> u16 {
    world.google.server().address().port()
}

/// A world whose fake answers the bucket listing and the query ([`serve_apis`]), and its
/// credentials file.
fn world_serving_apis() -> (World, PathBuf) {
    let world = World::new();
    serve_apis(&world);
    let config = world.config(None);
    (world, config)
}

/// `wif gcs ls gs://bkt` and `wif bq query … --project p`, each with its emulator variable set
/// to `host` and `extra` in the environment, with `flags` (e.g. `--credentials F`) before the
/// subcommand.
fn both(world: &World, host: &str, flags: &[&str], extra: &[(&str, &Path)]) -> [Run; 2] {
    let mut gcs = vec!["gcs"];
    gcs.extend_from_slice(flags);
    gcs.extend_from_slice(&["ls", "gs://bkt"]);
    let mut bq = vec!["bq"];
    bq.extend_from_slice(flags);
    bq.extend_from_slice(&["query", "SELECT 7 AS n", "--project", "p"]);
    let host = Path::new(host);
    let with = |var: &'static str| {
        let mut env: Vec<(&str, &Path)> = vec![(var, host)];
        env.extend_from_slice(extra);
        env
    };
    [
        world.wif(&gcs, &with("STORAGE_EMULATOR_HOST")),
        world.wif(&bq, &with("BIGQUERY_EMULATOR_HOST")),
    ]
}

#[track_caller]
fn assert_no_authorization(world: &World) {
    let requests = world.requests();
    assert!(!requests.is_empty(), "the commands reached the emulator");
    for request in requests {
        assert!(
            request.headers.get("authorization").is_none(),
            "a token went to the emulator: {} {}",
            request.method,
            request.url
        );
    }
}

/// gcloud's `authorized_user` ADC file made `wif gcs` exit 2 against an emulator; and a usable
/// ADC configuration sent its token there. With the emulator variable and no `--credentials`,
/// ADC is not read at all: no STS exchange, no `Authorization` header.
#[test]
fn the_emulator_is_spoken_to_anonymously_whatever_adc_holds() {
    let world = World::new();
    serve_apis(&world);
    let gcloud = world.home().join(".config").join("gcloud");
    std::fs::create_dir_all(&gcloud).unwrap();
    std::fs::write(
        gcloud.join("application_default_credentials.json"),
        r#"{"type": "authorized_user", "client_id": "x.apps.googleusercontent.com", "client_secret": "s", "refresh_token": "r"}"#,
    )
    .unwrap();
    let host = format!("127.0.0.1:{}", port(&world));
    for run in both(&world, &host, &[], &[]) {
        run.assert_code(0);
        assert!(
            run.stdout.contains("a.txt") || run.stdout.contains('7'),
            "{}",
            run.stdout
        );
    }

    // An external_account configuration in GOOGLE_APPLICATION_CREDENTIALS is not used either.
    let config = world.config(None);
    for run in both(
        &world,
        &host,
        &[],
        &[("GOOGLE_APPLICATION_CREDENTIALS", config.as_path())],
    ) {
        run.assert_code(0);
    }
    assert!(world.requests_to("/v1/token").is_empty(), "no STS exchange");
    assert_no_authorization(&world);
}

/// An explicit `--credentials` is used against a loopback emulator: the token goes there.
#[test]
fn explicit_credentials_go_to_a_loopback_emulator() {
    let (world, config) = world_serving_apis();
    let host = format!("127.0.0.1:{}", port(&world));
    for run in both(&world, &host, &["--credentials", path_str(&config)], &[]) {
        run.assert_code(0)
            .assert_stderr_clean(&[SUBJECT, FEDERATED]);
    }
    let api: Vec<_> = world
        .requests()
        .into_iter()
        .filter(|r| r.url.path() != "/v1/token")
        .collect();
    assert_eq!(api.len(), 2, "{api:?}");
    for request in api {
        // Each run exchanges once: federated-1, then federated-2.
        let auth = request
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(auth.starts_with("Bearer federated-"), "{auth}");
    }
}

/// The issue: with `http://[::ffff:127.0.0.1]:PORT` the listener received `authorization:
/// Bearer …`, although wif's loopback rule refuses that address for token_url. Now the host is
/// refused before the credentials are even loaded: nothing reaches the listener.
#[test]
fn a_v4_mapped_address_is_not_loopback_and_gets_nothing() {
    let (world, config) = world_serving_apis();
    let host = format!("http://[::ffff:127.0.0.1]:{}", port(&world));
    for flags in [&["--credentials", path_str(&config)][..], &[]] {
        for run in both(&world, &host, flags, &[]) {
            run.assert_code(2)
                .assert_stderr_clean(&[SUBJECT, FEDERATED]);
            assert_says(&run.stderr, &["_EMULATOR_HOST", "not this machine"]);
        }
    }
    assert!(world.requests().is_empty(), "{:?}", world.requests());
}

/// `example.invalid:8080` was tried for 23 s; it is refused at once, as a usage error with a
/// hint, with or without credentials.
#[test]
fn a_plain_http_host_elsewhere_is_refused_at_once() {
    let world = World::new();
    let config = world.config(None);
    for flags in [&["--credentials", path_str(&config)][..], &[]] {
        for run in both(&world, "example.invalid:8080", flags, &[]) {
            run.assert_code(2);
            assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
            assert_says(
                &run.stderr,
                &["http://example.invalid:8080/ is plain http", "hint: "],
            );
        }
    }
    assert!(world.requests().is_empty(), "no STS exchange either");
}
