//! The [`BigQuery`] client and the one code path every call takes: bearer token, quota project,
//! BigQuery's retry rules, one token refresh on 401, bounded response reading, a tracing span.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde::de::DeserializeOwned;
use tracing::Instrument as _;
use url::Url;
use wif_core::http::ApiBaseRequest;
use wif_core::{Environment, Error, Redactor, RetryPolicy, Step, TokenProvider};

use crate::hints::{self, Operation};
use crate::{BigQueryBuilder, TableRef};

/// BigQuery v2's REST root in the default universe.
pub const DEFAULT_BASE_URL: &str = "https://bigquery.googleapis.com/bigquery/v2/";

/// The variable Google's clients read to talk to a BigQuery emulator (`host:port`).
pub const EMULATOR_HOST_ENV: &str = "BIGQUERY_EMULATOR_HOST";

/// Largest response read: a result page holds up to 10 MB of rows, plus the f/v encoding.
pub(crate) const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// A BigQuery REST client working with any [`TokenProvider`].
///
/// Cheap to clone (one reference count); clones share the HTTP connection pool. Every call sends
/// `Authorization: Bearer …` from the provider (and `x-goog-user-project` when a quota project is
/// set), is retried by BigQuery's rules (reasons `backendError`, `rateLimitExceeded` — sent as
/// HTTP 403 —, `internalError`, `badGateway`, and HTTP 500/502/503/504) under the
/// [`RetryPolicy`], and after a 401 asks the provider for a fresh token once.
///
/// Made by [`BigQuery::builder`]. Errors of a call name it, the table or job, and the method
/// and URL it went to (never a query string).
///
/// ```no_run
/// use std::time::Duration;
/// use wif_bigquery::BigQuery;
/// use wif_core::{AccessToken, StaticTokenProvider};
///
/// let provider = StaticTokenProvider::new(AccessToken::expiring_in(
///     "ya29.token-from-elsewhere",
///     tokio::time::Instant::now(),
///     Duration::from_secs(3600),
/// ));
/// let bq = BigQuery::builder()
///     .provider(provider)
///     .project("my-project")
///     .quota_project("my-billing-project")
///     .build()?;
/// # Ok::<(), wif_core::Error>(())
/// ```
#[derive(Clone)]
pub struct BigQuery {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Clone)]
pub(crate) struct Inner {
    pub(crate) http: Option<reqwest::Client>,
    pub(crate) auth: Option<Arc<dyn TokenProvider>>,
    pub(crate) project: String,
    /// Checked by the builder. Only the deprecated `with_base_url` stores an error, which the
    /// first call then reports as a configuration error.
    pub(crate) base_url: Result<Url, Error>,
    pub(crate) quota_project: Option<String>,
    pub(crate) retry: RetryPolicy,
}

impl fmt::Debug for BigQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let base = match &self.inner.base_url {
            Ok(url) => wif_core::http::describe_url(url),
            Err(_) => "<invalid>".to_owned(),
        };
        f.debug_struct("BigQuery")
            .field("project", &self.inner.project)
            .field("base_url", &base)
            .field("authenticated", &self.inner.auth.is_some())
            .field("quota_project", &self.inner.quota_project)
            .field("retry", &self.inner.retry)
            .finish()
    }
}

/// BigQuery's retry defaults: [`RetryPolicy::google_api`] (backoff from 1 s doubling to 32 s,
/// at most 6 attempts), 60 s overall.
pub fn default_retry_policy() -> RetryPolicy {
    RetryPolicy::google_api(Duration::from_secs(60))
}

impl BigQuery {
    /// A builder for every setting; [`BigQueryBuilder::build`] checks them.
    pub fn builder() -> BigQueryBuilder {
        BigQueryBuilder::default()
    }

    /// A client for `project` (the project that runs queries) authenticating with `provider`.
    /// When the provider points its universe elsewhere
    /// ([`TokenProvider::endpoint_base_url`]: a fake, the emulator), BigQuery is reached under
    /// `{base}/bigquery/v2/` there.
    #[deprecated(note = "use `BigQuery::builder().provider(p).project(project).build()?`")]
    pub fn new(provider: impl TokenProvider + 'static, project: impl Into<String>) -> Self {
        Self::unchecked(Some(Arc::new(provider)), project.into())
    }

    /// A client that sends no `Authorization` header: only for emulators.
    #[deprecated(note = "use `BigQuery::builder().project(project)` without a provider")]
    pub fn unauthenticated(project: impl Into<String>) -> Self {
        Self::unchecked(None, project.into())
    }

    /// Like Google's own clients: when `BIGQUERY_EMULATOR_HOST` (`host:port`) is set in `env`,
    /// talks to `http://{host:port}/bigquery/v2/`, unauthenticated unless `provider` is given.
    /// Otherwise talks to BigQuery itself with `provider`, which is then required.
    #[deprecated(note = "use `BigQuery::builder().environment(env).project(project).build()?`")]
    pub fn from_env(
        env: &dyn Environment,
        provider: Option<Arc<dyn TokenProvider>>,
        project: impl Into<String>,
    ) -> Result<Self, Error> {
        let base = ApiBaseRequest {
            explicit: None,
            emulator_var: EMULATOR_HOST_ENV,
            api_path: "bigquery/v2/",
            provider_base: provider.as_ref().and_then(|p| p.endpoint_base_url()),
            default: DEFAULT_BASE_URL,
            authenticated: provider.is_some(),
        }
        .resolve(env)?;
        Ok(Self::unchecked(provider, project.into()).edit(|i| i.base_url = Ok(base.url)))
    }

    /// The deprecated constructors' client, checked by its first call, not when made.
    /// Credentials pointed at a fake or the emulator (`endpoint_base_url`) take BigQuery there
    /// too; `with_base_url` and BIGQUERY_EMULATOR_HOST still win.
    fn unchecked(auth: Option<Arc<dyn TokenProvider>>, project: String) -> Self {
        let base_url = match auth.as_ref().and_then(|a| a.endpoint_base_url()) {
            Some(base) => parse_base_url(&format!("{}/bigquery/v2/", base.trim_end_matches('/'))),
            None => Url::parse(DEFAULT_BASE_URL).map_err(|e| Error::config("base_url", e)),
        };
        BigQuery {
            inner: Arc::new(Inner {
                http: None,
                auth,
                project,
                base_url,
                quota_project: None,
                retry: default_retry_policy(),
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        f(Arc::make_mut(&mut self.inner));
        self
    }

    /// Talks to another BigQuery v2 root (a regional or private endpoint, another universe, an
    /// emulator): the URL that `projects/{p}/queries` is relative to. A URL that does not parse
    /// is reported by the first call, before any network traffic.
    #[deprecated(note = "use `BigQuery::builder().base_url(…)`, which checks it at `build()`")]
    pub fn with_base_url(self, base_url: &str) -> Self {
        let parsed = parse_base_url(base_url);
        self.edit(|i| i.base_url = parsed)
    }

    /// Uses `client` (share one across your process; it carries the timeouts).
    #[deprecated(note = "use `BigQuery::builder().client(…)`")]
    pub fn with_http_client(self, client: reqwest::Client) -> Self {
        self.edit(|i| i.http = Some(client))
    }

    /// Sends `x-goog-user-project: {project}`: the project billed and charged quota.
    #[deprecated(note = "use `BigQuery::builder().quota_project(…)`")]
    pub fn with_quota_project(self, project: impl Into<String>) -> Self {
        let project = project.into();
        self.edit(|i| i.quota_project = Some(project).filter(|p| !p.trim().is_empty()))
    }

    /// Replaces the retry policy (default: [`default_retry_policy`]).
    #[deprecated(note = "use `BigQuery::builder().retry_policy(…)`")]
    pub fn with_retry_policy(self, policy: RetryPolicy) -> Self {
        self.edit(|i| i.retry = policy)
    }

    /// The BigQuery v2 root requests go to (ends with `/`). Empty only for a client whose
    /// deprecated `with_base_url` was given something that is not a URL.
    pub fn base_url(&self) -> &str {
        self.inner.base_url.as_ref().map_or("", Url::as_str)
    }

    /// The project queries run in.
    pub fn project(&self) -> &str {
        &self.inner.project
    }

    /// A reference to `dataset.table` in this client's project.
    pub fn table(&self, dataset: impl Into<String>, table: impl Into<String>) -> crate::TableRef {
        crate::TableRef::new(self.inner.project.clone(), dataset, table)
    }

    pub(crate) fn base(&self) -> Result<&Url, Error> {
        self.inner.base_url.as_ref().map_err(Clone::clone)
    }

    /// A bearer token travels over plain http only to this machine (an emulator, a test fake).
    /// The builder checks it; a client of the deprecated `with_base_url` is checked here, by
    /// every call.
    fn check_token_destination(&self) -> Result<(), Error> {
        let base = self.base()?;
        if self.inner.auth.is_some() {
            wif_core::http::check_token_destination(base, "base_url")?;
        }
        Ok(())
    }

    /// `{base}/projects/{p}/…` with every segment percent-encoded (ids never break the path).
    pub(crate) fn url(&self, segments: &[&str]) -> Result<Url, Error> {
        let mut url = self.base()?.clone();
        url.path_segments_mut()
            .map_err(|()| Error::config("base_url", "must be an http(s) URL"))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// `{base}/projects/{p}/datasets/{d}/tables/{t}`, then the `rest` segments (all encoded).
    pub(crate) fn table_url(&self, table: &TableRef, rest: &[&str]) -> Result<Url, Error> {
        let mut segments = vec![
            "projects",
            table.project(),
            "datasets",
            table.dataset(),
            "tables",
            table.table(),
        ];
        segments.extend_from_slice(rest);
        self.url(&segments)
    }

    pub(crate) fn validated_project(&self) -> Result<&str, Error> {
        let p = self.inner.project.trim();
        if p.is_empty() {
            return Err(Error::config("project", "must not be empty"));
        }
        Ok(p)
    }

    fn http(&self) -> Result<reqwest::Client, Error> {
        match &self.inner.http {
            Some(c) => Ok(c.clone()),
            None => shared_default_client(),
        }
    }

    /// Runs one API call with retries and the 401 refresh, and parses the JSON answer.
    pub(crate) async fn call<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, Error> {
        let span = tracing::info_span!(
            "bigquery",
            method = call.method,
            project = %self.inner.project,
            table = call.table.unwrap_or(""),
            rows = call.rows,
            attempt = tracing::field::Empty,
        );
        self.check_token_destination()?;
        let http = self.http()?;
        // The API method and its subject for people, the request for whoever must check the
        // endpoint: a wrong base URL shows here, whatever (if anything) the server says.
        let what = format!(
            "{} {} ({} {})",
            call.method,
            call.resource,
            call.http_method,
            wif_core::http::describe_url(&call.url)
        );
        let refreshed = AtomicBool::new(false);
        let response = self
            .inner
            .retry
            .run(Step::Api, &what, |attempt| {
                tracing::Span::current().record("attempt", attempt);
                self.attempt(&http, &call, &what, &refreshed)
            })
            .instrument(span)
            .await?;
        serde_json::from_slice(&response.body).map_err(|e| {
            Error::invalid_response(
                Step::Api,
                format!("{what}: the response is not the expected JSON ({e})"),
            )
        })
    }

    async fn attempt(
        &self,
        http: &reqwest::Client,
        call: &Call<'_>,
        what: &str,
        refreshed: &AtomicBool,
    ) -> Result<wif_core::http::Response, Error> {
        // The bearer tokens this attempt sends: a server (or proxy) quoting the request's
        // headers in its error must not show them.
        let mut carried = Redactor::new();
        self.send_once(http, call, what, refreshed, &mut carried)
            .await
            .map_err(|e| e.redact(&carried))
    }

    async fn send_once(
        &self,
        http: &reqwest::Client,
        call: &Call<'_>,
        what: &str,
        refreshed: &AtomicBool,
        carried: &mut Redactor,
    ) -> Result<wif_core::http::Response, Error> {
        loop {
            let mut request = http
                .request(call.http_method.clone(), call.url.clone())
                .timeout(call.timeout)
                .header(ACCEPT, "application/json");
            if let Some(auth) = &self.inner.auth {
                let token = auth.token().await?;
                carried.add_access_token(&token);
                request = request.header(AUTHORIZATION, token.authorization_header());
            }
            if let Some(project) = &self.inner.quota_project {
                request = request.header("x-goog-user-project", project.as_str());
            }
            if let Some(body) = call.body {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.to_vec());
            }
            let response =
                wif_core::http::send_with_limit(Step::Api, what, request, MAX_RESPONSE_BYTES)
                    .await?;
            // One refresh per logical call: a token that is rejected twice is not stale, it
            // is wrong, and refreshing again would only hammer the token endpoints.
            if response.status == 401
                && let Some(auth) = &self.inner.auth
                && !refreshed.swap(true, Ordering::SeqCst)
            {
                tracing::debug!(call = what, "401: refreshing the access token once");
                auth.invalidate();
                continue;
            }
            if response.is_success() {
                return Ok(response);
            }
            return Err(hints::api_error(call.operation, what, &call.url, response));
        }
    }
}

fn parse_base_url(base_url: &str) -> Result<Url, Error> {
    let mut text = base_url.trim().to_owned();
    if !text.ends_with('/') {
        text.push('/');
    }
    let url = Url::parse(&text).map_err(|e| Error::config("base_url", e))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(Error::config("base_url", "must be an http(s) URL"));
    }
    Ok(url)
}

/// The default client, shared by the clients built without one in the same tokio runtime, so
/// that they share a connection pool.
///
/// Per runtime, not per process: a pooled connection is driven by a task of the runtime that
/// opened it, and once that runtime is gone (every `#[tokio::test]` has its own), reusing the
/// connection fails with "runtime dropped the dispatch task". Outside a runtime each call builds
/// its own client.
fn shared_default_client() -> Result<reqwest::Client, Error> {
    static SHARED: Mutex<Option<(tokio::runtime::Id, reqwest::Client)>> = Mutex::new(None);
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return wif_core::http::default_client();
    };
    let id = runtime.id();
    let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((owner, client)) = shared.as_ref()
        && *owner == id
    {
        return Ok(client.clone());
    }
    let client = wif_core::http::default_client()?;
    *shared = Some((id, client.clone()));
    Ok(client)
}

/// One API call's description.
pub(crate) struct Call<'a> {
    /// The API method name (`tabledata.insertAll`), for spans and messages.
    pub(crate) method: &'static str,
    pub(crate) operation: Operation,
    /// What it acts on (`p:d.t`, a job id) for messages; no secrets.
    pub(crate) resource: String,
    pub(crate) table: Option<&'a str>,
    pub(crate) rows: u64,
    pub(crate) http_method: Method,
    pub(crate) url: Url,
    pub(crate) body: Option<&'a [u8]>,
    pub(crate) timeout: Duration,
}

/// A random UUID (version 4 layout) for `insertId`s and `requestId`s. Not a secret: it only has
/// to be unique.
pub(crate) fn random_uuid() -> String {
    let hi = fastrand::u64(..);
    let lo = fastrand::u64(..);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0x0fff,
        ((lo >> 48) & 0x3fff) | 0x8000,
        lo & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use wif_core::{AccessToken, MapEnvironment, StaticTokenProvider};

    use super::*;

    fn provider() -> StaticTokenProvider {
        StaticTokenProvider::new(AccessToken::new("ya29.bq-secret"))
    }

    #[test]
    fn uuids_look_like_uuids() {
        let a = random_uuid();
        assert_eq!(a.len(), 36, "{a}");
        assert_eq!(&a[14..15], "4", "{a}");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
        assert_ne!(a, random_uuid());
    }

    #[test]
    fn urls_encode_each_segment() {
        let bq = BigQuery::builder()
            .project("p")
            .base_url("http://127.0.0.1:1/bigquery/v2")
            .environment(MapEnvironment::new())
            .build()
            .expect("an emulator on this machine needs no provider");
        let url = bq
            .url(&["projects", "p", "datasets", "d/x", "tables", "t?q"])
            .expect("builds");
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:1/bigquery/v2/projects/p/datasets/d%2Fx/tables/t%3Fq"
        );
        let table = TableRef::new("p", "d/x", "t?q");
        assert_eq!(bq.table_url(&table, &[]).expect("builds"), url);
        assert_eq!(table.resource(), "p:d/x.t?q");
    }

    #[test]
    fn the_builder_checks_every_setting_before_any_call() {
        let base = || {
            BigQuery::builder()
                .provider(provider())
                .project("p")
                .environment(MapEnvironment::new())
        };
        let bq = base().build().expect("defaults");
        assert_eq!(bq.base_url(), DEFAULT_BASE_URL);
        assert_eq!(bq.project(), "p");
        let shown = format!("{bq:?}");
        assert!(!shown.contains("bq-secret"), "{shown}");
        assert!(shown.contains("authenticated: true"), "{shown}");
        for (builder, field) in [
            (base().project("  "), "project"),
            (base().base_url("not a url"), "base_url"),
            (base().base_url("ftp://x/"), "base_url"),
            (base().base_url("mailto:a@b"), "base_url"),
            (
                BigQuery::builder()
                    .project("p")
                    .environment(MapEnvironment::new()),
                "provider",
            ),
        ] {
            let err = builder.build().expect_err(field);
            assert!(err.is_config(), "{field}: {err}");
            assert!(err.to_string().contains(field), "{field}: {err}");
        }
        let err = BigQuery::builder()
            .provider(provider())
            .environment(MapEnvironment::new())
            .build()
            .expect_err("no project");
        assert!(err.to_string().contains("project"), "{err}");
    }

    /// The deprecated shims keep their old behaviour: a bad URL is reported by the first call.
    #[test]
    #[allow(deprecated)]
    fn the_deprecated_constructors_still_work() {
        for bad in ["not a url", "ftp://x/", "mailto:a@b"] {
            let bq = BigQuery::unauthenticated("p").with_base_url(bad);
            let err = bq.url(&["projects"]).expect_err(bad);
            assert!(err.is_config(), "{bad}: {err}");
        }
        let bq = BigQuery::new(provider(), "p")
            .with_base_url("http://127.0.0.1:9/bigquery/v2")
            .with_quota_project("q")
            .with_retry_policy(RetryPolicy::never());
        assert_eq!(bq.base_url(), "http://127.0.0.1:9/bigquery/v2/");
        assert_eq!(bq.inner.quota_project.as_deref(), Some("q"));
        let env = MapEnvironment::new().with(EMULATOR_HOST_ENV, "localhost:9050");
        let bq = BigQuery::from_env(&env, None, "p").expect("emulator without credentials");
        assert!(bq.inner.auth.is_none());
        assert_eq!(bq.base_url(), "http://localhost:9050/bigquery/v2/");
        let err = BigQuery::from_env(&MapEnvironment::new(), None, "p").expect_err("no creds");
        assert!(err.is_config(), "{err}");
        assert!(err.to_string().contains(EMULATOR_HOST_ENV), "{err}");
    }

    #[test]
    fn emulator_host_from_the_environment() {
        let env = MapEnvironment::new().with(EMULATOR_HOST_ENV, "localhost:9050");
        let bq = BigQuery::builder()
            .project("p")
            .environment(env.clone())
            .build()
            .expect("emulator without credentials");
        assert!(bq.inner.auth.is_none());
        assert_eq!(
            bq.url(&["projects"]).expect("url").as_str(),
            "http://localhost:9050/bigquery/v2/projects"
        );
        // An explicit base URL wins over the variable.
        let bq = BigQuery::builder()
            .project("p")
            .provider(provider())
            .environment(env)
            .base_url("https://bq.example.test/bigquery/v2/")
            .build()
            .expect("explicit");
        assert_eq!(bq.base_url(), "https://bq.example.test/bigquery/v2/");
        let err = BigQuery::builder()
            .project("p")
            .environment(MapEnvironment::new())
            .build()
            .expect_err("no creds");
        assert!(err.is_config(), "{err}");
        assert!(err.to_string().contains(EMULATOR_HOST_ENV), "{err}");
    }

    /// The issue's `BIGQUERY_EMULATOR_HOST=[::ffff:127.0.0.1]:PORT` received the bearer token:
    /// that address is not loopback under wif's rule, so no token goes there in clear.
    #[tokio::test]
    async fn a_token_goes_over_plain_http_only_to_loopback() {
        let with_host = |host: &str| {
            BigQuery::builder()
                .project("p")
                .environment(MapEnvironment::new().with(EMULATOR_HOST_ENV, host))
        };
        for host in [
            "[::ffff:127.0.0.1]:9050",
            "example.invalid:8080",
            "http://10.0.0.1",
        ] {
            let err = with_host(host)
                .provider(provider())
                .build()
                .expect_err(host);
            assert!(err.is_config(), "{host}: {err}");
            assert!(err.to_string().contains(EMULATOR_HOST_ENV), "{host}: {err}");
            with_host(host).build().expect("no token, nothing to leak");
        }
        for host in [
            "127.0.0.1:9050",
            "localhost:1",
            "[::1]:2",
            "https://bq.example.test",
        ] {
            with_host(host).provider(provider()).build().expect(host);
        }
        let err = BigQuery::builder()
            .project("p")
            .provider(provider())
            .base_url("http://bigquery.internal.test/bigquery/v2/")
            .build()
            .expect_err("refused before any call");
        assert!(err.is_config(), "{err}");
        assert!(err.to_string().contains("base_url"), "{err}");
        // The deprecated shim is checked before its first request.
        #[allow(deprecated)]
        let bq = BigQuery::new(provider(), "p")
            .with_base_url("http://bigquery.internal.test/bigquery/v2/");
        let err = bq
            .query(crate::QueryRequest::new("SELECT 1"))
            .await
            .expect_err("refused before sending");
        assert!(err.is_config(), "{err}");
        assert!(!err.to_string().contains("bq-secret"), "{err}");
    }
}
