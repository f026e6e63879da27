//! Test support (feature `testing`): IAM Credentials `generateAccessToken` on a loopback
//! wiremock server, for your own suites — success, every documented error, slow, flaky and
//! expired-then-valid answers, and a recorder that decodes what your code sent.
//!
//! ```
//! use std::time::Duration;
//! use wif_core::{secrecy::ExposeSecret as _, AccessToken, StaticTokenProvider, TokenProvider as _};
//! use wif_impersonate::{Impersonation, testing::FakeIamCredentials};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wif_core::Error> {
//! let iam = FakeIamCredentials::start().await;
//! let email = "writer@my-project.iam.gserviceaccount.com";
//! let writer = Impersonation::builder()
//!     .federated(StaticTokenProvider::new(AccessToken::new("federated-token")))
//!     .url(iam.impersonation_url(email))
//!     .lifetime(Duration::from_secs(600))
//!     .build()?;
//! writer.token().await?;
//! let sent = &iam.requests().await[0];
//! assert_eq!(sent.service_account, email);
//! assert_eq!(sent.lifetime, Some(Duration::from_secs(600)));
//! assert_eq!(sent.bearer.as_ref().map(|t| t.secret().expose_secret()), Some("federated-token"));
//! # Ok(()) }
//! ```
//!
//! [`FakeIamCredentials::fail_next`] injects an [`IamError`] into a running fake; [`mount`] and
//! [`iam_requests`] do the same on a server shared with other fakes (`wif::testing::FakeGoogle`).

mod recorded;
mod responder;

use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Respond};

pub use recorded::IamRequest;
pub use responder::{IamCredentialsResponder, IamError};

/// The path pattern IAM Credentials serves `generateAccessToken` on.
pub const GENERATE_ACCESS_TOKEN_PATH: &str =
    r"^/v1/projects/-/serviceAccounts/[^/]+:generateAccessToken$";

/// IAM Credentials on 127.0.0.1, answered by an [`IamCredentialsResponder`]. Dropping it stops
/// the server.
#[derive(Debug)]
pub struct FakeIamCredentials {
    server: MockServer,
}

impl FakeIamCredentials {
    /// Starts the fake answering with [`IamCredentialsResponder::success`].
    pub async fn start() -> Self {
        FakeIamCredentials::start_with(IamCredentialsResponder::success()).await
    }

    /// Starts the fake answering with `responder`.
    pub async fn start_with(responder: IamCredentialsResponder) -> Self {
        let server = MockServer::start().await;
        mount(&server, responder).await;
        FakeIamCredentials { server }
    }

    /// The underlying server.
    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// The `generateAccessToken` URL for `email` on this fake.
    pub fn impersonation_url(&self, email: &str) -> String {
        impersonation_url(&self.server, email)
    }

    /// Every call received so far, decoded, oldest first.
    pub async fn requests(&self) -> Vec<IamRequest> {
        iam_requests(&self.server).await
    }

    /// The next `n` calls get `error`; later ones the fake's responder again.
    pub async fn fail_next(&self, n: u64, error: IamError) {
        mount_next(&self.server, n, error).await;
    }
}

/// The `generateAccessToken` URL for `email` on `server`.
pub fn impersonation_url(server: &MockServer, email: &str) -> String {
    format!(
        "{}/v1/projects/-/serviceAccounts/{email}:generateAccessToken",
        server.uri()
    )
}

/// `POST …/serviceAccounts/{email}:generateAccessToken` answered by `responder`, not yet mounted.
fn generate_access_token(responder: impl Respond + 'static) -> Mock {
    Mock::given(method("POST"))
        .and(path_regex(GENERATE_ACCESS_TOKEN_PATH))
        .respond_with(responder)
}

/// Mounts `responder` on `server` for `POST …/serviceAccounts/{email}:generateAccessToken`.
pub async fn mount(server: &MockServer, responder: impl Respond + 'static) {
    generate_access_token(responder)
        .named("iam credentials")
        .mount(server)
        .await;
}

/// Mounts `responder` on `server` for the next `n` calls only, ahead of what is mounted
/// already.
pub async fn mount_next(server: &MockServer, n: u64, responder: impl Respond + 'static) {
    generate_access_token(responder)
        .up_to_n_times(n)
        .with_priority(1)
        .named("iam credentials (injected)")
        .mount(server)
        .await;
}

/// Every `generateAccessToken` call `server` received, decoded, oldest first.
pub async fn iam_requests(server: &MockServer) -> Vec<IamRequest> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(IamRequest::parse)
        .collect()
}
