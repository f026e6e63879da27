//! Test support (feature `testing`): the AWS endpoints a workload reads its identity from, on a
//! loopback wiremock server — the EC2 instance metadata service ([`FakeImds`]) and the
//! container credentials endpoint of ECS and EKS Pod Identity ([`FakeContainerCredentials`]) —
//! with their refusals, faults (slow, flaky, expired credentials first) and recorders.
//!
//! ```
//! use wif_core::{MapEnvironment, SourceContext, SubjectTokenSource as _};
//! use wif_source_aws::testing::{FakeImds, ImdsCall, ImdsResponder};
//! use wif_source_aws::{AwsSource, AWS_SUBJECT_TOKEN_TYPE};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wif_core::Error> {
//! let imds = FakeImds::start_with(ImdsResponder::new().require_imdsv2()).await;
//! let source = AwsSource::builder()
//!     .credential_source(&imds.credential_source(true))
//!     .environment(std::sync::Arc::new(MapEnvironment::new())) // nothing from the process
//!     .build()?;
//! let ctx = SourceContext::new("//iam.googleapis.com/…", AWS_SUBJECT_TOKEN_TYPE);
//! source.subject_token(&ctx).await?;
//! let calls: Vec<ImdsCall> = imds.requests().await.into_iter().map(|r| r.call).collect();
//! assert_eq!(calls[0], ImdsCall::SessionToken { ttl_seconds: Some(300) });
//! # Ok(()) }
//! ```

mod container;
mod imds;

use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Respond};

pub use container::{
    CONTAINER_ROLE_ARN, ContainerCredentialsError, ContainerCredentialsRequest,
    ContainerCredentialsResponder,
};
pub use imds::{
    IMDS_REGION_PATH, IMDS_ROLE, IMDS_ROLE_PATH, IMDS_TOKEN_PATH, IMDS_ZONE_PATH, ImdsCall,
    ImdsError, ImdsRequest, ImdsResponder,
};

use crate::AwsCredentialSource;

/// The EC2 instance metadata service on 127.0.0.1 (`/latest/…`), answered by an
/// [`ImdsResponder`]. Dropping it stops the server.
#[derive(Debug)]
pub struct FakeImds {
    server: MockServer,
}

impl FakeImds {
    /// Starts an instance answering IMDSv1 and v2 ([`ImdsResponder::new`]).
    pub async fn start() -> Self {
        FakeImds::start_with(ImdsResponder::new()).await
    }

    /// Starts the fake answering with `responder`.
    pub async fn start_with(responder: ImdsResponder) -> Self {
        let server = MockServer::start().await;
        mount_imds(&server, responder).await;
        FakeImds { server }
    }

    /// The underlying server.
    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// The fake's base URL (stands in for `http://169.254.169.254`).
    pub fn base_url(&self) -> String {
        self.server.uri()
    }

    /// The `credential_source` `gcloud … create-cred-config --aws [--enable-imdsv2]` writes,
    /// pointed at the fake.
    pub fn credential_source(&self, imdsv2: bool) -> AwsCredentialSource {
        let base = self.base_url();
        AwsCredentialSource {
            environment_id: Some("aws1".to_owned()),
            region_url: Some(format!("{base}{IMDS_ZONE_PATH}")),
            url: Some(format!("{base}{IMDS_ROLE_PATH}")),
            regional_cred_verification_url: Some(
                crate::DEFAULT_REGIONAL_CRED_VERIFICATION_URL.to_owned(),
            ),
            imdsv2_session_token_url: imdsv2.then(|| format!("{base}{IMDS_TOKEN_PATH}")),
        }
    }

    /// Every metadata call so far, oldest first.
    pub async fn requests(&self) -> Vec<ImdsRequest> {
        imds_requests(&self.server).await
    }

    /// The next `n` calls meet `error` where it hits; later ones the fake's responder again.
    pub async fn fail_next(&self, n: u64, error: ImdsError) {
        mount_imds_next(&self.server, n, ImdsResponder::error(error)).await;
    }
}

/// Everything under `/latest/` answered by `responder`, not yet mounted.
fn metadata(responder: impl Respond + 'static) -> Mock {
    Mock::given(path_regex("^/latest/")).respond_with(responder)
}

/// Mounts `responder` on `server` for everything under `/latest/`.
pub async fn mount_imds(server: &MockServer, responder: impl Respond + 'static) {
    metadata(responder)
        .named("instance metadata")
        .mount(server)
        .await;
}

/// Mounts `responder` for the next `n` metadata calls only, ahead of what is mounted already.
pub async fn mount_imds_next(server: &MockServer, n: u64, responder: impl Respond + 'static) {
    metadata(responder)
        .up_to_n_times(n)
        .with_priority(1)
        .named("instance metadata (injected)")
        .mount(server)
        .await;
}

/// Every metadata call (`/latest/…`) `server` received, oldest first.
pub async fn imds_requests(server: &MockServer) -> Vec<ImdsRequest> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path().starts_with("/latest/"))
        .map(ImdsRequest::parse)
        .collect()
}

/// The path [`FakeContainerCredentials`] serves on: an ECS-style relative URI.
pub const CONTAINER_CREDENTIALS_PATH: &str = "/v2/credentials/wif-test-task";

/// `GET /v2/credentials/wif-test-task` answered by `responder`, not yet mounted.
fn container_credentials(responder: impl Respond + 'static) -> Mock {
    Mock::given(method("GET"))
        .and(path(CONTAINER_CREDENTIALS_PATH))
        .respond_with(responder)
}

/// The container credentials endpoint on 127.0.0.1 (`GET /v2/credentials/wif-test-task`),
/// answered by a [`ContainerCredentialsResponder`]. Dropping it stops the server.
#[derive(Debug)]
pub struct FakeContainerCredentials {
    server: MockServer,
}

impl FakeContainerCredentials {
    /// Starts the fake handing out fresh credentials, no authorization required (ECS).
    pub async fn start() -> Self {
        FakeContainerCredentials::start_with(ContainerCredentialsResponder::new()).await
    }

    /// Starts the fake answering with `responder`.
    pub async fn start_with(responder: ContainerCredentialsResponder) -> Self {
        let server = MockServer::start().await;
        container_credentials(responder)
            .named("container credentials")
            .mount(&server)
            .await;
        FakeContainerCredentials { server }
    }

    /// The underlying server.
    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// The value for `AWS_CONTAINER_CREDENTIALS_FULL_URI`.
    pub fn full_uri(&self) -> String {
        format!("{}{CONTAINER_CREDENTIALS_PATH}", self.server.uri())
    }

    /// The value for `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (its host is `169.254.170.2` in
    /// ECS; use [`full_uri`](Self::full_uri) to reach the fake).
    pub fn relative_uri(&self) -> &'static str {
        CONTAINER_CREDENTIALS_PATH
    }

    /// Every credentials request so far, oldest first.
    pub async fn requests(&self) -> Vec<ContainerCredentialsRequest> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == CONTAINER_CREDENTIALS_PATH)
            .map(ContainerCredentialsRequest::parse)
            .collect()
    }

    /// The next `n` requests get `error`; later ones the fake's responder again.
    pub async fn fail_next(&self, n: u64, error: ContainerCredentialsError) {
        container_credentials(error)
            .up_to_n_times(n)
            .with_priority(1)
            .named("container credentials (injected)")
            .mount(&self.server)
            .await;
    }
}
