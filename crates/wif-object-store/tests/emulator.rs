//! object_store's own `GoogleCloudStorage`, unmodified, pointed at `wif-emulator` with its
//! documented override (`with_base_url`, plain HTTP allowed), on the wif chain of the emulator's
//! AWS Lambda configuration (SigV4 → STS → impersonation): put (single and multipart), ranged
//! get, listing with a prefix, delete, a signed URL fetched by plain HTTP, and the token refresh
//! after the emulator expires every token mid-test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

use std::time::Duration;

use futures::TryStreamExt;
use object_store::gcp::GoogleCloudStorage;
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutPayload};
use wif::Credentials;
use wif::testing::credentials_in;
use wif_emulator::configs::{aws_lambda_env, write_configs};
use wif_emulator::{Emulator, EmulatorConfig, RunningEmulator};

const BUCKET: &str = "lake";

struct World {
    emulator: RunningEmulator,
    credentials: Credentials,
    _dir: tempfile::TempDir,
}

/// An emulator with bucket [`BUCKET`], and wif credentials from its `aws-lambda.json`, seeing
/// only the emulated Lambda's environment.
async fn world() -> World {
    let emulator = Emulator::new(EmulatorConfig::default())
        .start_local()
        .await
        .unwrap();
    emulator.create_bucket(BUCKET);
    let dir = tempfile::tempdir().unwrap();
    let configs = write_configs(&emulator, dir.path()).unwrap();
    let credentials = credentials_in(aws_lambda_env(&emulator), &configs.aws_lambda).unwrap();
    World {
        emulator,
        credentials,
        _dir: dir,
    }
}

/// The store as a user builds it: the bridge, the bucket, object_store's endpoint override.
fn store(world: &World) -> GoogleCloudStorage {
    wif_object_store::gcs_builder(&world.credentials)
        .with_bucket_name(BUCKET)
        .with_base_url(world.emulator.storage_base_url())
        .with_client_options(ClientOptions::new().with_allow_http(true))
        .build()
        .unwrap()
}

/// Puts `data` at `path` in `store`; the object's path.
async fn put_static(store: &GoogleCloudStorage, path: &str, data: &'static [u8]) -> Path {
    let path = Path::from(path);
    store
        .put(&path, PutPayload::from_static(data))
        .await
        .unwrap();
    path
}

/// A signed URL to GET `path` from `store`, valid for `lifetime`.
async fn signed_get(store: &GoogleCloudStorage, path: &Path, lifetime: Duration) -> url::Url {
    store
        .signed_url(http::Method::GET, path, lifetime)
        .await
        .unwrap()
}

fn iam_calls(emulator: &RunningEmulator) -> u64 {
    emulator.counters()["iam"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_store_puts_gets_lists_deletes_and_refreshes_on_wif_tokens() {
    let world = world().await;
    let store = store(&world);

    for name in ["data/2026/a.csv", "data/2026/b.csv", "other/c.csv"] {
        store
            .put(
                &Path::from(name),
                PutPayload::from(format!("rows of {name}")),
            )
            .await
            .unwrap();
    }
    let after_first_token = iam_calls(&world.emulator);
    assert!(after_first_token >= 1, "the chain impersonated");

    // Multipart, as object_store sends anything above 10 MiB: two parts of 6 MiB.
    let big = Path::from("data/big.bin");
    let part: Vec<u8> = (0..6 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let mut upload = store.put_multipart(&big).await.unwrap();
    upload
        .put_part(PutPayload::from(part.clone()))
        .await
        .unwrap();
    upload
        .put_part(PutPayload::from(part.clone()))
        .await
        .unwrap();
    upload.complete().await.unwrap();
    let (_, stored) = world
        .emulator
        .state()
        .storage_object(BUCKET, "data/big.bin")
        .unwrap();
    assert_eq!(stored.len(), 12 * 1024 * 1024);

    let range = store
        .get_range(&big, 6 * 1024 * 1024 - 10..6 * 1024 * 1024 + 10)
        .await
        .unwrap();
    let mut expected = part[part.len() - 10..].to_vec();
    expected.extend_from_slice(&part[..10]);
    assert_eq!(range.as_ref(), expected.as_slice());

    let listed: Vec<String> = store
        .list(Some(&Path::from("data/2026")))
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .unwrap();
    let mut listed = listed;
    listed.sort();
    assert_eq!(listed, ["data/2026/a.csv", "data/2026/b.csv"]);

    // Every token the emulator issued stops working; the next call still succeeds, with a new
    // token (one more impersonation).
    world.emulator.expire_tokens();
    let body = store
        .get(&Path::from("other/c.csv"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body.as_ref(), b"rows of other/c.csv");
    assert!(
        iam_calls(&world.emulator) > after_first_token,
        "the refused token was replaced through the chain"
    );

    store.delete(&Path::from("other/c.csv")).await.unwrap();
    let gone = store.head(&Path::from("other/c.csv")).await.unwrap_err();
    assert!(
        matches!(gone, object_store::Error::NotFound { .. }),
        "{gone}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_urls_are_signed_by_sign_blob_and_accepted_by_the_emulator() {
    let world = world().await;
    let store = store(&world);
    let path = put_static(&store, "share/report.csv", b"shared rows").await;
    put_static(&store, "share/private.csv", b"no").await;

    let url = signed_get(&store, &path, Duration::from_secs(600)).await;
    assert!(url.query().unwrap().contains("X-Goog-Signature="));
    assert!(url.as_str().starts_with(world.emulator.storage_base_url()));
    // No token: the signature is the authorization.
    let fetched = reqwest::get(url.as_str()).await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.text().await.unwrap(), "shared rows");

    let tampered = url.as_str().replace("report.csv", "private.csv");
    assert_eq!(reqwest::get(&tampered).await.unwrap().status(), 403);

    // After the emulator expires every token, signing needs (and gets) a fresh one.
    let before = iam_calls(&world.emulator);
    world.emulator.expire_tokens();
    let again = signed_get(&store, &path, Duration::from_secs(60)).await;
    assert_eq!(reqwest::get(again.as_str()).await.unwrap().status(), 200);
    assert!(iam_calls(&world.emulator) > before);
}

/// object_store's signer is synchronous: on a current-thread runtime the signature is made on
/// the bridge's own thread while this one waits. (The emulator runs on a runtime of its own, as
/// IAM runs elsewhere: a server on the blocked runtime could not answer.)
#[test]
fn signing_works_on_a_current_thread_runtime_too() {
    let server = tokio::runtime::Runtime::new().unwrap();
    let world = server.block_on(world());
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    client.block_on(async {
        let store = store(&world);
        let path = put_static(&store, "x.txt", b"x").await;
        let url = signed_get(&store, &path, Duration::from_secs(60)).await;
        assert_eq!(reqwest::get(url.as_str()).await.unwrap().status(), 200);
    });
}
