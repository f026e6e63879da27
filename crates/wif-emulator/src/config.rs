//! What the emulated world looks like: the AWS identity the workload runs as, the Google pool
//! that trusts it, the service accounts it may impersonate, and the rules Google STS applies.

use std::time::{Duration, SystemTime};

/// The emulated AWS identity (what a Lambda function or EC2 instance runs as).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AwsIdentity {
    /// AWS account id.
    pub account: String,
    /// IAM role name.
    pub role: String,
    /// Session name of the assumed role (a Lambda function's name).
    pub session_name: String,
    /// Region (`us-east-1`); the metadata service reports `{region}a` as the availability zone.
    pub region: String,
    /// Access key id of the role's temporary credentials.
    pub access_key_id: String,
    /// Secret access key of the role's temporary credentials.
    pub secret_access_key: String,
    /// Session token of the role's temporary credentials.
    pub session_token: String,
    /// When the role's temporary credentials expire, if the emulated world says so (`None`: they
    /// outlive any request). Instance metadata reports it as `Expiration`; AWS STS refuses a
    /// `GetWebIdentityToken` that would outlive it (`SessionDurationEscalationException`) and any
    /// request signed once it has passed (`ExpiredToken`).
    pub session_expires_at: Option<SystemTime>,
}

impl AwsIdentity {
    /// The assumed-role ARN AWS reports for this identity:
    /// `arn:aws:sts::{account}:assumed-role/{role}/{session_name}`.
    pub fn assumed_role_arn(&self) -> String {
        format!(
            "arn:aws:sts::{}:assumed-role/{}/{}",
            self.account, self.role, self.session_name
        )
    }

    /// The role ARN without the session (what `attribute.aws_role` maps to).
    pub fn role_arn(&self) -> String {
        format!("arn:aws:sts::{}:assumed-role/{}", self.account, self.role)
    }

    /// The IAM role's own ARN, `arn:aws:iam::{account}:role/{role}`: the `sub` of the JWTs AWS
    /// STS `GetWebIdentityToken` mints for the role's sessions.
    pub fn iam_role_arn(&self) -> String {
        format!("arn:aws:iam::{}:role/{}", self.account, self.role)
    }
}

/// A condition Google STS evaluates over the mapped attributes of an AWS caller, the emulator's
/// stand-in for a CEL attribute condition. Every set field must match.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct AttributeCondition {
    /// `assertion.account == '…'`
    pub account: Option<String>,
    /// `attribute.aws_role == '…'` (the role ARN without session)
    pub aws_role: Option<String>,
    /// `assertion.arn.startsWith('…')`
    pub arn_prefix: Option<String>,
}

/// How Google STS maps an AWS caller to `google.subject`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubjectMapping {
    /// `google.subject = assertion.arn` (Google's default; breaks on long Lambda session ARNs).
    #[default]
    Arn,
    /// `google.subject = attribute.aws_role` (the role ARN without session).
    AwsRole,
}

/// How Google STS maps an X.509 workload certificate (the leaf of an mTLS subject token) to
/// `google.subject`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum X509SubjectMapping {
    /// `google.subject = assertion.subject.dn.cn`: the leaf's subject common name (the mapping
    /// Google's X.509 federation guide uses).
    #[default]
    CommonName,
    /// `google.subject = assertion.san.uri`: the leaf's first URI subject alternative name, where
    /// a SPIFFE ID (`spiffe://trust-domain/workload`) lives.
    SanUri,
}

/// A service account the federated principal may impersonate.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServiceAccount {
    /// The service account's email.
    pub email: String,
    /// Principals holding `roles/iam.workloadIdentityUser` on it, as `principal://…` or
    /// `principalSet://…` strings (see [`EmulatorConfig::principal_set_for_role`]).
    pub workload_identity_users: Vec<String>,
}

impl ServiceAccount {
    /// A service account `email` that `workload_identity_users` (`principal://…` or
    /// `principalSet://…` strings) may impersonate.
    pub fn new(
        email: impl Into<String>,
        workload_identity_users: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        ServiceAccount {
            email: email.into(),
            workload_identity_users: workload_identity_users
                .into_iter()
                .map(Into::into)
                .collect(),
        }
    }
}

/// The whole emulated world.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EmulatorConfig {
    /// The AWS identity of the workload.
    pub aws: AwsIdentity,
    /// Google project number hosting the workload identity pool.
    pub project_number: String,
    /// Google project id used for BigQuery and Cloud Storage.
    pub project_id: String,
    /// Workload identity pool id.
    pub pool: String,
    /// Workload identity pool provider id (AWS provider).
    pub aws_provider: String,
    /// Workload identity pool provider id (OIDC provider, for file, URL and executable sources).
    pub oidc_provider: String,
    /// Workload identity pool provider id (X.509 provider, for certificate sources over mTLS).
    pub x509_provider: String,
    /// Workload identity pool provider id (OIDC provider trusting the emulated AWS account's
    /// outbound federation issuer, for JWTs from AWS STS `GetWebIdentityToken`).
    pub aws_jwt_provider: String,
    /// The emulated AWS account has outbound identity federation enabled (`aws iam
    /// enable-outbound-web-identity-federation`); when not, `GetWebIdentityToken` answers
    /// `OutboundWebIdentityFederationDisabledException`. The initial value of a switch tests can
    /// flip at run time ([`crate::RunningEmulator::set_outbound_web_identity_federation`]).
    pub outbound_web_identity_federation: bool,
    /// The role's policy allows `sts:GetWebIdentityToken`; when not, AWS STS answers `AccessDenied`.
    pub web_identity_token_allowed: bool,
    /// The attribute condition of the AWS provider.
    pub condition: AttributeCondition,
    /// How `google.subject` is mapped for AWS callers.
    pub subject_mapping: SubjectMapping,
    /// How `google.subject` is mapped for X.509 workload certificates.
    pub x509_subject_mapping: X509SubjectMapping,
    /// Service accounts that exist.
    pub service_accounts: Vec<ServiceAccount>,
    /// Refuse tokenless instance-metadata GETs (IMDSv2 required).
    pub imdsv2_required: bool,
    /// Lifetime of federated tokens.
    pub federated_token_lifetime: Duration,
    /// Accepted clock skew on signed AWS requests (AWS allows 15 minutes).
    pub max_clock_skew: Duration,
    /// The longest service-account token IAM Credentials issues: 1 h, or up to 12 h where the
    /// org policy `constraints/iam.allowServiceAccountCredentialLifetimeExtension` allows it.
    pub max_token_lifetime: Duration,
    /// When set, IAM Credentials issues every service-account token with this lifetime instead
    /// of the one asked for (the request is still checked as usual): refresh tests and benches
    /// then see a token near its expiry within seconds, without a client setting that real IAM
    /// would refuse. Google STS's tokens follow [`federated_token_lifetime`](Self::federated_token_lifetime).
    pub issued_token_lifetime: Option<Duration>,
    /// How long BigQuery remembers an `insertAll` row's `insertId`: a row re-sent within it is
    /// acknowledged and not stored again; after it, it is a new row (BigQuery's de-duplication
    /// is best effort and short-lived). Default one minute.
    pub insert_id_window: Duration,
    /// BigQuery and Cloud Storage also take requests with no `Authorization` header at all, as
    /// Google's client libraries send them when pointed at an emulator (`*_EMULATOR_HOST`). A
    /// token that is sent must still be one the chain issued. Off by default, so a test that
    /// passes proves its client presented the chain's token; `wif emulator` turns it on.
    pub anonymous_access: bool,
}

/// The service account the default configuration lets the AWS role impersonate.
pub const DEFAULT_SERVICE_ACCOUNT: &str = "wif-demo-writer@wif-demo.iam.gserviceaccount.com";

impl Default for EmulatorConfig {
    fn default() -> Self {
        let aws = AwsIdentity {
            account: "123456789012".into(),
            role: "wif-demo-lambda-role".into(),
            session_name: "wif-demo-function".into(),
            region: "us-east-1".into(),
            access_key_id: "ASIAEMULATOR00000001".into(),
            secret_access_key: "emulator/secret/access/key/0000000000000".into(),
            session_token: "emulator-session-token-FwoGZXIvYXdzEBYaDEMULATOR".into(),
            session_expires_at: None,
        };
        let mut config = EmulatorConfig {
            aws,
            project_number: "123456789012".into(),
            project_id: "wif-demo".into(),
            pool: "wif-demo-pool".into(),
            aws_provider: "aws".into(),
            oidc_provider: "oidc".into(),
            x509_provider: "x509".into(),
            aws_jwt_provider: "aws-jwt".into(),
            outbound_web_identity_federation: true,
            web_identity_token_allowed: true,
            condition: AttributeCondition::default(),
            subject_mapping: SubjectMapping::Arn,
            x509_subject_mapping: X509SubjectMapping::CommonName,
            service_accounts: Vec::new(),
            imdsv2_required: false,
            federated_token_lifetime: Duration::from_secs(3600),
            max_clock_skew: Duration::from_secs(15 * 60),
            max_token_lifetime: Duration::from_secs(3600),
            issued_token_lifetime: None,
            insert_id_window: Duration::from_secs(60),
            anonymous_access: false,
        };
        config.condition.account = Some(config.aws.account.clone());
        let role_set = config.principal_set_for_role();
        config.service_accounts.push(ServiceAccount {
            email: DEFAULT_SERVICE_ACCOUNT.into(),
            workload_identity_users: vec![role_set, config.principal_set_all()],
        });
        config
    }
}

impl EmulatorConfig {
    /// `//iam.googleapis.com/projects/{n}/locations/global/workloadIdentityPools/{pool}/providers/{provider}`
    pub fn audience(&self, provider: &str) -> String {
        format!(
            "//iam.googleapis.com/projects/{}/locations/global/workloadIdentityPools/{}/providers/{}",
            self.project_number, self.pool, provider
        )
    }

    /// The audience of the AWS provider.
    pub fn aws_audience(&self) -> String {
        self.audience(&self.aws_provider)
    }

    /// The audience of the OIDC provider.
    pub fn oidc_audience(&self) -> String {
        self.audience(&self.oidc_provider)
    }

    /// The audience of the X.509 provider (reached over the mTLS listener only).
    pub fn x509_audience(&self) -> String {
        self.audience(&self.x509_provider)
    }

    /// The audience of the AWS JWT provider, for the token exchange's `audience` parameter.
    pub fn aws_jwt_audience(&self) -> String {
        self.audience(&self.aws_jwt_provider)
    }

    /// The AWS JWT provider's default allowed audience, the `aud` to ask AWS STS for
    /// (`Audience.member.1`): Google's `https://iam.googleapis.com/projects/{n}/…/providers/{provider}`
    /// form. Google STS also accepts tokens for [`Self::aws_jwt_audience`] (the `//` form).
    pub fn aws_jwt_allowed_audience(&self) -> String {
        format!("https:{}", self.aws_jwt_audience())
    }

    /// The issuer of the emulated AWS account's web identity tokens:
    /// `https://{account}.tokens.sts.global.api.aws.invalid` (AWS's is
    /// `https://{uuid}.tokens.sts.global.api.aws`; `.invalid` keeps it from resolving).
    pub fn aws_jwt_issuer(&self) -> String {
        format!(
            "https://{}.tokens.sts.global.api.aws.invalid",
            self.aws.account
        )
    }

    /// `principalSet://…/attribute.aws_role/{role ARN}`: every session of the AWS role.
    pub fn principal_set_for_role(&self) -> String {
        format!(
            "principalSet://iam.googleapis.com/projects/{}/locations/global/workloadIdentityPools/{}/attribute.aws_role/{}",
            self.project_number,
            self.pool,
            self.aws.role_arn()
        )
    }

    /// `principalSet://…/*`: every identity of the pool.
    pub fn principal_set_all(&self) -> String {
        format!(
            "principalSet://iam.googleapis.com/projects/{}/locations/global/workloadIdentityPools/{}/*",
            self.project_number, self.pool
        )
    }

    /// `principal://…/subject/{subject}`.
    pub fn principal_for_subject(&self, subject: &str) -> String {
        format!(
            "principal://iam.googleapis.com/projects/{}/locations/global/workloadIdentityPools/{}/subject/{}",
            self.project_number, self.pool, subject
        )
    }
}
