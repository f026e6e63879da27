//! `wif token --dry-run`: prints the plan the facade resolved — every setting with where it came
//! from, and the warnings — and sends nothing anywhere. Every endpoint of the configurations
//! below is a listener of this test that counts connections, so "nothing" is checked, not
//! assumed; the same configurations without `--dry-run` do connect.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use support::*;
use wif_core::testing::assert_says;

/// A port on 127.0.0.1 that accepts connections, counts them and closes them at once (a fast
/// failure for anything that does connect).
struct Watcher {
    port: u16,
    connections: Arc<AtomicUsize>,
}

impl Watcher {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                counted.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Watcher { port, connections }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

const AUDIENCE: &str = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/prov";

/// A URL source, STS and impersonation, all at the watcher.
fn url_config(w: &Watcher) -> Value {
    json!({
        "type": "external_account",
        "audience": AUDIENCE,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": w.url("/v1/token"),
        "service_account_impersonation_url": w.url("/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken"),
        "credential_source": {"url": w.url("/token"), "headers": {"Metadata-Flavor": "Google"}}
    })
}

/// An AWS source whose metadata service (IMDSv2) is the watcher; no AWS variables are set.
fn aws_config(w: &Watcher) -> Value {
    json!({
        "type": "external_account",
        "audience": AUDIENCE,
        "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
        "token_url": w.url("/v1/token"),
        "credential_source": {
            "environment_id": "aws1",
            "region_url": w.url("/latest/meta-data/placement/availability-zone"),
            "url": w.url("/latest/meta-data/iam/security-credentials"),
            "imdsv2_session_token_url": w.url("/latest/api/token")
        }
    })
}

#[test]
fn dry_run_prints_the_plan_and_contacts_nothing() {
    let world = World::new();
    let watcher = Watcher::start();
    for (name, config) in [
        ("url.json", url_config(&watcher)),
        ("aws.json", aws_config(&watcher)),
    ] {
        let config = world.write_config(name, &config.to_string());
        let run = world.token(&config, &["--dry-run"]);
        run.assert_code(0);
        assert_says(
            &run.stdout,
            &[
                "nothing was sent",
                &format!("{}  [configuration `token_url`]", watcher.url("/v1/token")),
            ],
        );
        assert_eq!(watcher.connections(), 0, "{name}: --dry-run connected");

        // The same configuration without --dry-run does reach the watcher: the check above
        // can fail.
        let run = world.token(&config, &[]);
        run.assert_code(1);
        assert!(watcher.connections() > 0, "{name}: {}", run.stderr);
        watcher.connections.store(0, Ordering::SeqCst);
    }
    assert!(world.requests().is_empty());
}

#[test]
fn dry_run_names_where_each_setting_came_from() {
    let world = World::new();
    let watcher = Watcher::start();
    let config = world.write_config("url.json", &url_config(&watcher).to_string());
    let run = world.wif(
        &[
            "token",
            "--dry-run",
            "--credentials",
            path_str(&config),
            "--scopes",
            "https://www.googleapis.com/auth/bigquery",
            "--format",
            "json",
        ],
        &[],
    );
    run.assert_code(0);
    let plan: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(plan["schema"], "wif-plan/v1");
    let settings = &plan["settings"];
    assert_eq!(settings["scopes"]["from"], "builder");
    assert_eq!(
        settings["scopes"]["value"],
        json!(["https://www.googleapis.com/auth/bigquery"])
    );
    assert_eq!(settings["sts_scopes"]["from"], "rule");
    assert_eq!(
        settings["service_account"]["value"],
        "sa@p.iam.gserviceaccount.com"
    );
    assert_eq!(settings["token_lifetime_seconds"]["from"], "default");
    assert_eq!(settings["configuration"]["name"], "config_file");
    assert_eq!(
        settings["source_headers"]["value"],
        json!(["Metadata-Flavor"])
    );
    assert!(
        !run.stdout.contains("\"Google\""),
        "header values are not shown"
    );
    assert_eq!(watcher.connections(), 0);
}

#[test]
fn dry_run_of_a_certificate_configuration_shows_the_mtls_sts_host() {
    let world = World::new();
    let config = world.write_config(
        "x509.json",
        &certificate_config(json!({"use_default_certificate_config": true}), None),
    );
    let run = world.token(&config, &["--dry-run"]);
    run.assert_code(0);
    assert!(
        run.stdout.contains(
            "https://sts.mtls.googleapis.com/v1/token  [rule: a certificate source calls the universe's mTLS STS endpoint]"
        ),
        "{}",
        run.stdout
    );
    let run = world.token(&config, &["--dry-run", "--format", "json"]);
    let plan: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        plan["settings"]["token_url"]["value"],
        "https://sts.mtls.googleapis.com/v1/token"
    );
    assert_eq!(plan["settings"]["mtls"]["value"], true);
}

#[test]
fn dry_run_refuses_what_token_refuses() {
    let world = World::new();
    let watcher = Watcher::start();
    let mut config = url_config(&watcher);
    config["service_account_impersonation_url"] =
        json!(watcher.url("/v1/projects/-/serviceAccounts/no-at-sign:generateAccessToken"));
    let config = world.write_config("bad.json", &config.to_string());
    for flags in [&["--dry-run"][..], &[]] {
        let run = world.token(&config, flags);
        run.assert_code(2);
        assert!(
            run.stderr
                .contains("`service_account_impersonation_url`: no service account email"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(watcher.connections(), 0);
}
