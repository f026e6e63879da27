//! [`BigQueryBuilder`]: every setting of a [`BigQuery`] client, checked once at
//! [`build`](BigQueryBuilder::build), the same shape as `wif_storage::Storage::builder()`.

use std::sync::Arc;

use wif_core::Error;
use wif_core::api_client::ApiClientSettings;

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
#[derive(Debug)]
pub struct BigQueryBuilder {
    settings: ApiClientSettings,
    project: Option<String>,
}

impl Default for BigQueryBuilder {
    fn default() -> Self {
        BigQueryBuilder {
            settings: ApiClientSettings::new(default_retry_policy()),
            project: None,
        }
    }
}

impl BigQueryBuilder {
    wif_core::api_client_setters!(emulator_var = "BIGQUERY_EMULATOR_HOST");

    /// The project queries run in (`jobs.query`'s project, and the project of
    /// [`BigQuery::table`]). Required.
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// The BigQuery v2 root that `projects/{p}/queries` is relative to: a regional or private
    /// endpoint, another universe, an emulator. It wins over `BIGQUERY_EMULATOR_HOST` and over
    /// the provider's [`endpoint_base_url`](wif_core::TokenProvider::endpoint_base_url) (which
    /// put BigQuery under `{base}/bigquery/v2/`); without any of them, [`DEFAULT_BASE_URL`].
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.settings.base_url = Some(url.into());
        self
    }

    /// Checks the settings and builds the client; no network call is made. Like Google's
    /// clients, `BIGQUERY_EMULATOR_HOST` (`host:port` or a URL) sends the requests to
    /// `{host}/bigquery/v2/` unless a base URL is set; without either, a provider pointed at a
    /// fake or the emulator ([`wif_core::TokenProvider::endpoint_base_url`]) takes them there.
    /// Toward an emulator (the variable's, or a base URL on this machine) a client without a
    /// provider sends no `Authorization` header.
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
        let settings = self.settings;
        let base = settings.base(EMULATOR_HOST_ENV, "bigquery/v2/", DEFAULT_BASE_URL)?;
        Ok(BigQuery {
            inner: Arc::new(Inner {
                quota_project: settings.quota_project(),
                http: settings.client,
                auth: settings.provider,
                project,
                base_url: Ok(base.url),
                retry: settings.retry,
            }),
        })
    }
}
