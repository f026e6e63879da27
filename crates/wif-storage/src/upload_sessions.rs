//! The resumable sessions of unfinished uploads kept on disk (like gsutil's tracker files), so
//! that running the same copy again — in another process — continues from the bytes Cloud
//! Storage already holds instead of from byte 0 (`wif gcs cp` does). Pair
//! [`UploadSessions::load`] with [`Storage::resume`](crate::Storage::resume), and
//! [`UploadSessions::save`] with [`ResumableUpload::session_uri`](crate::ResumableUpload::session_uri).
//!
//! One small JSON file per upload, by default in `wif/uploads` under the user's cache directory
//! (`$XDG_CACHE_HOME`, else `~/.cache`; `~/Library/Caches` on macOS; `%LOCALAPPDATA%` on
//! Windows), named by a hash of what identifies the upload: the source file's absolute path,
//! size and modification time, and the destination bucket and object. A source that changed
//! since is a different upload and starts a new session.
//!
//! The file holds the **session URI**, and no token. But a session URI is itself a bearer
//! capability for that one upload: whoever holds it can write the object's data, without any
//! other credential, for the week the session lives. So the directory is created `0700` and
//! each file `0600` (on Unix), and the file is removed as soon as the upload finishes or fails
//! for good; a transient failure (a cut connection after the retries ran out, Ctrl-C) keeps it
//! for the next run. Files older than the longest a session lives are swept away.

use std::fs::Metadata;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use wif_core::local_file;
use wif_core::{Environment, Error, ErrorKind, Step};

/// Resumable sessions live a week; a state file older than this can only name a dead one.
const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 24 * 3600);
/// The largest state file read: one holds a key and a URI, well under a KiB.
const MAX_STATE_BYTES: usize = 64 * 1024;

/// Where unfinished uploads' sessions are kept (`None`: nowhere, uploads are not resumable
/// across runs).
#[derive(Clone, Debug)]
pub struct UploadSessions {
    dir: Option<PathBuf>,
}

/// What identifies one upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadKey {
    source: PathBuf,
    size: u64,
    modified_ns: u64,
    bucket: String,
    object: String,
}

impl UploadKey {
    /// The key of uploading `source` (with `meta`, its metadata) to `bucket/object`.
    pub fn new(source: &Path, meta: &Metadata, bucket: &str, object: &str) -> Self {
        let source = std::path::absolute(source).unwrap_or_else(|_| source.to_owned());
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        UploadKey {
            source,
            size: meta.len(),
            modified_ns,
            bucket: bucket.to_owned(),
            object: object.to_owned(),
        }
    }

    /// FNV-1a (64 bit) of the key: a file name that is stable across runs and versions.
    fn file_name(&self) -> String {
        let text = format!(
            "{}\0{}\0{}\0{}\0{}",
            self.source.display(),
            self.size,
            self.modified_ns,
            self.bucket,
            self.object
        );
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in text.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{hash:016x}.json")
    }
}

/// A state file's content.
#[derive(Serialize, Deserialize)]
pub(crate) struct Saved {
    pub(crate) key: UploadKey,
    pub(crate) session_uri: String,
}

impl UploadSessions {
    /// In `wif/uploads` of the user's cache directory, found from `env` (none when the
    /// variables name no absolute directory).
    pub fn from_env(env: &dyn Environment) -> Self {
        let absolute = |v: String| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
        let base = if cfg!(windows) {
            env.non_empty_var("LOCALAPPDATA").and_then(absolute)
        } else if cfg!(target_os = "macos") {
            env.non_empty_var("HOME")
                .and_then(absolute)
                .map(|h| h.join("Library").join("Caches"))
        } else {
            env.non_empty_var("XDG_CACHE_HOME")
                .and_then(absolute)
                .or_else(|| {
                    env.non_empty_var("HOME")
                        .and_then(absolute)
                        .map(|h| h.join(".cache"))
                })
        };
        UploadSessions {
            dir: base.map(|b| b.join("wif").join("uploads")),
        }
    }

    /// Sessions kept in `dir` (created, private, at the first save).
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        UploadSessions {
            dir: Some(dir.into()),
        }
    }

    fn path(&self, key: &UploadKey) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(key.file_name()))
    }

    /// The session saved for `key`, if any. A file that is unreadable, too large, not a regular
    /// file, malformed or for another upload is no session.
    pub fn load(&self, key: &UploadKey) -> Option<SecretString> {
        let path = self.path(key)?;
        let bytes = local_file::read_bounded(&path, MAX_STATE_BYTES, "upload session").ok()?;
        saved_session(&bytes, key)
    }

    /// Keeps `session_uri` for `key` (readable by this user only), replacing what was there.
    pub fn save(&self, key: &UploadKey, session_uri: &SecretString) -> Result<(), Error> {
        let (Some(dir), Some(path)) = (&self.dir, self.path(key)) else {
            return Ok(());
        };
        let fail = |what: &str, e: std::io::Error| {
            Error::new(
                Step::Api,
                ErrorKind::Io,
                format!("could not {what} {}", dir.display()),
            )
            .with_source(e)
        };
        create_private_dir(dir).map_err(|e| fail("create", e))?;
        self.sweep(dir);
        let saved = Saved {
            key: key.clone(),
            session_uri: session_uri.expose_secret().to_owned(),
        };
        let json = SecretString::from(serde_json::to_string(&saved).unwrap_or_default());
        // Written beside, then renamed: a reader never sees half a file.
        let temp = path.with_extension(format!("tmp{:08x}", fastrand::u32(..)));
        let written = write_private(&temp, json.expose_secret().as_bytes())
            .and_then(|()| std::fs::rename(&temp, &path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temp);
            return Err(fail("write an upload session in", e));
        }
        Ok(())
    }

    /// Forgets the session of `key`.
    pub fn remove(&self, key: &UploadKey) {
        if let Some(path) = self.path(key) {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Removes state files too old to name a live session.
    fn sweep(&self, dir: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let now = SystemTime::now();
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age > SESSION_LIFETIME);
            if old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// The session URI a state file's content holds for `key`: `None` unless it is a state file of
/// exactly this upload.
pub(crate) fn saved_session(bytes: &[u8], key: &UploadKey) -> Option<SecretString> {
    let saved: Saved = serde_json::from_slice(bytes).ok()?;
    (saved.key == *key).then(|| SecretString::from(saved.session_uri))
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use wif_core::MapEnvironment;

    use super::*;

    fn key(dir: &Path, content: &[u8]) -> UploadKey {
        let source = dir.join("source.bin");
        std::fs::write(&source, content).expect("write");
        let meta = std::fs::metadata(&source).expect("meta");
        UploadKey::new(&source, &meta, "bkt", "obj")
    }

    #[test]
    fn sessions_are_kept_per_upload_and_only_for_the_same_source() {
        let dir = tempfile::tempdir().expect("dir");
        let sessions = UploadSessions::in_dir(dir.path().join("cache/wif/uploads"));
        let k = key(dir.path(), b"abc");
        assert!(sessions.load(&k).is_none());
        let uri = SecretString::from("http://127.0.0.1:1/upload?upload_id=secret-capability");
        sessions.save(&k, &uri).expect("save");
        assert_eq!(
            sessions.load(&k).map(|u| u.expose_secret().to_owned()),
            Some(uri.expose_secret().to_owned())
        );
        // Another destination, or a changed source, is another upload.
        let other = UploadKey {
            object: "other".into(),
            ..k.clone()
        };
        assert!(sessions.load(&other).is_none());
        let grown = UploadKey {
            size: 4,
            ..k.clone()
        };
        assert!(sessions.load(&grown).is_none());
        sessions.remove(&k);
        assert!(sessions.load(&k).is_none());
    }

    /// The session URI is a bearer capability: the file and its directory are private.
    #[cfg(unix)]
    #[test]
    fn the_session_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("dir");
        let store = dir.path().join("cache/wif/uploads");
        let sessions = UploadSessions::in_dir(&store);
        let k = key(dir.path(), b"abc");
        sessions
            .save(&k, &SecretString::from("http://127.0.0.1:1/u?upload_id=x"))
            .expect("save");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&store), 0o700);
        let files: Vec<_> = std::fs::read_dir(&store)
            .expect("list")
            .flatten()
            .map(|e| e.path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(mode(&files[0]), 0o600);
    }

    #[test]
    fn the_cache_directory_follows_the_platform() {
        let env = MapEnvironment::new()
            .with("HOME", "/home/u")
            .with("XDG_CACHE_HOME", "/var/cache/u")
            .with("LOCALAPPDATA", "C:\\Users\\u\\AppData\\Local");
        let dir = UploadSessions::from_env(&env).dir;
        if cfg!(windows) {
            assert!(dir.is_some());
        } else if cfg!(target_os = "macos") {
            assert_eq!(
                dir,
                Some(PathBuf::from("/home/u/Library/Caches/wif/uploads"))
            );
        } else {
            assert_eq!(dir, Some(PathBuf::from("/var/cache/u/wif/uploads")));
            let home_only = MapEnvironment::new().with("HOME", "/home/u");
            assert_eq!(
                UploadSessions::from_env(&home_only).dir,
                Some(PathBuf::from("/home/u/.cache/wif/uploads"))
            );
            let relative = MapEnvironment::new().with("XDG_CACHE_HOME", "rel");
            assert_eq!(UploadSessions::from_env(&relative).dir, None);
        }
    }
}
