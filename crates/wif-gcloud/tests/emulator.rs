//! gcloud-storage's own `Client`, unmodified, pointed at `wif-emulator` with its documented
//! override (`ClientConfig::storage_endpoint`), on the wif chain of the emulator's AWS Lambda
//! configuration (SigV4 → STS → impersonation): upload, download (whole and ranged), list,
//! delete, and the token refresh after the emulator expires every token mid-test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

use gcloud_storage::client::{Client, ClientConfig};
use gcloud_storage::http::objects::delete::DeleteObjectRequest;
use gcloud_storage::http::objects::download::Range;
use gcloud_storage::http::objects::get::GetObjectRequest;
use gcloud_storage::http::objects::list::ListObjectsRequest;
use gcloud_storage::http::objects::upload::{Media, UploadObjectRequest, UploadType};
use wif::testing::credentials_in;
use wif_emulator::configs::{aws_lambda_env, write_configs};
use wif_emulator::{Emulator, EmulatorConfig};
use wif_gcloud::{WifTokenSourceProvider, refreshing_http_client};

const BUCKET: &str = "uploads";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcloud_storage_uploads_downloads_and_refreshes_on_wif_tokens() {
    let emulator = Emulator::new(EmulatorConfig::default())
        .start_local()
        .await
        .unwrap();
    emulator.create_bucket(BUCKET);
    let dir = tempfile::tempdir().unwrap();
    let configs = write_configs(&emulator, dir.path()).unwrap();
    let credentials = credentials_in(aws_lambda_env(&emulator), &configs.aws_lambda).unwrap();

    let client = Client::new(ClientConfig {
        storage_endpoint: emulator.base_url().to_owned(),
        token_source_provider: Some(Box::new(WifTokenSourceProvider::new(credentials.clone()))),
        http: Some(refreshing_http_client(credentials.clone())),
        ..ClientConfig::default()
    });

    let data: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 253) as u8).collect();
    let uploaded = client
        .upload_object(
            &UploadObjectRequest {
                bucket: BUCKET.into(),
                ..Default::default()
            },
            data.clone(),
            &UploadType::Simple(Media::new("in/blob.bin")),
        )
        .await
        .unwrap();
    assert_eq!(uploaded.size, data.len() as i64);
    assert_eq!(
        emulator
            .state()
            .storage_object(BUCKET, "in/blob.bin")
            .unwrap()
            .1,
        data
    );
    let iam_before = emulator.counters()["iam"];
    assert!(iam_before >= 1, "the chain impersonated");

    let get = GetObjectRequest {
        bucket: BUCKET.into(),
        object: "in/blob.bin".into(),
        ..Default::default()
    };
    let whole = client
        .download_object(&get, &Range::default())
        .await
        .unwrap();
    assert_eq!(whole, data);

    // Every token the emulator issued stops working; the next call still succeeds, with a new
    // token from the chain.
    emulator.expire_tokens();
    let part = client
        .download_object(&get, &Range(Some(10), Some(19)))
        .await
        .unwrap();
    assert_eq!(part, data[10..20]);
    assert!(emulator.counters()["iam"] > iam_before, "a fresh token");

    let listed = client
        .list_objects(&ListObjectsRequest {
            bucket: BUCKET.into(),
            prefix: Some("in/".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let names: Vec<_> = listed
        .items
        .unwrap_or_default()
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(names, ["in/blob.bin"]);
    client
        .delete_object(&DeleteObjectRequest {
            bucket: BUCKET.into(),
            object: "in/blob.bin".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        emulator
            .state()
            .storage_object(BUCKET, "in/blob.bin")
            .is_none()
    );
}

#[tokio::test]
async fn the_token_source_hands_out_wifs_token_as_a_bearer_header() {
    let credentials = wif::testing::static_credentials("ya29.static-t0ken");
    let provider = WifTokenSourceProvider::new(credentials);
    let source = token_source::TokenSourceProvider::token_source(&provider);
    assert_eq!(source.token().await.unwrap(), "Bearer ya29.static-t0ken");
    // Debug never shows the token.
    assert!(!format!("{provider:?}").contains("t0ken"));
}
