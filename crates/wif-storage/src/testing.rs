//! Test support (feature `testing`): Cloud Storage on a loopback wiremock server, for your own
//! suites — objects kept in memory behind the JSON API (media, multipart and resumable uploads,
//! ranged downloads, listings, deletes, preconditions), every documented error, faults, and a
//! recorder that decodes what your code sent.
//!
//! ```
//! use wif_core::{AccessToken, MapEnvironment, StaticTokenProvider};
//! use wif_storage::testing::{FakeStorage, StorageCall};
//! use wif_storage::{Storage, UploadOptions, UploadSource};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wif_core::Error> {
//! let gcs = FakeStorage::start().await;
//! let storage = Storage::builder()
//!     .provider(StaticTokenProvider::new(AccessToken::new("ya29.test")))
//!     .base_url(gcs.base_url())
//!     .environment(MapEnvironment::new())
//!     .build()?;
//! storage
//!     .upload("my-bucket", "a.txt", UploadSource::bytes(&b"hello"[..]), UploadOptions::new())
//!     .await?;
//! assert_eq!(gcs.object_data("my-bucket", "a.txt").as_deref(), Some(&b"hello"[..]));
//! let sent = gcs.requests().await;
//! assert!(matches!(&sent[0].call, StorageCall::Upload { upload_type, size: 5, .. } if upload_type == "media"));
//! # Ok(()) }
//! ```

mod recorded;
mod responder;
mod store;

use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, Respond};

pub use recorded::{StorageCall, StorageRequest};
pub use responder::{StorageError, StorageResponder};

/// Paths of the Cloud Storage JSON API (metadata, uploads, the download alias).
const STORAGE_PATHS: &str = "^/(storage|upload/storage|download/storage)/v1/";

/// Cloud Storage on 127.0.0.1, answered by a [`StorageResponder`]. Dropping it stops the server.
#[derive(Debug)]
pub struct FakeStorage {
    server: MockServer,
    responder: StorageResponder,
}

impl FakeStorage {
    /// Starts the fake with an empty store.
    pub async fn start() -> Self {
        FakeStorage::start_with(StorageResponder::new()).await
    }

    /// Starts the fake answering with `responder`.
    pub async fn start_with(responder: StorageResponder) -> Self {
        let server = MockServer::start().await;
        mount(&server, responder.clone()).await;
        FakeStorage { server, responder }
    }

    /// The underlying server.
    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// The base URL for [`StorageBuilder::base_url`](crate::StorageBuilder::base_url).
    pub fn base_url(&self) -> String {
        self.server.uri()
    }

    /// The data stored as `bucket/name`, if any.
    pub fn object_data(&self, bucket: &str, name: &str) -> Option<Vec<u8>> {
        self.responder.object_data(bucket, name)
    }

    /// Every Cloud Storage call so far, decoded, oldest first.
    pub async fn requests(&self) -> Vec<StorageRequest> {
        storage_requests(&self.server).await
    }

    /// The next `n` calls get `error`; later ones the fake's responder again.
    pub async fn fail_next(&self, n: u64, error: StorageError) {
        mount_next(&self.server, n, error).await;
    }
}

/// Mounts `responder` on `server` for the Cloud Storage JSON API paths.
pub async fn mount(server: &MockServer, responder: impl Respond + 'static) {
    Mock::given(path_regex(STORAGE_PATHS))
        .respond_with(responder)
        .named("cloud storage")
        .mount(server)
        .await;
}

/// Mounts `responder` for the next `n` Cloud Storage calls only, ahead of what is mounted
/// already.
pub async fn mount_next(server: &MockServer, n: u64, responder: impl Respond + 'static) {
    Mock::given(path_regex(STORAGE_PATHS))
        .respond_with(responder)
        .up_to_n_times(n)
        .with_priority(1)
        .named("cloud storage (injected)")
        .mount(server)
        .await;
}

/// Every Cloud Storage call `server` received, decoded, oldest first.
pub async fn storage_requests(server: &MockServer) -> Vec<StorageRequest> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(StorageRequest::parse)
        .collect()
}
