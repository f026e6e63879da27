//! Where an AWS source's region and credentials came from ([`Provenance`]), and what one
//! refresh resolved ([`Resolved`]): what the debug trace, the errors and `wif explain` report,
//! so nobody has to guess which of the places AWS credentials can live was used.

use std::fmt;

use crate::chain::AwsProvider;
use crate::credentials::AwsCredentials;

/// Where the region came from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegionFrom {
    /// Set on the builder (or taken from an aws-config `SdkConfig`).
    Explicit,
    /// The named environment variable (`AWS_REGION` or `AWS_DEFAULT_REGION`).
    Environment(&'static str),
    /// The metadata service's `region_url`.
    Metadata {
        /// Whether an IMDSv2 session token was used.
        imdsv2: bool,
    },
    /// The `region` of a shared-config profile.
    Profile {
        /// The profile's name.
        name: String,
    },
}

/// Where the credentials came from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialsFrom {
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (Lambda, or set by hand).
    Environment {
        /// Whether `AWS_SESSION_TOKEN` was set (temporary credentials).
        session_token: bool,
    },
    /// The metadata service: the instance profile's role.
    Metadata {
        /// Whether an IMDSv2 session token was used.
        imdsv2: bool,
        /// The role name the metadata service listed.
        role: String,
    },
    /// The credentials provider given to the builder (aws-config chain, your own supplier).
    Provider,
    /// AWS STS `AssumeRoleWithWebIdentity` with `AWS_WEB_IDENTITY_TOKEN_FILE` (EKS IRSA).
    WebIdentity {
        /// `AWS_ROLE_ARN`.
        role_arn: String,
        /// The assumed-role session ARN AWS answered with, if it did.
        session_arn: Option<String>,
    },
    /// The container credentials endpoint (ECS task role, EKS Pod Identity).
    Container {
        /// Whether the endpoint is EKS Pod Identity's agent.
        pod_identity: bool,
        /// The role, when the endpoint names it (ECS does).
        role_arn: Option<String>,
    },
    /// A shared-config profile (`AWS_PROFILE`, or `default`).
    Profile {
        /// The profile's name.
        name: String,
    },
}

impl CredentialsFrom {
    /// The provider of the chain this is.
    pub fn provider(&self) -> AwsProvider {
        match self {
            CredentialsFrom::Environment { .. } => AwsProvider::Environment,
            CredentialsFrom::Metadata { .. } => AwsProvider::Metadata,
            CredentialsFrom::Provider => AwsProvider::Explicit,
            CredentialsFrom::WebIdentity { .. } => AwsProvider::WebIdentity,
            CredentialsFrom::Container { .. } => AwsProvider::Container,
            CredentialsFrom::Profile { .. } => AwsProvider::Profile,
        }
    }

    /// The IAM role the credentials are of, when the provider says: `AWS_ROLE_ARN` for web
    /// identity, the `RoleArn` ECS answers with.
    pub fn role_arn(&self) -> Option<&str> {
        match self {
            CredentialsFrom::WebIdentity { role_arn, .. } => Some(role_arn),
            CredentialsFrom::Container { role_arn, .. } => role_arn.as_deref(),
            _ => None,
        }
    }
}

/// Where region and credentials came from: what `wif explain` shows.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Provenance {
    /// Where the region came from.
    pub region_from: RegionFrom,
    /// Where the credentials came from.
    pub credentials_from: CredentialsFrom,
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = |imdsv2: bool| if imdsv2 { "IMDSv2" } else { "IMDSv1" };
        match &self.region_from {
            RegionFrom::Explicit => f.write_str("region set explicitly")?,
            RegionFrom::Environment(var) => write!(f, "region from {var}")?,
            RegionFrom::Metadata { imdsv2 } => {
                write!(f, "region from instance metadata ({})", v(*imdsv2))?
            }
            RegionFrom::Profile { name } => write!(f, "region from profile {name}")?,
        }
        match &self.credentials_from {
            CredentialsFrom::Environment { session_token } => write!(
                f,
                "; credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY ({})",
                if *session_token {
                    "with AWS_SESSION_TOKEN"
                } else {
                    "long-term keys, no session token"
                }
            ),
            CredentialsFrom::Metadata { imdsv2, role } => write!(
                f,
                "; credentials of role {role} from instance metadata ({})",
                v(*imdsv2)
            ),
            CredentialsFrom::Provider => f.write_str("; credentials from the credentials provider"),
            CredentialsFrom::WebIdentity { role_arn, .. } => write!(
                f,
                "; credentials of role {role_arn} from web identity (AssumeRoleWithWebIdentity)"
            ),
            CredentialsFrom::Container {
                pod_identity,
                role_arn,
            } => {
                f.write_str(if *pod_identity {
                    "; credentials from EKS Pod Identity"
                } else {
                    "; credentials from the container credentials endpoint"
                })?;
                match role_arn {
                    Some(role) => write!(f, " (role {role})"),
                    None => Ok(()),
                }
            }
            CredentialsFrom::Profile { name } => write!(f, "; credentials from profile {name}"),
        }
    }
}

/// The region and credentials one refresh signs with, and where they came from.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Resolved {
    /// The AWS region (credential scope and STS host).
    pub region: String,
    /// The credentials (secrets redacted in `Debug`).
    pub credentials: AwsCredentials,
    /// Where both came from.
    pub provenance: Provenance,
}
