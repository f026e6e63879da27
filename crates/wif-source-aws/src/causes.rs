//! The named causes ([`wif_core::Error::cause`]) of this source's failures (step 2 of the
//! flow): stable keys for programs, where messages and hints are prose for people. `wif
//! explain` reports a diagnosis of the same name for the region, credentials and metadata ones.

/// No region: `AWS_REGION`/`AWS_DEFAULT_REGION` unset and no `region_url`.
pub const NO_REGION: &str = "no_region";
/// No credentials: the AWS key variables unset, no metadata `url`, no provider.
pub const NO_AWS_CREDENTIALS: &str = "no_aws_credentials";
/// The instance metadata service did not answer (not on EC2, or a container's hop limit).
pub const NO_METADATA_SERVICE: &str = "no_metadata_service";
/// The instance metadata service accepted the connection, but it broke before a complete
/// answer (reset, truncated) on every attempt: the service is there, something interferes.
pub const METADATA_CONNECTION_BROKEN: &str = "metadata_connection_broken";
/// The instance requires IMDSv2 (`HttpTokens=required`) and the configuration uses IMDSv1.
pub const IMDSV2_REQUIRED: &str = "imdsv2_required";
/// The instance metadata service lists no IAM role (no instance profile).
pub const NO_INSTANCE_ROLE: &str = "no_instance_role";
/// The instance metadata service refused the request (disabled, or blocked).
pub const METADATA_REFUSED: &str = "metadata_refused";

// AWS STS's own refusals: of `GetWebIdentityToken` (`AwsJwtSource`) and of the diagnostic
// `GetCallerIdentity` call.

/// The signing time is more than 15 minutes from AWS's clock (`Signature expired`,
/// `RequestExpired`): the local clock is wrong.
pub const CLOCK_SKEW: &str = "clock_skew";
/// `SignatureDoesNotMatch`: the secret key does not belong to the key id, or a wrong region.
pub const AWS_SIGNATURE_MISMATCH: &str = "aws_signature_mismatch";
/// `ExpiredToken`: the temporary AWS credentials have expired.
pub const AWS_CREDENTIALS_EXPIRED: &str = "aws_credentials_expired";
/// `InvalidClientTokenId`: AWS does not know the access key (or a session token is missing).
pub const AWS_CREDENTIALS_INVALID: &str = "aws_credentials_invalid";
/// `AccessDenied`: the caller's IAM policy does not allow the STS action
/// (`sts:GetWebIdentityToken`).
pub const AWS_ACCESS_DENIED: &str = "aws_access_denied";
/// `OutboundWebIdentityFederationDisabledException`: the AWS account has not enabled outbound
/// identity federation (`aws iam enable-outbound-web-identity-federation`).
pub const OUTBOUND_FEDERATION_DISABLED: &str = "outbound_federation_disabled";
/// `SessionDurationEscalationException`: the requested token lifetime outlives the AWS session.
pub const DURATION_EXCEEDS_SESSION: &str = "duration_exceeds_session";
/// `JWTPayloadSizeExceededException`: the token's claims (tags) are too large.
pub const JWT_PAYLOAD_TOO_LARGE: &str = "jwt_payload_too_large";
/// The AWS STS endpoint configured is the global `https://sts.amazonaws.com`, which does not
/// serve `GetWebIdentityToken`.
pub const GLOBAL_STS_ENDPOINT: &str = "global_sts_endpoint";
