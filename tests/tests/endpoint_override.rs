//! One setting points every Google endpoint at one base URL: the credentials' STS and IAM
//! Credentials calls, and the BigQuery and Cloud Storage clients built from those credentials.
//! Against wiremock fakes mounted on one server, and against the emulator.

#![allow(clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use serde_json::json;
use wif::secrecy::ExposeSecret;
use wif::testing::{FAKE_AUDIENCE, FakeGoogle, StaticSubjectToken};
use wif::{Credentials, CredentialsBuilder, ENDPOINT_BASE_URL_VAR, MapEnvironment};
use wif_bigquery::testing::{BigQueryCall, BigQueryResponder, bigquery_requests};
use wif_bigquery::{BigQuery, InsertOptions};
use wif_emulator::config::DEFAULT_SERVICE_ACCOUNT;
use wif_emulator::{Emulator, EmulatorConfig, TableField};
use wif_storage::testing::{StorageResponder, storage_requests};
use wif_storage::{Storage, UploadOptions, UploadSource};

const EMAIL: &str = "writer@my-project.iam.gserviceaccount.com";
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

/// The application's own code: credentials impersonating its service account, and the two
/// API clients, none of which names an endpoint.
fn application(
    builder: CredentialsBuilder,
    email: &str,
    project: &str,
) -> (Credentials, BigQuery, Storage) {
    let creds = builder.impersonate(email).build().expect("credentials");
    let bq = BigQuery::builder()
        .provider(creds.clone())
        .project(project)
        .environment(MapEnvironment::new())
        .build()
        .expect("bigquery");
    let storage = Storage::builder()
        .provider(creds.clone())
        .environment(MapEnvironment::new())
        .build()
        .expect("storage");
    (creds, bq, storage)
}

/// The application's work: a row `{"id": 1}` into `analytics.events`, and `a.txt` into `bucket`.
async fn insert_and_upload(bq: &BigQuery, storage: &Storage, bucket: &str) {
    bq.insert_rows(
        &bq.table("analytics", "events"),
        [json!({"id": 1})],
        InsertOptions::default(),
    )
    .await
    .expect("insert")
    .into_result()
    .expect("all rows");
    storage
        .upload(
            bucket,
            "a.txt",
            UploadSource::bytes(&b"hello"[..]),
            UploadOptions::new(),
        )
        .await
        .expect("upload");
}

#[tokio::test]
async fn every_google_api_follows_the_environment_to_the_fakes() {
    let google = FakeGoogle::start().await;
    wif_bigquery::testing::mount(google.server(), BigQueryResponder::new()).await;
    wif_storage::testing::mount(google.server(), StorageResponder::new()).await;
    let env = MapEnvironment::new().with(ENDPOINT_BASE_URL_VAR, google.base_url().as_str());
    let builder = Credentials::builder()
        .environment(Arc::new(env))
        .source(StaticSubjectToken::new("subject-token"))
        .audience(FAKE_AUDIENCE)
        .subject_token_type(JWT);
    let (creds, bq, storage) = application(builder, EMAIL, "my-project");

    insert_and_upload(&bq, &storage, "my-bucket").await;

    assert_eq!(google.sts_calls().await, 1);
    assert_eq!(google.iam_requests().await[0].service_account, EMAIL);
    let inserts = bigquery_requests(google.server()).await;
    assert!(matches!(&inserts[0].call, BigQueryCall::InsertAll { table, .. } if table == "events"));
    let uploads = storage_requests(google.server()).await;
    for bearer in [&inserts[0].bearer, &uploads[0].bearer] {
        assert_eq!(
            bearer.as_ref().map(|t| t.secret().expose_secret()),
            Some("impersonated-1"),
            "the APIs got the impersonated token"
        );
    }
    assert_eq!(
        creds.info().endpoint_base_url.as_deref(),
        Some(google.base_url().as_str())
    );
}

#[tokio::test]
async fn the_same_code_runs_against_the_emulator() {
    let emulator = Emulator::new(EmulatorConfig::default())
        .start_local()
        .await
        .expect("emulator");
    emulator
        .create_table("analytics", "events", &[TableField::new("id", "INT64")])
        .expect("table");
    emulator.create_bucket("wif-demo-bucket");
    let builder = Credentials::builder()
        .source(StaticSubjectToken::new(
            emulator.mint_oidc_token("batch-job"),
        ))
        .audience(emulator.config().oidc_audience())
        .subject_token_type(JWT)
        .endpoint_base_url(emulator.base_url());
    // The emulated project is wif-demo.
    let (_, bq, storage) = application(builder, DEFAULT_SERVICE_ACCOUNT, "wif-demo");
    insert_and_upload(&bq, &storage, "wif-demo-bucket").await;
    assert_eq!(
        emulator.table_rows("analytics", "events").map(|r| r.len()),
        Some(1)
    );
    let counters = emulator.counters();
    assert_eq!(
        (counters["google-sts"], counters["iam"]),
        (1, 1),
        "{counters:?}"
    );
}
