//! # wif-source-aws — AWS workloads proving their identity to Google
//!
//! The source step ([`Step::Source`](wif_core::Step::Source)) of the Workload Identity Federation
//! chain for AWS, in two flavours:
//!
//! * [`AwsSource`], for a pool's **AWS provider**: a
//!   [`SubjectTokenSource`](wif_core::SubjectTokenSource) that signs an AWS STS
//!   `GetCallerIdentity` request with the workload's AWS credentials (SigV4, via `aws-sigv4`) and
//!   serializes it as the subject token Google STS verifies. It never sends a request to AWS STS.
//! * [`AwsJwtSource`], for a pool's **OIDC provider**: asks AWS STS `GetWebIdentityToken` (AWS
//!   outbound identity federation) for a JWT that AWS signs, and hands that to Google STS (see
//!   [below](#aws-issued-jwts-outbound-identity-federation)).
//!
//! Where the inputs come from, in order (`docs/protocol.md#aws-source` in the repository):
//!
//! * **Region**: [`AwsSourceBuilder::region`], then `AWS_REGION`, then `AWS_DEFAULT_REGION`, then
//!   the shared-config profile's `region`, then the metadata `region_url` (availability zone →
//!   region, tolerant of local and Wavelength zones). Cached for the life of the source.
//! * **Credentials**: [`AwsSourceBuilder::credentials_provider`] (any aws-config provider or your
//!   own) if given; else the AWS SDKs' default chain ([`chain`]): `AWS_ACCESS_KEY_ID` +
//!   `AWS_SECRET_ACCESS_KEY` (Lambda), web identity (EKS IRSA, AWS STS
//!   `AssumeRoleWithWebIdentity`), container credentials (ECS task roles, EKS Pod Identity), a
//!   shared-config profile (`AWS_PROFILE`, `~/.aws/config`), then the metadata `url` (EC2).
//!   Temporary credentials are kept until [`REFRESH_MARGIN`] before they expire, never used
//!   after; [`Provenance`] says which provider gave them.
//!   From the metadata service, the role name is kept (listed again only if its credentials
//!   answer 404).
//! * **IMDSv2**: with `imdsv2_session_token_url`, one `PUT` for four minutes of the session
//!   token's five-minute TTL, reused for every GET of every refresh in that time. Where the
//!   environment gives the identity (Lambda, ECS, EKS, a laptop) and the region, the
//!   metadata service is never contacted.
//!
//! ```no_run
//! use wif_core::{SourceContext, SubjectTokenSource};
//! use wif_source_aws::{AwsSource, AWS_SUBJECT_TOKEN_TYPE};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wif_core::Error> {
//! // What `gcloud iam workload-identity-pools create-cred-config --aws --enable-imdsv2` writes.
//! let source = AwsSource::builder()
//!     .environment_id("aws1")
//!     .region_url("http://169.254.169.254/latest/meta-data/placement/availability-zone")
//!     .credentials_url("http://169.254.169.254/latest/meta-data/iam/security-credentials")
//!     .imdsv2_session_token_url("http://169.254.169.254/latest/api/token")
//!     .build()?;
//! let ctx = SourceContext::new(
//!     "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/aws",
//!     AWS_SUBJECT_TOKEN_TYPE,
//! );
//! let subject_token = source.subject_token(&ctx).await?; // hand it to the STS exchange
//! # let _ = subject_token; Ok(()) }
//! ```
//!
//! The `aws-config` feature (on by default) reads shared-config profiles with aws-config's
//! parser (static keys, `credential_process`); `profile-chains` adds aws-config's whole profile
//! provider (assume-role chains, IAM Identity Center / SSO). Either way an aws-config `SdkConfig`
//! is accepted too (`AwsSource::from_default_chain()`, `AwsSourceBuilder::sdk_config`).
//!
//! To see what Google will see, [`get_caller_identity`] sends the signed request to AWS once
//! (`wif explain --call-aws`) and returns the caller's assumed-role ARN, checked against Google's
//! 127-byte `google.subject` limit.
//!
//! ## AWS-issued JWTs (outbound identity federation)
//!
//! Once an account administrator has run `aws iam enable-outbound-web-identity-federation`, a
//! role allowed `sts:GetWebIdentityToken` can get a JWT from AWS STS (issuer
//! `https://<uuid>.tokens.sts.global.api.aws`, with OIDC discovery and JWKS). Register that issuer
//! as an OIDC provider of the pool, and [`AwsJwtSource`] fetches the token: one SigV4-signed `POST`
//! to the regional endpoint `https://sts.{region}.amazonaws.com/`, with the same credentials and
//! region resolution as [`AwsSource`] (environment first, IMDSv1/v2, any credentials provider).
//! The token is asked for with `RS256`, the one of AWS's algorithms Google STS verifies.
//!
//! ```no_run
//! use std::time::Duration;
//! use wif_core::{SourceContext, SubjectTokenSource};
//! use wif_source_aws::{AwsJwtSource, JWT_SUBJECT_TOKEN_TYPE};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wif_core::Error> {
//! let provider = "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/aws-jwt";
//! let source = AwsJwtSource::builder()
//!     // The `aud` the OIDC provider accepts: by default its name with `https:`.
//!     .audience(format!("https:{provider}"))
//!     .duration(Duration::from_secs(900))
//!     .build()?; // Lambda: credentials and region from the environment
//! let ctx = SourceContext::new(provider, JWT_SUBJECT_TOKEN_TYPE);
//! let jwt = source.subject_token(&ctx).await?; // carries AWS's `Expiration`
//! # let _ = jwt; Ok(()) }
//! ```
//!
//! AWS's refusals come back with AWS's code and message, a hint and a [cause](causes): outbound
//! federation not enabled, `sts:GetWebIdentityToken` not allowed, a duration longer than the
//! session, expired or unknown credentials, a wrong clock. Throttling and 5xx are retried.
//!
//! Secrets (secret key, session token, IMDSv2 token, the web identity token, the container
//! authorization token, the signed request, the issued JWT) are `secrecy` types and never appear
//! in `Debug`, errors or traces.
//!
//! ## Features
//!
//! * `aws-config` (on by default): shared-config profiles (`AWS_PROFILE`, `~/.aws/config`:
//!   static keys and `credential_process`) through aws-config's parser and providers; and
//!   region and credentials from an AWS SDK `SdkConfig` or aws-config's own chains:
//!   `AwsSourceBuilder::sdk_config`, `AwsSource::from_default_chain`, `config_loader`.
//! * `profile-chains`: every kind of profile through aws-config's profile provider
//!   (assume-role chains, IAM Identity Center / SSO).
//! * `testing`: wiremock fakes of the instance metadata service and the container credentials
//!   endpoint, for your own suites.

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "aws-config")]
mod aws_http;
mod aws_sts;
mod caller_identity;
pub mod causes;
pub mod chain;
mod container;
mod credential_source;
mod credentials;
// The fuzz targets' entry points: behind the `fuzzing` feature, and compiled into the crate's
// own tests, which exercise them.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod imds;
mod jwt_request;
mod jwt_source;
#[cfg(feature = "aws-config")]
mod profile;
mod provenance;
mod region;
mod resolver;
#[cfg(feature = "aws-config")]
mod sdk_config;
mod signing;
mod source;
#[cfg(feature = "testing")]
pub mod testing;
mod web_identity;

pub use caller_identity::{
    CallerIdentity, GOOGLE_SUBJECT_MAX_BYTES, SHORT_SUBJECT_MAPPING, SIGNED_HOST_HEADER,
    SubjectMapping, exceeds_google_subject_limit, get_caller_identity,
};
pub use credential_source::{
    AwsCredentialSource, DEFAULT_REGIONAL_CRED_VERIFICATION_URL, verification_url,
};
pub use credentials::AwsCredentials;
pub use jwt_request::DEFAULT_AWS_STS_ENDPOINT;
pub use jwt_source::{AwsJwtSource, AwsJwtSourceBuilder};
pub use provenance::{CredentialsFrom, Provenance, RegionFrom, Resolved};
pub use region::region_from_zone;
pub use resolver::{AwsResolver, REFRESH_MARGIN};
pub use signing::{
    SignedRequest, TARGET_RESOURCE_HEADER, TargetResource, sign_get_caller_identity,
};
pub use source::{AwsSource, AwsSourceBuilder};

/// The `aws-config` crate, re-exported so callers use the same version wif-rs was built with.
#[cfg(feature = "aws-config")]
#[cfg_attr(docsrs, doc(cfg(feature = "aws-config")))]
pub use aws_config;
#[cfg(feature = "aws-config")]
#[cfg_attr(docsrs, doc(cfg(feature = "aws-config")))]
pub use sdk_config::config_loader;

/// The `subject_token_type` of AWS credential sources.
pub use wif_core::protocol::AWS_SUBJECT_TOKEN_TYPE;

/// The `subject_token_type` of [`AwsJwtSource`]'s tokens (an OIDC provider's JWT).
pub use wif_core::protocol::JWT_SUBJECT_TOKEN_TYPE;
