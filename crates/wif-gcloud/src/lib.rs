//! # wif-gcloud — Workload Identity Federation for the gcloud-* clients
//!
//! yoshidan's [gcloud-storage](https://docs.rs/gcloud-storage),
//! [gcloud-bigquery](https://docs.rs/gcloud-bigquery) (with the Storage Write API) and
//! [gcloud-pubsub](https://docs.rs/gcloud-pubsub) take their tokens from a
//! [`token_source::TokenSourceProvider`]. [`WifTokenSourceProvider`] is one over
//! [wif](https://docs.rs/wif)'s credentials, so code on AWS (Lambda, EC2, ECS, EKS) or with any
//! OIDC/SAML/X.509 identity uses them without a service-account key.
//!
//! ```no_run
//! use gcloud_storage::client::{Client, ClientConfig};
//!
//! # fn run() -> Result<(), wif::Error> {
//! let credentials = wif::Credentials::from_env()?; // GOOGLE_APPLICATION_CREDENTIALS
//! let config = ClientConfig {
//!     token_source_provider: Some(Box::new(wif_gcloud::WifTokenSourceProvider::new(credentials.clone()))),
//!     // A token refused with 401 is replaced once, and the request sent again.
//!     http: Some(wif_gcloud::refreshing_http_client(credentials)),
//!     ..ClientConfig::default()
//! };
//! let client = Client::new(config);
//! # Ok(()) }
//! ```
//!
//! Each `token()` is [`wif::Credentials::token`]: a copy of the cached token while it is fresh,
//! the chain (once for all concurrent callers) when not. The clients build their headers from
//! what `token()` returns, `Bearer <token>`. A wif error reaches them as the boxed
//! [`wif::Error`] (step, server's words, hint, whether retrying can help).
//!
//! Versioned with token-source: wif-gcloud 1.x implements token-source 1.x (its default
//! `async-token-source` trait, which the gcloud-* clients use).

mod refresh;

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::ExposeSecret;
use token_source::{TokenSource, TokenSourceProvider};
use wif::Credentials;

pub use refresh::{RefreshOn401, install_default_crypto_provider, refreshing_http_client};

/// wif [`Credentials`] as a gcloud-* `TokenSourceProvider` (and the [`TokenSource`] it hands
/// out: clones share one wif cache).
#[derive(Clone, Debug)]
pub struct WifTokenSourceProvider {
    source: Arc<WifTokenSource>,
}

impl WifTokenSourceProvider {
    /// Hands `credentials`' tokens to the gcloud-* clients.
    pub fn new(credentials: Credentials) -> Self {
        WifTokenSourceProvider {
            source: Arc::new(WifTokenSource { credentials }),
        }
    }
}

impl TokenSourceProvider for WifTokenSourceProvider {
    fn token_source(&self) -> Arc<dyn TokenSource> {
        self.source.clone()
    }
}

/// The [`TokenSource`] of [`WifTokenSourceProvider`]: `Bearer <wif token>`.
#[derive(Clone, Debug)]
pub struct WifTokenSource {
    credentials: Credentials,
}

impl WifTokenSource {
    /// A token source over `credentials`.
    pub fn new(credentials: Credentials) -> Self {
        WifTokenSource { credentials }
    }
}

#[async_trait]
impl TokenSource for WifTokenSource {
    async fn token(&self) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        let token = self.credentials.token().await?;
        Ok(format!("Bearer {}", token.secret().expose_secret()))
    }
}
