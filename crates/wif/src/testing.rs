//! Test support for code built on wif-rs (feature `testing`): a static token provider, and
//! Google STS and IAM Credentials on one loopback wiremock server ([`FakeGoogle`]), composed
//! from the layer crates' own fakes, so your suites run with no cloud account and can assert on
//! what was sent.
//!
//! ```
//! use wif::secrecy::ExposeSecret as _;
//! use wif::testing::{FakeGoogle, FAKE_AUDIENCE};
//! use wif::{Credentials, TokenProvider as _};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wif::Error> {
//! let google = FakeGoogle::start().await;
//! let dir = tempfile::tempdir().expect("a temporary directory");
//! let token_file = dir.path().join("oidc-token");
//! std::fs::write(&token_file, "header.payload.signature").expect("write token");
//! let creds = Credentials::from_json(&google.config_json(&token_file, Some("sa@p.iam.gserviceaccount.com")))?;
//! assert_eq!(creds.token().await?.secret().expose_secret(), "impersonated-1");
//!
//! let exchange = &google.sts_requests().await[0];
//! assert_eq!(exchange.audience, FAKE_AUDIENCE);
//! assert_eq!(exchange.subject_token.secret().expose_secret(), "header.payload.signature");
//! let impersonation = &google.iam_requests().await[0];
//! assert_eq!(impersonation.service_account, "sa@p.iam.gserviceaccount.com");
//! assert_eq!(impersonation.bearer.as_ref().map(|t| t.secret().expose_secret()), Some("federated-1"));
//! # Ok(()) }
//! ```
//!
//! The fakes of every layer are here too, from their crates: [`sts`], [`impersonate`], the AWS
//! endpoints ([`aws`]: instance metadata, container credentials) and URL sources
//! ([`url_source`]). BigQuery and Cloud Storage have theirs in `wif_bigquery::testing` and
//! `wif_storage::testing`; mount them on [`FakeGoogle::server`] to serve every Google API from
//! one base URL, as the emulator does.

use std::path::Path;

use wiremock::MockServer;

pub use wif_core::StaticTokenProvider;
pub use wif_core::testing::{Scripted, StaticSubjectToken};
pub use wif_impersonate::testing::{IamCredentialsResponder, IamError, IamRequest};
pub use wif_sts::testing::{ClientAuth, StsError, StsRequest, StsResponder};

/// STS fakes: `wif_sts::testing`.
pub use wif_sts::testing as sts;

/// IAM Credentials fakes: `wif_impersonate::testing`.
pub use wif_impersonate::testing as impersonate;

/// AWS instance metadata and container credentials fakes: `wif_source_aws::testing`.
pub use wif_source_aws::testing as aws;

/// Subject-token endpoint fakes for URL sources: `wif_source_url::testing`.
pub use wif_source_url::testing as url_source;

use crate::{AccessToken, Credentials, Error, MapEnvironment};

/// Credentials that always hand out `token` (no network, no expiry).
pub fn static_credentials(token: &str) -> Credentials {
    Credentials::from_provider(StaticTokenProvider::new(AccessToken::new(token)))
}

/// Credentials from the configuration file at `config` that see the variables of `env` and
/// none of the process's own: what a workload with that environment builds. For a
/// configuration written for another platform, such as `wif-emulator`'s `aws-lambda.json` with
/// the variables of its emulated Lambda function.
///
/// ```
/// # fn main() -> Result<(), wif::Error> {
/// let dir = tempfile::tempdir().expect("a temporary directory");
/// let config = dir.path().join("aws.json");
/// std::fs::write(&config, r#"{
///     "type": "external_account",
///     "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/aws",
///     "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
///     "token_url": "https://sts.googleapis.com/v1/token",
///     "credential_source": {
///         "environment_id": "aws1",
///         "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
///     }
/// }"#).expect("write the configuration");
/// let lambda = [
///     ("AWS_REGION", "eu-west-1"),
///     ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
///     ("AWS_SECRET_ACCESS_KEY", "example-secret"),
/// ];
/// let env = lambda.map(|(name, value)| (name.to_owned(), value.to_owned()));
/// let credentials = wif::testing::credentials_in(env, &config)?;
/// # let _ = credentials;
/// # Ok(()) }
/// ```
pub fn credentials_in(
    env: impl IntoIterator<Item = (String, String)>,
    config: impl AsRef<Path>,
) -> Result<Credentials, Error> {
    let env: MapEnvironment = env.into_iter().collect();
    Credentials::builder()
        .environment(std::sync::Arc::new(env))
        .config_file(config)?
        .build()
}

/// The audience [`FakeGoogle::config_json`] writes: a well-formed workload identity pool
/// provider.
pub const FAKE_AUDIENCE: &str = wif_sts::testing::AUDIENCE;

/// A loopback stand-in for Google STS (`POST /v1/token`) and IAM Credentials
/// (`POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken`) on one wiremock server,
/// laid out as Google's hosts are under one base URL — so
/// [`CredentialsBuilder::endpoint_base_url`](crate::CredentialsBuilder::endpoint_base_url)`(google.base_url())`
/// points unchanged production code at it.
#[derive(Debug)]
pub struct FakeGoogle {
    server: MockServer,
}

impl FakeGoogle {
    /// Starts the server with STS (tokens `federated-N`, 1 h) and IAM Credentials (tokens
    /// `impersonated-N`).
    pub async fn start() -> Self {
        FakeGoogle::start_with(StsResponder::success(), IamCredentialsResponder::success()).await
    }

    /// Starts the server with these responders (faults, errors, other token names).
    pub async fn start_with(sts: StsResponder, iam: IamCredentialsResponder) -> Self {
        let server = MockServer::start().await;
        wif_sts::testing::mount(&server, sts).await;
        wif_impersonate::testing::mount(&server, iam).await;
        FakeGoogle { server }
    }

    /// The underlying wiremock server, to mount more mocks (or other APIs' fakes) or inspect
    /// raw requests.
    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// The base URL every endpoint is under (`http://127.0.0.1:PORT`).
    pub fn base_url(&self) -> String {
        self.server.uri()
    }

    /// The STS token URL.
    pub fn token_url(&self) -> String {
        format!("{}{}", self.server.uri(), wif_sts::testing::TOKEN_PATH)
    }

    /// The `generateAccessToken` URL for `email`.
    pub fn impersonation_url(&self, email: &str) -> String {
        wif_impersonate::testing::impersonation_url(&self.server, email)
    }

    /// A gcloud-shaped `external_account` configuration with a file source at
    /// `subject_token_file`, pointing at this server, optionally impersonating `impersonate`.
    pub fn config_json(&self, subject_token_file: &Path, impersonate: Option<&str>) -> String {
        let mut config = serde_json::json!({
            "type": "external_account",
            "audience": FAKE_AUDIENCE,
            "subject_token_type": crate::config::JWT_SUBJECT_TOKEN_TYPE,
            "token_url": self.token_url(),
            "credential_source": {"file": subject_token_file, "format": {"type": "text"}},
        });
        if let Some(email) = impersonate {
            config["service_account_impersonation_url"] =
                serde_json::Value::String(self.impersonation_url(email));
        }
        config.to_string()
    }

    /// Every STS exchange requested so far, decoded (audience, subject token, scopes, …).
    pub async fn sts_requests(&self) -> Vec<StsRequest> {
        wif_sts::testing::sts_requests(&self.server).await
    }

    /// Every impersonation requested so far, decoded (service account, lifetime, scopes,
    /// delegates, the federated token used).
    pub async fn iam_requests(&self) -> Vec<IamRequest> {
        wif_impersonate::testing::iam_requests(&self.server).await
    }

    /// How many STS exchanges were requested.
    pub async fn sts_calls(&self) -> usize {
        self.sts_requests().await.len()
    }

    /// How many impersonations were requested.
    pub async fn iam_calls(&self) -> usize {
        self.iam_requests().await.len()
    }

    /// The next `n` exchanges get `error`; later ones the usual answer.
    pub async fn fail_sts_next(&self, n: u64, error: StsError) {
        wif_sts::testing::mount_next(&self.server, n, error).await;
    }

    /// The next `n` impersonations get `error`; later ones the usual answer.
    pub async fn fail_iam_next(&self, n: u64, error: IamError) {
        wif_impersonate::testing::mount_next(&self.server, n, error).await;
    }
}
