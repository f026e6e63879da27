//! The subject token source of a [`Plan`](super::Plan), as a typed value: which source, and every
//! setting it will run with. Assembly builds the source from exactly this.

use std::path::PathBuf;
use std::time::Duration;

use url::Url;
use wif_core::TokenFormat;

use super::{Origin, Setting};

/// Which subject token source the chain uses, with its resolved settings.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
// One plan per chain: the size of its largest variant does not matter, a `Box` in the public
// type would.
#[allow(clippy::large_enum_variant)]
pub enum SourcePlan {
    /// A token file (`credential_source.file`).
    File(FileSourcePlan),
    /// A token URL (`credential_source.url`).
    Url(UrlSourcePlan),
    /// AWS: a SigV4-signed `GetCallerIdentity` request (`credential_source.environment_id`).
    Aws(AwsSourcePlan),
    /// Google's pluggable-auth executable (`credential_source.executable`).
    Executable(ExecutableSourcePlan),
    /// An X.509 certificate, for mTLS (`credential_source.certificate`).
    Certificate(CertificateSourcePlan),
    /// Your own `SubjectTokenSource`, given to the builder.
    Custom(CustomSourcePlan),
}

impl SourcePlan {
    /// `file`, `url`, `aws`, `executable`, `x509`, or a custom source's own kind.
    pub fn kind(&self) -> &str {
        match self {
            SourcePlan::File(_) => "file",
            SourcePlan::Url(_) => "url",
            SourcePlan::Aws(_) => "aws",
            SourcePlan::Executable(_) => "executable",
            SourcePlan::Certificate(_) => "x509",
            SourcePlan::Custom(c) => &c.kind,
        }
    }
}

/// A token file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileSourcePlan {
    /// The file read on every refresh.
    pub path: PathBuf,
    /// How its content becomes the token.
    pub format: TokenFormat,
}

/// A token URL.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UrlSourcePlan {
    /// The endpoint fetched (`GET`) on every refresh.
    pub url: Url,
    /// The request headers' names (their values may be credentials and are not in the plan).
    pub header_names: Vec<String>,
    /// How the response body becomes the token.
    pub format: TokenFormat,
}

/// Where the AWS region will come from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AwsRegionPlan {
    /// Known now: from the builder or an environment variable.
    Known(Setting<String>),
    /// Asked of the instance metadata service (`credential_source.region_url`).
    Metadata(Url),
    /// Nowhere: the source will fail with the `no_region` cause.
    Missing,
    /// The shared-config profile's `region`, when a shared file names one (the plan reads no
    /// file), else the instance metadata service's `region_url` if the configuration has one.
    ProfileOrMetadata {
        /// The profile: `AWS_PROFILE`, or `default`.
        profile: String,
        /// `credential_source.region_url`, if configured.
        metadata: Option<Url>,
    },
}

/// Where the AWS credentials will come from: the provider of the default chain
/// (`wif_source_aws::chain`) that the environment selects.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AwsCredentialsPlan {
    /// The credentials provider given to the builder.
    Provider,
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    Environment {
        /// Whether `AWS_SESSION_TOKEN` is set too (temporary credentials).
        session_token: bool,
    },
    /// The instance metadata service (`credential_source.url`): the instance profile's role.
    Metadata(Url),
    /// Nowhere: the source will fail with the `no_aws_credentials` cause.
    Missing,
    /// Web identity (EKS IRSA): `AWS_WEB_IDENTITY_TOKEN_FILE` exchanged for `AWS_ROLE_ARN`'s
    /// credentials with AWS STS `AssumeRoleWithWebIdentity`.
    WebIdentity {
        /// `AWS_ROLE_ARN`.
        role_arn: String,
        /// `AWS_WEB_IDENTITY_TOKEN_FILE`.
        token_file: std::path::PathBuf,
    },
    /// The container credentials endpoint (ECS task role, EKS Pod Identity).
    Container {
        /// The endpoint, as the environment names it.
        url: Url,
        /// Whether it is EKS Pod Identity's agent.
        pod_identity: bool,
    },
    /// The shared-config profile `AWS_PROFILE` names.
    Profile {
        /// Its name.
        name: String,
    },
    /// The `default` profile when a shared config or credentials file exists and it holds
    /// credentials (the plan reads no file), else the instance metadata service.
    ProfileOrMetadata {
        /// `credential_source.url`, if configured (else nothing is left: `no_aws_credentials`).
        metadata: Option<Url>,
    },
    /// The environment's AWS settings are wrong (half of IRSA's variables, a container URI on
    /// a refused host): the source fails with this, before any network call.
    Invalid {
        /// What is wrong.
        problem: String,
    },
}

/// AWS: a signed `GetCallerIdentity` request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AwsSourcePlan {
    /// `environment_id` as written (`aws1`).
    pub environment_id: String,
    /// Where the region comes from.
    pub region: AwsRegionPlan,
    /// Where the credentials come from.
    pub credentials: AwsCredentialsPlan,
    /// The providers tried for credentials, in order: the default chain
    /// (`wif_source_aws::chain::AwsProvider::CHAIN`), or the builder's provider alone.
    pub credential_chain: Vec<wif_source_aws::chain::AwsProvider>,
    /// The metadata `region_url`, if configured.
    pub region_url: Option<Url>,
    /// The metadata credentials `url`, if configured.
    pub credentials_url: Option<Url>,
    /// The IMDSv2 session token URL (IMDSv2 is used when set).
    pub imdsv2_session_token_url: Option<Url>,
    /// The signed URL template (`{region}` replaced at signing).
    pub regional_cred_verification_url: Setting<String>,
}

/// Google's pluggable-auth executable.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecutableSourcePlan {
    /// The command line.
    pub command: String,
    /// How long it may run.
    pub timeout: Setting<Duration>,
    /// Where it caches its response, if it does.
    pub output_file: Option<PathBuf>,
    /// The interactive-mode timeout, if given.
    pub interactive_timeout: Option<Duration>,
    /// Whether `GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1` lets it run (checked again on
    /// every run).
    pub allowed: Setting<bool>,
}

/// An X.509 certificate, presented over mTLS.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertificateSourcePlan {
    /// The certificate configuration file; `None`: gcloud's default location.
    pub certificate_config: Option<PathBuf>,
    /// Intermediate certificates sent after the leaf, if any.
    pub trust_chain: Option<PathBuf>,
}

/// Your own source.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CustomSourcePlan {
    /// Its `SubjectTokenSource::kind()`.
    pub kind: String,
}

impl AwsSourcePlan {
    /// Which instance metadata service protocol the source speaks, if it may call one:
    /// `IMDSv2 (session token first)` or `IMDSv1 (no imdsv2_session_token_url)`.
    pub fn metadata_service(&self) -> Option<&'static str> {
        match (
            &self.imdsv2_session_token_url,
            &self.region_url,
            &self.credentials_url,
        ) {
            (Some(_), _, _) => Some("IMDSv2 (session token first)"),
            (None, None, None) => None,
            _ => Some("IMDSv1 (no imdsv2_session_token_url)"),
        }
    }
}

impl AwsRegionPlan {
    pub(crate) fn describe(&self) -> (String, Option<Origin>) {
        match self {
            AwsRegionPlan::Known(s) => (s.value.clone(), Some(s.origin)),
            AwsRegionPlan::Metadata(_) => (
                "from the instance metadata service".to_owned(),
                Some(Origin::Config("credential_source.region_url")),
            ),
            AwsRegionPlan::Missing => ("none".to_owned(), None),
            AwsRegionPlan::ProfileOrMetadata { profile, metadata } => (
                format!(
                    "profile {profile}'s, if a shared config file names one; else {}",
                    if metadata.is_some() {
                        "from the instance metadata service"
                    } else {
                        "none"
                    }
                ),
                Some(Origin::Rule(
                    "AWS_REGION, then AWS_DEFAULT_REGION, then the profile, then region_url",
                )),
            ),
        }
    }
}

impl AwsCredentialsPlan {
    pub(crate) fn describe(&self) -> (String, Option<Origin>) {
        match self {
            AwsCredentialsPlan::Provider => (
                "the credentials provider".to_owned(),
                Some(Origin::Builder("aws_credentials_provider")),
            ),
            AwsCredentialsPlan::Environment { session_token } => (
                if *session_token {
                    "temporary credentials (with AWS_SESSION_TOKEN)".to_owned()
                } else {
                    "long-term access keys (no AWS_SESSION_TOKEN)".to_owned()
                },
                Some(Origin::Environment("AWS_ACCESS_KEY_ID")),
            ),
            AwsCredentialsPlan::Metadata(_) => (
                "the instance profile's role, from the instance metadata service".to_owned(),
                Some(Origin::Config("credential_source.url")),
            ),
            AwsCredentialsPlan::Missing => ("none".to_owned(), None),
            AwsCredentialsPlan::WebIdentity { role_arn, .. } => (
                format!("web identity (EKS IRSA): role {role_arn}, by AssumeRoleWithWebIdentity"),
                Some(Origin::Environment("AWS_ROLE_ARN")),
            ),
            AwsCredentialsPlan::Container { url, pod_identity } => (
                format!(
                    "{} at {}",
                    if *pod_identity {
                        "EKS Pod Identity"
                    } else {
                        "container credentials (ECS)"
                    },
                    wif_core::http::describe_url(url)
                ),
                Some(Origin::Environment(
                    if url.host_str() == Some("169.254.170.2") {
                        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
                    } else {
                        "AWS_CONTAINER_CREDENTIALS_FULL_URI"
                    },
                )),
            ),
            AwsCredentialsPlan::Profile { name } => (
                format!("profile {name}"),
                Some(Origin::Environment("AWS_PROFILE")),
            ),
            AwsCredentialsPlan::ProfileOrMetadata { metadata } => (
                format!(
                    "profile default, if a shared config or credentials file holds its credentials; else {}",
                    if metadata.is_some() {
                        "the instance profile's role, from the instance metadata service"
                    } else {
                        "none"
                    }
                ),
                Some(Origin::Rule(
                    "no AWS keys, web identity, container or AWS_PROFILE in the environment",
                )),
            ),
            AwsCredentialsPlan::Invalid { problem } => (format!("none: {problem}"), None),
        }
    }
}
