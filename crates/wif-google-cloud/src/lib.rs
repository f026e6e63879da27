//! # wif-google-cloud — wif-rs credentials for Google's official Rust clients
//!
//! Google's official clients (`google-cloud-storage`, `google-cloud-bigquery-v2`, and every
//! other `google-cloud-*` crate, REST or gRPC) take their credentials as a
//! [`google_cloud_auth::credentials::Credentials`]. This crate turns a [`wif::Credentials`] —
//! Workload Identity Federation from AWS (Lambda, EC2, ECS, EKS), OIDC, SAML, X.509 or an
//! executable, with wif's token cache and trust policy — into one, through
//! [`WifCredentialsProvider`], which implements google-cloud-auth's
//! [`CredentialsProvider`] and [`AccessTokenCredentialsProvider`]:
//!
//! ```no_run
//! use google_cloud_auth::credentials::Credentials;
//! use google_cloud_storage::client::Storage;
//! use wif_google_cloud::WifCredentialsProvider;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let wif = wif::Credentials::from_env()?; // GOOGLE_APPLICATION_CREDENTIALS, an external_account file
//! let storage = Storage::builder()
//!     .with_credentials(Credentials::from(WifCredentialsProvider::new(wif)))
//!     .build()
//!     .await?;
//! let data = storage.read_object("projects/_/buckets/my-bucket", "report.csv").send().await?;
//! # let _ = data;
//! # Ok(()) }
//! ```
//!
//! What the clients get:
//!
//! * **Headers**: `authorization: Bearer …` (marked sensitive, so `http` never prints it), and
//!   `x-goog-user-project` when the configuration names a quota project
//!   ([`wif::Credentials::quota_project_id`]).
//! * **Entity tags**: each distinct token gets one [`EntityTag`]; a caller that passes the tag
//!   of the headers it already has gets [`CacheableResource::NotModified`] until the token
//!   changes, as google-cloud-auth's own providers do.
//! * **Errors**: a wif [`Error`] that [`is_retryable`](Error::is_retryable) (a 5xx or a broken
//!   connection at STS, say) becomes a *transient* [`CredentialsError`], which the clients
//!   retry; any other (a refused identity, a bad configuration) a permanent one. The message is
//!   wif's, which never contains a secret, and the wif [`Error`] is the
//!   [`source`](std::error::Error::source).
//! * **Universe domain**: the credentials' ([`wif::CredentialsInfo::universe_domain`]), which
//!   the clients compare with their own.
//!
//! Tokens come from wif's cache: a fresh token is handed out without I/O, and refreshes are
//! single-flight and ahead of expiry. google-cloud-auth's own cache is not involved.
//!
//! Any other [`TokenProvider`] works too ([`WifCredentialsProvider::from_token_provider`]).
//!
//! This crate's major version follows google-cloud-auth's: 1.x implements google-cloud-auth
//! 1.x's traits.

#![cfg_attr(docsrs, feature(doc_cfg))]

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use google_cloud_auth::credentials::{
    AccessToken as GoogleAccessToken, AccessTokenCredentialsProvider, CacheableResource,
    CredentialsProvider, EntityTag,
};
use google_cloud_auth::errors::CredentialsError;
use http::{Extensions, HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use wif_core::{AccessToken, Error, TokenProvider};

mod retry;

pub use retry::RefreshOnUnauthorized;

/// The header that bills API quota to a project other than the credentials' own.
const QUOTA_PROJECT_HEADER: HeaderName = HeaderName::from_static("x-goog-user-project");

/// A google-cloud-auth credentials provider over wif-rs tokens: turn it into the official
/// clients' [`Credentials`](google_cloud_auth::credentials::Credentials) with
/// `Credentials::from(provider)`.
///
/// Cheap to clone; clones share the token source and the entity tag.
#[derive(Clone)]
pub struct WifCredentialsProvider {
    inner: Arc<Inner>,
}

struct Inner {
    tokens: Arc<dyn TokenProvider>,
    quota_project_id: Option<String>,
    universe_domain: Option<String>,
    /// The headers of the last token handed out, with their tag. Read without a lock; replaced
    /// when the token changes (two callers racing may both replace it: the loser's tag is then
    /// simply never matched again).
    last: ArcSwapOption<TaggedHeaders>,
}

/// One token's headers and the entity tag that names them.
struct TaggedHeaders {
    /// The token the headers carry, to recognise it on the next call.
    token: SecretString,
    entity_tag: EntityTag,
    headers: HeaderMap,
}

impl WifCredentialsProvider {
    /// The provider of `credentials`' tokens, with their quota project and universe domain.
    pub fn new(credentials: wif::Credentials) -> Self {
        let quota_project_id = credentials.quota_project_id().map(str::to_owned);
        let universe_domain = Some(credentials.info().universe_domain.clone());
        Self::build(Arc::new(credentials), quota_project_id, universe_domain)
    }

    /// The provider of any [`TokenProvider`]'s tokens (your own, a `wif_core::TokenCache`, a
    /// static token in tests): no quota project, the default universe (`googleapis.com`).
    /// Caching is the provider's business: wrap it in a `wif_core::TokenCache` if it has none.
    pub fn from_token_provider(provider: impl TokenProvider + 'static) -> Self {
        Self::build(Arc::new(provider), None, None)
    }

    fn build(
        tokens: Arc<dyn TokenProvider>,
        quota_project_id: Option<String>,
        universe_domain: Option<String>,
    ) -> Self {
        WifCredentialsProvider {
            inner: Arc::new(Inner {
                tokens,
                quota_project_id,
                universe_domain,
                last: ArcSwapOption::empty(),
            }),
        }
    }

    /// Bills API quota to `project_id` (`x-goog-user-project`) instead of the configuration's
    /// quota project, if any.
    pub fn with_quota_project_id(self, project_id: impl Into<String>) -> Self {
        Self::build(
            self.inner.tokens.clone(),
            Some(project_id.into()),
            self.inner.universe_domain.clone(),
        )
    }

    /// `inner` (a client's retry policy), plus one retry with a new token after the server
    /// refused the request as unauthenticated (see [`RefreshOnUnauthorized`]). For the
    /// clients' `with_retry_policy`:
    ///
    /// ```no_run
    /// # async fn run(wif: wif::Credentials) -> Result<(), Box<dyn std::error::Error>> {
    /// use google_cloud_gax::retry_policy::RetryPolicyExt as _;
    /// use google_cloud_storage::retry_policy::RetryableErrors;
    ///
    /// let provider = wif_google_cloud::WifCredentialsProvider::new(wif);
    /// let storage = google_cloud_storage::client::Storage::builder()
    ///     .with_retry_policy(
    ///         provider.refresh_on_unauthorized(RetryableErrors.with_time_limit(std::time::Duration::from_secs(300))),
    ///     )
    ///     .with_credentials(provider)
    ///     .build()
    ///     .await?;
    /// # let _ = storage;
    /// # Ok(()) }
    /// ```
    pub fn refresh_on_unauthorized<P>(&self, inner: P) -> RefreshOnUnauthorized<P> {
        RefreshOnUnauthorized::new(self.inner.tokens.clone(), inner)
    }

    /// The quota project sent as `x-goog-user-project`, if any.
    pub fn quota_project_id(&self) -> Option<&str> {
        self.inner.quota_project_id.as_deref()
    }

    /// The headers for `token`, tagged: the last ones when the token is the same, else new ones.
    fn tagged_headers(&self, token: &AccessToken) -> Result<Arc<TaggedHeaders>, CredentialsError> {
        let value = token.secret().expose_secret();
        if let Some(last) = self.inner.last.load_full()
            && last.token.expose_secret() == value
        {
            return Ok(last);
        }
        let mut headers = HeaderMap::with_capacity(2);
        headers.insert(http::header::AUTHORIZATION, token.authorization_header());
        if let Some(project) = &self.inner.quota_project_id {
            let project = HeaderValue::from_str(project).map_err(|_| {
                CredentialsError::from_msg(
                    false,
                    format!(
                        "the quota project ID `{}` cannot be sent as `x-goog-user-project`: \
                         a project ID is lowercase letters, digits and hyphens",
                        project.escape_debug()
                    ),
                )
            })?;
            headers.insert(QUOTA_PROJECT_HEADER, project);
        }
        let tagged = Arc::new(TaggedHeaders {
            token: SecretString::from(value),
            entity_tag: EntityTag::new(),
            headers,
        });
        self.inner.last.store(Some(tagged.clone()));
        Ok(tagged)
    }

    async fn token(&self) -> Result<AccessToken, CredentialsError> {
        self.inner.tokens.token().await.map_err(credentials_error)
    }
}

/// google-cloud-auth's error for a wif error: transient exactly when retrying can help, with
/// wif's message (which never holds a secret) and the wif error as its source.
pub fn credentials_error(error: Error) -> CredentialsError {
    CredentialsError::new(error.is_retryable(), error.to_string(), error)
}

impl From<wif::Credentials> for WifCredentialsProvider {
    fn from(credentials: wif::Credentials) -> Self {
        WifCredentialsProvider::new(credentials)
    }
}

impl CredentialsProvider for WifCredentialsProvider {
    async fn headers(
        &self,
        extensions: Extensions,
    ) -> Result<CacheableResource<HeaderMap>, CredentialsError> {
        let token = self.token().await?;
        let tagged = self.tagged_headers(&token)?;
        match extensions.get::<EntityTag>() {
            Some(known) if *known == tagged.entity_tag => Ok(CacheableResource::NotModified),
            _ => Ok(CacheableResource::New {
                entity_tag: tagged.entity_tag.clone(),
                data: tagged.headers.clone(),
            }),
        }
    }

    async fn universe_domain(&self) -> Option<String> {
        self.inner.universe_domain.clone()
    }
}

impl AccessTokenCredentialsProvider for WifCredentialsProvider {
    async fn access_token(&self) -> Result<GoogleAccessToken, CredentialsError> {
        let token = self.token().await?;
        Ok(GoogleAccessToken {
            token: token.secret().expose_secret().to_owned(),
        })
    }
}

impl fmt::Debug for WifCredentialsProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WifCredentialsProvider")
            .field("tokens", &self.inner.tokens)
            .field("quota_project_id", &self.inner.quota_project_id)
            .field("universe_domain", &self.inner.universe_domain)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
