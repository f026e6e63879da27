//! # wif-source-url — subject tokens fetched from a URL
//!
//! The chain's source step ([`Step::Source`], a [`SubjectTokenSource`]) for Google's identity-pool
//! `credential_source` of the URL shape:
//!
//! ```json
//! { "url": "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=...",
//!   "headers": { "Metadata": "True" },
//!   "format": { "type": "json", "subject_token_field_name": "access_token" } }
//! ```
//!
//! A local endpoint (Azure's instance metadata service, a sidecar, a CI runner) hands out an OIDC
//! or SAML token; [`UrlSource`] `GET`s it with the configured headers for every STS exchange and
//! extracts the token with [`TokenFormat`] (`text`, or `json` with `subject_token_field_name`),
//! trimming surrounding whitespace.
//!
//! Each request has its own timeout (10 s unless set), and failures that can pass (408, 429, 5xx,
//! connection failures, timeouts) are retried by a [`RetryPolicy`]. Errors and tracing name the URL
//! without its query string, which may carry secrets; header values (they can be credentials) are
//! marked sensitive and never shown, and response bodies are never echoed. An endpoint whose error
//! quotes the request gets its words through with every header and query value scrubbed out
//! ([`wif_core::Redactor`]).
//!
//! ```no_run
//! use std::time::Duration;
//! use wif_core::{SourceContext, SubjectTokenSource, TokenFormat};
//! use wif_source_url::UrlSource;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wif_core::Error> {
//! let source = UrlSource::new(
//!     "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://wif",
//!     TokenFormat::Json { subject_token_field_name: "access_token".into() },
//! )?
//! .with_headers([("Metadata".to_owned(), "True".to_owned())])?
//! .with_timeout(Duration::from_secs(5));
//! let ctx = SourceContext::new(
//!     "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/azure",
//!     "urn:ietf:params:oauth:token-type:jwt",
//! );
//! let token = source.subject_token(&ctx).await?;
//! println!("fetched a subject token of {} bytes", token.len());
//! # Ok(()) }
//! ```
//!
//! The shape and how Google's Python and Go libraries read it: `docs/protocol.md` in the
//! repository, sections `#credential-source-shapes` and `#file-and-url-sources`.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tracing::Instrument;
use url::Url;
use wif_core::http::{self, describe_url};
use wif_core::{
    Error, Redactor, RetryPolicy, SourceContext, Step, SubjectToken, SubjectTokenSource,
    TokenFormat, async_trait,
};

/// Timeout of each request to the token endpoint unless [`UrlSource::with_timeout`] sets another.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The configuration field named in errors about the URL.
const URL_FIELD: &str = "credential_source.url";
/// The configuration field named in errors about the headers.
const HEADERS_FIELD: &str = "credential_source.headers";

/// A subject token fetched with `GET` from a (usually local) endpoint, on every call.
///
/// `Debug` shows the URL without its query and the header names, never header values.
#[derive(Clone)]
pub struct UrlSource {
    url: Url,
    /// `url` without query or user info: the only form used in errors, tracing and `Debug`.
    described: String,
    headers: HeaderMap,
    format: TokenFormat,
    client: reqwest::Client,
    timeout: Duration,
    retry: RetryPolicy,
}

impl UrlSource {
    /// A source fetching `url` and extracting the token according to `format`, with the default
    /// client ([`wif_core::http::default_client`]), a 10 s timeout and the default retry policy.
    ///
    /// Fails with a configuration error naming `credential_source.url` when `url` does not parse
    /// or is not `http`/`https`. Nothing is fetched until the first call.
    pub fn new(url: &str, format: TokenFormat) -> Result<Self, Error> {
        // The parse error never echoes the URL: its query may hold a secret.
        let url = Url::parse(url.trim())
            .map_err(|e| Error::config(URL_FIELD, format!("not a valid URL ({e})")))?;
        Self::from_url(url, format)
    }

    /// Like [`new`](Self::new), for a URL already parsed — the one a trust policy vetted, say:
    /// it is fetched exactly as given, never parsed again from text. The same checks apply.
    pub fn from_url(url: Url, format: TokenFormat) -> Result<Self, Error> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::config(
                URL_FIELD,
                format!(
                    "scheme `{}` is not supported; the token endpoint must be http or https",
                    url.scheme()
                ),
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(Error::config(URL_FIELD, "the URL has no host"));
        }
        Ok(UrlSource {
            described: describe_url(&url),
            url,
            headers: HeaderMap::new(),
            format,
            client: http::default_client()?,
            timeout: DEFAULT_TIMEOUT,
            retry: RetryPolicy::default(),
        })
    }

    /// Adds headers sent with every request (e.g. Azure's `Metadata: True`). A header set again
    /// replaces the earlier value. Values are marked sensitive: they can be credentials.
    ///
    /// Fails with a configuration error naming `credential_source.headers` for an invalid header
    /// name or value; the message names the header, never its value.
    pub fn with_headers(
        mut self,
        headers: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, Error> {
        for (name, value) in headers {
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                Error::config(
                    HEADERS_FIELD,
                    format!("{name:?} is not a valid HTTP header name"),
                )
            })?;
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                Error::config(
                    HEADERS_FIELD,
                    format!(
                        "the value of header `{header}` is not a valid HTTP header value \
                         (control characters or non-ASCII text; value not shown)"
                    ),
                )
            })?;
            value.set_sensitive(true);
            self.headers.insert(header, value);
        }
        Ok(self)
    }

    wif_core::builder_setters! {
        /// Uses `client` instead of the default one (share one client across all layers).
        pub fn with_http_client(client: reqwest::Client) => client;

        /// Sets the timeout of each request (default 10 s). The retry policy's deadline bounds all
        /// attempts together.
        pub fn with_timeout(timeout: Duration) => timeout;

        /// Sets how failed requests are retried (default [`RetryPolicy::default`]).
        pub fn with_retry_policy(policy: RetryPolicy) => retry;
    }

    /// The token format.
    pub fn format(&self) -> &TokenFormat {
        &self.format
    }

    /// One `GET`: the body of a 2xx response, or the mapped error, scrubbed of what the request
    /// carried (header values, query values) before the retry loop or anyone logs it.
    async fn fetch_once(&self, what: &str) -> Result<Vec<u8>, Error> {
        self.get(what).await.map_err(|e| e.redact(&self.redactor()))
    }

    /// The secrets the request carries: every header value (they can be bearer tokens), the
    /// query and each of its values (the query can carry a signature).
    fn redactor(&self) -> Redactor {
        let mut redactor = Redactor::new();
        for value in self.headers.values() {
            redactor.add_header_value(value);
        }
        if let Some(query) = self.url.query() {
            redactor.add(query);
        }
        for (_, value) in self.url.query_pairs() {
            redactor.add(&value);
        }
        redactor
    }

    async fn get(&self, what: &str) -> Result<Vec<u8>, Error> {
        let request = self
            .client
            .get(self.url.clone())
            .headers(self.headers.clone())
            .timeout(self.timeout);
        let response = http::send(Step::Source, what, request).await?;
        let status = response.status;
        let response = response
            .error_for_status(Step::Source)
            .map_err(|e| with_status_hint(e).context(what))?;
        tracing::debug!(
            status,
            bytes = response.body.len(),
            "read subject token from URL"
        );
        Ok(response.body)
    }
}

#[async_trait]
impl SubjectTokenSource for UrlSource {
    async fn subject_token(&self, _ctx: &SourceContext) -> Result<SubjectToken, Error> {
        let span = tracing::debug_span!("url_subject_token", url = %self.described);
        async {
            let what = format!("GET {}", self.described);
            let body = self
                .retry
                .run(Step::Source, &what, |_attempt| self.fetch_once(&what))
                .await?;
            self.format.extract(&body, &self.described)
        }
        .instrument(span)
        .await
    }

    fn kind(&self) -> &'static str {
        "url"
    }
}

/// Hints for the statuses a misconfigured `credential_source` typically produces.
fn with_status_hint(err: Error) -> Error {
    match err.status() {
        Some(404) => err.with_hint(
            "the endpoint has no such path: check the path of `credential_source.url` against \
             the token endpoint's documentation",
        ),
        Some(401 | 403) => err.with_hint(
            "the endpoint refused the request: check `credential_source.headers` (Azure's \
             instance metadata service, for one, requires `Metadata: True`)",
        ),
        Some(400) => err.with_hint(
            "if the endpoint needs request headers, check `credential_source.headers` (Azure's \
             instance metadata service answers 400 without `Metadata: True`), and check the \
             query parameters of `credential_source.url`",
        ),
        _ => err,
    }
}

impl fmt::Debug for UrlSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UrlSource")
            .field("url", &self.described)
            .field("headers", &RedactedHeaders(&self.headers))
            .field("format", &self.format)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// Header names with their values redacted.
struct RedactedHeaders<'a>(&'a HeaderMap);

impl fmt::Debug for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|name| (name.as_str(), "[REDACTED]")))
            .finish()
    }
}

#[cfg(feature = "testing")]
pub mod testing;

#[cfg(test)]
mod tests;
