//! Round trips against the wif-emulator's Cloud Storage: every kind of upload, downloads,
//! listings, deletes, preconditions, retries through injected faults, refresh after expiry, and
//! the federated-principal rule.

// Test helpers outside #[test] fns: panicking with a message is how they report.
#![allow(clippy::expect_used, clippy::panic)]

mod common;

use common::{assert_condition_not_met, upload_bytes};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::TryStreamExt as _;
use wif_core::testing::assert_hint_says;
use wif_core::{
    AccessToken, Error, MapEnvironment, StaticTokenProvider, TokenProvider, async_trait,
};
use wif_emulator::{Emulator, Endpoint, Fault, RunningEmulator, State, TokenKind};
use wif_storage::{
    ByteRange, ListEntry, ListOptions, Preconditions, Progress, Storage, UploadOptions,
    UploadSource,
};

const KIB: usize = 1024;

/// Issues a service-account token from the emulator, and a new one after `invalidate`.
#[derive(Debug)]
struct EmulatorTokens {
    state: Arc<State>,
    current: Mutex<Option<String>>,
    invalidations: Mutex<u32>,
}

impl EmulatorTokens {
    fn new(state: &Arc<State>) -> Arc<Self> {
        Arc::new(EmulatorTokens {
            state: state.clone(),
            current: Mutex::new(None),
            invalidations: Mutex::new(0),
        })
    }
}

#[async_trait]
impl TokenProvider for EmulatorTokens {
    async fn token(&self) -> Result<AccessToken, Error> {
        let mut current = self.current.lock().expect("lock");
        let token = current.get_or_insert_with(|| writer_token(&self.state));
        Ok(AccessToken::new(token.clone()))
    }
    fn invalidate(&self) {
        *self.current.lock().expect("lock") = None;
        *self.invalidations.lock().expect("lock") += 1;
    }
}

async fn emulator() -> RunningEmulator {
    let emulator = Emulator::new(Default::default())
        .start_local()
        .await
        .expect("emulator starts");
    assert!(emulator.state().create_bucket("bkt"));
    emulator
}

fn client(emulator: &RunningEmulator, provider: impl TokenProvider + 'static) -> Storage {
    Storage::builder()
        .provider(provider)
        .base_url(emulator.base_url())
        .environment(MapEnvironment::new())
        .retry_policy(common::fast_retries())
        .chunk_size(256 * KIB)
        .resumable_threshold(300 * KIB as u64)
        .build()
        .expect("builds")
}

/// A fresh hour-long cloud-platform token of the `writer` service account.
fn writer_token(state: &State) -> String {
    state
        .issue(
            TokenKind::ServiceAccount,
            "writer@wif-demo.iam.gserviceaccount.com".into(),
            vec![],
            vec![wif_core::CLOUD_PLATFORM_SCOPE.into()],
            Duration::from_secs(3600),
        )
        .0
}

fn sa_token(emulator: &RunningEmulator) -> StaticTokenProvider {
    StaticTokenProvider::new(AccessToken::new(writer_token(emulator.state())))
}

/// Downloads all of `bkt/name` (or its `range`).
async fn download_bytes(
    s: &Storage,
    name: &str,
    range: Option<ByteRange>,
) -> Result<wif_storage::Bytes, Error> {
    s.download("bkt", name, range).await?.into_bytes().await
}

#[tokio::test]
async fn every_upload_kind_round_trips() {
    let emulator = emulator().await;
    let s = client(&emulator, sa_token(&emulator));
    let name = "dir/a b+ü.txt";

    // Media.
    let o = s
        .upload(
            "bkt",
            name,
            UploadSource::bytes(&b"small body"[..]),
            UploadOptions::new().content_type("text/plain"),
        )
        .await
        .expect("media upload");
    assert_eq!(
        (o.name.as_str(), o.size, o.content_type.as_deref()),
        (name, 10, Some("text/plain"))
    );
    let meta = s.metadata("bkt", name).await.expect("metadata");
    assert_eq!(meta.generation, o.generation);
    assert_eq!(
        download_bytes(&s, name, None).await.expect("download"),
        &b"small body"[..]
    );

    // Multipart, with custom metadata.
    let o = s
        .upload(
            "bkt",
            "with-meta.json",
            UploadSource::bytes(&b"{}"[..]),
            UploadOptions::new()
                .content_type("application/json")
                .metadata("origin", "test"),
        )
        .await
        .expect("multipart upload");
    assert_eq!(o.metadata.get("origin").map(String::as_str), Some("test"));

    // Resumable, from a file, then from a reader of unknown length.
    let data = common::pattern(1000 * KIB + 123);
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("big.bin");
    std::fs::write(&path, &data).expect("write");
    let o = s
        .upload(
            "bkt",
            "big.bin",
            UploadSource::file(&path),
            UploadOptions::new(),
        )
        .await
        .expect("resumable upload");
    assert_eq!(o.size, data.len() as u64);
    let (_, stored) = emulator
        .state()
        .storage_object("bkt", "big.bin")
        .expect("stored");
    assert!(stored == data, "the emulator holds exactly the file");
    let o = s
        .upload(
            "bkt",
            "streamed.bin",
            UploadSource::reader(std::io::Cursor::new(data.clone()), None),
            UploadOptions::new(),
        )
        .await
        .expect("streamed upload");
    assert_eq!(o.size, data.len() as u64);

    // Whole and ranged downloads, and to a file.
    let got = download_bytes(&s, "streamed.bin", None)
        .await
        .expect("download");
    assert!(got == data);
    let d = s
        .download("bkt", "big.bin", Some(ByteRange::from(1000..2000)))
        .await
        .expect("range");
    assert_eq!(
        (d.start(), d.len(), d.object_size()),
        (1000, Some(1000), Some(data.len() as u64))
    );
    assert_eq!(d.into_bytes().await.expect("body"), data[1000..2000]);
    let tail = download_bytes(&s, "big.bin", Some(ByteRange::Last(5)))
        .await
        .expect("suffix");
    assert_eq!(tail, data[data.len() - 5..]);
    let out = dir.path().join("copy.bin");
    assert_eq!(
        s.download_to_file("bkt", "big.bin", &out)
            .await
            .expect("file"),
        data.len() as u64
    );
    assert!(std::fs::read(&out).expect("read") == data);
}

#[tokio::test]
async fn listing_deleting_and_preconditions() {
    let emulator = emulator().await;
    let s = client(&emulator, sa_token(&emulator));
    for name in [
        "a.txt",
        "logs/1.txt",
        "logs/2.txt",
        "logs/sub/3.txt",
        "z.txt",
    ] {
        upload_bytes(&s, "bkt", name, b"x", UploadOptions::new().create_only())
            .await
            .expect("upload");
    }
    let top: Vec<String> = s
        .list("bkt", ListOptions::new().delimiter("/").page_size(2))
        .map_ok(|e| e.name().to_owned())
        .try_collect()
        .await
        .expect("list");
    assert_eq!(top, ["a.txt", "logs/", "z.txt"]);
    let all: Vec<ListEntry> = s
        .list("bkt", ListOptions::new().prefix("logs/").page_size(1))
        .try_collect()
        .await
        .expect("list");
    assert_eq!(all.len(), 3, "three pages of one");
    assert!(
        all.iter()
            .all(|e| matches!(e, ListEntry::Object(o) if o.size == 1))
    );

    let err = upload_bytes(&s, "bkt", "a.txt", b"y", UploadOptions::new().create_only())
        .await
        .expect_err("exists");
    assert_condition_not_met(&err);

    let live = s.metadata("bkt", "a.txt").await.expect("metadata");
    let err = s
        .delete(
            "bkt",
            "a.txt",
            Preconditions::none().if_generation_match(live.generation + 1),
        )
        .await
        .expect_err("wrong generation");
    assert_eq!(err.status(), Some(412));
    s.delete(
        "bkt",
        "a.txt",
        Preconditions::none().if_generation_match(live.generation),
    )
    .await
    .expect("deleted");
    let err = s.metadata("bkt", "a.txt").await.expect_err("gone");
    assert_eq!(err.status(), Some(404));
    assert!(
        err.to_string().contains("No such object: bkt/a.txt"),
        "{err}"
    );
}

#[tokio::test]
async fn injected_faults_are_retried_for_idempotent_calls() {
    let emulator = emulator().await;
    let s = client(&emulator, sa_token(&emulator));
    upload_bytes(&s, "bkt", "o", b"x", UploadOptions::new())
        .await
        .expect("upload");
    emulator
        .faults()
        .set(Endpoint::Storage, Fault::fail_next(2, 503));
    let before = emulator.requests(Endpoint::Storage);
    s.metadata("bkt", "o").await.expect("retried past two 503s");
    assert_eq!(emulator.requests(Endpoint::Storage) - before, 3);

    emulator
        .faults()
        .set(Endpoint::Storage, Fault::reset_next(1));
    let got = download_bytes(&s, "o", None)
        .await
        .expect("retried past a reset");
    assert_eq!(got, &b"x"[..]);

    // A resumable upload survives a failed chunk in the middle: once the first chunk is
    // confirmed, the next request fails; a status query follows and the upload continues.
    let data = common::pattern(700 * KIB);
    let trigger = Arc::new(FailAfterFirstChunk {
        state: emulator.state().clone(),
        armed: AtomicBool::new(true),
    });
    let before = emulator.requests(Endpoint::Storage);
    let o = s
        .upload(
            "bkt",
            "r.bin",
            UploadSource::bytes(data.clone()),
            UploadOptions::new().progress(trigger.clone()),
        )
        .await
        .expect("completes");
    assert_eq!(o.size, data.len() as u64);
    assert!(
        !trigger.armed.load(Ordering::SeqCst),
        "the fault was injected"
    );
    // Start, chunk 1, failed chunk 2, status query, chunk 2, chunk 3.
    assert_eq!(emulator.requests(Endpoint::Storage) - before, 6);
    let (_, stored) = emulator
        .state()
        .storage_object("bkt", "r.bin")
        .expect("stored");
    assert!(stored == data);
}

/// Fails the next storage request once the first chunk has been confirmed.
struct FailAfterFirstChunk {
    state: Arc<State>,
    armed: AtomicBool,
}

impl Progress for FailAfterFirstChunk {
    fn update(&self, done: u64) {
        if done > 0 && self.armed.swap(false, Ordering::SeqCst) {
            self.state
                .faults
                .set(Endpoint::Storage, Fault::fail_next(1, 503));
        }
    }
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once() {
    let emulator = emulator().await;
    let tokens = EmulatorTokens::new(emulator.state());
    let s = client(&emulator, tokens.clone());
    upload_bytes(&s, "bkt", "o", b"x", UploadOptions::new())
        .await
        .expect("upload");
    emulator.state().expire_all_tokens();
    s.metadata("bkt", "o")
        .await
        .expect("works after one refresh");
    assert_eq!(*tokens.invalidations.lock().expect("lock"), 1);
}

#[tokio::test]
async fn federated_tokens_need_uniform_bucket_level_access() {
    let emulator = emulator().await;
    assert!(emulator.state().create_fine_grained_bucket("acl-bkt"));
    let (token, _) = emulator.state().issue(
        TokenKind::Federated,
        emulator
            .config()
            .principal_for_subject("arn:aws:sts::123456789012:assumed-role/r"),
        vec![],
        vec![],
        Duration::from_secs(3600),
    );
    let s = client(&emulator, StaticTokenProvider::new(AccessToken::new(token)));
    let err = upload_bytes(&s, "acl-bkt", "o", b"x", UploadOptions::new())
        .await
        .expect_err("403");
    assert_eq!(err.status(), Some(403));
    assert_hint_says(&err, "uniform bucket-level access");
    upload_bytes(&s, "bkt", "o", b"x", UploadOptions::new())
        .await
        .expect("a uniform bucket takes federated principals");
}

#[tokio::test]
async fn storage_emulator_host_points_the_client_at_the_emulator() {
    let emulator = emulator().await;
    let host = emulator.base_url().trim_start_matches("http://").to_owned();
    let s = Storage::builder()
        .provider(sa_token(&emulator))
        .environment(MapEnvironment::new().with("STORAGE_EMULATOR_HOST", host))
        .build()
        .expect("builds");
    assert_eq!(s.base_url(), format!("{}/", emulator.base_url()));
    upload_bytes(&s, "bkt", "via-env", b"x", UploadOptions::new())
        .await
        .expect("upload");
    // Without credentials the emulator (like a real server) refuses the anonymous call.
    let anonymous = Storage::builder()
        .environment(MapEnvironment::new().with("STORAGE_EMULATOR_HOST", emulator.base_url()))
        .retry_policy(common::fast_retries())
        .build()
        .expect("builds");
    let err = anonymous.metadata("bkt", "via-env").await.expect_err("401");
    assert_eq!(err.status(), Some(401));
}
