//! `wif gcs cp` after an interruption: the next run continues from the saved offset, through
//! the emulator, with a byte-counting TCP relay in between to see how much each run sends.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use wif::RetryPolicy;
use wif::layers::core::StaticTokenProvider;
use wif::{AccessToken, MapEnvironment};
use wif_emulator::{Endpoint, RunningEmulator};

use super::tests::{cp, run_with, world};
use super::*;

/// A TCP relay to the emulator that counts the bytes of each direction and can cut every
/// connection once the client has sent a given number of bytes: the network failing mid-upload.
struct Relay {
    addr: SocketAddr,
    sent: Arc<AtomicU64>,
    received: Arc<AtomicU64>,
    cut_after: Arc<AtomicU64>,
    cut: Arc<AtomicBool>,
}

impl Relay {
    async fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let relay = Relay {
            addr: listener.local_addr().expect("addr"),
            sent: Arc::default(),
            received: Arc::default(),
            cut_after: Arc::new(AtomicU64::new(u64::MAX)),
            cut: Arc::default(),
        };
        let (sent, received) = (relay.sent.clone(), relay.received.clone());
        let (cut_after, cut) = (relay.cut_after.clone(), relay.cut.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if cut.load(Ordering::SeqCst) {
                    continue; // dropped: the network is down
                }
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let (mut client_r, mut client_w) = client.into_split();
                let (mut server_r, mut server_w) = server.into_split();
                let up = {
                    let (sent, cut_after, cut) = (sent.clone(), cut_after.clone(), cut.clone());
                    async move {
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = match client_r.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            let before = sent.fetch_add(n as u64, Ordering::SeqCst);
                            let limit = cut_after.load(Ordering::SeqCst);
                            if before + n as u64 > limit {
                                let allowed = limit.saturating_sub(before) as usize;
                                let _ = server_w.write_all(&buf[..allowed]).await;
                                cut.store(true, Ordering::SeqCst);
                                return;
                            }
                            if server_w.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                };
                let down = {
                    let (received, cut) = (received.clone(), cut.clone());
                    async move {
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = match server_r.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            if cut.load(Ordering::SeqCst) {
                                return;
                            }
                            received.fetch_add(n as u64, Ordering::SeqCst);
                            if client_w.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                };
                // Either direction ending drops both halves of both connections.
                tokio::spawn(async move {
                    tokio::select! {
                        () = up => {}
                        () = down => {}
                    }
                });
            }
        });
        relay
    }

    /// Starts counting afresh, with the network up (or cut after `cut_after` bytes sent).
    fn reset(&self, cut_after: u64) {
        self.sent.store(0, Ordering::SeqCst);
        self.received.store(0, Ordering::SeqCst);
        self.cut_after.store(cut_after, Ordering::SeqCst);
        self.cut.store(false, Ordering::SeqCst);
    }

    fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    fn received(&self) -> u64 {
        self.received.load(Ordering::SeqCst)
    }
}

const CHUNK: usize = 256 * 1024;
/// Four whole chunks and a bit: five chunk requests for a fresh upload.
const SIZE: usize = 4 * CHUNK + 1000;
/// Headers and JSON around the data, per run: generous, and far below one chunk.
const OVERHEAD: u64 = 32 * 1024;

/// Data no compression or coincidence makes look like other data.
fn data() -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(14);
    (0..SIZE).map(|_| rng.u8(..)).collect()
}

/// A client that talks to the emulator through `relay`, in 256 KiB chunks, resumable from one
/// chunk on, and does not retry: a cut ends the run, as when the retries have run out.
fn storage_via(emulator: &RunningEmulator, relay: &Relay) -> Storage {
    let (token, _) = emulator.state().issue(
        wif_emulator::TokenKind::ServiceAccount,
        "sa@p.iam.gserviceaccount.com".into(),
        vec![],
        vec![],
        std::time::Duration::from_secs(600),
    );
    Storage::builder()
        .provider(StaticTokenProvider::new(AccessToken::new(token)))
        .base_url(format!("http://{}", relay.addr))
        .environment(MapEnvironment::new())
        .chunk_size(CHUNK)
        .resumable_threshold(CHUNK as u64)
        .retry_policy(RetryPolicy::default().with_max_attempts(1))
        .build()
        .expect("storage")
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The issue: an interrupted upload restarted from byte 0. Now the session is kept, and the
/// rerun sends only what Cloud Storage does not have yet.
#[tokio::test]
async fn an_interrupted_upload_continues_from_the_persisted_offset() {
    let (emulator, _) = world().await;
    let relay = Relay::start(emulator.addr()).await;
    let storage = storage_via(&emulator, &relay);
    let dir = tempfile::tempdir().expect("dir");
    let source = dir.path().join("big.bin");
    std::fs::write(&source, data()).expect("write");
    let source = source.to_str().expect("utf8");
    let state = dir.path().join("cache");
    let sessions = UploadSessions::in_dir(&state);

    // The network fails in the third chunk: two chunks (512 KiB) are persisted.
    relay.reset(2 * CHUNK as u64 + CHUNK as u64 / 2);
    let err = run_with(&storage, &sessions, cp(source, "gs://bkt/big.bin"))
        .await
        .expect_err("cut");
    assert!(err.is_retryable(), "{err}");
    assert!(
        err.to_string()
            .contains("running the same command again continues it"),
        "{err}"
    );
    assert_eq!(files_in(&state).len(), 1, "the session is kept");
    assert!(emulator.state().storage_object("bkt", "big.bin").is_none());

    relay.reset(u64::MAX);
    run_with(&storage, &sessions, cp(source, "gs://bkt/big.bin"))
        .await
        .expect("the rerun finishes the upload");
    let rest = (SIZE - 2 * CHUNK) as u64;
    let sent = relay.sent();
    assert!(
        sent >= rest && sent < rest + OVERHEAD,
        "the rerun sent {sent} bytes; only the {rest} not yet persisted were due"
    );
    let (_, stored) = emulator
        .state()
        .storage_object("bkt", "big.bin")
        .expect("uploaded");
    assert!(stored == data(), "the object is the file");
    assert!(
        files_in(&state).is_empty(),
        "the session is forgotten once done"
    );
}

/// A session that is gone (expired, cancelled) is not a dead end: the rerun starts a new one.
#[tokio::test]
async fn a_kept_session_that_is_gone_starts_over() {
    let (emulator, _) = world().await;
    let relay = Relay::start(emulator.addr()).await;
    let storage = storage_via(&emulator, &relay);
    let dir = tempfile::tempdir().expect("dir");
    let source = dir.path().join("big.bin");
    std::fs::write(&source, data()).expect("write");
    let source = source.to_str().expect("utf8");
    let sessions = UploadSessions::in_dir(dir.path().join("cache"));
    relay.reset(CHUNK as u64 + CHUNK as u64 / 2);
    run_with(&storage, &sessions, cp(source, "gs://bkt/big.bin"))
        .await
        .expect_err("cut");
    // The emulator forgets its sessions when restarted; here, by cancelling every one we kept.
    let meta = std::fs::metadata(source).expect("meta");
    let key = UploadKey::new(Path::new(source), &meta, "bkt", "big.bin");
    let uri = sessions.load(&key).expect("kept");
    relay.reset(u64::MAX);
    storage
        .resume(uri.expose_secret(), None)
        .expect("same host")
        .cancel()
        .await
        .expect("cancelled");
    run_with(&storage, &sessions, cp(source, "gs://bkt/big.bin"))
        .await
        .expect("a new session");
    let (_, stored) = emulator
        .state()
        .storage_object("bkt", "big.bin")
        .expect("uploaded");
    assert!(stored == data());
}

/// Uploads the test object through the emulator directly and cuts the first download through
/// the relay in half (the emulator's `truncate_next` fault): the partial file and its state are
/// left beside the destination. Returns the destination and the partial file's length.
async fn interrupted_download(
    emulator: &RunningEmulator,
    relay: &Relay,
    storage: &Storage,
    dir: &Path,
) -> (PathBuf, u64) {
    let direct = world_storage(emulator);
    direct
        .upload(
            "bkt",
            "big.bin",
            UploadSource::bytes(data()),
            UploadOptions::new(),
        )
        .await
        .expect("object");
    let dest = dir.join("big.bin");
    emulator
        .faults()
        .set(Endpoint::Storage, wif_emulator::Fault::truncate_next(1));
    relay.reset(u64::MAX);
    let sessions = UploadSessions::in_dir(dir.join("cache"));
    let err = run_with(storage, &sessions, cp("gs://bkt/big.bin", &dest))
        .await
        .expect_err("truncated");
    assert!(err.is_retryable(), "{err}");
    assert!(
        err.to_string().contains("run it again to continue"),
        "{err}"
    );
    assert!(!dest.exists(), "nothing half-written at the destination");
    assert_eq!(
        files_in(dir),
        [".big.bin.wif-partial", ".big.bin.wif-partial.json"],
        "the partial download and its state are kept"
    );
    let kept = std::fs::metadata(dir.join(".big.bin.wif-partial"))
        .expect("partial")
        .len();
    assert!(kept > 0 && kept < SIZE as u64, "{kept}");
    (dest, kept)
}

/// A client straight to the emulator (no relay), for setting up objects.
fn world_storage(emulator: &RunningEmulator) -> Storage {
    let (token, _) = emulator.state().issue(
        wif_emulator::TokenKind::ServiceAccount,
        "sa@p.iam.gserviceaccount.com".into(),
        vec![],
        vec![],
        std::time::Duration::from_secs(600),
    );
    Storage::builder()
        .provider(StaticTokenProvider::new(AccessToken::new(token)))
        .base_url(emulator.base_url())
        .environment(MapEnvironment::new())
        .build()
        .expect("storage")
}

/// The issue: an interrupted download left a hidden `.NAME.wif-partial-*` file and the next
/// run restarted from byte 0. Now the next run asks for the rest only.
#[tokio::test]
async fn an_interrupted_download_continues_from_the_partial_file() {
    let (emulator, _) = world().await;
    let relay = Relay::start(emulator.addr()).await;
    let storage = storage_via(&emulator, &relay);
    let dir = tempfile::tempdir().expect("dir");
    let (dest, kept) = interrupted_download(&emulator, &relay, &storage, dir.path()).await;

    relay.reset(u64::MAX);
    let sessions = UploadSessions::in_dir(dir.path().join("cache"));
    run_with(&storage, &sessions, cp("gs://bkt/big.bin", &dest))
        .await
        .expect("the rerun finishes the download");
    let rest = SIZE as u64 - kept;
    let received = relay.received();
    assert!(
        received >= rest && received < rest + OVERHEAD,
        "the rerun received {received} bytes; only the {rest} missing were due"
    );
    assert!(
        std::fs::read(&dest).expect("read") == data(),
        "the file is the object"
    );
    assert_eq!(files_in(dir.path()), ["big.bin"], "no partial files left");
}

/// Kept bytes of an older generation are never spliced onto a newer object: the rerun's pinned
/// request finds the generation gone and starts over.
#[tokio::test]
async fn a_replaced_object_is_downloaded_afresh() {
    let (emulator, _) = world().await;
    let relay = Relay::start(emulator.addr()).await;
    let storage = storage_via(&emulator, &relay);
    let dir = tempfile::tempdir().expect("dir");
    let (dest, _) = interrupted_download(&emulator, &relay, &storage, dir.path()).await;
    let direct = world_storage(&emulator);
    let mut replacement = data();
    replacement.reverse();
    direct
        .upload(
            "bkt",
            "big.bin",
            UploadSource::bytes(replacement.clone()),
            UploadOptions::new(),
        )
        .await
        .expect("new generation");

    let sessions = UploadSessions::in_dir(dir.path().join("cache"));
    run_with(&storage, &sessions, cp("gs://bkt/big.bin", &dest))
        .await
        .expect("downloaded afresh");
    assert!(std::fs::read(&dest).expect("read") == replacement);
    assert_eq!(files_in(dir.path()), ["big.bin"]);
}

/// A partial file whose bytes were changed fails the CRC32C check: nothing is renamed into
/// place, and both partial files are discarded so the next run starts clean.
#[tokio::test]
async fn a_corrupted_partial_file_fails_the_crc32c_check() {
    let (emulator, _) = world().await;
    let relay = Relay::start(emulator.addr()).await;
    let storage = storage_via(&emulator, &relay);
    let dir = tempfile::tempdir().expect("dir");
    let (dest, _) = interrupted_download(&emulator, &relay, &storage, dir.path()).await;
    let partial = dir.path().join(".big.bin.wif-partial");
    let mut bytes = std::fs::read(&partial).expect("read");
    bytes[10] ^= 0xff;
    std::fs::write(&partial, bytes).expect("write");

    let sessions = UploadSessions::in_dir(dir.path().join("cache"));
    let err = run_with(&storage, &sessions, cp("gs://bkt/big.bin", &dest))
        .await
        .expect_err("checksum");
    assert!(err.to_string().contains("CRC32C"), "{err}");
    assert!(!dest.exists());
    assert!(
        files_in(dir.path()).is_empty(),
        "{:?}",
        files_in(dir.path())
    );
}

/// A final failure (the object is gone) cleans the partial files up.
#[tokio::test]
async fn a_final_failure_removes_the_partial_files() {
    let (emulator, _) = world().await;
    let relay = Relay::start(emulator.addr()).await;
    let storage = storage_via(&emulator, &relay);
    let dir = tempfile::tempdir().expect("dir");
    let (dest, _) = interrupted_download(&emulator, &relay, &storage, dir.path()).await;
    let direct = world_storage(&emulator);
    direct
        .delete("bkt", "big.bin", wif_storage::Preconditions::none())
        .await
        .expect("deleted");

    let sessions = UploadSessions::in_dir(dir.path().join("cache"));
    let err = run_with(&storage, &sessions, cp("gs://bkt/big.bin", &dest))
        .await
        .expect_err("gone");
    assert_eq!(err.status(), Some(404), "{err}");
    assert!(
        files_in(dir.path()).is_empty(),
        "{:?}",
        files_in(dir.path())
    );
}
