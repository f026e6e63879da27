//! Name resolution for the clients wif builds: the system resolver, as reqwest's own
//! (`getaddrinfo` on a blocking thread), with prefetching. A chain about to call several hosts
//! (Google STS, then IAM Credentials) looks all of them up at once when it starts, instead of
//! each connection waiting for its own lookup in turn; the connection to each host then takes the
//! answer waiting for it.
//!
//! A prefetched answer serves one connection, within [`PREFETCH_KEPT`] of the lookup; any other
//! connection looks the name up as usual, so what DNS says later is always heard.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tokio::time::Instant;

/// How long a prefetched answer waits for its connection.
pub const PREFETCH_KEPT: Duration = Duration::from_secs(10);

/// A lookup's outcome, shareable (the error as text: `io::Error` is not `Clone`).
type Lookup = Shared<BoxFuture<'static, Result<Arc<[SocketAddr]>, Arc<str>>>>;

/// How a name is looked up: the system's resolver, or a test's.
type LookupFn = fn(String) -> BoxFuture<'static, Result<Arc<[SocketAddr]>, Arc<str>>>;

/// The resolver of a client ([`reqwest::ClientBuilder::dns_resolver`]) that can be asked to
/// look names up ahead of the connections that need them. Cheap to clone; clones share the
/// prefetched answers.
///
/// ```
/// # async fn run() {
/// let resolver = wif_core::http::Resolver::new();
/// let client = wif_core::http::client_builder()
///     .dns_resolver(std::sync::Arc::new(resolver.clone()))
///     .build();
/// // Both lookups run now, side by side; each connection later takes its answer.
/// resolver.prefetch("sts.googleapis.com");
/// resolver.prefetch("iamcredentials.googleapis.com");
/// # let _ = client;
/// # }
/// ```
#[derive(Clone)]
pub struct Resolver {
    prefetched: Arc<Mutex<HashMap<String, (Instant, Lookup)>>>,
    lookup: LookupFn,
}

impl Default for Resolver {
    fn default() -> Self {
        Resolver {
            prefetched: Arc::default(),
            lookup: system_lookup,
        }
    }
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.lock().keys().cloned().collect();
        f.debug_struct("Resolver")
            .field("prefetched", &names)
            .finish()
    }
}

impl Resolver {
    /// A resolver with nothing prefetched.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Lookup)>> {
        self.prefetched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts looking `host` up now, for the next connection to it. Does nothing for an IP
    /// address or `localhost` (no lookup to save), for a name whose lookup is already waiting,
    /// or outside a Tokio runtime.
    pub fn prefetch(&self, host: &str) {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let literal = host.parse::<std::net::IpAddr>().is_ok()
            || (host.starts_with('[') && host.ends_with(']'))
            || host == "localhost";
        if literal || host.is_empty() || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let now = Instant::now();
        let mut prefetched = self.lock();
        prefetched.retain(|_, (at, _)| now.saturating_duration_since(*at) < PREFETCH_KEPT);
        if prefetched.contains_key(&host) {
            return;
        }
        let lookup = (self.lookup)(host.clone()).shared();
        // Started now, not when the connection first polls it.
        tokio::spawn(lookup.clone());
        prefetched.insert(host, (now, lookup));
    }

    /// The prefetched lookup of `host`, if one is waiting (it is used up).
    fn take(&self, host: &str) -> Option<Lookup> {
        let (at, lookup) = self.lock().remove(host)?;
        (at.elapsed() < PREFETCH_KEPT).then_some(lookup)
    }
}

/// `getaddrinfo(host)` on a blocking thread, started at the call rather than at the future's
/// first poll: a prefetch's query leaves while the chain is still signing its first request,
/// not once the task that spawned it yields. Port 0: the connection sets the URL's.
fn system_lookup(host: String) -> BoxFuture<'static, Result<Arc<[SocketAddr]>, Arc<str>>> {
    use std::net::ToSocketAddrs;
    let lookup = tokio::task::spawn_blocking(move || {
        (host.as_str(), 0)
            .to_socket_addrs()
            .map(|addrs| addrs.collect::<Vec<_>>())
    });
    async move {
        match lookup.await {
            Ok(Ok(addrs)) => Ok(addrs.into()),
            Ok(Err(e)) => Err(Arc::from(e.to_string())),
            Err(e) => Err(Arc::from(format!("the lookup's thread failed: {e}"))),
        }
    }
    .boxed()
}

impl Resolve for Resolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        let prefetched = self.take(&host);
        let lookup = self.lookup;
        Box::pin(async move {
            let answer = match prefetched {
                Some(prefetched) => match prefetched.await {
                    Ok(addrs) => Ok(addrs),
                    // A failed prefetch is asked again: the failure may have been passing.
                    Err(_) => lookup(host).await,
                },
                None => lookup(host).await,
            };
            let addrs: Addrs = Box::new(answer.map_err(|e| e.to_string())?.to_vec().into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    static LOOKUPS: AtomicUsize = AtomicUsize::new(0);

    /// Every name is 127.0.0.1 (tests never ask the system's resolver), counted.
    fn counted(_host: String) -> BoxFuture<'static, Result<Arc<[SocketAddr]>, Arc<str>>> {
        LOOKUPS.fetch_add(1, Ordering::SeqCst);
        async { Ok(vec![SocketAddr::from(([127, 0, 0, 1], 0))].into()) }.boxed()
    }

    fn resolver() -> Resolver {
        Resolver {
            prefetched: Arc::default(),
            lookup: counted,
        }
    }

    async fn resolve(resolver: &Resolver, host: &str) -> Vec<SocketAddr> {
        let name: Name = host.parse().expect("a name");
        resolver.resolve(name).await.expect("resolved").collect()
    }

    // One test, so the shared counter counts only its lookups.
    #[tokio::test(start_paused = true)]
    async fn a_prefetched_answer_serves_one_connection_within_its_time() {
        let r = resolver();
        r.prefetch("LOCALHOST.");
        r.prefetch("127.0.0.1");
        r.prefetch("[::1]");
        assert!(r.lock().is_empty(), "literals and localhost need no lookup");

        r.prefetch("sts.googleapis.com");
        r.prefetch("STS.googleapis.com.");
        assert_eq!(r.lock().len(), 1, "one lookup per name waiting");
        tokio::task::yield_now().await;
        assert_eq!(LOOKUPS.load(Ordering::SeqCst), 1, "started at once");

        let addrs = resolve(&r, "sts.googleapis.com").await;
        assert_eq!(addrs, [SocketAddr::from(([127, 0, 0, 1], 0))]);
        assert_eq!(LOOKUPS.load(Ordering::SeqCst), 1, "the prefetched answer");
        resolve(&r, "sts.googleapis.com").await;
        assert_eq!(
            LOOKUPS.load(Ordering::SeqCst),
            2,
            "used up: looked up again"
        );

        r.prefetch("iamcredentials.googleapis.com");
        tokio::time::advance(PREFETCH_KEPT).await;
        resolve(&r, "iamcredentials.googleapis.com").await;
        assert_eq!(
            LOOKUPS.load(Ordering::SeqCst),
            4,
            "an answer kept too long is not used"
        );
    }

    #[test]
    fn outside_a_runtime_nothing_is_prefetched() {
        let r = resolver();
        r.prefetch("sts.googleapis.com");
        assert!(r.lock().is_empty());
    }
}
