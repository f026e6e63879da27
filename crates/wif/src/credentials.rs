//! [`Credentials`]: the assembled, cached chain that callers ask for tokens.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use wif_core::{
    AccessToken, Error, SourceContext, SubjectToken, SubjectTokenSource, TokenCache, TokenProvider,
};

use crate::plan::Warning;
use crate::{CredentialsBuilder, TrustPolicy};

/// What a [`Credentials`] was assembled from; safe to print (holds no secrets).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CredentialsInfo {
    /// The subject token source kind: `aws`, `file`, `url`, `executable`, `x509`, `programmatic`.
    pub source_kind: String,
    /// The STS audience (pool provider resource name), if this is a federated chain.
    pub audience: Option<String>,
    /// The subject token type declared to STS.
    pub subject_token_type: Option<String>,
    /// The STS endpoint.
    pub token_url: Option<String>,
    /// The impersonated service account, if any.
    pub impersonated_service_account: Option<String>,
    /// The IAM Credentials `generateAccessToken` URL, when impersonating.
    pub impersonation_url: Option<String>,
    /// The scopes of the final token.
    pub scopes: Vec<String>,
    /// The project billed for API quota (`x-goog-user-project`), if configured.
    pub quota_project_id: Option<String>,
    /// The universe domain (default `googleapis.com`).
    pub universe_domain: String,
    /// The base URL every Google endpoint was pointed at
    /// ([`CredentialsBuilder::endpoint_base_url`] or `WIF_ENDPOINT_BASE_URL`), without a
    /// trailing `/`; `None` for Google's hosts.
    pub endpoint_base_url: Option<String>,
    /// What in the settings is legal but probably not what was meant (an unknown key in the
    /// configuration, a project ID in the audience, …): the [`Plan`](crate::Plan)'s warnings.
    /// Also logged with `tracing` at `build()`.
    pub warnings: Vec<Warning>,
}

/// Google credentials obtained through Workload Identity Federation.
///
/// Cheap to clone (one `Arc`); clones share one cache, so a process-wide `Credentials` (e.g. in a
/// `static` `OnceLock` on Lambda) exchanges tokens once for all callers and invocations.
#[derive(Clone)]
pub struct Credentials {
    inner: Arc<Inner>,
}

struct Inner {
    provider: Arc<dyn TokenProvider>,
    /// The outermost cache, when wif-rs assembled the chain (so [`Credentials::invalidate`] works).
    cache: Option<TokenCache<Arc<dyn TokenProvider>>>,
    source: Option<(Arc<dyn SubjectTokenSource>, SourceContext)>,
    info: CredentialsInfo,
}

impl Credentials {
    /// A builder to assemble the chain by hand or from a configuration.
    pub fn builder() -> CredentialsBuilder {
        CredentialsBuilder::new()
    }

    /// Credentials from an `external_account` configuration JSON string **you trust**.
    ///
    /// No [`TrustPolicy`] is applied: the configuration may send the subject token to any
    /// `token_url`, read any file, fetch any URL and (with the executable source and
    /// `GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1`) run a command. Right for the file you
    /// generated with gcloud; for a configuration from anywhere else use
    /// [`from_json_untrusted`](Self::from_json_untrusted).
    pub fn from_json(json: &str) -> Result<Self, Error> {
        Self::builder().config_json(json)?.build()
    }

    /// Credentials from an `external_account` configuration file **you trust** (no
    /// [`TrustPolicy`]; see [`from_json`](Self::from_json) and
    /// [`from_file_untrusted`](Self::from_file_untrusted)).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::builder().config_file(path)?.build()
    }

    /// Credentials from a configuration JSON string that came from a place you do not control,
    /// checked with [`TrustPolicy::strict`] before anything in it is used: at most
    /// [`MAX_UNTRUSTED_CONFIG_BYTES`](crate::trust::MAX_UNTRUSTED_CONFIG_BYTES) and no duplicate
    /// keys; every URL in canonical form; tokens go only to Google's STS / IAM Credentials hosts
    /// of universe `googleapis.com`; AWS metadata URLs must be the instance metadata service's
    /// paths; executables, URL sources and the host's default certificate configuration are
    /// refused; token files must be under
    /// [`DEFAULT_FILE_DIRECTORIES`](crate::trust::DEFAULT_FILE_DIRECTORIES); loopback endpoints
    /// are refused.
    ///
    /// A refusal is a [`Step::Config`](wif_core::Step::Config) error naming the field and the
    /// rule, returned before any network call. For another policy (other universes, loopback
    /// for an emulator, more directories) use
    /// [`CredentialsBuilder::trust_policy`](crate::CredentialsBuilder::trust_policy).
    pub fn from_json_untrusted(json: &str) -> Result<Self, Error> {
        Self::builder()
            .trust_policy(TrustPolicy::strict())
            .config_json(json)?
            .build()
    }

    /// Like [`from_json_untrusted`](Self::from_json_untrusted), reading the configuration from
    /// a file: a regular file (never a FIFO or device), of which at most
    /// [`MAX_UNTRUSTED_CONFIG_BYTES`](crate::trust::MAX_UNTRUSTED_CONFIG_BYTES) are read.
    pub fn from_file_untrusted(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let json = crate::trust::read_untrusted_file(path)?;
        Self::builder()
            .trust_policy(TrustPolicy::strict())
            .config_json(&json)
            .map_err(|e| e.context(format_args!("{}", path.display())))?
            .build()
    }

    /// Application Default Credentials: `GOOGLE_APPLICATION_CREDENTIALS`, then gcloud's
    /// well-known file (`$CLOUDSDK_CONFIG` or `~/.config/gcloud/application_default_credentials.json`).
    /// Like [`from_file`](Self::from_file), the file is trusted: it is what the environment names.
    pub fn from_env() -> Result<Self, Error> {
        Self::builder().adc()?.build()
    }

    /// Wraps any token provider (your own, or a static one in tests) as `Credentials`.
    /// No caching is added: the provider decides.
    pub fn from_provider(provider: impl TokenProvider + 'static) -> Self {
        Credentials {
            inner: Arc::new(Inner {
                provider: Arc::new(provider),
                cache: None,
                source: None,
                info: CredentialsInfo {
                    source_kind: "programmatic".to_owned(),
                    audience: None,
                    subject_token_type: None,
                    token_url: None,
                    impersonated_service_account: None,
                    impersonation_url: None,
                    scopes: Vec::new(),
                    quota_project_id: None,
                    universe_domain: wif_core::protocol::DEFAULT_UNIVERSE_DOMAIN.to_owned(),
                    endpoint_base_url: None,
                    warnings: Vec::new(),
                },
            }),
        }
    }

    pub(crate) fn assembled(
        cache: TokenCache<Arc<dyn TokenProvider>>,
        source: Arc<dyn SubjectTokenSource>,
        context: SourceContext,
        info: CredentialsInfo,
    ) -> Self {
        Credentials {
            inner: Arc::new(Inner {
                provider: Arc::new(cache.clone()),
                cache: Some(cache),
                source: Some((source, context)),
                info,
            }),
        }
    }

    /// An access token for Google APIs.
    ///
    /// While the cached token is fresh this returns a copy of it at once: no I/O, no lock, no
    /// allocation beyond the copy, and nothing written that other threads read, so it costs the
    /// same from any number of threads. Otherwise the chain runs, once for all concurrent callers
    /// (see [`TokenCache`]). [`TokenProvider::token`] calls this.
    pub async fn token(&self) -> Result<AccessToken, Error> {
        if let Some(token) = self.inner.cache.as_ref().and_then(TokenCache::fresh_token) {
            return Ok(token);
        }
        self.inner.provider.token().await
    }

    /// The cached token if it is fresh, without waiting, locking or starting anything; `None`
    /// when [`token`](Self::token) would have to refresh (or serve a stale token while it
    /// refreshes in the background). For hot paths that must not await, such as a tower layer
    /// (`wif-tonic`): on `None`, await [`token`](Self::token).
    pub fn fresh_token(&self) -> Option<AccessToken> {
        match &self.inner.cache {
            Some(cache) => cache.fresh_token(),
            None => self.inner.provider.fresh_token(),
        }
    }

    /// Drops the cached token so the next [`token`](TokenProvider::token) call fetches a new one
    /// — what to do when an API answers 401. With impersonation, only the impersonated token is
    /// dropped: the federated token stays cached, so the refresh costs one IAM call. To run the
    /// whole chain again, [`invalidate_all`](Self::invalidate_all).
    pub fn invalidate(&self) {
        match &self.inner.cache {
            Some(cache) => cache.invalidate(),
            None => self.inner.provider.invalidate(),
        }
    }

    /// Drops every cached token — the impersonated one and the federated one under it — so the
    /// next [`token`](TokenProvider::token) call gets a fresh subject token and exchanges it at
    /// STS again (then impersonates, if configured). For an operator who changed the pool's
    /// attribute mapping or the service account's bindings and wants them used now, and for
    /// tests; after an API's 401, [`invalidate`](Self::invalidate) is cheaper and enough.
    pub fn invalidate_all(&self) {
        match &self.inner.cache {
            Some(cache) => cache.invalidate_all(),
            None => self.inner.provider.invalidate_all(),
        }
    }

    /// What these credentials were assembled from.
    pub fn info(&self) -> &CredentialsInfo {
        &self.inner.info
    }

    /// The quota project to send as `x-goog-user-project`, if configured.
    pub fn quota_project_id(&self) -> Option<&str> {
        self.inner.info.quota_project_id.as_deref()
    }

    /// Asks the source for a fresh subject token, without exchanging it (for debugging:
    /// `wif subject-token`). Handle the result as the credential it is.
    pub async fn subject_token(&self) -> Result<SubjectToken, Error> {
        match &self.inner.source {
            Some((source, ctx)) => source.subject_token(ctx).await,
            None => Err(Error::not_supported(
                wif_core::Step::Source,
                "these credentials wrap a token provider directly and have no subject token source",
            )),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("info", &self.inner.info)
            .field("provider", &self.inner.provider)
            .finish()
    }
}

#[async_trait]
impl TokenProvider for Credentials {
    async fn token(&self) -> Result<AccessToken, Error> {
        Credentials::token(self).await
    }

    fn invalidate(&self) {
        Credentials::invalidate(self);
    }

    fn invalidate_all(&self) {
        Credentials::invalidate_all(self);
    }

    /// The [endpoint override](CredentialsBuilder::endpoint_base_url), so the BigQuery and
    /// Cloud Storage clients built from these credentials follow it.
    fn endpoint_base_url(&self) -> Option<&str> {
        self.inner.info.endpoint_base_url.as_deref()
    }

    fn fresh_token(&self) -> Option<AccessToken> {
        Credentials::fresh_token(self)
    }
}
