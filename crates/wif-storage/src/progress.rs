//! Transfer progress, reported through a callback so the library draws nothing itself (the
//! `wif gcs` command renders it as a progress bar; a Lambda would log it or ignore it).

use std::fmt;

/// Receives the progress of an upload or download.
///
/// For uploads, `update` reports bytes the **server has confirmed** (so a resumed upload may
/// report a smaller number than a retried chunk had sent); for downloads, bytes received.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use wif_storage::Progress;
///
/// #[derive(Default)]
/// struct Counter(AtomicU64);
///
/// impl Progress for Counter {
///     fn update(&self, done: u64) {
///         self.0.store(done, Ordering::Relaxed);
///     }
/// }
/// ```
pub trait Progress: Send + Sync {
    /// The transfer starts; `total` is its size when known.
    fn start(&self, total: Option<u64>) {
        let _ = total;
    }

    /// `done` bytes of the transfer are complete.
    fn update(&self, done: u64);

    /// The transfer completed successfully.
    fn finish(&self) {}
}

/// Reports to an optional observer.
#[derive(Clone, Default)]
pub(crate) struct Reporter(Option<std::sync::Arc<dyn Progress>>);

impl Reporter {
    pub(crate) fn new(p: Option<std::sync::Arc<dyn Progress>>) -> Self {
        Reporter(p)
    }
    pub(crate) fn start(&self, total: Option<u64>) {
        if let Some(p) = &self.0 {
            p.start(total);
        }
    }
    pub(crate) fn update(&self, done: u64) {
        if let Some(p) = &self.0 {
            p.update(done);
        }
    }
    pub(crate) fn finish(&self) {
        if let Some(p) = &self.0 {
            p.finish();
        }
    }
    pub(crate) fn is_some(&self) -> bool {
        self.0.is_some()
    }
}

impl fmt::Debug for Reporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_some() {
            "Some(<progress>)"
        } else {
            "None"
        })
    }
}
