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
    NO_AWS_CREDENTIALS = ("no_aws_credentials", "no AWS credentials", "give the workload an AWS identity: on Lambda and ECS it is in the environment already; on EKS use IRSA or Pod Identity; on EC2 add \"url\": \"http://169.254.169.254/latest/meta-data/iam/security-credentials\" to credential_source; on a laptop set AWS_PROFILE; or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN)");
    /// The instance metadata service did not answer (not on EC2, or a container's hop limit).
    NO_METADATA_SERVICE = ("no_metadata_service", "the instance metadata service is unreachable", "not on EC2, or in a container with hop limit 1 (set HttpPutResponseHopLimit=2); elsewhere the identity comes from the environment: Lambda and ECS set it, EKS sets it with IRSA or Pod Identity, a laptop names a profile with AWS_PROFILE");
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
    // The default chain's providers (web identity, container credentials, profiles) and the
    // platforms that give a workload no identity.
    /// `AWS_ROLE_ARN` without `AWS_WEB_IDENTITY_TOKEN_FILE` (or the reverse), or a malformed
    /// role ARN or session name.
    WEB_IDENTITY_INCOMPLETE = ("web_identity_incomplete", "the web identity settings are incomplete", "web identity (EKS IRSA) needs both AWS_ROLE_ARN (arn:aws:iam::ACCOUNT:role/NAME) and AWS_WEB_IDENTITY_TOKEN_FILE; on EKS the pod identity webhook sets both once the service account carries the eks.amazonaws.com/role-arn annotation and the pod is restarted");
    /// The web identity token file is missing, empty, not a regular file, or too large.
    WEB_IDENTITY_TOKEN_UNREADABLE = ("web_identity_token_unreadable", "the web identity token file cannot be read", "AWS_WEB_IDENTITY_TOKEN_FILE must name a readable, non-empty token file: on EKS the projected service-account token volume (/var/run/secrets/eks.amazonaws.com/serviceaccount/token) that the pod identity webhook mounts; check the pod's volumes and that this process's user may read it");
    /// AWS STS refused `AssumeRoleWithWebIdentity` with `AccessDenied`: the role's trust policy
    /// does not trust this token.
    WEB_IDENTITY_NOT_TRUSTED = ("web_identity_not_trusted", "the role does not trust this web identity", "the role's trust policy must allow sts:AssumeRoleWithWebIdentity for the cluster's OIDC provider (Federated: arn:aws:iam::ACCOUNT:oidc-provider/oidc.eks.REGION.amazonaws.com/id/ID), with the conditions :sub = system:serviceaccount:NAMESPACE:SERVICE_ACCOUNT and :aud = sts.amazonaws.com");
    /// AWS STS rejected the web identity token itself (`InvalidIdentityToken`,
    /// `ExpiredTokenException`, `IDPRejectedClaim`).
    WEB_IDENTITY_TOKEN_REJECTED = ("web_identity_token_rejected", "AWS STS rejected the web identity token", "register the cluster's OIDC issuer as an IAM OIDC identity provider with the audience sts.amazonaws.com (eksctl utils associate-iam-oidc-provider); an expired token means the file is not refreshed: the kubelet rotates the projected token, a copied one goes stale");
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI` (or `_RELATIVE_URI`) is malformed, or names a host
    /// credentials may not be sent to over plain http.
    CONTAINER_URI_REFUSED = ("container_uri_refused", "the container credentials URI is refused", "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or plain http to a loopback address, 169.254.170.2 (ECS) or 169.254.170.23 / [fd00:ec2::23] (EKS Pod Identity); AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is a path starting with /");
    /// The container credentials endpoint refused the request (a missing or stale
    /// authorization token, or no role behind the path).
    CONTAINER_CREDENTIALS_REFUSED = ("container_credentials_refused", "the container credentials endpoint refused the request", "on EKS Pod Identity the authorization token (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE) must be the pod's current one: restart the pod if it was copied; on ECS the task's role must still exist and the URI be the one ECS set");
    /// The container credentials endpoint (ECS) did not answer.
    CONTAINER_CREDENTIALS_UNREACHABLE = ("container_credentials_unreachable", "the container credentials endpoint is unreachable", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI only works inside an ECS task, where 169.254.170.2 answers; outside one, unset it; with AWS_CONTAINER_CREDENTIALS_FULL_URI check that the endpoint it names runs");
    /// EKS Pod Identity's agent (`169.254.170.23`) did not answer.
    POD_IDENTITY_AGENT_UNREACHABLE = ("pod_identity_agent_unreachable", "the EKS Pod Identity agent is not running", "install the Amazon EKS Pod Identity Agent add-on (aws eks create-addon --addon-name eks-pod-identity-agent) and check its DaemonSet has a running pod on this node (kubectl -n kube-system get pods -l app.kubernetes.io/name=eks-pod-identity-agent)");
    /// A Kubernetes pod with no AWS identity: neither IRSA nor Pod Identity variables, and the
    /// node's metadata service gave nothing.
    EKS_POD_WITHOUT_ROLE = ("eks_pod_without_role", "the pod has no IRSA or Pod Identity role", "annotate the pod's service account with eks.amazonaws.com/role-arn: arn:aws:iam::ACCOUNT:role/NAME (IRSA), or create an EKS Pod Identity association for it; then restart the pod, so AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE (or AWS_CONTAINER_CREDENTIALS_FULL_URI) are set");
    /// An ECS task with no task role: ECS gave it no container credentials variable.
    ECS_TASK_WITHOUT_ROLE = ("ecs_task_without_role", "the ECS task has no task role", "set taskRoleArn in the task definition (the task role, not only the execution role) and start a new task: ECS then sets AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    /// `AWS_PROFILE` names a profile the shared config and credentials files do not have, or
    /// the profile cannot give credentials.
    PROFILE_FAILED = ("profile_failed", "the AWS profile gave no credentials", "check AWS_PROFILE against `aws configure list-profiles` and the profile's settings in AWS_CONFIG_FILE (~/.aws/config) and AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials); `aws sts get-caller-identity --profile NAME` shows whether it works");
    /// The profile's AWS IAM Identity Center (SSO) session has expired.
    SSO_SESSION_EXPIRED = ("sso_session_expired", "the AWS SSO session has expired", "sign in again: aws sso login --profile NAME (or aws sso login --sso-session SESSION)");
    /// `AWS_PROFILE` is set, but this build has no shared-config profiles.
    PROFILES_NOT_BUILT = ("profiles_not_built", "this build cannot read AWS profiles", "build wif-source-aws (or wif) with its default `aws-config` feature, or give credentials another way (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
}
