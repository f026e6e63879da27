//! # wif-object-store — Workload Identity Federation for object_store's Cloud Storage
//!
//! [object_store](https://docs.rs/object_store)'s `GoogleCloudStorage` (under Polars, delta-rs,
//! DataFusion, obstore…) with [wif](https://docs.rs/wif)'s credentials: code on AWS (Lambda,
//! EC2, ECS, EKS) or with any OIDC/SAML/X.509 identity reads and writes GCS without a
//! service-account key.
//!
//! | piece | object_store slot | what it does |
//! |---|---|---|
//! | [`GcsCredentials`] | `with_credentials` | every request's bearer token, from wif's cache |
//! | [`RefreshingConnector`] | `with_http_connector` | a 401 drops the cached token and replays the request once with a fresh one |
//! | [`GcsSigningCredentials`] | `with_signing_credentials` | `signed_url` through IAM `signBlob` as the impersonated service account: no key |
//!
//! [`gcs_builder`] puts all three into a `GoogleCloudStorageBuilder`:
//!
//! ```no_run
//! use object_store::{ObjectStore, ObjectStoreExt, PutPayload, path::Path};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let credentials = wif::Credentials::from_env()?; // GOOGLE_APPLICATION_CREDENTIALS
//! let store = wif_object_store::gcs_builder(&credentials)
//!     .with_bucket_name("my-bucket")
//!     .build()?;
//! store.put(&Path::from("out/result.json"), PutPayload::from_static(b"{}")).await?;
//! # Ok(()) }
//! ```
//!
//! Versioned with object_store: wif-object-store 0.14.x is for object_store 0.14.x. object_store
//! is built with `gcp-base` and `reqwest` (and `ring` for the signed URLs' digests), not its
//! `gcp` feature, which would add aws-lc-rs: its reqwest gets rustls from the reqwest that wif
//! builds, with the process's rustls crypto provider. [`gcs_builder`] installs wif's
//! (`wif_core::http::crypto_provider`: ring, or aws-lc-rs with wif-core's `aws-lc-rs` feature) as
//! the process default when none is installed yet (reqwest refuses to build a client without one).
//!
//! **Tests and emulators.** When the credentials carry an endpoint override
//! ([`wif::CredentialsInfo::endpoint_base_url`], `WIF_ENDPOINT_BASE_URL`), [`gcs_builder`]
//! points the store at it too, and allows plain HTTP if it is on a loopback address. Otherwise
//! give object_store its documented override, `with_base_url` (and `ClientOptions::with_allow_http`
//! for plain HTTP). `wif-emulator` serves the XML API, multipart uploads, `signBlob` and signed
//! URLs that object_store uses.

mod credential;
mod refresh;
mod signing;

use std::sync::Arc;

use object_store::ClientOptions;
use object_store::gcp::GoogleCloudStorageBuilder;

pub use credential::GcsCredentials;
pub use refresh::RefreshingConnector;
pub use signing::GcsSigningCredentials;

/// A `GoogleCloudStorageBuilder` on `credentials`: [`GcsCredentials`] for every request, a
/// [`RefreshingConnector`], and, when the credentials impersonate a service account,
/// [`GcsSigningCredentials`] for `signed_url`. Add the bucket (and anything else) and `build()`.
///
/// With an endpoint override in the credentials, the store's base URL is that override (plain
/// HTTP allowed only on loopback). Calling `with_client_options` afterwards replaces the
/// options set here: start from `ClientOptions::new().with_allow_http(true)` for an emulator.
pub fn gcs_builder(credentials: &wif::Credentials) -> GoogleCloudStorageBuilder {
    install_default_crypto_provider();
    let mut builder = GoogleCloudStorageBuilder::new()
        .with_credentials(Arc::new(GcsCredentials::new(credentials.clone())))
        .with_http_connector(RefreshingConnector::new(credentials.clone()));
    if let Ok(signing) = GcsSigningCredentials::new(credentials) {
        builder = builder.with_signing_credentials(Arc::new(signing));
    }
    if let Some(base) = &credentials.info().endpoint_base_url {
        builder = builder.with_base_url(base);
        let loopback = url_is_loopback_http(base);
        if loopback {
            builder = builder.with_client_options(ClientOptions::new().with_allow_http(true));
        }
    }
    builder
}

fn url_is_loopback_http(base: &str) -> bool {
    url::Url::parse(base)
        .is_ok_and(|url| url.scheme() == "http" && wif_core::http::is_loopback(&url))
}

/// Installs wif's rustls crypto provider (`wif_core::http::crypto_provider`: ring by default)
/// as the process default unless one is installed: object_store
/// builds its reqwest client itself, and reqwest (built without a provider of its own) needs one.
pub fn install_default_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // wif's own choice (ring, or aws-lc-rs with wif-core's `aws-lc-rs` feature). Another
        // thread may install one first; either is fine.
        let provider = wif_core::http::crypto_provider();
        let _ = rustls::crypto::CryptoProvider::clone(&provider).install_default();
    }
}
