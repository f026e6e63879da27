//! # wif-source-aws — AWS workloads proving their identity to Google
//!
//! Step 1 of the Workload Identity Federation chain for AWS: a
//! [`SubjectTokenSource`](wif_core::SubjectTokenSource) that signs an AWS STS `GetCallerIdentity`
//! request with the workload's AWS credentials (SigV4, via `aws-sigv4`) and serializes it as the
//! subject token Google STS verifies. No request is ever sent to AWS by this crate.
//!
//! Where the inputs come from, in order (external-account reference §3):
//!
//! * **Region**: [`AwsSourceBuilder::region`], then `AWS_REGION`, then `AWS_DEFAULT_REGION`, then
//!   the metadata `region_url` (availability zone → region, tolerant of local and Wavelength
//!   zones). Cached for the life of the source.
//! * **Credentials**: [`AwsSourceBuilder::credentials_provider`] (any aws-config provider or your
//!   own), then `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`), then the
//!   metadata `url` (role name, then `url/<role>`). Read afresh on every refresh.
//! * **IMDSv2**: with `imdsv2_session_token_url`, one `PUT` per refresh, reused for every GET.
//!   With env credentials and an env region (Lambda) the metadata service is never contacted.
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
//! On ECS/Fargate, EKS (IRSA, Pod Identity), or with SSO and profiles, enable the `aws-config`
//! feature and use `AwsSource::from_default_chain()` or `AwsSourceBuilder::sdk_config`.
//!
//! To see what Google will see, [`get_caller_identity`] sends the signed request to AWS once
//! (`wif explain --call-aws`) and returns the caller's assumed-role ARN, checked against Google's
//! 127-byte `google.subject` limit.
//!
//! Secrets (secret key, session token, IMDSv2 token, the signed request) are `secrecy` types and
//! never appear in `Debug`, errors or traces.

mod builder;
mod caller_identity;
pub mod causes;
mod credentials;
#[doc(hidden)]
pub mod fuzzing;
mod imds;
mod region;
#[cfg(feature = "aws-config")]
mod sdk_config;
mod signing;
mod source;

pub use builder::{AwsCredentialSource, AwsSourceBuilder};
pub use caller_identity::{
    CallerIdentity, GOOGLE_SUBJECT_MAX_BYTES, SHORT_SUBJECT_MAPPING, SIGNED_HOST_HEADER,
    SubjectMapping, exceeds_google_subject_limit, get_caller_identity,
};
pub use credentials::AwsCredentials;
pub use region::region_from_zone;
pub use signing::{
    DEFAULT_REGIONAL_CRED_VERIFICATION_URL, SignedRequest, TARGET_RESOURCE_HEADER, TargetResource,
    sign_get_caller_identity,
};
pub use source::{AwsSource, CredentialsFrom, Provenance, RegionFrom, Resolved};

/// The `aws-config` crate, re-exported so callers use the same version wif-rs was built with.
#[cfg(feature = "aws-config")]
pub use aws_config;
#[cfg(feature = "aws-config")]
pub use sdk_config::config_loader;

/// The `subject_token_type` of AWS credential sources.
pub const AWS_SUBJECT_TOKEN_TYPE: &str = "urn:ietf:params:aws:token-type:aws4_request";
