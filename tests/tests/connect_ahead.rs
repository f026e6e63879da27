//! A cold chain opens its connection to IAM Credentials while the STS exchange is in flight, and
//! keeps it for later calls: observed by two loopback servers, an STS that holds its answer until
//! the IAM host has accepted a connection, and an IAM host that counts connections and requests.
//! Ordering and counts only, no timing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use secrecy::ExposeSecret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

const SERVICE_ACCOUNT: &str = "writer@wif-test.iam.gserviceaccount.com";
/// How long STS holds its answer for the IAM connection before giving up on it.
const HOLD: Duration = Duration::from_secs(5);

/// What one of the servers saw.
#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    /// `METHOD path` of every request, in order.
    requests: std::sync::Mutex<Vec<String>>,
    connected: Notify,
}

impl Seen {
    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// Serves HTTP/1.1 keep-alive connections on loopback, answering each request with `answer`.
async fn serve<F, Fut>(answer: F) -> (SocketAddr, Arc<Seen>)
where
    F: Fn(String) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = (u16, String)> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let server_seen = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            server_seen.connections.fetch_add(1, Ordering::SeqCst);
            server_seen.connected.notify_waiters();
            tokio::spawn(connection(stream, answer.clone(), server_seen.clone()));
        }
    });
    (addr, seen)
}

async fn connection<F, Fut>(mut stream: TcpStream, answer: F, seen: Arc<Seen>)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = (u16, String)>,
{
    let mut buf = Vec::new();
    loop {
        let Some(head_end) = read_until_head(&mut stream, &mut buf).await else {
            return;
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let request_line = head.lines().next().unwrap_or("").to_owned();
        let mut words = request_line.split(' ');
        let method = words.next().unwrap_or("").to_owned();
        let path = words.next().unwrap_or("").to_owned();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + 4 + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + 4 + length);
        let what = format!("{method} {}", path.split('?').next().unwrap_or(""));
        seen.requests.lock().unwrap().push(what.clone());
        let (status, body) = answer(what).await;
        let reply = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{}",
            body.len(),
            if method == "HEAD" { "" } else { body.as_str() }
        );
        if stream.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

async fn read_until_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(at);
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn rfc3339_in_an_hour() -> String {
    let at = SystemTime::now() + Duration::from_secs(3600);
    time::OffsetDateTime::from(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// STS and IAM hosts; STS holds each answer until IAM has a connection (or [`HOLD`] passed),
/// and notes whether it had one.
struct Google {
    sts: SocketAddr,
    iam: SocketAddr,
    sts_seen: Arc<Seen>,
    iam_seen: Arc<Seen>,
    iam_connected_before_sts_answered: Arc<AtomicBool>,
    _dir: tempfile::TempDir,
    config: std::path::PathBuf,
}

async fn google() -> Google {
    let (iam, iam_seen) = serve(|what: String| async move {
        if what.starts_with("POST ") && what.ends_with(":generateAccessToken") {
            let body = serde_json::json!({
                "accessToken": "service-account-token",
                "expireTime": rfc3339_in_an_hour(),
            });
            (200, body.to_string())
        } else {
            (404, "{}".to_owned())
        }
    })
    .await;
    let before = Arc::new(AtomicBool::new(false));
    let (sts, sts_seen) = {
        let iam_seen = iam_seen.clone();
        let before = before.clone();
        serve(move |_what: String| {
            let iam_seen = iam_seen.clone();
            let before = before.clone();
            async move {
                let connected = iam_seen.connected.notified();
                if iam_seen.connections.load(Ordering::SeqCst) == 0 {
                    let _ = tokio::time::timeout(HOLD, connected).await;
                }
                before.store(
                    iam_seen.connections.load(Ordering::SeqCst) > 0,
                    Ordering::SeqCst,
                );
                let body = serde_json::json!({
                    "access_token": "federated-token",
                    "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                    "token_type": "Bearer",
                    "expires_in": 3600,
                });
                (200, body.to_string())
            }
        })
        .await
    };
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("oidc.jwt");
    std::fs::write(&token_file, "header.payload.signature").unwrap();
    let config = dir.path().join("file.json");
    let json = serde_json::json!({
        "type": "external_account",
        "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/oidc",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": format!("http://{sts}/v1/token"),
        "service_account_impersonation_url": format!(
            "http://{iam}/v1/projects/-/serviceAccounts/{SERVICE_ACCOUNT}:generateAccessToken"
        ),
        "credential_source": { "file": token_file.to_string_lossy() },
    });
    std::fs::write(&config, json.to_string()).unwrap();
    Google {
        sts,
        iam,
        sts_seen,
        iam_seen,
        iam_connected_before_sts_answered: before,
        _dir: dir,
        config,
    }
}

#[tokio::test]
async fn the_iam_connection_opens_while_sts_is_answering_and_is_kept() {
    let google = google().await;
    let creds = wif::Credentials::builder()
        .environment(Arc::new(wif::MapEnvironment::new()))
        .config_file(&google.config)
        .unwrap()
        .build()
        .unwrap();

    let token = creds.token().await.expect("token");
    assert_eq!(token.secret().expose_secret(), "service-account-token");
    assert!(
        google
            .iam_connected_before_sts_answered
            .load(Ordering::SeqCst),
        "IAM Credentials ({}) had no connection before STS ({}) answered",
        google.iam,
        google.sts
    );
    assert_eq!(google.sts_seen.requests(), ["POST /v1/token"]);
    let iam_requests = google.iam_seen.requests();
    assert_eq!(iam_requests.len(), 2, "{iam_requests:?}");
    assert_eq!(
        iam_requests[0], "HEAD /",
        "the connection is opened by a HEAD"
    );
    assert!(iam_requests[1].ends_with(":generateAccessToken"));
    assert_eq!(
        google.iam_seen.connections.load(Ordering::SeqCst),
        1,
        "the call went on the connection opened ahead"
    );

    // The next impersonation (the federated token is still cached) goes on the same connection
    // at once: no new connection, nothing opened ahead.
    creds.invalidate();
    creds.token().await.expect("second token");
    assert_eq!(google.iam_seen.connections.load(Ordering::SeqCst), 1);
    assert_eq!(google.iam_seen.requests().len(), 3);
    assert_eq!(google.sts_seen.requests().len(), 1);
}

#[tokio::test]
async fn a_client_of_ones_own_gets_the_same_ordering() {
    // The builder's client is used as it is (no resolver of the chain's), and still connects
    // ahead: the HEAD goes through it.
    let google = google().await;
    let creds = wif::Credentials::builder()
        .environment(Arc::new(wif::MapEnvironment::new()))
        .http_client(wif::layers::core::http::default_client().unwrap())
        .config_file(&google.config)
        .unwrap()
        .build()
        .unwrap();
    creds.token().await.expect("token");
    assert!(
        google
            .iam_connected_before_sts_answered
            .load(Ordering::SeqCst)
    );
    assert_eq!(google.iam_seen.connections.load(Ordering::SeqCst), 1);
}
