//! Local files given to `wif` are bounded and must be regular files: a device such as
//! `/dev/zero` used to be read until memory ran out, and a FIFO blocked `wif` forever. Each is
//! now refused at once, as a usage error naming the file and what is wrong with it.
//!
//! Every run goes through `run_within`, which kills a `wif` still running after a minute: the
//! old behaviour fails these tests instead of hanging them.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

mod support;

use support::*;

/// A FIFO nobody writes to, in `world`'s temp dir.
fn fifo(world: &World, name: &str) -> PathBuf {
    wif_core::testing::fifo_at(world.dir.path().join(name))
}

/// Runs `wif args…` with `env`, within the time limit.
fn wif(world: &World, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = wif_command(&world.home());
    for (name, value) in env {
        command.env(name, value);
    }
    run_within(args, command)
}

#[track_caller]
fn assert_refused(run: &Run, what: &str) {
    run.assert_code(2);
    assert_eq!(run.stdout, "", "{}", run.what);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    assert!(
        run.stderr.contains(what),
        "{}: wanted {what:?} in\n{}",
        run.what,
        run.stderr
    );
}

#[test]
fn credentials_that_are_not_regular_files_are_refused() {
    let world = World::new();
    let pipe = fifo(&world, "wif.json");
    for (path, what) in [
        (
            Path::new("/dev/zero"),
            "is a character device, not a regular file",
        ),
        (pipe.as_path(), "is a FIFO (named pipe), not a regular file"),
    ] {
        for command in ["token", "subject-token"] {
            let run = wif(&world, &[command, "--credentials", path_str(path)], &[]);
            assert_refused(
                &run,
                &format!("credential configuration `{}`: {what}", path.display()),
            );
        }
    }
    assert!(world.requests().is_empty());
}

#[test]
fn credentials_over_one_mib_are_refused() {
    let world = World::new();
    let big = world.write_config("big.json", &" ".repeat(1024 * 1024 + 1));
    let run = wif(&world, &["token", "--credentials", path_str(&big)], &[]);
    assert_refused(&run, "is larger than 1 MiB (1048576 bytes)");
}

#[test]
fn ca_bundles_that_are_not_regular_files_are_refused() {
    let world = World::new();
    let config = world.config(None);
    let pipe = fifo(&world, "ca.pem");
    for path in [Path::new("/dev/zero"), pipe.as_path()] {
        let run = wif(
            &world,
            &[
                "token",
                "--credentials",
                path_str(&config),
                "--ca-certs",
                path_str(path),
            ],
            &[],
        );
        assert_refused(&run, "--ca-certs CA bundle");
        assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);
        // The same through the environment variable.
        let run = wif(
            &world,
            &["token", "--credentials", path_str(&config)],
            &[("WIF_CA_CERTS", path_str(path))],
        );
        assert_refused(&run, "not a regular file");
    }
    assert!(world.requests().is_empty());
}

#[test]
fn rows_and_upload_sources_that_are_not_regular_files_are_refused() {
    let world = World::new();
    let pipe = fifo(&world, "rows.jsonl");
    for path in [Path::new("/dev/zero"), pipe.as_path()] {
        let run = wif(
            &world,
            &["bq", "insert", "p.d.t", path_str(path)],
            &[("BIGQUERY_EMULATOR_HOST", "127.0.0.1:9")],
        );
        assert_refused(&run, &format!("rows file `{}`", path.display()));
        let run = wif(
            &world,
            &["gcs", "cp", path_str(path), "gs://bkt/x"],
            &[("STORAGE_EMULATOR_HOST", "127.0.0.1:9")],
        );
        assert_refused(&run, &format!("upload source `{}`", path.display()));
    }
}

/// A subject token file that is a FIFO blocked `wif token` (and any `token()` call) forever.
#[test]
fn a_fifo_subject_token_file_fails_the_source_at_once() {
    let world = World::new();
    let pipe = fifo(&world, "token-pipe");
    let json = world.google.config_json(&pipe, None);
    let config = world.write_config("fifo-source.json", &json);
    let run = wif(&world, &["token", "--credentials", path_str(&config)], &[]);
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("is a FIFO (named pipe), not a regular file"),
        "{}",
        run.stderr
    );
    assert!(world.requests().is_empty(), "no exchange without a token");
}
