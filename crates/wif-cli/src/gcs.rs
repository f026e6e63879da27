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
//! `STORAGE_EMULATOR_HOST` points the commands at an emulator, as with Google's tools (see
//! `crate::emulator_host`).
//!
//! Copies survive an interruption. An upload large enough for a resumable session keeps the
//! session ([`wif_storage::upload_sessions`]), and a download to a file keeps what arrived in a partial file
//! beside it (`wif_storage`'s `download_to_file_resumable`, checked by generation and CRC32C):
//! running the same `wif gcs cp` again continues where the last run stopped. Both are removed
//! when the copy succeeds or fails for good. A downloaded file that replaces an existing one
//! keeps that file's permission bits.

use std::io::{IsTerminal as _, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use wif::secrecy::ExposeSecret as _;
use wif::{Error, ErrorKind, Step};
use wif_storage::{
    ListEntry, ListOptions, Object, Preconditions, Storage, UploadOptions, UploadSource,
};

use wif_storage::{UploadKey, UploadSessions};

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
    let gcs = Gcs {
        storage: &storage,
        sessions: UploadSessions::from_env(&wif::OsEnvironment),
        progress: std::io::stderr().is_terminal(),
    };
    execute(cmd, &gcs, &mut std::io::stdout()).await
}

/// What a command runs with: the client, where upload sessions are kept, and whether to draw
/// progress bars.
struct Gcs<'a> {
    storage: &'a Storage,
    sessions: UploadSessions,
    progress: bool,
}

/// Runs `cmd`, writing results to `out`.
async fn execute(
    cmd: GcsCommand,
    gcs: &Gcs<'_>,
    out: &mut (dyn Write + Send),
) -> Result<(), Error> {
    let storage = gcs.storage;
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
            (None, Some(dest)) => upload(gcs, Path::new(&from), dest).await,
            (Some(src), None) => download(gcs, src, &to, out).await,
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

async fn upload(gcs: &Gcs<'_>, from: &Path, mut dest: GsUrl) -> Result<(), Error> {
    if from.as_os_str() == "-" {
        return Err(Error::config(
            "cp",
            "uploading from stdin is not supported; give a file",
        ));
    }
    // A regular file, checked on the opened file: a FIFO or a device is refused before any
    // request (and a FIFO never blocks the open).
    let file = wif::layers::core::local_file::open_regular(from, "upload source")
        .map_err(|e| e.into_error(Step::Config))?;
    let meta = file.metadata().map_err(|e| {
        Error::new(
            Step::Config,
            ErrorKind::Io,
            format!("cannot read {}", from.display()),
        )
        .with_source(e)
    })?;
    drop(file);
    if dest.object.is_empty() || dest.object.ends_with('/') {
        let name = from
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        dest.object.push_str(&name);
    }
    let mut options = UploadOptions::new().content_type(content_type_of(from));
    let bar = bar(gcs.progress);
    let object = if meta.len() < gcs.storage.resumable_threshold() {
        if let Some(bar) = &bar {
            options = options.progress(bar.clone());
        }
        gcs.storage
            .upload(
                &dest.bucket,
                &dest.object,
                UploadSource::file(from),
                options,
            )
            .await?
    } else {
        let key = UploadKey::new(from, &meta, &dest.bucket, &dest.object);
        upload_resumable(gcs, from, &dest, key, meta.len(), options, bar).await?
    };
    eprintln!(
        "Copied {} to {dest} ({} bytes, generation {})",
        from.display(),
        object.size,
        object.generation
    );
    Ok(())
}

/// Uploads through a resumable session, continuing the one a previous run left when there is
/// one, and keeping a new one until the upload is done (see [`wif_storage::upload_sessions`]).
async fn upload_resumable(
    gcs: &Gcs<'_>,
    from: &Path,
    dest: &GsUrl,
    key: UploadKey,
    len: u64,
    options: UploadOptions,
    bar: Option<Arc<Bar>>,
) -> Result<Object, Error> {
    if let Some(uri) = gcs.sessions.load(&key) {
        // A session of another endpoint (the emulator moved) is not ours to continue.
        if let Ok(mut session) = gcs.storage.resume(uri.expose_secret(), Some(len)) {
            if let Some(bar) = &bar {
                session = session.with_progress(bar.clone());
            }
            tracing::info!("continuing the upload session an earlier run left");
            match session.upload(UploadSource::file(from)).await {
                Ok(object) => {
                    gcs.sessions.remove(&key);
                    return Ok(object);
                }
                // Expired (a week) or cancelled: start a new one.
                Err(e) if matches!(e.status(), Some(404 | 410)) => {}
                Err(e) => return Err(settle_upload(gcs, &key, session, e).await),
            }
        }
        gcs.sessions.remove(&key);
    }
    let mut session = gcs
        .storage
        .start_resumable(&dest.bucket, &dest.object, &options, Some(len))
        .await?;
    if let Some(bar) = &bar {
        session = session.with_progress(bar.clone());
    }
    if let Err(e) = gcs.sessions.save(&key, session.session_uri()) {
        // Still worth uploading; only a rerun could not continue it.
        tracing::warn!(error = %e.message(), "the upload session cannot be kept for a rerun");
    }
    match session.upload(UploadSource::file(from)).await {
        Ok(object) => {
            gcs.sessions.remove(&key);
            Ok(object)
        }
        Err(e) => Err(settle_upload(gcs, &key, session, e).await),
    }
}

/// After a failed upload: a transient failure keeps the session for the next run and says so;
/// a final one forgets it and cancels it on the server.
async fn settle_upload(
    gcs: &Gcs<'_>,
    key: &UploadKey,
    session: wif_storage::ResumableUpload,
    e: Error,
) -> Error {
    if e.is_retryable() && gcs.sessions.load(key).is_some() {
        return e.context(
            "upload interrupted; its session is kept, so running the same command again continues it",
        );
    }
    gcs.sessions.remove(key);
    let _ = session.cancel().await;
    e
}

async fn download(
    gcs: &Gcs<'_>,
    src: GsUrl,
    to: &str,
    out: &mut (dyn Write + Send),
) -> Result<(), Error> {
    if src.object.is_empty() || src.object.ends_with('/') {
        return Err(Error::config("cp", format!("{src} names no object")));
    }
    let progress = bar(gcs.progress).map(|b| b as Arc<dyn wif_storage::Progress>);
    if to == "-" {
        let mut download = gcs.storage.download(&src.bucket, &src.object, None).await?;
        if let Some(progress) = progress {
            download = download.with_progress(progress);
        }
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
    let written = gcs
        .storage
        .download_to_file_resumable(&src.bucket, &src.object, &path, progress)
        .await?;
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

/// A progress bar on stderr (only at a terminal), drawn once a transfer says it is big enough
/// to deserve one.
fn bar(enabled: bool) -> Option<Arc<Bar>> {
    enabled.then(|| Arc::new(Bar(OnceLock::new())))
}

/// Renders wif-storage's progress callbacks with indicatif, from [`PROGRESS_MIN_BYTES`] on.
struct Bar(OnceLock<indicatif::ProgressBar>);

impl Bar {
    fn draw(total: u64) -> indicatif::ProgressBar {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bytes:>10}/{total_bytes} [{wide_bar}] {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    }
}

impl wif_storage::Progress for Bar {
    fn start(&self, total: Option<u64>) {
        match (self.0.get(), total) {
            (Some(bar), Some(total)) => bar.set_length(total),
            (None, Some(total)) if total >= PROGRESS_MIN_BYTES => {
                let _ = self.0.set(Bar::draw(total));
            }
            _ => {}
        }
    }
    fn update(&self, done: u64) {
        if let Some(bar) = self.0.get() {
            bar.set_position(done);
        }
    }
    fn finish(&self) {
        if let Some(bar) = self.0.get() {
            bar.finish_and_clear();
        }
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
mod resume_tests;
#[cfg(test)]
mod tests;
