//! Test support (feature `testing`): a throwaway PKI and an STS fake on 127.0.0.1 that
//! **requires** a client certificate, so X.509 federation is tested end to end — handshake
//! included — with no cloud account.
//!
//! ```no_run
//! use wif_source_x509::testing::{MtlsStsServer, TestPki};
//!
//! # async fn t() -> Result<(), wif_core::Error> {
//! let pki = TestPki::new()?;
//! let dir = std::env::temp_dir().join("x509-test");
//! let files = pki.write_files(&dir)?;
//! let sts = MtlsStsServer::start(&pki).await?;
//! // A credential configuration with "token_url": sts.token_url() and
//! // "certificate_config_location": files.certificate_config, and the client trusting
//! // pki.root_pem(); then:
//! assert!(sts.requests().is_empty());
//! # Ok(()) }
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wif_core::{Error, ErrorKind, Step};

/// A certificate and its key, as PEM and DER.
#[derive(Clone)]
pub struct IssuedCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The certificate, DER.
    pub cert_der: CertificateDer<'static>,
    /// The private key (PKCS#8), PEM. A throwaway test key.
    pub key_pem: String,
}

impl fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCert")
            .field("cert_der_len", &self.cert_der.len())
            .field("key_pem", &"[REDACTED]")
            .finish()
    }
}

/// A root CA, an intermediate CA, a workload leaf (client auth, signed by the intermediate) and
/// a server certificate for `127.0.0.1`/`localhost` (signed by the root).
pub struct TestPki {
    /// The root CA certificate.
    pub root: IssuedCert,
    /// The intermediate CA certificate.
    pub intermediate: IssuedCert,
    /// The workload's client certificate.
    pub leaf: IssuedCert,
    /// The test server's certificate.
    pub server: IssuedCert,
    intermediate_issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for TestPki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestPki").finish_non_exhaustive()
    }
}

/// The files [`TestPki::write_files`] wrote.
#[derive(Clone, Debug)]
pub struct TestFiles {
    /// `certificate_config.json`, naming `cert` and `key`.
    pub certificate_config: PathBuf,
    /// The leaf, then the intermediate (what the TLS handshake presents).
    pub cert: PathBuf,
    /// The leaf's key.
    pub key: PathBuf,
    /// The intermediate: a `trust_chain_path`.
    pub trust_chain: PathBuf,
    /// The root CA: trust it on the client to reach [`MtlsStsServer`].
    pub root: PathBuf,
}

impl TestPki {
    /// Generates the four certificates (ECDSA P-256).
    pub fn new() -> Result<Self, Error> {
        let root_key = KeyPair::generate().map_err(pki_error)?;
        let root_params = ca_params("wif-rs test root CA")?;
        let root_cert = root_params.self_signed(&root_key).map_err(pki_error)?;
        let root = issued(root_cert.pem(), root_cert.der().clone(), &root_key);
        let root_issuer = Issuer::new(root_params, root_key);

        let intermediate_key = KeyPair::generate().map_err(pki_error)?;
        let intermediate_params = ca_params("wif-rs test intermediate CA")?;
        let intermediate_cert = intermediate_params
            .signed_by(&intermediate_key, &root_issuer)
            .map_err(pki_error)?;
        let intermediate = issued(
            intermediate_cert.pem(),
            intermediate_cert.der().clone(),
            &intermediate_key,
        );
        let intermediate_issuer = Issuer::new(intermediate_params, intermediate_key);

        let mut server_params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .map_err(pki_error)?;
        server_params
            .distinguished_name
            .push(DnType::CommonName, "wif-rs test STS");
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_key = KeyPair::generate().map_err(pki_error)?;
        let server_cert = server_params
            .signed_by(&server_key, &root_issuer)
            .map_err(pki_error)?;
        let server = issued(server_cert.pem(), server_cert.der().clone(), &server_key);

        let mut pki = TestPki {
            root,
            intermediate,
            leaf: server.clone(),
            server,
            intermediate_issuer,
        };
        pki.leaf = pki.issue_leaf("workload-1")?;
        Ok(pki)
    }

    /// Issues another workload certificate from the intermediate (e.g. to test rotation).
    pub fn issue_leaf(&self, common_name: &str) -> Result<IssuedCert, Error> {
        let mut params =
            CertificateParams::new(vec![format!("spiffe://wif-rs.test/{common_name}")])
                .map_err(pki_error)?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().map_err(pki_error)?;
        let cert = params
            .signed_by(&key, &self.intermediate_issuer)
            .map_err(pki_error)?;
        Ok(issued(cert.pem(), cert.der().clone(), &key))
    }

    /// The root CA certificate, PEM: trust it to reach [`MtlsStsServer`].
    pub fn root_pem(&self) -> &str {
        &self.root.cert_pem
    }

    /// Writes `cert.pem` (leaf + intermediate), `key.pem`, `chain.pem` (intermediate),
    /// `root.pem` and `certificate_config.json` into `dir` (created if needed).
    pub fn write_files(&self, dir: &Path) -> Result<TestFiles, Error> {
        std::fs::create_dir_all(dir).map_err(|e| write_error(dir, e))?;
        let files = TestFiles {
            certificate_config: dir.join("certificate_config.json"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            trust_chain: dir.join("chain.pem"),
            root: dir.join("root.pem"),
        };
        write(
            &files.cert,
            &format!("{}{}", self.leaf.cert_pem, self.intermediate.cert_pem),
        )?;
        write(&files.key, &self.leaf.key_pem)?;
        write(&files.trust_chain, &self.intermediate.cert_pem)?;
        write(&files.root, &self.root.cert_pem)?;
        write(
            &files.certificate_config,
            &certificate_config_json(&files.cert, &files.key),
        )?;
        Ok(files)
    }
}

/// `{"cert_configs": {"workload": {"cert_path": …, "key_path": …}}}`, as gcloud writes it.
pub fn certificate_config_json(cert: &Path, key: &Path) -> String {
    serde_json::json!({
        "cert_configs": {
            "workload": {
                "cert_path": cert.to_string_lossy(),
                "key_path": key.to_string_lossy(),
            }
        },
        "version": 1,
    })
    .to_string()
}

/// The certificates (DER, leaf first) an `mtls` subject token carries: it is a JSON array of
/// base64 DER certificates. `None` when `subject_token` is not one.
pub fn certificates_in(subject_token: &str) -> Option<Vec<Vec<u8>>> {
    use base64::Engine as _;
    let items: Vec<String> = serde_json::from_str(subject_token).ok()?;
    items
        .iter()
        .map(|item| base64::engine::general_purpose::STANDARD.decode(item).ok())
        .collect()
}

fn ca_params(name: &str) -> Result<CertificateParams, Error> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(pki_error)?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

fn issued(cert_pem: String, cert_der: CertificateDer<'static>, key: &KeyPair) -> IssuedCert {
    IssuedCert {
        cert_pem,
        cert_der,
        key_pem: key.serialize_pem(),
    }
}

fn pki_error(e: rcgen::Error) -> Error {
    Error::new(
        Step::Config,
        ErrorKind::Internal,
        "test PKI generation failed",
    )
    .with_source(e)
}

fn write(path: &Path, content: &str) -> Result<(), Error> {
    std::fs::write(path, content).map_err(|e| write_error(path, e))
}

fn write_error(path: &Path, e: std::io::Error) -> Error {
    Error::new(
        Step::Config,
        ErrorKind::Io,
        format!("could not write {}", path.display()),
    )
    .with_source(e)
}

/// One request the fake received over an mTLS connection.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// `POST`, `GET`, …
    pub method: String,
    /// The request target (path and query).
    pub path: String,
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The certificates the client presented in the handshake, leaf first.
    pub client_certificates: Vec<CertificateDer<'static>>,
}

impl RecordedRequest {
    /// The body as `application/x-www-form-urlencoded` pairs.
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }

    /// The first value of form field `name`.
    pub fn form_value(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct ServerState {
    requests: Mutex<Vec<RecordedRequest>>,
    handshake_failures: Mutex<Vec<String>>,
    issued: AtomicU64,
}

/// An HTTPS server on 127.0.0.1 that completes a handshake only with a client certificate
/// chaining to the [`TestPki`] root, and plays Google STS and IAM Credentials:
///
/// * `POST /v1/token` → `{"access_token": "mtls-federated-N", "expires_in": 3600, …}`;
/// * `POST …:generateAccessToken` → `{"accessToken": "mtls-impersonated-N", "expireTime": …}`;
/// * anything else → 404.
///
/// Every request is recorded with the client's certificates; failed handshakes are counted.
/// The server stops when dropped.
pub struct MtlsStsServer {
    addr: SocketAddr,
    state: Arc<ServerState>,
    task: tokio::task::JoinHandle<()>,
}

impl fmt::Debug for MtlsStsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MtlsStsServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for MtlsStsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MtlsStsServer {
    /// Starts serving on an ephemeral port of 127.0.0.1.
    pub async fn start(pki: &TestPki) -> Result<Self, Error> {
        // The clients' provider: the handshake is the one they make with Google.
        let provider = wif_core::http::crypto_provider();
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(pki.root.cert_der.clone())
            .map_err(|e| tls_error("client CA", e))?;
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .map_err(|e| tls_error("client verifier", e))?;
        let key = PrivateKeyDer::from_pem_slice(pki.server.key_pem.as_bytes())
            .map_err(|e| tls_error("server key", e))?;
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error("protocol versions", e))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![pki.server.cert_der.clone()], key)
            .map_err(|e| tls_error("server certificate", e))?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| io_error("bind 127.0.0.1", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| io_error("local address", e))?;
        let state = Arc::new(ServerState::default());
        let task = tokio::spawn(accept_loop(listener, acceptor, state.clone()));
        Ok(MtlsStsServer { addr, state, task })
    }

    /// `https://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    /// `https://127.0.0.1:PORT/v1/token`.
    pub fn token_url(&self) -> String {
        self.url("/v1/token")
    }

    /// A `generateAccessToken` URL for `email` on this server.
    pub fn impersonation_url(&self, email: &str) -> String {
        self.url(&format!(
            "/v1/projects/-/serviceAccounts/{email}:generateAccessToken"
        ))
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.requests).clone()
    }

    /// Why handshakes failed so far (rustls's messages: no certificate, unknown issuer, …).
    pub fn handshake_failures(&self) -> Vec<String> {
        lock(&self.state.handshake_failures).clone()
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    state: Arc<ServerState>,
) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        let state = state.clone();
        tokio::spawn(async move {
            match acceptor.accept(tcp).await {
                Ok(tls) => serve(tls, &state).await,
                Err(e) => lock(&state.handshake_failures).push(e.to_string()),
            }
        });
    }
}

async fn serve(
    mut tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    state: &ServerState,
) {
    let client_certificates = tls
        .get_ref()
        .1
        .peer_certificates()
        .map(|c| c.iter().map(|d| d.clone().into_owned()).collect())
        .unwrap_or_default();
    let Some(mut request) = read_request(&mut tls).await else {
        return;
    };
    request.client_certificates = client_certificates;
    let n = state.issued.fetch_add(1, Ordering::SeqCst) + 1;
    let (status, body) = if request.method == "POST" && request.path == "/v1/token" {
        (
            "200 OK",
            serde_json::json!({
                "access_token": format!("mtls-federated-{n}"),
                "issued_token_type": wif_core::protocol::ACCESS_TOKEN_TYPE,
                "token_type": "Bearer",
                "expires_in": 3600,
            }),
        )
    } else if request.method == "POST" && request.path.ends_with(":generateAccessToken") {
        (
            "200 OK",
            serde_json::json!({
                "accessToken": format!("mtls-impersonated-{n}"),
                "expireTime": rfc3339(SystemTime::now() + Duration::from_secs(3600)),
            }),
        )
    } else {
        (
            "404 Not Found",
            serde_json::json!({"error": {"code": 404, "status": "NOT_FOUND", "message": "no such path on the test STS"}}),
        )
    };
    lock(&state.requests).push(request);
    let body = body.to_string();
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tls.write_all(response.as_bytes()).await;
    let _ = tls.shutdown().await;
}

/// Reads one HTTP/1.1 request with a `content-length` body (what reqwest sends for a form).
async fn read_request<S: AsyncReadExt + Unpin>(stream: &mut S) -> Option<RecordedRequest> {
    const MAX: usize = 1024 * 1024;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > MAX {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let path = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length.min(MAX) {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(RecordedRequest {
        method,
        path,
        headers,
        body,
        client_certificates: Vec::new(),
    })
}

/// `YYYY-MM-DDTHH:MM:SSZ`, IAM Credentials' `expireTime` in whole seconds.
fn rfc3339(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn tls_error(what: &str, e: impl fmt::Display) -> Error {
    Error::new(
        Step::Config,
        ErrorKind::Internal,
        format!("test STS TLS setup ({what}): {e}"),
    )
}

fn io_error(what: &str, e: std::io::Error) -> Error {
    Error::new(Step::Config, ErrorKind::Io, format!("test STS: {what}")).with_source(e)
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_767_229_200)),
            "2026-01-01T01:00:00Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }
}
