//! The emulator as a user's tests hold it: one `RunningEmulator` to create buckets, datasets,
//! tables and rows, find its URLs, count requests, inject faults and expire tokens; requests
//! without a token where `anonymous_access` allows them; configurations usable from anywhere.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod support;

use serde_json::{Value, json};
use support::{
    generate_access_token, http, json_of, send, start_default, start_with, writer_token,
};
use wif_emulator::{Endpoint, Fault, TableField};

#[tokio::test]
async fn one_handle_sets_up_inspects_and_breaks_the_emulator() {
    let emulator = start_with(|c| c.anonymous_access = true).await;
    assert!(emulator.create_bucket("my-bucket"));
    assert!(!emulator.create_bucket("my-bucket"), "already there");
    emulator.create_dataset("eu_data", "EU");
    emulator
        .create_table(
            "eu_data",
            "events",
            &[
                TableField::new("id", "INT64").required(),
                TableField::new("kind", "STRING"),
            ],
        )
        .expect("schema");
    emulator
        .insert_rows("eu_data", "events", &[json!({"id": 1, "kind": "seed"})])
        .expect("row fits");
    let bad = emulator
        .insert_rows(
            "eu_data",
            "events",
            &[json!({"id": 2}), json!({"kind": "no id"})],
        )
        .expect_err("a row without its REQUIRED id");
    assert!(bad.to_string().contains("row 1"), "{bad}");
    assert!(emulator.create_table("eu_data", "bad table", &[]).is_err());

    let http = http();
    let bq = emulator.bigquery_base_url();
    assert_eq!(bq, format!("{}/bigquery/v2/", emulator.base_url()));
    let dataset = json_of(http.get(format!("{bq}projects/wif-demo/datasets/eu_data"))).await;
    assert_eq!(
        dataset["location"], "EU",
        "no token needed with anonymous_access"
    );
    let data = json_of(http.get(format!(
        "{bq}projects/wif-demo/datasets/eu_data/tables/events/data"
    )))
    .await;
    assert_eq!(data["rows"], json!([{"f": [{"v": "1"}, {"v": "seed"}]}]));
    let bucket = send(http.get(format!(
        "{}/storage/v1/b/my-bucket",
        emulator.storage_base_url()
    )))
    .await;
    assert_eq!(bucket.status(), 200);

    let counters = emulator.counters();
    assert_eq!((counters["bigquery"], counters["storage"]), (2, 1));

    emulator.set_fault(Endpoint::BigQuery, Fault::fail_next(1, 503));
    let failed = send(http.get(format!("{bq}projects/wif-demo/datasets/eu_data"))).await;
    assert_eq!(failed.status(), 503);

    // A token that is sent must still be the chain's, and current.
    let token = writer_token(&emulator);
    let with = |t: &str| {
        http.get(format!("{bq}projects/wif-demo/datasets/eu_data"))
            .bearer_auth(t.to_owned())
            .send()
    };
    assert_eq!(with(&token).await.unwrap().status(), 200);
    assert_eq!(with("ya29.foreign").await.unwrap().status(), 401);
    emulator.expire_tokens();
    assert_eq!(with(&token).await.unwrap().status(), 401);
    // IAM Credentials always needs the federated token.
    let iam = send(generate_access_token(
        &emulator,
        wif_emulator::config::DEFAULT_SERVICE_ACCOUNT,
        &json!({"scope": ["https://www.googleapis.com/auth/cloud-platform"]}),
    ))
    .await;
    assert_eq!(iam.status(), 401);
}

#[tokio::test]
async fn without_anonymous_access_every_call_needs_the_chains_token() {
    let emulator = start_default().await;
    emulator.create_bucket("b");
    let url = format!("{}/storage/v1/b/b", emulator.storage_base_url());
    let status = send(http().get(url)).await.status();
    assert_eq!(status, 401);
}

#[tokio::test]
async fn configurations_hold_absolute_paths_even_for_a_relative_directory() {
    let emulator = start_default().await;
    let temp = tempfile::tempdir().unwrap();
    // The same directory, named relative to the working directory.
    let cwd = std::env::current_dir().unwrap();
    let up = "../".repeat(cwd.components().count() - 1);
    let relative = std::path::PathBuf::from(up).join(temp.path().strip_prefix("/").unwrap());
    assert!(relative.is_relative());
    let written = wif_emulator::configs::write_configs(&emulator, &relative).expect("written");
    assert!(written.dir.is_absolute(), "{}", written.dir.display());
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(&written.file).unwrap()).unwrap();
    let token_file = std::path::Path::new(file["credential_source"]["file"].as_str().unwrap());
    assert!(token_file.is_absolute(), "{}", token_file.display());
    assert_eq!(
        token_file.canonicalize().unwrap(),
        temp.path().join("oidc-token.jwt").canonicalize().unwrap()
    );
    let exec: Value =
        serde_json::from_str(&std::fs::read_to_string(&written.executable).unwrap()).unwrap();
    let command = exec["credential_source"]["executable"]["command"]
        .as_str()
        .unwrap();
    assert!(
        command.trim_start_matches('\'').starts_with('/'),
        "{command}"
    );
}
