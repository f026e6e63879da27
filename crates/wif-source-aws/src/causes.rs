//! The named causes ([`wif_core::Error::cause`]) of this source's failures (step 2 of the
//! flow): stable keys for programs, where messages and hints are prose for people. `wif
//! explain` reports a diagnosis of the same name for each.

/// No region: `AWS_REGION`/`AWS_DEFAULT_REGION` unset and no `region_url`.
pub const NO_REGION: &str = "no_region";
/// No credentials: the AWS key variables unset, no metadata `url`, no provider.
pub const NO_AWS_CREDENTIALS: &str = "no_aws_credentials";
/// The instance metadata service did not answer (not on EC2, or a container's hop limit).
pub const NO_METADATA_SERVICE: &str = "no_metadata_service";
/// The instance requires IMDSv2 (`HttpTokens=required`) and the configuration uses IMDSv1.
pub const IMDSV2_REQUIRED: &str = "imdsv2_required";
/// The instance metadata service lists no IAM role (no instance profile).
pub const NO_INSTANCE_ROLE: &str = "no_instance_role";
/// The instance metadata service refused the request (disabled, or blocked).
pub const METADATA_REFUSED: &str = "metadata_refused";
