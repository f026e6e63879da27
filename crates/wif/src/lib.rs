//! # wif — keyless Google Cloud access through Workload Identity Federation
//!
//! Code running on AWS (Lambda, EC2, ECS, EKS) or anywhere with an OIDC or SAML identity gets
//! Google access tokens **without a service-account key**:
//!
//! ```text
//! caller ──token()──▶ cache ──▶ [impersonation] ──▶ Google STS ──▶ subject token source
//!                      (single-flight,  (IAM Credentials   (RFC 8693)    (AWS SigV4 | file | URL | yours)
//!                       refresh-ahead)   generateAccessToken)
//! ```
//!
//! This facade reads Google's `external_account` credential configuration (exactly what
//! `gcloud iam workload-identity-pools create-cred-config` writes), assembles the layers from the
//! `wif-*` crates, and hands you [`Credentials`]: cheap to clone, `Send + Sync`, cached, and a
//! [`TokenProvider`].
//!
//! ```no_run
//! use wif::Credentials;
//! use wif::secrecy::ExposeSecret;
//!
//! # async fn run() -> Result<(), wif::Error> {
//! // Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS, then gcloud's file.
//! let creds = Credentials::from_env()?;
//! let token = creds.token().await?;
//! let header = format!("Bearer {}", token.secret().expose_secret());
//! # let _ = header; Ok(()) }
//! ```
//!
//! `from_env`, `from_file` and `from_json` trust the configuration: it is your own file, and it
//! decides where tokens are sent, which files are read and (with the executable source) what
//! runs. A configuration from anywhere else — uploaded by a tenant, fetched from a repository
//! you don't control — goes through [`Credentials::from_json_untrusted`] /
//! [`Credentials::from_file_untrusted`], which apply [`TrustPolicy::strict`] first (see
//! [`trust`] and `docs/security.md`).
//!
//! Building is resolve, then assemble: [`CredentialsBuilder::plan`] says which value of every
//! setting the chain will use and where it came from (builder, configuration, environment or
//! default), with warnings about settings that are legal but probably not meant; `build()`
//! assembles exactly that plan. `wif explain` and `wif token --dry-run` print it.
//!
//! Plug in your own identity with the builder:
//!
//! ```
//! use wif::{async_trait, Credentials, Error, SourceContext, SubjectToken, SubjectTokenSource};
//!
//! #[derive(Debug)]
//! struct MyIdp;
//!
//! #[async_trait]
//! impl SubjectTokenSource for MyIdp {
//!     async fn subject_token(&self, _ctx: &SourceContext) -> Result<SubjectToken, Error> {
//!         Ok(SubjectToken::new("eyJhbGciOiJSUzI1NiJ9..."))
//!     }
//! }
//!
//! let creds = Credentials::builder()
//!     .source(MyIdp)
//!     .audience("//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/idp")
//!     .subject_token_type("urn:ietf:params:oauth:token-type:jwt")
//!     .impersonate("writer@my-project.iam.gserviceaccount.com")
//!     .build()?;
//! # Ok::<(), wif::Error>(())
//! ```
//!
//! ## What is here
//!
//! **Getting tokens**
//! * [`Credentials`] — the handle: `from_env`, `from_file`, `from_json`, the `*_untrusted`
//!   variants, `builder()`; implements [`TokenProvider`].
//! * [`CredentialsBuilder`] — assembles the chain from a configuration or your own source.
//! * [`CredentialsInfo`] — what a `Credentials` was built from (secret-free, for logs).
//! * [`Chain`] — the assembled layers before the outer cache, run one step at a time (what
//!   `wif explain` walks).
//!
//! **Configuration**
//! * [`config`] — Google's `external_account` file: [`ExternalAccountConfig`], with its
//!   [`CredentialSource`].
//! * [`adc`] — Application Default Credentials discovery.
//! * [`trust`] — [`TrustPolicy`], for configurations you did not write.
//!
//! **Tokens and the seams between layers** (from [`wif-core`](layers::core))
//! * [`TokenProvider`], [`AccessToken`], and the scopes [`CLOUD_PLATFORM_SCOPE`], [`IAM_SCOPE`].
//! * [`SubjectTokenSource`], [`SubjectToken`], [`SourceContext`], [`TokenFormat`] — to bring
//!   your own identity; [`async_trait`](macro@async_trait) to implement the traits; [`secrecy`] for the secrets.
//!
//! **Errors**
//! * [`Error`] with its [`Step`], [`ErrorKind`] and the [`ServerError`] Google answered.
//!
//! **Tuning and testing hooks**
//! * [`RetryPolicy`], [`CacheOptions`] — retries, deadlines and refresh timing.
//! * [`Environment`], [`OsEnvironment`], [`MapEnvironment`] — where environment variables come
//!   from (a map in tests).
//! * `testing` (feature `testing`) — wiremock stand-ins for STS and IAM Credentials, static
//!   credentials, for your own test suites.
//!
//! **The layers themselves**, in [`layers`]: [`core`](layers::core), the sources
//! ([`source_aws`](layers::source_aws), [`source_file`](layers::source_file),
//! [`source_url`](layers::source_url), [`source_exec`](layers::source_exec),
//! [`source_x509`](layers::source_x509)), the exchange ([`sts`](layers::sts)) and
//! impersonation ([`impersonate`](layers::impersonate)), for callers who replace one.
//!
//! ## Google Cloud APIs with these credentials
//!
//! Any HTTP client can send `token()` as a bearer token. Ready-made, over any [`TokenProvider`]:
//!
//! * [`wif-bigquery`](https://docs.rs/wif-bigquery) — BigQuery REST: streaming inserts, queries
//!   with parameters and paging.
//! * [`wif-storage`](https://docs.rs/wif-storage) — Cloud Storage JSON API: uploads (resumable
//!   included), ranged downloads, listing, deletes.
//!
//! ### Bridges to other Google Cloud clients
//!
//! Crates that put these credentials under the Rust clients people already use (the official
//! `google-cloud-*` crates, `object_store`, `gcloud-*`, tonic) are listed here as they land,
//! each with a link and a one-line example.
//!
//! ### Tools
//!
//! Also in the workspace: [`wif-cli`](https://crates.io/crates/wif-cli) (the `wif` command) and
//! [`wif-emulator`](https://docs.rs/wif-emulator) (a loopback AWS and Google Cloud for tests and
//! demos).
//!
//! ## Features
//!
//! * `testing` (off by default): the `testing` module described above.
//! * `aws-config` (off by default): the AWS source takes region and credentials from an AWS SDK
//!   `SdkConfig` or aws-config's default chains (ECS, EKS, SSO, profiles);
//!   `CredentialsBuilder::aws_sdk_config`.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod adc;
mod assemble;
mod builder;
pub mod causes;
mod chain;
pub mod config;
mod credentials;
mod endpoints;
pub mod plan;
mod prefetch;
mod resolve;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
pub mod trust;

pub use builder::CredentialsBuilder;
pub use chain::Chain;
pub use config::{CredentialSource, ExternalAccountConfig};
pub use credentials::{Credentials, CredentialsInfo};
pub use endpoints::ENDPOINT_BASE_URL_VAR;
pub use plan::Plan;
pub use trust::TrustPolicy;
pub use wif_core::{
    AccessToken, CLOUD_PLATFORM_SCOPE, CacheOptions, Cause, Environment, Error, ErrorKind,
    IAM_SCOPE, MapEnvironment, OsEnvironment, RetryPolicy, ServerError, SourceContext, Step,
    SubjectToken, SubjectTokenSource, TokenFormat, TokenProvider, async_trait, secrecy,
};

/// The layer crates, for callers who assemble or replace layers by hand.
pub mod layers {
    pub use wif_core as core;
    pub use wif_impersonate as impersonate;
    pub use wif_source_aws as source_aws;
    pub use wif_source_exec as source_exec;
    pub use wif_source_file as source_file;
    pub use wif_source_url as source_url;
    pub use wif_source_x509 as source_x509;
    pub use wif_sts as sts;
}
