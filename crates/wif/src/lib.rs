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

pub mod adc;
mod assemble;
mod builder;
pub mod causes;
mod chain;
pub mod config;
mod credentials;
pub mod plan;
mod prefetch;
mod resolve;
#[cfg(feature = "testing")]
pub mod testing;
pub mod trust;

pub use builder::CredentialsBuilder;
pub use chain::Chain;
pub use config::{CredentialSource, ExternalAccountConfig};
pub use credentials::{Credentials, CredentialsInfo};
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
