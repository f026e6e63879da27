//! One hiccup of the instance metadata service — a connection reset, an answer cut short — is
//! retried like a 503, and an error that remains says the service answered but the connection
//! broke, not that no metadata service is reachable. A raw TCP server plays the service, since
//! an HTTP mock cannot reset or truncate.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use wif_core::{ErrorKind, MapEnvironment, Step};
use wif_source_aws::{AwsSource, causes};

use support::imds::{
    CREDS_PATH, IMDS_TOKEN, ROLE, ROLE_PATH, TOKEN_PATH, ZONE_PATH, credential_source_at,
    creds_json,
};

/// What the server does to the connections of one path.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    /// Closes the connection with a RST as soon as the request has arrived.
    Reset,
    /// Announces the whole answer but sends only part of it, then closes.
    Truncate,
    /// Accepts the connection and closes it at once, before reading anything.
    HangUp,
}

/// A metadata service on a raw socket: `faulty` gets `fault` for its first `times` requests,
/// everything else a correct answer (one request per connection). `faulty_seen` counts the
/// requests (and hung-up connections) of `faulty`.
struct RawImds {
    base: String,
    requests: Arc<AtomicUsize>,
    faulty_seen: Arc<AtomicUsize>,
}

impl RawImds {
    async fn start(faulty: &'static str, fault: Fault, times: usize) -> RawImds {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(AtomicUsize::new(0));
        let faulty_seen = Arc::new(AtomicUsize::new(0));
        let (all, seen) = (requests.clone(), faulty_seen.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (all, seen) = (all.clone(), seen.clone());
                tokio::spawn(async move {
                    serve(stream, faulty, fault, times, &all, &seen).await;
                });
            }
        });
        RawImds {
            base,
            requests,
            faulty_seen,
        }
    }

    fn source(&self) -> AwsSource {
        AwsSource::builder()
            .credential_source(&credential_source_at(&self.base, true))
            .environment(Arc::new(MapEnvironment::new()))
            .metadata_retry(wif_core::testing::quick_retries(3))
            .build()
            .expect("builds")
    }
}

async fn serve(
    mut stream: TcpStream,
    faulty: &str,
    fault: Fault,
    times: usize,
    all: &AtomicUsize,
    seen: &AtomicUsize,
) {
    // The client sends one request at a time: the first connections are the faulty path's.
    if fault == Fault::HangUp && seen.load(Ordering::SeqCst) < times {
        seen.fetch_add(1, Ordering::SeqCst);
        all.fetch_add(1, Ordering::SeqCst);
        return;
    }
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    all.fetch_add(1, Ordering::SeqCst);
    let head = String::from_utf8_lossy(&request);
    let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
    let body = match path.as_str() {
        TOKEN_PATH => IMDS_TOKEN.to_owned(),
        ZONE_PATH => "us-east-2b".to_owned(),
        ROLE_PATH => ROLE.to_owned(),
        CREDS_PATH => creds_json("ASIARAW", "raw-secret", "raw-session"),
        _ => String::new(),
    };
    let faulty_count = (path == faulty).then(|| seen.fetch_add(1, Ordering::SeqCst));
    if fault != Fault::HangUp && faulty_count.is_some_and(|n| n < times) {
        match fault {
            Fault::Reset => {
                let _ = stream.set_zero_linger();
                drop(stream);
            }
            Fault::Truncate => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len() + 40
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body.as_bytes()[..body.len() / 2]).await;
                let _ = stream.shutdown().await;
            }
            Fault::HangUp => unreachable!("handled before reading"),
        }
        return;
    }
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[tokio::test]
async fn one_reset_or_truncation_is_retried_through_to_credentials() {
    for (path, fault) in [
        (TOKEN_PATH, Fault::Reset),
        (TOKEN_PATH, Fault::Truncate),
        (TOKEN_PATH, Fault::HangUp),
        (ZONE_PATH, Fault::Reset),
        (CREDS_PATH, Fault::Truncate),
    ] {
        let imds = RawImds::start(path, fault, 1).await;
        let resolved = imds
            .source()
            .resolve()
            .await
            .unwrap_or_else(|e| panic!("{fault:?} on {path}: {e}"));
        assert_eq!(resolved.region, "us-east-2", "{fault:?} on {path}");
        assert_eq!(
            resolved.credentials.access_key_id(),
            "ASIARAW",
            "{fault:?} on {path}"
        );
        assert_eq!(
            imds.faulty_seen.load(Ordering::SeqCst),
            2,
            "{fault:?} on {path}: one failed attempt, one retry"
        );
    }
}

#[tokio::test]
async fn a_connection_that_keeps_breaking_is_named_as_such_not_as_no_metadata_service() {
    for fault in [Fault::Reset, Fault::Truncate] {
        let imds = RawImds::start(TOKEN_PATH, fault, usize::MAX).await;
        let err = imds.source().resolve().await.expect_err("always broken");
        assert_eq!(err.step(), Step::Source, "{fault:?}: {err}");
        assert_eq!(err.kind(), ErrorKind::Transport, "{fault:?}: {err:?}");
        assert!(err.is_retryable(), "{fault:?}: {err:?}");
        assert_eq!(
            err.known_cause(),
            Some(&causes::METADATA_CONNECTION_BROKEN),
            "{fault:?}: {err:?}"
        );
        assert!(
            err.to_string()
                .contains("the service answered, but the connection broke"),
            "{fault:?}: {err}"
        );
        let hint = err.hint().expect("a hint");
        assert!(hint.contains("connection broke"), "{fault:?}: {hint}");
        assert!(
            !hint.contains("no instance metadata service reachable"),
            "{fault:?}: {hint}"
        );
        assert_eq!(
            imds.faulty_seen.load(Ordering::SeqCst),
            3,
            "{fault:?}: the retry policy's three attempts"
        );
        assert_eq!(
            imds.requests.load(Ordering::SeqCst),
            3,
            "{fault:?}: nothing after the token"
        );
    }
}

#[tokio::test]
async fn a_refused_connection_still_says_no_metadata_service_and_is_not_retried() {
    // A port nobody listens on: bind, note the address, close.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let err = AwsSource::builder()
        .credential_source(&credential_source_at(&format!("http://{addr}"), true))
        .environment(Arc::new(MapEnvironment::new()))
        .build()
        .expect("builds")
        .resolve()
        .await
        .expect_err("refused");
    assert!(!err.is_retryable(), "{err:?}");
    assert_eq!(
        err.known_cause(),
        Some(&causes::NO_METADATA_SERVICE),
        "{err:?}"
    );
    assert!(
        err.hint()
            .is_some_and(|h| h.contains("no instance metadata service reachable")),
        "{err}"
    );
}
