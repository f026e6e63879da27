//! `wif gcs` against the in-process emulator: commands, URLs, progress, permissions.

use std::time::Duration;

use wif::layers::core::StaticTokenProvider;
use wif::{AccessToken, MapEnvironment};

use super::*;

#[test]
fn gs_urls_split_into_bucket_and_object() {
    let table = [
        ("gs://b", Some(("b", ""))),
        ("gs://b/", Some(("b", ""))),
        ("gs://b/dir/file name.txt", Some(("b", "dir/file name.txt"))),
        ("./local/file", None),
        ("-", None),
    ];
    for (input, want) in table {
        let got = GsUrl::parse(input).expect(input);
        let got = got.as_ref().map(|u| (u.bucket.as_str(), u.object.as_str()));
        assert_eq!(got, want, "{input}");
    }
    assert!(
        GsUrl::parse("gs:///object")
            .expect_err("no bucket")
            .is_config()
    );
}

#[test]
fn content_types_are_guessed_from_extensions() {
    assert_eq!(content_type_of(Path::new("a/report.CSV")), "text/csv");
    assert_eq!(
        content_type_of(Path::new("rows.jsonl")),
        "application/x-ndjson"
    );
    assert_eq!(
        content_type_of(Path::new("noext")),
        "application/octet-stream"
    );
}

#[test]
fn no_progress_bar_off_a_terminal_or_for_small_transfers() {
    use wif_storage::Progress as _;
    assert!(bar(false).is_none());
    let small = bar(true).expect("at a terminal");
    small.start(Some(1024));
    small.start(None);
    assert!(small.0.get().is_none(), "nothing drawn for 1 KiB");
    let big = bar(true).expect("at a terminal");
    big.start(Some(PROGRESS_MIN_BYTES));
    assert!(big.0.get().is_some());
}

pub(super) async fn world() -> (wif_emulator::RunningEmulator, Storage) {
    let emulator = wif_emulator::Emulator::new(Default::default())
        .start_local()
        .await
        .expect("emulator");
    emulator.state().create_bucket("bkt");
    let (token, _) = emulator.state().issue(
        wif_emulator::TokenKind::ServiceAccount,
        "sa@p.iam.gserviceaccount.com".into(),
        vec![],
        vec![],
        Duration::from_secs(600),
    );
    let storage = Storage::builder()
        .provider(StaticTokenProvider::new(AccessToken::new(token)))
        .base_url(emulator.base_url())
        .environment(MapEnvironment::new())
        .build()
        .expect("storage");
    (emulator, storage)
}

pub(super) async fn run_in(storage: &Storage, cmd: GcsCommand) -> Result<String, Error> {
    let sessions = tempfile::tempdir().expect("dir");
    run_with(storage, &UploadSessions::in_dir(sessions.path()), cmd).await
}

pub(super) async fn run_with(
    storage: &Storage,
    sessions: &UploadSessions,
    cmd: GcsCommand,
) -> Result<String, Error> {
    let gcs = Gcs {
        storage,
        sessions: sessions.clone(),
        progress: false,
    };
    let mut out = Vec::new();
    execute(cmd, &gcs, &mut out).await?;
    Ok(String::from_utf8(out).expect("utf8"))
}

/// `wif gcs cp FROM TO`, each side a `gs://` URL, `-` or a local path.
pub(super) fn cp(from: impl AsRef<Path>, to: impl AsRef<Path>) -> GcsCommand {
    let text = |side: &Path| side.to_str().expect("a UTF-8 path").to_owned();
    GcsCommand::Cp {
        from: text(from.as_ref()),
        to: text(to.as_ref()),
    }
}

#[tokio::test]
async fn cp_ls_rm_round_trip_through_the_emulator() {
    let (emulator, storage) = world().await;
    let dir = tempfile::tempdir().expect("dir");
    let local = dir.path().join("report.csv");
    std::fs::write(&local, "a,b\n1,2\n").expect("write");
    let local_str = local.to_str().expect("utf8 path");

    // Upload to an explicit name and into a "directory" (keeping the file name).
    run_in(&storage, cp(local_str, "gs://bkt/reports/2026.csv"))
        .await
        .expect("upload");
    run_in(&storage, cp(local_str, "gs://bkt/reports/"))
        .await
        .expect("upload to dir");
    let (_, data) = emulator
        .state()
        .storage_object("bkt", "reports/report.csv")
        .expect("kept name");
    assert_eq!(data, b"a,b\n1,2\n");

    // Download to stdout, to a file, and into a directory.
    assert_eq!(
        run_in(&storage, cp("gs://bkt/reports/2026.csv", "-"))
            .await
            .expect("cat"),
        "a,b\n1,2\n"
    );
    let copy = dir.path().join("copy.csv");
    run_in(&storage, cp("gs://bkt/reports/2026.csv", &copy))
        .await
        .expect("download");
    assert_eq!(std::fs::read(&copy).expect("read"), b"a,b\n1,2\n");
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).expect("mkdir");
    run_in(&storage, cp("gs://bkt/reports/2026.csv", &sub))
        .await
        .expect("download into dir");
    assert!(sub.join("2026.csv").is_file());

    // Listing: the top level, then the "directory" with or without its slash.
    assert_eq!(
        run_in(
            &storage,
            GcsCommand::Ls {
                url: "gs://bkt".into()
            }
        )
        .await
        .expect("ls"),
        "gs://bkt/reports/\n"
    );
    let inside = "gs://bkt/reports/2026.csv\ngs://bkt/reports/report.csv\n";
    assert_eq!(
        run_in(
            &storage,
            GcsCommand::Ls {
                url: "gs://bkt/reports".into()
            }
        )
        .await
        .expect("ls"),
        inside
    );
    assert_eq!(
        run_in(
            &storage,
            GcsCommand::Ls {
                url: "gs://bkt/reports/".into()
            }
        )
        .await
        .expect("ls"),
        inside
    );
    let none = run_in(
        &storage,
        GcsCommand::Ls {
            url: "gs://bkt/nothing".into(),
        },
    )
    .await;
    assert!(
        none.expect_err("no match")
            .to_string()
            .contains("matched no objects")
    );

    // Delete.
    run_in(
        &storage,
        GcsCommand::Rm {
            url: "gs://bkt/reports/2026.csv".into(),
        },
    )
    .await
    .expect("rm");
    assert!(
        emulator
            .state()
            .storage_object("bkt", "reports/2026.csv")
            .is_none()
    );
    let err = run_in(
        &storage,
        GcsCommand::Rm {
            url: "gs://bkt/reports/2026.csv".into(),
        },
    )
    .await
    .expect_err("already gone");
    assert_eq!(err.status(), Some(404));
}

#[tokio::test]
async fn bad_invocations_are_usage_errors() {
    let (_emulator, storage) = world().await;
    for cmd in [
        cp("gs://a/x", "gs://b/y"),
        cp("here", "there"),
        cp("/definitely/not/a/file", "gs://bkt/x"),
        cp("-", "gs://bkt/x"),
        GcsCommand::Ls { url: "bkt".into() },
        GcsCommand::Rm {
            url: "gs://bkt".into(),
        },
    ] {
        let shown = format!("{cmd:?}");
        let err = run_in(&storage, cmd).await.expect_err(&shown);
        assert_eq!(err.step(), Step::Config, "{shown}: {err}");
    }
}

/// Replacing a file must not change who may read it: the download used to land with the
/// default mode of a new file.
#[cfg(unix)]
#[tokio::test]
async fn an_overwritten_file_keeps_its_permission_bits() {
    use std::os::unix::fs::PermissionsExt as _;
    let (_emulator, storage) = world().await;
    let dir = tempfile::tempdir().expect("dir");
    let local = dir.path().join("fresh.txt");
    std::fs::write(&local, "new content").expect("write");
    run_in(&storage, cp(&local, "gs://bkt/f.txt"))
        .await
        .expect("upload");

    let existing = dir.path().join("existing.txt");
    std::fs::write(&existing, "old").expect("write");
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    run_in(&storage, cp("gs://bkt/f.txt", &existing))
        .await
        .expect("download over it");
    assert_eq!(std::fs::read(&existing).expect("read"), b"new content");
    let mode = std::fs::metadata(&existing)
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o640, "permission bits of the replaced file");
}

/// A FIFO or a device is not an upload source: refused as a usage error, before any request.
#[cfg(unix)]
#[tokio::test]
async fn uploads_from_fifos_and_devices_are_refused() {
    let (emulator, storage) = world().await;
    let dir = tempfile::tempdir().expect("dir");
    let fifo = wif_core::testing::fifo_at(dir.path().join("pipe"));
    let before = emulator.requests(wif_emulator::Endpoint::Storage);
    for source in [fifo.to_str().expect("utf8"), "/dev/zero"] {
        let err = run_in(&storage, cp(source, "gs://bkt/x"))
            .await
            .expect_err(source);
        assert_eq!(err.step(), Step::Config, "{source}: {err}");
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }
    assert_eq!(emulator.requests(wif_emulator::Endpoint::Storage), before);
}
