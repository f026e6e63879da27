//! Test support (feature `testing`): Google STS on a loopback wiremock server, for your own
//! suites — the exchange's fake, its documented errors and faults, and a recorder that decodes
//! what your code sent.
//!
//! The crate documentation has a whole test; in short: [`FakeSts::start`], point
//! [`StsExchangeBuilder::token_url`](crate::StsExchangeBuilder::token_url) at
//! [`FakeSts::token_url`], run your code, and read [`FakeSts::requests`].
//!
//! Faults: [`StsResponder`] answers by turns (`flaky`, `failing_first`, `slow`,
//! `expired_then_valid`) and [`StsError`] has every documented error; [`FakeSts::fail_next`]
//! injects one into a running fake. [`mount`] and [`sts_requests`] do the same on a server you
//! share with other fakes (`wif::testing::FakeGoogle` does).

mod recorded;
mod responder;

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Respond};

pub use recorded::{ClientAuth, StsRequest};
pub use responder::{StsError, StsResponder};
pub use wif_core::testing::StaticSubjectToken;

/// The path STS serves the exchange on.
pub const TOKEN_PATH: &str = "/v1/token";

/// A well-formed workload identity pool provider audience, for tests.
pub const AUDIENCE: &str = "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/test-pool/providers/test-provider";

/// Google STS on 127.0.0.1: `POST /v1/token`, answered by an [`StsResponder`]. Dropping it
/// stops the server.
#[derive(Debug)]
pub struct FakeSts {
    server: MockServer,
}

impl FakeSts {
    /// Starts the fake answering with [`StsResponder::success`].
    pub async fn start() -> Self {
        FakeSts::start_with(StsResponder::success()).await
    }

    /// Starts the fake answering with `responder`.
    pub async fn start_with(responder: StsResponder) -> Self {
        let server = MockServer::start().await;
        mount(&server, responder).await;
        FakeSts { server }
    }

    /// The underlying server, to mount more or look at raw requests.
    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// The token URL to give [`StsExchangeBuilder::token_url`](crate::StsExchangeBuilder::token_url).
    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.server.uri())
    }

    /// Every exchange received so far, decoded, oldest first.
    pub async fn requests(&self) -> Vec<StsRequest> {
        sts_requests(&self.server).await
    }

    /// The next `n` exchanges get `error`; later ones the fake's responder again.
    pub async fn fail_next(&self, n: u64, error: StsError) {
        mount_next(&self.server, n, error).await;
    }
}

/// Mounts `responder` on `server` for `POST /v1/token`.
pub async fn mount(server: &MockServer, responder: impl Respond + 'static) {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(responder)
        .named("google sts")
        .mount(server)
        .await;
}

/// Mounts `responder` on `server` for the next `n` exchanges only, ahead of what is mounted
/// already (fault injection into a running fake).
pub async fn mount_next(server: &MockServer, n: u64, responder: impl Respond + 'static) {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(responder)
        .up_to_n_times(n)
        .with_priority(1)
        .named("google sts (injected)")
        .mount(server)
        .await;
}

/// Every exchange `server` received at [`TOKEN_PATH`], decoded, oldest first. Empty when the
/// server does not record requests.
pub async fn sts_requests(server: &MockServer) -> Vec<StsRequest> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path().ends_with(TOKEN_PATH))
        .filter_map(StsRequest::parse)
        .collect()
}
