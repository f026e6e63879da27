//! The [`Storage`] client: configuration, and the one path every request takes — bearer token,
//! quota project, timeout, a single token refresh on 401, and retries for idempotent calls.
//!
//! Retry rules follow GCS's retry strategy: 408, 429, 5xx and connection failures are retried,
//! but only when repeating the request cannot do something twice (reads and lists always;
//! inserts and deletes only with a generation precondition; resumable chunk PUTs always, since
//! their byte positions are explicit).

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use tracing::Instrument as _;
use wif_core::api_client::ApiClientSettings;
use wif_core::http::ApiBaseFrom;
use wif_core::{AccessToken, Error, ErrorKind, Redactor, RetryPolicy, Step, TokenProvider};

use crate::api_error::api_error;
use crate::names::Endpoints;

/// Google's production endpoint.
pub const DEFAULT_BASE_URL: &str = "https://storage.googleapis.com/";
/// The environment variable Google's clients read to talk to an emulator instead
/// (`localhost:9023` or `http://localhost:9023`).
pub const EMULATOR_HOST_VAR: &str = "STORAGE_EMULATOR_HOST";
/// Resumable uploads send chunks of this many bytes unless configured otherwise (16 MiB, like
/// Google's Go client).
pub const DEFAULT_CHUNK_SIZE: usize = 16 * 1024 * 1024;
/// Every resumable chunk but the last must be a multiple of this (256 KiB).
pub const CHUNK_ALIGNMENT: usize = 256 * 1024;
/// Uploads of at least this many bytes (or of unknown size beyond it) are resumable (8 MiB).
pub const DEFAULT_RESUMABLE_THRESHOLD: u64 = 8 * 1024 * 1024;

/// Timeout of metadata, list and delete calls.
const JSON_CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Timeout of a request carrying data (a single-request upload or one resumable chunk).
pub(crate) const DATA_CALL_TIMEOUT: Duration = Duration::from_secs(600);
/// A download streams for as long as data keeps coming; this only bounds pathological cases
/// (and overrides a shorter whole-request timeout of an injected client).
pub(crate) const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// Largest JSON response we buffer (a list page of 1,000 objects with metadata fits easily).
const MAX_JSON_BYTES: usize = 32 * 1024 * 1024;
/// Largest error body we read to find the server's words.
const MAX_ERROR_BYTES: usize = 64 * 1024;

/// A Cloud Storage JSON API client. Cheap to clone (one `Arc`); clones share the HTTP
/// connection pool and the token provider.
#[derive(Clone)]
pub struct Storage {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) provider: Option<Arc<dyn TokenProvider>>,
    pub(crate) client: reqwest::Client,
    pub(crate) endpoints: Endpoints,
    pub(crate) quota_project: Option<String>,
    pub(crate) retry: RetryPolicy,
    pub(crate) chunk_size: usize,
    pub(crate) resumable_threshold: u64,
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Storage")
            .field("base_url", &i.endpoints.base().as_str())
            .field("authenticated", &i.provider.is_some())
            .field("quota_project", &i.quota_project)
            .field("retry", &i.retry)
            .field("chunk_size", &i.chunk_size)
            .field("resumable_threshold", &i.resumable_threshold)
            .finish()
    }
}

impl Storage {
    /// A client for Google's endpoint, authenticated by `provider` (a `wif::Credentials`, or any
    /// [`TokenProvider`]). `STORAGE_EMULATOR_HOST` redirects it to an emulator, as in Google's
    /// clients; use [`Storage::builder`] to configure more, or to inject the environment.
    pub fn new(provider: impl TokenProvider + 'static) -> Result<Storage, Error> {
        Storage::builder().provider(provider).build()
    }

    /// A builder for every setting.
    pub fn builder() -> StorageBuilder {
        StorageBuilder::default()
    }

    /// The base URL requests go to (ends with `/`).
    pub fn base_url(&self) -> &str {
        self.inner.endpoints.base().as_str()
    }

    /// The resumable chunk size in bytes.
    pub fn chunk_size(&self) -> usize {
        self.inner.chunk_size
    }

    /// Uploads from this size on are resumable.
    pub fn resumable_threshold(&self) -> u64 {
        self.inner.resumable_threshold
    }

    /// Sends one request of `call`, adding auth and Google's headers. A 401 invalidates the
    /// provider's token and resends once per logical call. Returns the response whatever its
    /// status; transport failures become (retryable) errors.
    pub(crate) async fn send(
        &self,
        call: &Call,
        build: &(dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync),
    ) -> Result<reqwest::Response, Error> {
        let attempt = call.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        let span = tracing::debug_span!("gcs.request", call = %call.what, attempt);
        self.send_attempt(call, build, attempt)
            .instrument(span)
            .await
    }

    async fn send_attempt(
        &self,
        call: &Call,
        build: &(dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync),
        attempt: u32,
    ) -> Result<reqwest::Response, Error> {
        loop {
            let mut request = build(&self.inner.client).timeout(call.timeout).header(
                "x-goog-api-client",
                format!(
                    "gl-rust wif-storage/{} gccl-invocation-id/{} gccl-attempt-count/{attempt}",
                    env!("CARGO_PKG_VERSION"),
                    call.invocation
                ),
            );
            if let Some(project) = &self.inner.quota_project {
                request = request.header("x-goog-user-project", project);
            }
            if let Some(provider) = &self.inner.provider {
                let token = provider.token().await?;
                call.carried(&token);
                // reqwest marks the header sensitive, so its own Debug never shows it.
                request = request.bearer_auth(token.secret().expose_secret());
            }
            tracing::debug!("sending");
            let response = request
                .send()
                .await
                .map_err(|e| wif_core::http::transport_error(Step::Api, &call.what, e))?;
            if response.status() == reqwest::StatusCode::UNAUTHORIZED
                && let Some(provider) = &self.inner.provider
                && !call.refreshed.swap(true, Ordering::SeqCst)
            {
                tracing::info!(call = %call.what, "token refused (401): refreshing it once");
                provider.invalidate();
                continue;
            }
            return Ok(response);
        }
    }

    /// Sends `call` until it succeeds (2xx) under the retry policy — a single attempt when the
    /// call is not idempotent — and maps failures to errors with the server's words.
    pub(crate) async fn execute(
        &self,
        call: &Call,
        build: &(dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync),
    ) -> Result<reqwest::Response, Error> {
        let policy = if call.idempotent {
            self.inner.retry
        } else {
            self.inner.retry.with_max_attempts(1)
        };
        policy
            .run(Step::Api, &call.what, |_| async move {
                let response = self.send(call, build).await?;
                ensure_success(call, response).await
            })
            .await
    }

    /// [`execute`](Self::execute), then parses the JSON body.
    pub(crate) async fn execute_json<T: DeserializeOwned>(
        &self,
        call: &Call,
        build: &(dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync),
    ) -> Result<T, Error> {
        let response = self.execute(call, build).await?;
        read_json(call, response).await
    }
}

/// One logical API call: what it is (for errors and logs; never a query string), whether it may
/// be repeated, its per-request timeout, and its budget of one token refresh.
pub(crate) struct Call {
    pub(crate) what: String,
    pub(crate) idempotent: bool,
    pub(crate) timeout: Duration,
    refreshed: AtomicBool,
    attempts: AtomicU32,
    invocation: String,
    /// What the call's requests carried that a server could quote back in an error: the bearer
    /// tokens sent, a resumable session's `upload_id`.
    carried: Mutex<Redactor>,
}

impl Call {
    /// A call of `method` to `url`.
    pub(crate) fn new(method: &str, url: &url::Url, idempotent: bool) -> Call {
        let mut carried = Redactor::new();
        // A resumable session URI is a capability: whoever has it can write the object.
        for (key, value) in url.query_pairs() {
            if key == "upload_id" {
                carried.add(&value);
            }
        }
        Call {
            carried: Mutex::new(carried),
            what: format!("{method} {}", wif_core::http::describe_url(url)),
            idempotent,
            timeout: JSON_CALL_TIMEOUT,
            refreshed: AtomicBool::new(false),
            attempts: AtomicU32::new(0),
            invocation: format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)),
        }
    }

    /// Records a bearer token one of the call's requests carried.
    fn carried(&self, token: &AccessToken) {
        self.carried
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .add_access_token(token);
    }

    /// `err` scrubbed of everything the call's requests carried.
    pub(crate) fn scrub(&self, err: Error) -> Error {
        err.redact(&self.carried.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Sets the per-request timeout.
    pub(crate) fn timeout(mut self, timeout: Duration) -> Call {
        self.timeout = timeout;
        self
    }
}

/// Passes 2xx through; reads a bounded error body otherwise and maps it.
pub(crate) async fn ensure_success(
    call: &Call,
    response: reqwest::Response,
) -> Result<reqwest::Response, Error> {
    if response.status().is_success() {
        return Ok(response);
    }
    Err(error_from(call, response).await)
}

/// The error of a non-success response (its body read up to 64 KiB, parsed, dropped).
pub(crate) async fn error_from(call: &Call, response: reqwest::Response) -> Error {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    // A body we cannot read whole is still an error of this status; parse what arrived.
    let body = read_bounded(response, MAX_ERROR_BYTES)
        .await
        .unwrap_or_default();
    call.scrub(api_error(&call.what, status, &headers, &body))
}

/// Reads at most `limit` bytes of a body (the rest is dropped).
async fn read_bounded(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if chunk.len() > room {
            break;
        }
    }
    Ok(body)
}

/// Reads and parses a JSON success body of `call`.
pub(crate) async fn read_json<T: DeserializeOwned>(
    call: &Call,
    mut response: reqwest::Response,
) -> Result<T, Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| wif_core::http::transport_error(Step::Api, &call.what, e))?
    {
        if body.len() + chunk.len() > MAX_JSON_BYTES {
            return Err(Error::invalid_response(
                Step::Api,
                format!("{}: response larger than {MAX_JSON_BYTES} bytes", call.what),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| {
        Error::invalid_response(
            Step::Api,
            format!("{}: the response is not the expected JSON: {e}", call.what),
        )
    })
}

/// Configures a [`Storage`].
#[must_use]
#[derive(Debug)]
pub struct StorageBuilder {
    settings: ApiClientSettings,
    chunk_size: usize,
    resumable_threshold: u64,
}

impl Default for StorageBuilder {
    fn default() -> Self {
        StorageBuilder {
            settings: ApiClientSettings::new(default_retry_policy()),
            chunk_size: DEFAULT_CHUNK_SIZE,
            resumable_threshold: DEFAULT_RESUMABLE_THRESHOLD,
        }
    }
}

/// GCS's recommended policy, [`RetryPolicy::google_api`] (backoff from 1 s doubling to 32 s, at
/// most 6 attempts), all within two minutes (Python's default deadline).
pub fn default_retry_policy() -> RetryPolicy {
    RetryPolicy::google_api(Duration::from_secs(120))
}

impl StorageBuilder {
    wif_core::api_client_setters!(emulator_var = "STORAGE_EMULATOR_HOST");

    wif_core::builder_setters! {
        /// The base URL (default `https://storage.googleapis.com/`, or the emulator named by
        /// `STORAGE_EMULATOR_HOST`, or else the provider's
        /// [`endpoint_base_url`](TokenProvider::endpoint_base_url)). An explicit base URL wins over
        /// both.
        pub fn base_url(url: impl Into<String>) => Some(settings.base_url);

        /// Bytes per resumable chunk; a positive multiple of 256 KiB (default 16 MiB). A chunk is
        /// the most an upload holds in memory.
        pub fn chunk_size(bytes: usize) => chunk_size;

        /// Uploads of this many bytes or more use a resumable session (default 8 MiB); smaller ones
        /// a single request.
        pub fn resumable_threshold(bytes: u64) => resumable_threshold;
    }

    /// Checks the settings and builds the client. No network call is made. Like Google's
    /// clients, `STORAGE_EMULATOR_HOST` (`host:port` or a URL) sends the requests to the emulator
    /// unless a base URL is set; without either, a provider pointed at a fake or the emulator
    /// ([`TokenProvider::endpoint_base_url`]) takes them there. Toward an emulator (the
    /// variable's, or a base URL on this machine) a client without a provider sends no
    /// `Authorization` header (the same rules as `wif_bigquery`'s builder).
    ///
    /// Configuration errors: a chunk size that is not a positive multiple of 256 KiB; a base URL
    /// (or emulator address) that is not an http(s) URL; a token bound for plain http to a host
    /// that is not this machine; no provider for anything but an emulator.
    pub fn build(self) -> Result<Storage, Error> {
        if self.chunk_size == 0 || !self.chunk_size.is_multiple_of(CHUNK_ALIGNMENT) {
            return Err(Error::config(
                "chunk_size",
                format!(
                    "{} is not a positive multiple of 256 KiB ({CHUNK_ALIGNMENT} bytes), which resumable uploads require",
                    self.chunk_size
                ),
            ));
        }
        let settings = self.settings;
        let base = settings.base(EMULATOR_HOST_VAR, "", DEFAULT_BASE_URL)?;
        let quota_project = settings.quota_project();
        let endpoints = Endpoints::new(base.url);
        let client = match settings.client {
            Some(c) => c,
            // wif's default client (rustls, 5 s connect timeout, no redirects, `localhost`
            // mapped to 127.0.0.1/::1 without a resolver, as the loopback rule above assumes);
            // every request sets its own whole-request timeout, and a stalled body fails after
            // 60 s without data.
            None => wif_core::http::client_builder()
                .read_timeout(Duration::from_secs(60))
                .build()
                .map_err(|e| {
                    Error::new(
                        Step::Config,
                        ErrorKind::Internal,
                        "could not build the HTTP client",
                    )
                    .with_source(e)
                })?,
        };
        if base.from == ApiBaseFrom::Emulator {
            tracing::debug!(base = %endpoints.base(), authenticated = settings.provider.is_some(), "using the Cloud Storage emulator from STORAGE_EMULATOR_HOST");
        }
        Ok(Storage {
            inner: Arc::new(Inner {
                quota_project,
                provider: settings.provider,
                client,
                endpoints,
                retry: settings.retry,
                chunk_size: self.chunk_size,
                resumable_threshold: self.resumable_threshold,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use wif_core::{AccessToken, MapEnvironment, StaticTokenProvider};

    use super::*;

    fn provider() -> StaticTokenProvider {
        StaticTokenProvider::new(AccessToken::new("ya29.builder-secret"))
    }

    #[test]
    fn defaults_point_at_google() {
        let s = Storage::builder()
            .provider(provider())
            .environment(MapEnvironment::new())
            .build()
            .expect("builds");
        assert_eq!(s.base_url(), "https://storage.googleapis.com/");
        assert_eq!(s.chunk_size(), 16 * 1024 * 1024);
        assert_eq!(s.resumable_threshold(), 8 * 1024 * 1024);
        let shown = format!("{s:?}");
        assert!(!shown.contains("builder-secret"), "{shown}");
        assert!(shown.contains("authenticated: true"), "{shown}");
    }

    #[test]
    fn the_emulator_host_is_honoured_like_googles_clients() {
        for (value, base) in [
            ("localhost:9023", "http://localhost:9023/"),
            ("http://127.0.0.1:4443", "http://127.0.0.1:4443/"),
            (" https://gcs.test/prefix ", "https://gcs.test/prefix/"),
        ] {
            let env = MapEnvironment::new().with(EMULATOR_HOST_VAR, value);
            // No credentials needed for an emulator.
            let s = Storage::builder().environment(env).build().expect(value);
            assert_eq!(s.base_url(), base, "{value}");
            assert!(format!("{s:?}").contains("authenticated: false"));
        }
        // An explicit base URL wins.
        let s = Storage::builder()
            .environment(MapEnvironment::new().with(EMULATOR_HOST_VAR, "localhost:1"))
            .base_url("http://127.0.0.1:2")
            .provider(provider())
            .build()
            .expect("builds");
        assert_eq!(s.base_url(), "http://127.0.0.1:2/");
    }

    #[test]
    fn bad_settings_are_config_errors_before_any_call() {
        let no_creds = Storage::builder()
            .environment(MapEnvironment::new())
            .build()
            .expect_err("no provider, no emulator");
        assert!(no_creds.is_config());
        assert!(
            no_creds.to_string().contains("STORAGE_EMULATOR_HOST"),
            "{no_creds}"
        );
        for size in [0, 1000, 256 * 1024 + 1] {
            let e = Storage::builder()
                .provider(provider())
                .chunk_size(size)
                .build()
                .expect_err("misaligned chunk");
            assert!(e.to_string().contains("256 KiB"), "{e}");
        }
        let e = Storage::builder()
            .environment(MapEnvironment::new().with(EMULATOR_HOST_VAR, "ftp://x"))
            .build()
            .expect_err("bad emulator host");
        assert!(e.to_string().contains(EMULATOR_HOST_VAR), "{e}");
        // Without credentials, only an emulator: the variable's, or a base URL on this machine.
        let e = Storage::builder()
            .environment(MapEnvironment::new())
            .base_url("https://gcs.example.test/")
            .build()
            .expect_err("no provider for a remote endpoint");
        assert!(e.is_config() && e.to_string().contains("provider"), "{e}");
        let s = Storage::builder()
            .environment(MapEnvironment::new())
            .base_url("http://127.0.0.1:4443")
            .build()
            .expect("an emulator on this machine");
        assert!(format!("{s:?}").contains("authenticated: false"));
    }

    /// A token over plain http only to this machine: `[::ffff:127.0.0.1]` is not loopback
    /// under wif's rule, and the issue saw a bearer token reach it through the variable.
    #[test]
    fn a_token_goes_over_plain_http_only_to_loopback() {
        for (host, field) in [
            ("[::ffff:127.0.0.1]:9023", EMULATOR_HOST_VAR),
            ("example.invalid:8080", EMULATOR_HOST_VAR),
            ("http://10.1.2.3:4443", EMULATOR_HOST_VAR),
        ] {
            let e = Storage::builder()
                .environment(MapEnvironment::new().with(EMULATOR_HOST_VAR, host))
                .provider(provider())
                .build()
                .expect_err(host);
            assert!(e.is_config(), "{host}: {e}");
            assert!(e.to_string().contains(field), "{host}: {e}");
            // Without a token there is nothing to leak (the CLI refuses such hosts itself).
            Storage::builder()
                .environment(MapEnvironment::new().with(EMULATOR_HOST_VAR, host))
                .build()
                .expect(host);
        }
        let e = Storage::builder()
            .environment(MapEnvironment::new())
            .base_url("http://storage.internal.test/")
            .provider(provider())
            .build()
            .expect_err("explicit base URL");
        assert!(e.to_string().contains("base_url"), "{e}");
        for ok in ["127.0.0.1:1", "localhost:2", "[::1]:3", "https://gcs.test"] {
            Storage::builder()
                .environment(MapEnvironment::new().with(EMULATOR_HOST_VAR, ok))
                .provider(provider())
                .build()
                .expect(ok);
        }
    }

    #[test]
    fn the_default_policy_matches_googles_guidance() {
        let p = default_retry_policy();
        assert_eq!(p.backoff(1), Duration::from_secs(1));
        assert_eq!(p.backoff(10), Duration::from_secs(32));
        assert_eq!(p.deadline(), Duration::from_secs(120));
    }
}
