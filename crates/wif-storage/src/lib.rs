//! # wif-storage — Cloud Storage for wif-rs
//!
//! A client of the Cloud Storage JSON API that takes any [`TokenProvider`] — the `Credentials`
//! of the `wif` crate (Workload Identity Federation: AWS, OIDC, …), or your own — and moves data
//! the way Google's own clients do:
//!
//! * **Uploads** ([`Storage::upload`]): one request below the resumable threshold (8 MiB;
//!   `uploadType=media`, or `multipart` with custom metadata), a **resumable session** above it,
//!   sent in 256 KiB-aligned chunks (16 MiB) straight from a file or any `AsyncRead` without
//!   loading it whole; the session resumes from the server's confirmed offset after a failure,
//!   and its URI can be kept to resume from another process ([`Storage::start_resumable`],
//!   [`Storage::resume`]).
//! * **Downloads** ([`Storage::download`]): whole objects or byte ranges as a stream of
//!   [`Bytes`], resumed after a broken connection and pinned to the generation first served;
//!   [`Storage::download_to_file`], and [`Storage::download_to_file_resumable`], whose partial
//!   file outlives a failed run so that the next one continues where it stopped (checked by
//!   generation and CRC32C).
//! * **Listing** ([`Storage::list`]) as a stream ([`Listing`]) over all pages, with prefix and delimiter;
//!   [`Storage::metadata`]; [`Storage::delete`]; preconditions (`ifGenerationMatch`, `0` =
//!   create-only; `ifMetagenerationMatch`).
//! * **Retries** only when repeating cannot do something twice: reads and lists always,
//!   inserts and deletes only with a generation precondition, resumable chunks always; on 408,
//!   429, 5xx and connection failures, with exponential backoff and a deadline. A 401 refreshes
//!   the token once.
//! * **Errors** are [`Error`]s at [`Step::Api`] with the status, the server's reason and message,
//!   and hints (e.g. a federated principal needs a bucket with uniform bucket-level access).
//! * `STORAGE_EMULATOR_HOST` redirects the client to an emulator, as in Google's clients
//!   (unauthenticated when no credentials are configured).
//!
//! ```no_run
//! use wif_core::{AccessToken, StaticTokenProvider};
//! use wif_storage::{ListOptions, Storage, UploadOptions, UploadSource};
//!
//! # async fn run() -> Result<(), wif_storage::Error> {
//! // Any TokenProvider works; with the `wif` crate: `Storage::new(wif::Credentials::from_env()?)?`.
//! let storage = Storage::new(StaticTokenProvider::new(AccessToken::new("ya29.token")))?;
//!
//! let object = storage
//!     .upload(
//!         "my-bucket",
//!         "reports/2026-11-28.csv",
//!         UploadSource::file("report.csv"),
//!         UploadOptions::new().content_type("text/csv").create_only(),
//!     )
//!     .await?;
//! println!("stored generation {} ({} bytes)", object.generation, object.size);
//!
//! let data = storage
//!     .download("my-bucket", "reports/2026-11-28.csv", Some((0..100).into()))
//!     .await?
//!     .into_bytes()
//!     .await?;
//! assert!(data.len() <= 100);
//!
//! let mut listing = storage.list("my-bucket", ListOptions::new().prefix("reports/"));
//! while let Some(entry) = listing.next_entry().await? {
//!     println!("{}", entry.name());
//! }
//! # Ok(()) }
//! ```

mod api_error;
mod backoff;
mod client;
mod download;
// The fuzz targets' entry points: behind the `fuzzing` feature, and compiled into the crate's
// own tests, which exercise them.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod names;
mod object;
mod objects;
mod partial;
mod progress;
mod resumable;
#[cfg(feature = "testing")]
pub mod testing;
mod upload;
pub mod upload_sessions;

pub use bytes::Bytes;
pub use client::{
    CHUNK_ALIGNMENT, DEFAULT_BASE_URL, DEFAULT_CHUNK_SIZE, DEFAULT_RESUMABLE_THRESHOLD,
    EMULATOR_HOST_VAR, Storage, StorageBuilder, default_retry_policy,
};
pub use download::{ByteRange, Download};
pub use object::{ListEntry, ListPage, Object};
pub use objects::{ListOptions, Listing, Preconditions};
pub use progress::Progress;
pub use resumable::{ResumableUpload, UploadStatus};
pub use upload::{DEFAULT_CONTENT_TYPE, UploadOptions, UploadSource};
pub use upload_sessions::{UploadKey, UploadSessions};
pub use wif_core::{Error, Step, TokenProvider};
