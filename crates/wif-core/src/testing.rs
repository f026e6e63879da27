//! Test support (feature `testing`): capture everything `tracing` emits, to assert that no
//! secret ever reaches a log line.
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
//! [`StaticSubjectToken`] is a subject token source that hands out one token.
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
