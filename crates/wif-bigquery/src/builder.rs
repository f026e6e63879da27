//! [`BigQueryBuilder`]: every setting of a [`BigQuery`] client, checked once at
//! [`build`](BigQueryBuilder::build), the same shape as `wif_storage::Storage::builder()`.

use std::fmt;
use std::sync::Arc;

use wif_core::http::ApiBaseRequest;
use wif_core::{Environment, Error, OsEnvironment, RetryPolicy, TokenProvider};

use crate::client::{BigQuery, DEFAULT_BASE_URL, EMULATOR_HOST_ENV, Inner, default_retry_policy};

/// Configures a [`BigQuery`] client; made by [`BigQuery::builder`].
///
/// ```
/// use wif_bigquery::BigQuery;
/// use wif_core::{AccessToken, MapEnvironment, StaticTokenProvider};
///
/// let bq = BigQuery::builder()
///     .provider(StaticTokenProvider::new(AccessToken::new("ya29.token-from-elsewhere")))
///     .project("my-project")
///     .quota_project("my-billing-project")
///     .environment(MapEnvironment::new()) // no BIGQUERY_EMULATOR_HOST here
///     .build()?;
/// assert_eq!(bq.base_url(), "https://bigquery.googleapis.com/bigquery/v2/");
/// # Ok::<(), wif_core::Error>(())
/// ```
#[must_use]
pub struct BigQueryBuilder {
    provider: Option<Arc<dyn TokenProvider>>,
    project: Option<String>,
    client: Option<reqwest::Client>,
    base_url: Option<String>,
    environment: Arc<dyn Environment>,
    quota_project: Option<String>,
    retry: RetryPolicy,
}

impl Default for BigQueryBuilder {
    fn default() -> Self {
        BigQueryBuilder {
            provider: None,
            project: None,
            client: None,
            base_url: None,
            environment: Arc::new(OsEnvironment),
            quota_project: None,
            retry: default_retry_policy(),
        }
    }
}

impl fmt::Debug for BigQueryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BigQueryBuilder")
            .field("provider", &self.provider)
            .field("project", &self.project)
            .field("base_url", &self.base_url)
            .field("environment", &self.environment)
            .field("quota_project", &self.quota_project)
            .field("retry", &self.retry)
            .finish()
    }
}

impl BigQueryBuilder {
    /// The token provider authenticating every request (`wif::Credentials`, or your own).
    /// Without one, requests carry no token, which only an emulator accepts.
    pub fn provider(mut self, provider: impl TokenProvider + 'static) -> Self {
        self.provider = Some(Arc::new(provider));
        self
    }

    /// The project queries run in (`jobs.query`'s project, and the project of
    /// [`BigQuery::table`]). Required.
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// The BigQuery v2 root that `projects/{p}/queries` is relative to: a regional or private
    /// endpoint, another universe, an emulator. It wins over `BIGQUERY_EMULATOR_HOST` and over
    /// the provider's [`endpoint_base_url`](TokenProvider::endpoint_base_url) (which put BigQuery
    /// under `{base}/bigquery/v2/`); without any of them, [`DEFAULT_BASE_URL`].
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The HTTP client (share one across the process; it carries the timeouts). Without it,
    /// one process-wide [`wif_core::http::default_client`] is shared by every client built
    /// without one.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Where `BIGQUERY_EMULATOR_HOST` is read from (default: the process environment).
    pub fn environment(mut self, environment: impl Environment + 'static) -> Self {
        self.environment = Arc::new(environment);
        self
    }

    /// The project billed and charged quota, sent as `x-goog-user-project`.
    pub fn quota_project(mut self, project: impl Into<String>) -> Self {
        self.quota_project = Some(project.into());
        self
    }

    /// How retryable failures are retried (default: [`default_retry_policy`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Checks the settings and builds the client; no network call is made. Like Google's
    /// clients, `BIGQUERY_EMULATOR_HOST` (`host:port` or a URL) sends the requests to
    /// `{host}/bigquery/v2/` unless a base URL is set; without either, a provider pointed at a
    /// fake or the emulator ([`TokenProvider::endpoint_base_url`]) takes them there. Toward an
    /// emulator (the variable's, or a base URL on this machine) a client without a provider
    /// sends no `Authorization` header.
    ///
    /// Configuration errors: no project; a base URL (or emulator address) that is not an
    /// http(s) URL; a token bound for plain http to a host that is not this machine; no
    /// provider for anything but an emulator.
    pub fn build(self) -> Result<BigQuery, Error> {
        let project = self
            .project
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .ok_or_else(|| {
                Error::config(
                    "project",
                    "is not set: name the project queries run in (BigQuery::builder().project(…))",
                )
            })?;
        let base = ApiBaseRequest {
            explicit: self.base_url.as_deref(),
            emulator_var: EMULATOR_HOST_ENV,
            api_path: "bigquery/v2/",
            provider_base: self.provider.as_ref().and_then(|p| p.endpoint_base_url()),
            default: DEFAULT_BASE_URL,
            authenticated: self.provider.is_some(),
        }
        .resolve(self.environment.as_ref())?;
        Ok(BigQuery {
            inner: Arc::new(Inner {
                http: self.client,
                auth: self.provider,
                project,
                base_url: Ok(base.url),
                quota_project: self.quota_project.filter(|p| !p.trim().is_empty()),
                retry: self.retry,
            }),
        })
    }
}
