//! The causes more than one layer recognises: a wrong clock, and AWS refusing a signature or its
//! credentials — which the AWS source hears from AWS itself, and the STS exchange hears from
//! Google, which relays AWS's answer. The other causes belong to the crate that recognises
//! them (`wif_source_aws::causes`, `wif_sts::causes`, `wif_impersonate::causes`,
//! `wif::causes`).

use crate::Cause;

/// The local clock is minutes off: AWS signatures and JWTs are only valid near the issuer's time.
pub const CLOCK_SKEW: Cause = Cause::new(
    "clock_skew",
    "this machine's clock is wrong",
    "sync the clock with NTP (chrony or systemd-timesyncd; on EC2 the Amazon Time Sync Service at 169.254.169.123); containers and VMs take the host's clock",
);

/// AWS `ExpiredToken`: the temporary AWS credentials have expired.
pub const AWS_CREDENTIALS_EXPIRED: Cause = Cause::new(
    "aws_credentials_expired",
    "the AWS credentials have expired",
    "temporary credentials must be fresh when signing: restart the workload or fix the process that writes them (Lambda and EC2 rotate them for you)",
);

/// AWS `InvalidClientTokenId`: AWS does not know the access key, or a session token is missing.
pub const AWS_CREDENTIALS_INVALID: Cause = Cause::new(
    "aws_credentials_invalid",
    "AWS does not accept these credentials",
    "use the role's current access key id together with its session token (AWS_SESSION_TOKEN for ASIA… keys); a key copied without its session token is refused",
);

/// AWS `SignatureDoesNotMatch`: the secret key does not belong to the key id, or a wrong region.
pub const AWS_SIGNATURE_MISMATCH: Cause = Cause::new(
    "aws_signature_mismatch",
    "AWS computed a different signature",
    "the secret access key does not belong to the access key id, or the region in the signed URL differs from the signing region: check AWS_REGION and the key pair",
);

/// Every cause of this module.
pub const ALL: [Cause; 4] = [
    CLOCK_SKEW,
    AWS_CREDENTIALS_EXPIRED,
    AWS_CREDENTIALS_INVALID,
    AWS_SIGNATURE_MISMATCH,
];
