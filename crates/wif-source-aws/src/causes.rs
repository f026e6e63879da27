//! The known causes ([`Cause`](wif_core::Cause)) of this source's failures
//! ([`Step::Source`](wif_core::Step::Source)), attached to its errors
//! ([`wif_core::Error::known_cause`]): stable values for programs, where messages and hints are
//! prose for people. `wif explain` renders them; each has a section of `docs/troubleshooting.md`.
//! The clock and AWS credential causes are shared with the STS exchange, which hears AWS's answer
//! through Google, and live in [`wif_core::causes`](mod@wif_core::causes).

pub use wif_core::causes::{
    AWS_CREDENTIALS_EXPIRED, AWS_CREDENTIALS_INVALID, AWS_SIGNATURE_MISMATCH, CLOCK_SKEW,
};

wif_core::causes! {
    /// No region: `AWS_REGION`/`AWS_DEFAULT_REGION` unset and no `region_url`.
    NO_REGION = ("no_region", "no AWS region", "set AWS_REGION (e.g. AWS_REGION=us-east-1), or add \"region_url\": \"http://169.254.169.254/latest/meta-data/placement/availability-zone\" to credential_source");
    /// No credentials: the AWS key variables unset, no metadata `url`, no provider.
    NO_AWS_CREDENTIALS = ("no_aws_credentials", "no AWS credentials", "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), add \"url\": \"http://169.254.169.254/latest/meta-data/iam/security-credentials\" to credential_source (EC2), or pass a credentials provider (ECS/EKS: the `aws-config` feature)");
    /// The instance metadata service did not answer (not on EC2, or a container's hop limit).
    NO_METADATA_SERVICE = ("no_metadata_service", "the instance metadata service is unreachable", "not on EC2, or in a container with hop limit 1 (set HttpPutResponseHopLimit=2), or on Lambda/ECS where credentials come from the environment or the container endpoint (set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION, or use the `aws-config` feature)");
    /// The instance metadata service accepted the connection, but it broke before a complete
    /// answer (reset, truncated) on every attempt: the service is there, something interferes.
    METADATA_CONNECTION_BROKEN = ("metadata_connection_broken", "the connection to the instance metadata service broke", "the service may be throttling this instance (too many metadata requests per second: cache credentials rather than fetching them per request), or a proxy or firewall on the way cuts connections (metadata requests must not go through HTTP_PROXY)");
    /// The instance requires IMDSv2 (`HttpTokens=required`) and the configuration uses IMDSv1.
    IMDSV2_REQUIRED = ("imdsv2_required", "the instance requires IMDSv2", "add \"imdsv2_session_token_url\": \"http://169.254.169.254/latest/api/token\" to credential_source (gcloud iam workload-identity-pools create-cred-config --aws --enable-imdsv2)");
    /// The instance metadata service lists no IAM role (no instance profile).
    NO_INSTANCE_ROLE = ("no_instance_role", "no IAM role attached to the instance", "attach an instance profile whose role the workload identity pool's AWS provider trusts");
    /// The instance metadata service refused the request (disabled, or blocked).
    METADATA_REFUSED = ("metadata_refused", "the instance metadata service refused the request", "it may be disabled for this instance (enable it: HttpEndpoint=enabled) or blocked by a local firewall (allow the workload to reach 169.254.169.254)");
    // AWS STS's own refusals: of `GetWebIdentityToken` (`AwsJwtSource`) and of the diagnostic
    // `GetCallerIdentity` call.
    /// `AccessDenied`: the caller's IAM policy does not allow the STS action
    /// (`sts:GetWebIdentityToken`).
    AWS_ACCESS_DENIED = ("aws_access_denied", "the role may not call AWS STS", "the role's IAM policy must allow the STS action (sts:GetWebIdentityToken for AWS-issued JWTs), and no SCP or permissions boundary may deny it");
    /// `OutboundWebIdentityFederationDisabledException`: the AWS account has not enabled outbound
    /// identity federation (`aws iam enable-outbound-web-identity-federation`).
    OUTBOUND_FEDERATION_DISABLED = ("outbound_federation_disabled", "outbound identity federation is off in the AWS account", "an account administrator runs `aws iam enable-outbound-web-identity-federation` once");
    /// `SessionDurationEscalationException`: the requested token lifetime outlives the AWS session.
    DURATION_EXCEEDS_SESSION = ("duration_exceeds_session", "the JWT would outlive the AWS session", "a JWT cannot outlive the AWS session whose credentials sign the request: lower `duration` (default 300 s)");
    /// `JWTPayloadSizeExceededException`: the token's claims (tags) are too large.
    JWT_PAYLOAD_TOO_LARGE = ("jwt_payload_too_large", "the JWT's claims are too large", "send fewer or shorter tags");
    /// The AWS STS endpoint configured is the global `https://sts.amazonaws.com`, which does not
    /// serve `GetWebIdentityToken`.
    GLOBAL_STS_ENDPOINT = ("global_sts_endpoint", "the global AWS STS endpoint does not issue JWTs", "GetWebIdentityToken is regional only: leave the default https://sts.{region}.amazonaws.com/ or name a regional endpoint");
}
