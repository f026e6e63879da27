//! The `testing` fakes are public API: the in-memory Cloud Storage, its errors, faults and
//! recorder, tested against the real client.

#![allow(clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use wif_core::secrecy::ExposeSecret;
use wif_core::testing::{
    CountingProvider, PointedAt, assert_hint_says, assert_refused_with, quick_retries,
};
use wif_core::{AccessToken, Error, MapEnvironment, RetryPolicy, StaticTokenProvider};
use wif_storage::testing::{
    FakeStorage, StorageCall, StorageError, StorageResponder, mount, mount_next, storage_requests,
};
use wif_storage::{
    ByteRange, ListEntry, ListOptions, Preconditions, Storage, StorageBuilder, UploadOptions,
    UploadSource,
};
use wiremock::MockServer;

fn builder(base: &str) -> StorageBuilder {
    Storage::builder()
        .provider(StaticTokenProvider::new(AccessToken::new(
            "ya29.SECRET-token",
        )))
        .base_url(base)
        .environment(MapEnvironment::new())
        .retry_policy(quick_retries(1))
}

fn storage(base: &str) -> Storage {
    builder(base).build().expect("valid")
}

/// A client of `base` retrying under `policy`.
fn retrying(base: &str, policy: RetryPolicy) -> Storage {
    builder(base).retry_policy(policy).build().expect("valid")
}

async fn upload(storage: &Storage, name: &str, data: &'static [u8]) -> Result<i64, Error> {
    storage
        .upload(
            "my-bucket",
            name,
            UploadSource::bytes(data),
            UploadOptions::new(),
        )
        .await
        .map(|o| o.generation)
}

#[tokio::test]
async fn objects_round_trip_and_calls_are_recorded() {
    let gcs = FakeStorage::start().await;
    let storage = builder(&gcs.base_url())
        .quota_project("billing")
        .build()
        .expect("valid");
    upload(&storage, "logs/a.txt", b"0123456789")
        .await
        .expect("upload");
    upload(&storage, "logs/b.txt", b"b").await.expect("upload");
    upload(&storage, "top.txt", b"t").await.expect("upload");

    let meta = storage
        .metadata("my-bucket", "logs/a.txt")
        .await
        .expect("metadata");
    assert_eq!(meta.size, 10);
    for (range, want) in [
        (None, &b"0123456789"[..]),
        (Some((2..5).into()), b"234"),
        (Some(ByteRange::Last(3)), b"789"),
    ] {
        let got = storage
            .download("my-bucket", "logs/a.txt", range)
            .await
            .expect("download")
            .into_bytes()
            .await
            .expect("bytes");
        assert_eq!(&got[..], want, "{range:?}");
    }

    let mut listing = storage.list("my-bucket", ListOptions::new().delimiter("/").page_size(1));
    let mut entries = Vec::new();
    while let Some(entry) = listing.next_entry().await.expect("listing") {
        entries.push(match entry {
            ListEntry::Object(o) => o.name,
            ListEntry::Prefix(p) => p,
        });
    }
    assert_eq!(entries, ["logs/", "top.txt"]);

    storage
        .delete("my-bucket", "top.txt", Preconditions::none())
        .await
        .expect("delete");
    let err = storage
        .delete("my-bucket", "top.txt", Preconditions::none())
        .await
        .expect_err("gone");
    assert_eq!(err.status(), Some(404));
    assert!(gcs.object_data("my-bucket", "top.txt").is_none());

    let sent = gcs.requests().await;
    assert!(
        matches!(
            &sent[0].call,
            StorageCall::Upload { bucket, name, upload_type, size: 10, .. }
                if bucket == "my-bucket" && name == "logs/a.txt" && upload_type == "media"
        ),
        "{:?}",
        sent[0]
    );
    assert_eq!(
        sent[4].call,
        StorageCall::Download {
            bucket: "my-bucket".into(),
            name: "logs/a.txt".into(),
            range: None,
            generation: None
        }
    );
    assert!(
        matches!(&sent[5].call, StorageCall::Download { range: Some(r), .. } if r == "bytes=2-4")
    );
    assert!(
        matches!(&sent[7].call, StorageCall::List { delimiter: Some(d), max_results: Some(1), .. } if d == "/")
    );
    assert!(
        sent.iter()
            .all(|r| r.quota_project.as_deref() == Some("billing"))
    );
    assert!(sent.iter().all(|r| {
        r.bearer
            .as_ref()
            .is_some_and(|t| t.secret().expose_secret() == "ya29.SECRET-token")
    }));
    assert!(!format!("{sent:?}").contains("SECRET"));
}

#[tokio::test]
async fn multipart_and_resumable_uploads() {
    let gcs = FakeStorage::start().await;
    let storage = builder(&gcs.base_url())
        .chunk_size(256 * 1024)
        .resumable_threshold(300 * 1024)
        .build()
        .expect("valid");
    let mut metadata = BTreeMap::new();
    metadata.insert("team".to_owned(), "data".to_owned());
    storage
        .upload(
            "my-bucket",
            "tagged.json",
            UploadSource::bytes(&b"{}"[..]),
            UploadOptions::new()
                .content_type("application/json")
                .metadata("team", "data"),
        )
        .await
        .expect("multipart");
    let big: Vec<u8> = (0..600 * 1024u32).map(|i| (i % 251) as u8).collect();
    let object = storage
        .upload(
            "my-bucket",
            "big.bin",
            UploadSource::bytes(big.clone()),
            UploadOptions::new(),
        )
        .await
        .expect("resumable");
    assert_eq!(object.size, big.len() as u64);
    assert_eq!(gcs.object_data("my-bucket", "big.bin"), Some(big));
    assert_eq!(
        storage
            .metadata("my-bucket", "tagged.json")
            .await
            .expect("metadata")
            .metadata,
        metadata
    );

    let sent = gcs.requests().await;
    assert!(
        matches!(
            &sent[0].call,
            StorageCall::Upload { upload_type, content_type: Some(ct), metadata: m, size: 2, .. }
                if upload_type == "multipart" && ct == "application/json" && *m == metadata
        ),
        "{:?}",
        sent[0]
    );
    assert!(
        matches!(&sent[1].call, StorageCall::Upload { upload_type, .. } if upload_type == "resumable")
    );
    let ranges: Vec<&str> = sent
        .iter()
        .filter_map(|r| match &r.call {
            StorageCall::UploadChunk { content_range, .. } => Some(content_range.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        ranges,
        [
            "bytes 0-262143/614400",
            "bytes 262144-524287/614400",
            "bytes 524288-614399/614400"
        ]
    );
}

#[tokio::test]
async fn preconditions_hold_like_gcs() {
    let gcs = FakeStorage::start().await;
    let storage = storage(&gcs.base_url());
    let only = || UploadOptions::new().create_only();
    storage
        .upload("my-bucket", "once", UploadSource::bytes(&b"1"[..]), only())
        .await
        .expect("created");
    let err = storage
        .upload("my-bucket", "once", UploadSource::bytes(&b"2"[..]), only())
        .await
        .expect_err("exists");
    assert_eq!(err.status(), Some(412));
    assert_hint_says(&err, "ifGenerationMatch=0");
    assert_eq!(
        gcs.object_data("my-bucket", "once").as_deref(),
        Some(&b"1"[..])
    );
}

#[tokio::test]
async fn every_documented_error_reaches_the_client() {
    for error in StorageError::ALL {
        let gcs = FakeStorage::start_with(StorageResponder::error(error)).await;
        let err = storage(&gcs.base_url())
            .metadata("my-bucket", "x")
            .await
            .expect_err("refused");
        assert_refused_with(&err, error.status(), error.reason());
        assert_eq!(
            err.is_retryable(),
            matches!(
                error,
                StorageError::TooManyRequests | StorageError::Unavailable
            ),
            "{error:?}"
        );
        assert_eq!(
            err.hint().is_some(),
            !matches!(
                error,
                StorageError::Invalid | StorageError::TooManyRequests | StorageError::Unavailable
            ),
            "{error:?}: {err}"
        );
        if error == StorageError::FederatedPrincipalNeedsUniformAccess {
            assert!(
                err.hint()
                    .is_some_and(|h| h.contains("uniform bucket-level access"))
            );
        }
    }
}

#[tokio::test]
async fn flaky_slow_expired_then_valid_and_anonymous() {
    let responder = StorageResponder::new()
        .with_object("my-bucket", "a", b"x")
        .flaky(2);
    let kept = responder.clone();
    let gcs = FakeStorage::start_with(responder).await;
    retrying(&gcs.base_url(), quick_retries(3))
        .metadata("my-bucket", "a")
        .await
        .expect("the third attempt");
    assert_eq!(kept.answered(), 3);

    let slow = FakeStorage::start_with(StorageResponder::new().slow(Duration::from_secs(30))).await;
    let err = retrying(
        &slow.base_url(),
        quick_retries(1).with_deadline(Duration::from_millis(200)),
    )
    .metadata("my-bucket", "a")
    .await
    .expect_err("times out");
    assert!(err.is_timeout(), "{err}");

    let gcs = FakeStorage::start_with(StorageResponder::expired_then_valid().with_object(
        "my-bucket",
        "a",
        b"x",
    ))
    .await;
    let provider = CountingProvider::new();
    Storage::builder()
        .provider(provider.clone())
        .base_url(gcs.base_url())
        .environment(MapEnvironment::new())
        .build()
        .expect("valid")
        .metadata("my-bucket", "a")
        .await
        .expect("refreshed once");
    assert_eq!(provider.invalidations(), 1);
    let bearers: Vec<String> = gcs
        .requests()
        .await
        .iter()
        .filter_map(|r| {
            r.bearer
                .as_ref()
                .map(|t| t.secret().expose_secret().to_owned())
        })
        .collect();
    assert_eq!(bearers, ["tok-1", "tok-2"]);

    let open = FakeStorage::start_with(StorageResponder::new().anonymous()).await;
    let anonymous = Storage::builder()
        .environment(MapEnvironment::new().with("STORAGE_EMULATOR_HOST", open.base_url().as_str()))
        .build()
        .expect("an emulator needs no credentials");
    upload(&anonymous, "a", b"x")
        .await
        .expect("anonymous upload");
    let closed = FakeStorage::start().await;
    let err = Storage::builder()
        .environment(
            MapEnvironment::new().with("STORAGE_EMULATOR_HOST", closed.base_url().as_str()),
        )
        .build()
        .expect("valid")
        .metadata("my-bucket", "a")
        .await
        .expect_err("a token is required");
    assert_eq!(err.status(), Some(401));
}

#[tokio::test]
async fn fail_next_and_shared_servers() {
    let gcs = FakeStorage::start().await;
    gcs.fail_next(1, StorageError::Forbidden).await;
    let storage = storage(&gcs.base_url());
    let err = upload(&storage, "a", b"x").await.expect_err("injected");
    assert_eq!(err.status(), Some(403));
    upload(&storage, "a", b"x").await.expect("then stored");

    let server = MockServer::start().await;
    mount(
        &server,
        StorageResponder::new().with_object("my-bucket", "a", b"x"),
    )
    .await;
    mount_next(&server, 1, StorageError::Unavailable).await;
    retrying(&server.uri(), quick_retries(2))
        .metadata("my-bucket", "a")
        .await
        .expect("retried");
    assert_eq!(storage_requests(&server).await.len(), 2);
}

#[tokio::test]
async fn the_providers_endpoint_base_url_moves_the_client_unless_told_otherwise() {
    let gcs = FakeStorage::start().await;
    let followed = Storage::builder()
        .provider(PointedAt::new(gcs.base_url()))
        .environment(MapEnvironment::new())
        .build()
        .expect("valid");
    assert_eq!(followed.base_url(), format!("{}/", gcs.base_url()));
    upload(&followed, "a", b"x")
        .await
        .expect("reached the fake");
    assert!(gcs.object_data("my-bucket", "a").is_some());

    let explicit = Storage::builder()
        .provider(PointedAt::new("http://127.0.0.1:1"))
        .base_url("https://storage.example/")
        .environment(MapEnvironment::new())
        .build()
        .expect("valid");
    assert_eq!(explicit.base_url(), "https://storage.example/");
    let emulator = Storage::builder()
        .provider(PointedAt::new("http://127.0.0.1:1"))
        .environment(MapEnvironment::new().with("STORAGE_EMULATOR_HOST", "127.0.0.1:2"))
        .build()
        .expect("valid");
    assert_eq!(emulator.base_url(), "http://127.0.0.1:2/");
}
