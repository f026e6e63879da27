//! The causes more than one layer recognises: a chain that ran past its deadline (wherever it
//! was), a wrong clock, and AWS refusing a signature or its credentials — which the AWS source
//! hears from AWS itself, and the STS exchange hears from Google, which relays AWS's answer. The other causes belong to the crate that recognises
//! them (`wif_source_aws::causes`, `wif_sts::causes`, `wif_impersonate::causes`,
//! `wif::causes`).

crate::causes! {
    /// A refresh ran past its chain deadline ([`ChainDeadline`](crate::ChainDeadline)).
    CHAIN_DEADLINE = ("chain_deadline", "the token chain ran past its deadline", "check the network path to the host of the step that was running, and the service's status; if it is merely slow, give the chain more time: CredentialsBuilder::chain_deadline, or `wif --deadline`");
    /// The local clock is minutes off: AWS signatures and JWTs are only valid near the issuer's time.
    CLOCK_SKEW = ("clock_skew", "this machine's clock is wrong", "sync the clock with NTP (chrony or systemd-timesyncd; on EC2 the Amazon Time Sync Service at 169.254.169.123); containers and VMs take the host's clock");
    /// AWS `ExpiredToken`: the temporary AWS credentials have expired.
    AWS_CREDENTIALS_EXPIRED = ("aws_credentials_expired", "the AWS credentials have expired", "temporary credentials must be fresh when signing: restart the workload or fix the process that writes them (Lambda and EC2 rotate them for you)");
    /// AWS `InvalidClientTokenId`: AWS does not know the access key, or a session token is missing.
    AWS_CREDENTIALS_INVALID = ("aws_credentials_invalid", "AWS does not accept these credentials", "use the role's current access key id together with its session token (AWS_SESSION_TOKEN for ASIA… keys); a key copied without its session token is refused");
    /// AWS `SignatureDoesNotMatch`: the secret key does not belong to the key id, or a wrong region.
    AWS_SIGNATURE_MISMATCH = ("aws_signature_mismatch", "AWS computed a different signature", "the secret access key does not belong to the access key id, or the region in the signed URL differs from the signing region: check AWS_REGION and the key pair");
}
