//! Test support (feature `testing`): a subject-token endpoint on a loopback wiremock server —
//! what `UrlSource` reads (Azure's instance metadata service, a sidecar) — with test JWTs, the
//! statuses such endpoints answer, faults, and a recorder of what your code sent.
//!
//! ```
//! use wif_core::secrecy::ExposeSecret as _;
//! use wif_core::{SourceContext, SubjectTokenSource as _, TokenFormat};
//! use wif_source_url::UrlSource;
//! use wif_source_url::testing::{FakeTokenEndpoint, TokenEndpointResponder};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wif_core::Error> {
//! let format = TokenFormat::Json { subject_token_field_name: "access_token".into() };
//! let endpoint = FakeTokenEndpoint::start_with(
//!     TokenEndpointResponder::jwts(format.clone()).requiring_header("Metadata", "True"),
//! )
//! .await;
//! let source = UrlSource::new(&endpoint.url(), format)?
//!     .with_headers([("Metadata".to_owned(), "True".to_owned())])?;
//! let ctx = SourceContext::new("//iam.googleapis.com/…", "urn:ietf:params:oauth:token-type:jwt");
//! source.subject_token(&ctx).await?;
//! let sent = &endpoint.requests().await[0];
//! assert_eq!(sent.header("metadata").map(|v| v.expose_secret()), Some("True"));
//! # Ok(()) }
//! ```

mod recorded;
mod responder;

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Respond};

pub use recorded::TokenEndpointRequest;
pub use responder::{TEST_ISSUER, TokenEndpointError, TokenEndpointResponder, test_jwt};

/// The path [`FakeTokenEndpoint`] serves tokens on.
pub const TOKEN_PATH: &str = "/token";

/// A subject-token endpoint on 127.0.0.1: `GET /token`, answered by a
/// [`TokenEndpointResponder`]. Dropping it stops the server.
#[derive(Debug)]
pub struct FakeTokenEndpoint {
    server: MockServer,
}

impl FakeTokenEndpoint {
    /// Starts the fake serving fresh test JWTs as plain text.
    pub async fn start() -> Self {
        FakeTokenEndpoint::start_with(TokenEndpointResponder::jwts(wif_core::TokenFormat::Text))
            .await
    }

    /// Starts the fake answering with `responder`.
    pub async fn start_with(responder: TokenEndpointResponder) -> Self {
        let server = MockServer::start().await;
        mount(&server, TOKEN_PATH, responder).await;
        FakeTokenEndpoint { server }
    }

    /// The underlying server.
    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// The URL to give `UrlSource::new` (a `credential_source.url`).
    pub fn url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.server.uri())
    }

    /// Every request for a token so far, oldest first.
    pub async fn requests(&self) -> Vec<TokenEndpointRequest> {
        token_endpoint_requests(&self.server, TOKEN_PATH).await
    }

    /// The next `n` requests get `error`; later ones the fake's responder again.
    pub async fn fail_next(&self, n: u64, error: TokenEndpointError) {
        mount_next(&self.server, TOKEN_PATH, n, error).await;
    }
}

/// `GET {token_path}` answered by `responder`, not yet mounted.
fn token_endpoint(token_path: &str, responder: impl Respond + 'static) -> Mock {
    Mock::given(method("GET"))
        .and(path(token_path))
        .respond_with(responder)
}

/// Mounts `responder` on `server` for `GET {token_path}`.
pub async fn mount(server: &MockServer, token_path: &str, responder: impl Respond + 'static) {
    token_endpoint(token_path, responder)
        .named("subject token endpoint")
        .mount(server)
        .await;
}

/// Mounts `responder` for the next `n` requests of `GET {token_path}` only, ahead of what is
/// mounted already.
pub async fn mount_next(
    server: &MockServer,
    token_path: &str,
    n: u64,
    responder: impl Respond + 'static,
) {
    token_endpoint(token_path, responder)
        .up_to_n_times(n)
        .with_priority(1)
        .named("subject token endpoint (injected)")
        .mount(server)
        .await;
}

/// Every request `server` received at `token_path`, oldest first.
pub async fn token_endpoint_requests(
    server: &MockServer,
    token_path: &str,
) -> Vec<TokenEndpointRequest> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == token_path)
        .map(TokenEndpointRequest::parse)
        .collect()
}
