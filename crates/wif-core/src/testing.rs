//! Test support (feature `testing`): capture everything `tracing` emits, to assert that no
//! secret ever reaches a log line; every spelling of a secret ([`spellings`],
//! [`assert_no_secrets`]); and a server that quotes its requests in its errors
//! ([`EchoRequest`]), to prove that what a request carried never comes back through an error.
//!
//! The capture is a **process-global** subscriber at TRACE. A thread-scoped subscriber
//! (`tracing::subscriber::set_default`) is not reliable when other tests in the same binary run
//! concurrently: with exactly one scoped subscriber registered, tracing-core computes a new
//! callsite's interest from the *registering* thread's subscriber, so a callsite first hit by
//! another test is cached as disabled and the capturing test silently sees nothing. A global
//! subscriber has no such race, and capturing every test's output makes the no-secret assertion
//! stronger, not weaker.
//!
//! Fake servers: [`Scripted`] answers wiremock requests by turns (the first few failing, the
//! first token expired, every answer slow), the mechanism under every crate's `testing` fakes;
//! [`bearer_token`] and [`header_text`] read what a recorded request carried;
//! [`StaticSubjectToken`] is a subject token source that hands out one token; [`CountingProvider`]
//! and [`PointedAt`] are token providers for the tests of API clients.
//!
//! ```
//! let logs = wif_core::testing::LogCapture::global();
//! tracing::debug!(target: "doc", marker = "visible-123", "hello");
//! assert!(logs.contents().contains("visible-123"));
//! ```

use std::io;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

mod scripted;
mod subject;
pub use scripted::{Scripted, bearer_token, header_text};
pub use subject::StaticSubjectToken;

use crate::spelling::Spelling;

/// A shared buffer receiving all formatted tracing output of this process.
#[derive(Clone, Debug, Default)]
pub struct LogCapture {
    buf: Arc<Mutex<Vec<u8>>>,
}

impl io::Write for LogCapture {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    /// Installs, once per process, a global TRACE subscriber (no ANSI colours, span events on
    /// close) writing into the returned capture. If another global subscriber was installed
    /// first, nothing is captured — assert that [`contents`](Self::contents) is non-empty.
    pub fn global() -> &'static LogCapture {
        static CAPTURE: OnceLock<LogCapture> = OnceLock::new();
        CAPTURE.get_or_init(|| {
            let capture = LogCapture::default();
            let writer = capture.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
                .with_writer(move || writer.clone())
                .finish();
            let _ = tracing::subscriber::set_global_default(subscriber);
            capture
        })
    }

    /// Everything captured so far, as text.
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap_or_else(PoisonError::into_inner))
            .into_owned()
    }
}

/// Every spelling of `secret` a leak could take: as is, percent-encoded (upper- and lowercase
/// hex), form-encoded, JSON-escaped (with and without `\/`, and every character as `\uXXXX`) and
/// `Debug`-escaped. What [`assert_no_secrets`] looks for.
pub fn spellings(secret: &str) -> Vec<String> {
    let mut all: Vec<String> = Spelling::ALL.iter().map(|s| s.of(secret)).collect();
    all.sort();
    all.dedup();
    all
}

/// Panics, naming `what` and the spelling, when `text` holds any [`spellings`] of any of
/// `secrets`.
#[track_caller]
pub fn assert_no_secrets(what: &str, text: &str, secrets: &[&str]) {
    for secret in secrets {
        for spelled in spellings(secret) {
            assert!(
                !text.contains(&spelled),
                "{what} leaked a secret (spelled {spelled:?}):\n{text}"
            );
        }
    }
}

/// Asserts that `text` (an error's `Display`, a log, a command's output) says each of `parts`,
/// naming the part that is missing and showing `text`.
#[track_caller]
pub fn assert_says(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part:?} is missing from:\n{text}");
    }
}

/// Asserts that `err` is the server's answer `status` naming `reason` (Google's
/// `errors[].reason`), showing the error when it is not.
#[track_caller]
pub fn assert_refused_with(err: &crate::Error, status: u16, reason: &str) {
    let said = err.server_error().and_then(|s| s.reason.as_deref());
    assert_eq!(
        (err.status(), said),
        (Some(status), Some(reason)),
        "{err:?}"
    );
}

/// Asserts that `err` carries a hint (the fix to try) that says `part`, showing the error when
/// it does not.
#[track_caller]
pub fn assert_hint_says(err: &crate::Error, part: &str) {
    assert!(
        err.hint().is_some_and(|h| h.contains(part)),
        "no hint saying {part:?}: {err:?}"
    );
}

/// Makes a named pipe (FIFO) at `path` that nobody writes to, and returns the path: the local
/// file that blocks a plain `open` for reading until a writer comes, for the tests proving that
/// a reader of local input refuses it at once instead. Panics when it cannot be made.
#[cfg(unix)]
#[track_caller]
pub fn fifo_at(path: impl Into<std::path::PathBuf>) -> std::path::PathBuf {
    let path = path.into();
    let made = rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &path,
        rustix::fs::Mode::from_raw_mode(0o600),
    );
    assert!(made.is_ok(), "mkfifo {}: {made:?}", path.display());
    path
}

/// What of its request an [`EchoRequest`] server quotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Quote {
    /// The method, the URL and every header, `name: value`.
    Headers,
    /// The raw body.
    Body,
    /// The form-decoded body, `key=value` (each value as decoded once).
    Form,
    /// The form-decoded body with each value percent-decoded once more, as a server that decodes
    /// the AWS subject token would show it.
    FormTwice,
    /// The headers and the form (decoded twice, as [`Quote::FormTwice`]) as a JSON object: the
    /// quotes of the AWS subject token's JSON come out JSON-escaped.
    Json,
}

impl Quote {
    /// Every part, in the order [`EchoRequest`] quotes them by default.
    pub const ALL: [Quote; 5] = [
        Quote::Headers,
        Quote::Body,
        Quote::Form,
        Quote::FormTwice,
        Quote::Json,
    ];
}

/// A wiremock responder for leak tests: a server that quotes the request it received in its
/// error, as careless servers and proxies do. The error (`status`, an OAuth 2.0 error body or a
/// `google.rpc.Status` whose `message` and `errors[0].reason` quote the request) holds the
/// [`Quote`]d parts of the request (all of them by default; a server message is clipped at
/// 1 KiB, so test the parts one at a time to see each of them reach the error).
#[derive(Clone, Debug)]
pub struct EchoRequest {
    status: u16,
    rpc: bool,
    parts: Vec<Quote>,
}

impl EchoRequest {
    /// An OAuth 2.0 error body: `{"error": "invalid_request", "error_description": …}`.
    pub fn oauth(status: u16) -> Self {
        EchoRequest {
            status,
            rpc: false,
            parts: Quote::ALL.to_vec(),
        }
    }

    /// A `google.rpc.Status` body: `{"error": {"code", "status", "message": …}}`.
    pub fn rpc(status: u16) -> Self {
        EchoRequest {
            rpc: true,
            ..Self::oauth(status)
        }
    }

    /// Quotes only `part`.
    pub fn quoting(mut self, part: Quote) -> Self {
        self.parts = vec![part];
        self
    }

    /// The text the server quotes.
    pub fn quote(&self, request: &wiremock::Request) -> String {
        let mut text = String::new();
        let headers: serde_json::Map<String, serde_json::Value> = request
            .headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.to_string(), value.into())
            })
            .collect();
        let body = String::from_utf8_lossy(&request.body).into_owned();
        let twice: serde_json::Map<String, serde_json::Value> =
            url::form_urlencoded::parse(&request.body)
                .map(|(key, value)| {
                    let value = percent_encoding::percent_decode_str(&value).decode_utf8_lossy();
                    (key.into_owned(), value.into_owned().into())
                })
                .collect();
        for part in &self.parts {
            match part {
                Quote::Headers => {
                    text.push_str(&format!("{} {}\n", request.method, request.url));
                    for (name, value) in &headers {
                        text.push_str(&format!("{name}: {}\n", value.as_str().unwrap_or("")));
                    }
                }
                Quote::Body => text.push_str(&format!("body: {body}\n")),
                Quote::Form => {
                    for (key, value) in url::form_urlencoded::parse(&request.body) {
                        text.push_str(&format!("{key}={value}\n"));
                    }
                }
                Quote::FormTwice => {
                    for (key, value) in &twice {
                        text.push_str(&format!("{key}={}\n", value.as_str().unwrap_or("")));
                    }
                }
                Quote::Json => {
                    let dump = serde_json::json!({"headers": headers, "form": twice});
                    text.push_str(&format!("as JSON: {dump}\n"));
                }
            }
        }
        text
    }
}

impl wiremock::Respond for EchoRequest {
    fn respond(&self, request: &wiremock::Request) -> wiremock::ResponseTemplate {
        let quoted = self.quote(request);
        let body = if self.rpc {
            serde_json::json!({"error": {
                "code": self.status, "status": "PERMISSION_DENIED", "message": quoted,
                "errors": [{"reason": quoted}],
            }})
        } else {
            serde_json::json!({"error": "invalid_request", "error_description": quoted})
        };
        wiremock::ResponseTemplate::new(self.status).set_body_json(body)
    }
}

/// A token provider for the tests of code that calls APIs with tokens: hands out `tok-1`, then
/// `tok-2` after one [`invalidate`](crate::TokenProvider::invalidate), and so on, and counts
/// both.
#[derive(Debug, Default)]
pub struct CountingProvider {
    invalidations: std::sync::atomic::AtomicU32,
    fetches: std::sync::atomic::AtomicU32,
}

impl CountingProvider {
    /// A fresh provider, shared.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// How often `invalidate` was called.
    pub fn invalidations(&self) -> u32 {
        self.invalidations.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How often a token was asked for.
    pub fn fetches(&self) -> u32 {
        self.fetches.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl crate::TokenProvider for CountingProvider {
    async fn token(&self) -> Result<crate::AccessToken, crate::Error> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(crate::AccessToken::new(format!(
            "tok-{}",
            self.invalidations() + 1
        )))
    }

    fn invalidate(&self) {
        self.invalidations
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A retry policy for tests against fakes: `attempts` attempts 1–2 ms apart, without jitter,
/// so that retries are exercised without slowing a suite down.
pub fn quick_retries(attempts: u32) -> crate::RetryPolicy {
    crate::RetryPolicy::default()
        .with_max_attempts(attempts)
        .with_backoff(
            std::time::Duration::from_millis(1),
            std::time::Duration::from_millis(2),
        )
        .without_jitter()
}

/// A token provider pointed at a fake or an emulator, as `wif::Credentials` are by an endpoint
/// base URL: hands out the token `tok` and names its URL as the
/// [`endpoint_base_url`](crate::TokenProvider::endpoint_base_url), for the tests of the API
/// clients that follow it.
#[derive(Clone, Debug)]
pub struct PointedAt {
    base_url: String,
}

impl PointedAt {
    /// A provider pointing clients at `base_url`.
    pub fn new(base_url: impl Into<String>) -> Self {
        PointedAt {
            base_url: base_url.into(),
        }
    }
}

#[async_trait::async_trait]
impl crate::TokenProvider for PointedAt {
    async fn token(&self) -> Result<crate::AccessToken, crate::Error> {
        Ok(crate::AccessToken::new("tok"))
    }

    fn endpoint_base_url(&self) -> Option<&str> {
        Some(&self.base_url)
    }
}

/// A wiremock server answering with `mocks`; where several match a request, the first mounted
/// answers (unless their priorities say otherwise).
pub async fn server_with(mocks: impl IntoIterator<Item = wiremock::Mock>) -> wiremock::MockServer {
    let server = wiremock::MockServer::start().await;
    for mock in mocks {
        mock.mount(&server).await;
    }
    server
}

/// A wiremock server answering every `http_method` request with `response`.
pub async fn server_answering(
    http_method: &str,
    response: impl wiremock::Respond + 'static,
) -> wiremock::MockServer {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method(http_method))
        .respond_with(response)
        .mount(&server)
        .await;
    server
}

/// The leak test of an API adapter: for each of three servers that quote the request back in a
/// `google.rpc.Status` error — a 403 and a 400 quoting its headers and its JSON, and a 503
/// quoting its headers (retried, so the retry loop logs that failure) — starts a wiremock server
/// answering every `http_method` request so, and runs `call` with its URI. The error `call`
/// returns must be that status with the quote `[REDACTED]`, and neither it (`Display`, `Debug`)
/// nor this process's log may hold any spelling of any of `secrets`.
///
/// `call` should retry at least once (a policy of two attempts) and must not log elsewhere.
pub async fn assert_api_echoes_are_scrubbed<F, Fut>(
    http_method: &str,
    secrets: &[&str],
    mut call: F,
) where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = crate::Error>,
{
    let logs = LogCapture::global();
    for (echo, status) in [
        (EchoRequest::rpc(403).quoting(Quote::Headers), 403),
        (EchoRequest::rpc(400).quoting(Quote::Json), 400),
        (EchoRequest::rpc(503).quoting(Quote::Headers), 503),
    ] {
        let server = server_answering(http_method, echo.clone()).await;
        let err = call(server.uri()).await;
        assert_eq!(err.status(), Some(status), "{echo:?}: {err}");
        let shown = format!("{err}\n{err:?}");
        assert!(shown.contains(crate::REDACTED), "{echo:?}: {shown}");
        assert_no_secrets(&format!("{echo:?}"), &shown, secrets);
    }
    assert_no_secrets("the logs", &logs.contents(), secrets);
}
