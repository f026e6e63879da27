//! `wif gcs` — copy, list and delete Cloud Storage objects with the federated credentials: the
//! last step of the chain, where the token is used.
//!
//! ```text
//! wif gcs cp <local> gs://bucket/object     upload (resumable above 8 MiB)
//! wif gcs cp gs://bucket/object <local|->   download (to a file, a directory, or stdout)
//! wif gcs ls gs://bucket[/prefix]           one "directory" level, like `gsutil ls`
//! wif gcs rm gs://bucket/object
//! ```
//!
//! Listings and downloaded data go to stdout; a summary of each copy or delete goes to stderr.
//! Transfers of more than a few MiB show a progress bar when stderr is a terminal.
//! `STORAGE_EMULATOR_HOST` points the commands at an emulator, as with Google's tools.

use std::io::{IsTerminal as _, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wif::{Error, ErrorKind, Step};
use wif_storage::{ListEntry, ListOptions, Preconditions, Storage, UploadOptions, UploadSource};

/// Transfers at least this large get a progress bar (on a terminal).
const PROGRESS_MIN_BYTES: u64 = 4 * 1024 * 1024;

#[derive(clap::Subcommand, Debug)]
pub(crate) enum GcsCommand {
    /// Copy a local file to gs://bucket/object, or an object to a local file, a directory or `-`
    /// (stdout).
    Cp {
        /// A local file, or gs://bucket/object.
        from: String,
        /// gs://bucket/object (or gs://bucket/dir/ to keep the file's name), a local path, or `-`.
        to: String,
    },
    /// List the objects and "directories" under gs://bucket[/prefix].
    Ls {
        /// gs://bucket or gs://bucket/prefix
        url: String,
    },
    /// Delete gs://bucket/object.
    Rm {
        /// gs://bucket/object
        url: String,
    },
}

/// Runs `cmd` with `creds` (`None`: unauthenticated, only with `STORAGE_EMULATOR_HOST`),
/// writing results to stdout.
pub(crate) async fn run(cmd: GcsCommand, creds: Option<wif::Credentials>) -> Result<(), Error> {
    let mut builder = Storage::builder();
    if let Some(creds) = creds {
        if let Some(project) = creds.quota_project_id() {
            builder = builder.quota_project(project);
        }
        builder = builder.provider(creds);
    }
    let storage = builder.build()?;
    let progress = std::io::stderr().is_terminal();
    execute(cmd, &storage, &mut std::io::stdout(), progress).await
}

/// Runs `cmd` against `storage`, writing results to `out`.
async fn execute(
    cmd: GcsCommand,
    storage: &Storage,
    out: &mut (dyn Write + Send),
    progress: bool,
) -> Result<(), Error> {
    match cmd {
        GcsCommand::Cp { from, to } => match (GsUrl::parse(&from)?, GsUrl::parse(&to)?) {
            (Some(_), Some(_)) => Err(Error::config(
                "cp",
                "copying between gs:// URLs is not supported; download and upload instead",
            )),
            (None, None) => Err(Error::config(
                "cp",
                "one side must be a gs://bucket/object URL",
            )),
            (None, Some(dest)) => upload(storage, Path::new(&from), dest, progress).await,
            (Some(src), None) => download(storage, src, &to, out, progress).await,
        },
        GcsCommand::Ls { url } => {
            let url = GsUrl::parse(&url)?.ok_or_else(|| not_gs("ls", &url))?;
            list(storage, url, out).await
        }
        GcsCommand::Rm { url } => {
            let parsed = GsUrl::parse(&url)?.ok_or_else(|| not_gs("rm", &url))?;
            if parsed.object.is_empty() {
                return Err(Error::config("rm", format!("{url} names no object")));
            }
            storage
                .delete(&parsed.bucket, &parsed.object, Preconditions::none())
                .await?;
            eprintln!("Removed {parsed}");
            Ok(())
        }
    }
}

async fn upload(
    storage: &Storage,
    from: &Path,
    mut dest: GsUrl,
    progress: bool,
) -> Result<(), Error> {
    if from.as_os_str() == "-" {
        return Err(Error::config(
            "cp",
            "uploading from stdin is not supported; give a file",
        ));
    }
    let meta = std::fs::metadata(from).map_err(|e| {
        Error::new(
            Step::Config,
            ErrorKind::Io,
            format!("cannot read {}", from.display()),
        )
        .with_source(e)
    })?;
    if !meta.is_file() {
        return Err(Error::config(
            "cp",
            format!("{} is not a file", from.display()),
        ));
    }
    if dest.object.is_empty() || dest.object.ends_with('/') {
        let name = from
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        dest.object.push_str(&name);
    }
    let mut options = UploadOptions::new().content_type(content_type_of(from));
    if let Some(bar) = bar(progress, Some(meta.len())) {
        options = options.progress(bar);
    }
    let object = storage
        .upload(
            &dest.bucket,
            &dest.object,
            UploadSource::file(from),
            options,
        )
        .await?;
    eprintln!(
        "Copied {} to {dest} ({} bytes, generation {})",
        from.display(),
        object.size,
        object.generation
    );
    Ok(())
}

async fn download(
    storage: &Storage,
    src: GsUrl,
    to: &str,
    out: &mut (dyn Write + Send),
    progress: bool,
) -> Result<(), Error> {
    if src.object.is_empty() || src.object.ends_with('/') {
        return Err(Error::config("cp", format!("{src} names no object")));
    }
    let mut download = storage.download(&src.bucket, &src.object, None).await?;
    if let Some(bar) = bar(progress, download.len()) {
        download = download.with_progress(bar);
    }
    if to == "-" {
        let mut download = download;
        while let Some(chunk) = download.next_chunk().await? {
            match out.write_all(&chunk) {
                Ok(()) => {}
                // `wif gcs cp gs://b/o - | head`: the reader has what it wanted.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                Err(e) => return Err(write_error(e)),
            }
        }
        return match out.flush() {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(write_error(e)),
            _ => Ok(()),
        };
    }
    let mut path = PathBuf::from(to);
    if to.ends_with('/') || path.is_dir() {
        let name = src.object.rsplit('/').next().unwrap_or(&src.object);
        path.push(name);
    }
    let written = download.save_to(&path).await?;
    eprintln!("Copied {src} to {} ({written} bytes)", path.display());
    Ok(())
}

async fn list(storage: &Storage, url: GsUrl, out: &mut (dyn Write + Send)) -> Result<(), Error> {
    let mut prefix = url.object.clone();
    // Like `gsutil ls gs://b/dir`: a prefix that is a "directory" lists its contents.
    if !prefix.is_empty() && !prefix.ends_with('/') {
        let probe = ListOptions::new()
            .prefix(prefix.clone())
            .delimiter("/")
            .page_size(2);
        let page = storage.list_page(&url.bucket, &probe, None).await?;
        if page.items.is_empty() && page.prefixes == [format!("{prefix}/")] {
            prefix.push('/');
        }
    }
    let mut options = ListOptions::new().delimiter("/");
    if !prefix.is_empty() {
        options = options.prefix(prefix.clone());
    }
    let mut entries = storage.list(&url.bucket, options);
    let mut found = 0u64;
    while let Some(entry) = entries.next_entry().await? {
        found += 1;
        let name = match &entry {
            ListEntry::Object(o) => o.name.as_str(),
            ListEntry::Prefix(p) => p.as_str(),
        };
        match writeln!(out, "gs://{}/{name}", url.bucket) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(write_error(e)),
        }
    }
    if found == 0 && !prefix.is_empty() {
        return Err(Error::new(
            Step::Api,
            ErrorKind::Http,
            format!("gs://{}/{prefix} matched no objects", url.bucket),
        ));
    }
    Ok(())
}

fn write_error(e: std::io::Error) -> Error {
    Error::new(Step::Api, ErrorKind::Io, "could not write to stdout").with_source(e)
}

fn not_gs(command: &str, url: &str) -> Error {
    Error::config(
        command,
        format!("{url:?} is not a gs://bucket[/object] URL"),
    )
}

/// A progress bar on stderr, for transfers big enough to deserve one.
fn bar(enabled: bool, len: Option<u64>) -> Option<Arc<Bar>> {
    let len = len.filter(|l| enabled && *l >= PROGRESS_MIN_BYTES)?;
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bytes:>10}/{total_bytes} [{wide_bar}] {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    Some(Arc::new(Bar(bar)))
}

/// Renders wif-storage's progress callbacks with indicatif.
struct Bar(indicatif::ProgressBar);

impl wif_storage::Progress for Bar {
    fn start(&self, total: Option<u64>) {
        if let Some(total) = total {
            self.0.set_length(total);
        }
    }
    fn update(&self, done: u64) {
        self.0.set_position(done);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// `gs://bucket/object`, split.
#[derive(Debug, PartialEq, Eq)]
struct GsUrl {
    bucket: String,
    object: String,
}

impl GsUrl {
    /// `Ok(None)` for anything that is not a gs:// URL (a local path).
    fn parse(s: &str) -> Result<Option<GsUrl>, Error> {
        let Some(rest) = s.strip_prefix("gs://") else {
            return Ok(None);
        };
        let (bucket, object) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::config("URL", format!("{s:?} names no bucket")));
        }
        Ok(Some(GsUrl {
            bucket: bucket.to_owned(),
            object: object.to_owned(),
        }))
    }
}

impl std::fmt::Display for GsUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "gs://{}/{}", self.bucket, self.object)
    }
}

/// A `Content-Type` from the file extension (what `gsutil cp` guesses for common files).
fn content_type_of(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "log" => "text/plain",
        "csv" => "text/csv",
        "json" => "application/json",
        "jsonl" | "ndjson" => "application/x-ndjson",
        "html" | "htm" => "text/html",
        "xml" => "application/xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "pdf" => "application/pdf",
        "gz" => "application/gzip",
        "zip" => "application/zip",
        "parquet" => "application/vnd.apache.parquet",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
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
        assert!(bar(false, Some(1 << 30)).is_none());
        assert!(bar(true, Some(1024)).is_none());
        assert!(bar(true, None).is_none());
        assert!(bar(true, Some(PROGRESS_MIN_BYTES)).is_some());
    }

    async fn world() -> (wif_emulator::RunningEmulator, Storage) {
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

    async fn run_in(storage: &Storage, cmd: GcsCommand) -> Result<String, Error> {
        let mut out = Vec::new();
        execute(cmd, storage, &mut out, false).await?;
        Ok(String::from_utf8(out).expect("utf8"))
    }

    fn cp(from: &str, to: &str) -> GcsCommand {
        GcsCommand::Cp {
            from: from.into(),
            to: to.into(),
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
        run_in(
            &storage,
            cp("gs://bkt/reports/2026.csv", copy.to_str().expect("utf8")),
        )
        .await
        .expect("download");
        assert_eq!(std::fs::read(&copy).expect("read"), b"a,b\n1,2\n");
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).expect("mkdir");
        run_in(
            &storage,
            cp("gs://bkt/reports/2026.csv", sub.to_str().expect("utf8")),
        )
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
}
