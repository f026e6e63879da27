//! HTTP plumbing every layer shares: one well-configured `reqwest::Client`, bounded response
//! reading, and mapping transport failures into [`Error`] without leaking URLs' query strings.
//!
//! Build one client with [`default_client`] (or bring your own) and hand clones of it to every
//! layer: clones share the connection pool, so the STS and IAM calls reuse connections.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::time::Instant;

use crate::{Error, ErrorKind, Step};

mod api_base;
mod date;
mod resolve;
mod tls;

pub use api_base::{ApiBase, ApiBaseFrom, ApiBaseRequest, check_token_destination};
pub use date::{clock_skew_seconds, parse_http_date};
pub use resolve::{PREFETCH_KEPT, Resolver};
pub use tls::{CertificateDer, crypto_provider, root_store, tls_config, tls_config_builder};

/// Connect timeout of the default client.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Whole-request timeout of the default client (each call may set a shorter one).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response body any token endpoint may send; larger bodies are refused, not buffered.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// The `User-Agent` wif-rs sends.
pub const USER_AGENT: &str = concat!("wif-rs/", env!("CARGO_PKG_VERSION"));

/// Builds the default client: rustls (see [`tls_config`]), connect timeout 5 s, request timeout
/// 30 s, no redirects (a token endpoint that redirects is misconfigured, and following it could
/// send a credential to another host).
pub fn default_client() -> Result<reqwest::Client, Error> {
    build_client(client_builder_with_roots(&[])?)
}

/// The default client's builder, for callers who want to adjust it.
///
/// `localhost` is resolved to `127.0.0.1` and `::1` by the client itself, never by the system
/// resolver: [`is_loopback`] lets credentials travel over plain `http` to `localhost`, which is
/// only sound if the name cannot be answered by DNS (or a resolver configuration) with another
/// machine's address.
///
/// Its TLS configuration is complete ([`tls_config`]): reqwest's own TLS settings
/// (`add_root_certificate`, `identity`, `tls_*`) do not apply to it. To trust another CA, use
/// [`client_builder_with_roots`]. Should the TLS configuration be impossible (only with a crypto
/// provider the application installed process-wide that offers nothing usable), the builder's
/// `build()` fails; [`default_client`] and [`client_builder_with_roots`] say why.
pub fn client_builder() -> reqwest::ClientBuilder {
    match client_builder_with_roots(&[]) {
        Ok(builder) => builder,
        Err(e) => {
            tracing::error!(error = %e, "no TLS configuration for the HTTP client");
            // Not a TLS configuration reqwest knows: `build()` reports an error.
            settings(reqwest::Client::builder()).tls_backend_preconfigured(())
        }
    }
}

/// [`client_builder`], also trusting `extra_roots` beside the public web roots: for a private CA
/// in front of Google (a TLS-inspecting proxy) or a test server.
pub fn client_builder_with_roots(
    extra_roots: &[CertificateDer<'static>],
) -> Result<reqwest::ClientBuilder, Error> {
    Ok(settings(reqwest::Client::builder()).tls_backend_preconfigured(tls_config(extra_roots)?))
}

/// The default client's settings other than TLS.
fn settings(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    builder
        .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
        .timeout(DEFAULT_REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT)
        // Port 0: the URL's port is used.
        .resolve_to_addrs("localhost", &LOCALHOST_ADDRS)
}

/// Builds a client from `builder`, mapping the failure to a configuration [`Error`].
pub fn build_client(builder: reqwest::ClientBuilder) -> Result<reqwest::Client, Error> {
    builder.build().map_err(|e| {
        Error::new(
            Step::Config,
            ErrorKind::Internal,
            "could not build the HTTP client",
        )
        .with_source(e)
    })
}

/// Where `localhost` connects: IPv4 first, as the emulator and most test servers listen there.
const LOCALHOST_ADDRS: [SocketAddr; 2] = [
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
    SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 0),
];

/// A response read in full (up to [`MAX_RESPONSE_BYTES`]).
///
/// `Debug` shows the status, the header names and the body's length, never header values or
/// the body: a token endpoint's body is the token.
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The response headers.
    pub headers: http::HeaderMap,
    /// The body. May hold secrets: never log it.
    pub body: Vec<u8>,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &HeaderNames(&self.headers))
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

/// Lists header names only (`Set-Cookie` and friends can carry credentials).
struct HeaderNames<'a>(&'a http::HeaderMap);

impl fmt::Debug for HeaderNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// The `Retry-After` of `headers` in delta-seconds, if present. The HTTP-date form is ignored
/// (Google sends seconds), never misread.
pub fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

impl Response {
    /// True for 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The `Retry-After` header in seconds, if present (see [`retry_after`]).
    pub fn retry_after(&self) -> Option<Duration> {
        retry_after(&self.headers)
    }

    /// The server's clock when it answered: its `Date` header, if present and well-formed.
    pub fn date(&self) -> Option<std::time::SystemTime> {
        parse_http_date(self.headers.get(http::header::DATE)?.to_str().ok()?)
    }

    /// Turns a non-success response into the step's error (server words parsed, body dropped,
    /// `Retry-After` and the `Date` header kept).
    pub fn error_for_status(self, step: Step) -> Result<Response, Error> {
        if self.is_success() {
            return Ok(self);
        }
        let mut err = Error::http(step, self.status, &self.body);
        if let Some(after) = self.retry_after() {
            err = err.with_retry_after(after);
        }
        if let Some(date) = self.date() {
            err = err.with_server_date(date);
        }
        Err(err)
    }
}

/// Sends `request`, reads the body up to [`MAX_RESPONSE_BYTES`], and maps failures to `step`.
///
/// `what` names the call in errors (`POST https://sts.googleapis.com/v1/token`); it must not
/// contain secrets. The caller decides what a non-2xx status means.
pub async fn send(
    step: Step,
    what: &str,
    request: reqwest::RequestBuilder,
) -> Result<Response, Error> {
    send_with_limit(step, what, request, MAX_RESPONSE_BYTES).await
}

/// Like [`send`], with another bound on the body: for APIs whose answers are legitimately larger
/// than a token endpoint's (a BigQuery result page may hold 10 MB of rows).
pub async fn send_with_limit(
    step: Step,
    what: &str,
    request: reqwest::RequestBuilder,
    max_bytes: usize,
) -> Result<Response, Error> {
    let started = Instant::now();
    let mut response = request
        .send()
        .await
        .map_err(|e| transport_error(step, what, e))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    if response
        .content_length()
        .is_some_and(|len| len > max_bytes as u64)
    {
        return Err(too_large(step, what, max_bytes));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(step, what, e))?
    {
        if body.len() + chunk.len() > max_bytes {
            return Err(too_large(step, what, max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    tracing::debug!(
        step = %step,
        call = what,
        status,
        bytes = body.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "http response"
    );
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn too_large(step: Step, what: &str, max_bytes: usize) -> Error {
    Error::invalid_response(
        step,
        format!("{what}: response body larger than {max_bytes} bytes"),
    )
}

/// Maps a `reqwest` transport error to [`Error`]. The URL is dropped from the source error (it
/// may carry a query string); `what` says which call it was.
///
/// Connect failures, timeouts and broken connections are retryable; a request that could not be
/// built (a non-HTTP URL scheme, an invalid header value) is not, since every retry would fail
/// the same way.
pub fn transport_error(step: Step, what: &str, e: reqwest::Error) -> Error {
    if e.is_builder() {
        return Error::new(
            step,
            ErrorKind::Transport,
            format!("{what}: could not build the request"),
        )
        .retryable(false)
        .with_source(e.without_url());
    }
    if let Some(reason) = tls_failure(&e) {
        // A handshake that failed on certificates or protocol fails the same way next time:
        // retrying only spends the caller's deadline.
        return Error::new(
            step,
            ErrorKind::Transport,
            format!("{what}: TLS handshake failed: {reason}"),
        )
        .retryable(false)
        .with_hint(
            "the server's certificate is not trusted (a private CA: add it with `--ca-certs` or \
             CredentialsBuilder::add_root_certificates_pem), the server refused this client's \
             certificate (X.509 sources: check the certificate configuration and the pool \
             provider's trust store), or the URL says https for a server that speaks plain HTTP",
        );
    }
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Transport
    };
    let problem = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "connection failed while reading the response"
    } else {
        "request failed"
    };
    Error::new(step, kind, format!("{what}: {problem}")).with_source(e.without_url())
}

/// The TLS library's words when `e` is a failed handshake (certificate, alert or protocol
/// trouble), read from the innermost error that mentions them. These messages name certificate
/// problems, never certificate or key contents.
fn tls_failure(e: &reqwest::Error) -> Option<String> {
    if !e.is_connect() {
        return None;
    }
    let mut found = None;
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        let lower = text.to_ascii_lowercase();
        if [
            "certificate",
            "alert",
            "corrupt message",
            "handshake",
            "peer ",
        ]
        .iter()
        .any(|needle| lower.contains(needle))
        {
            found = Some(text);
        }
        source = s.source();
    }
    found
}

/// Whether `url` names this machine: an IPv4 loopback address (`127.0.0.0/8`), `::1`, or the
/// name `localhost` itself. Where a credential may travel over plain `http` (emulators, test
/// fakes), and only there: the one rule behind the STS, impersonation and AWS STS URL checks and
/// the trust policy's `loopback` rule.
///
/// Deliberately not loopback:
/// * other names under `localhost` (`a.localhost`) and `localhost.` — resolvers may send them to
///   DNS; `localhost` itself is mapped to `127.0.0.1`/`::1` by [`client_builder`], without a
///   lookup (bring-your-own clients should do the same, e.g. with
///   `reqwest::ClientBuilder::resolve`);
/// * IPv4-mapped IPv6 addresses (`[::ffff:127.0.0.1]`) — whether they reach the IPv4 loopback
///   depends on the host's dual-stack settings, and their spelling hides what they are;
/// * the unspecified addresses `0.0.0.0` and `[::]` — "this host" to some stacks, an error to
///   others.
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Describes a URL for messages: scheme, host, port and path, never the query or user info.
pub fn describe_url(url: &url::Url) -> String {
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    shown.push_str(url.path());
    shown
}
