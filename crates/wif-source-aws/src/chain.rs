//! Which provider of the default credential chain an AWS workload's credentials come from,
//! decided from the environment alone — no file is read and nothing is called — so a plan can
//! show it and bad settings fail before any network call (`docs/protocol.md#aws-credential-chain`).
//!
//! The order is the AWS SDKs' for the places a workload's identity arrives:
//!
//! 1. **environment keys**: `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (Lambda, or by hand);
//! 2. **web identity** (EKS IRSA): `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`, exchanged with
//!    AWS STS `AssumeRoleWithWebIdentity`;
//! 3. **container credentials** (ECS task roles, EKS Pod Identity):
//!    `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `AWS_CONTAINER_CREDENTIALS_FULL_URI`;
//! 4. **a shared-config profile** (a developer's machine), when `AWS_PROFILE` is set or a shared
//!    config or credentials file exists;
//! 5. **the instance metadata service**, at the configuration's URLs.
//!
//! What the platform puts into a pod's or task's environment comes before a profile, so a
//! `~/.aws/config` baked into an image cannot shadow the workload's own role.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use url::Url;
use wif_core::{Environment, Error, ErrorKind, Step};

use crate::causes;

/// `AWS_WEB_IDENTITY_TOKEN_FILE`: the OIDC token (IRSA: the projected service-account token).
pub const WEB_IDENTITY_TOKEN_FILE: &str = "AWS_WEB_IDENTITY_TOKEN_FILE";
/// `AWS_ROLE_ARN`: the role the web identity token assumes.
pub const ROLE_ARN: &str = "AWS_ROLE_ARN";
/// `AWS_ROLE_SESSION_NAME`: the session name of the assumed role (optional).
pub const ROLE_SESSION_NAME: &str = "AWS_ROLE_SESSION_NAME";
/// `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`: ECS's path on `169.254.170.2`.
pub const CONTAINER_RELATIVE_URI: &str = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI";
/// `AWS_CONTAINER_CREDENTIALS_FULL_URI`: EKS Pod Identity's (or any) credentials endpoint.
pub const CONTAINER_FULL_URI: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`: the `Authorization` value, read on every call.
pub const CONTAINER_AUTHORIZATION_TOKEN_FILE: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN`: the `Authorization` value itself.
pub const CONTAINER_AUTHORIZATION_TOKEN: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN";
/// `AWS_PROFILE`: the shared-config profile to use.
pub const PROFILE: &str = "AWS_PROFILE";

/// ECS's container credentials host, for `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`.
const ECS_HOST: Ipv4Addr = Ipv4Addr::new(169, 254, 170, 2);
/// EKS Pod Identity's agent, over IPv4 and IPv6.
const EKS_POD_IDENTITY_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 170, 23);
const EKS_POD_IDENTITY_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23);

/// The providers of the default chain, in its order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AwsProvider {
    /// A credentials provider given in code (`credentials_provider`): the only one tried.
    Explicit,
    /// `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY`.
    Environment,
    /// `AssumeRoleWithWebIdentity` with `AWS_WEB_IDENTITY_TOKEN_FILE` (EKS IRSA).
    WebIdentity,
    /// The container credentials endpoint (ECS task role, EKS Pod Identity).
    Container,
    /// A shared-config profile (`~/.aws/config`, `~/.aws/credentials`).
    Profile,
    /// The instance metadata service at the configuration's URLs.
    Metadata,
}

impl AwsProvider {
    /// The default chain's order (without [`Explicit`](Self::Explicit), which replaces it).
    pub const CHAIN: [AwsProvider; 5] = [
        AwsProvider::Environment,
        AwsProvider::WebIdentity,
        AwsProvider::Container,
        AwsProvider::Profile,
        AwsProvider::Metadata,
    ];

    /// What `wif explain` calls it: `env`, `web identity`, `container`, `profile`, `metadata`.
    pub fn name(self) -> &'static str {
        match self {
            AwsProvider::Explicit => "credentials provider",
            AwsProvider::Environment => "env",
            AwsProvider::WebIdentity => "web identity",
            AwsProvider::Container => "container",
            AwsProvider::Profile => "profile",
            AwsProvider::Metadata => "metadata",
        }
    }
}

impl fmt::Display for AwsProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The settings of a web identity (IRSA) exchange, from the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebIdentitySettings {
    /// `AWS_ROLE_ARN`.
    pub role_arn: String,
    /// `AWS_WEB_IDENTITY_TOKEN_FILE`, read on every exchange (the kubelet rotates it).
    pub token_file: PathBuf,
    /// `AWS_ROLE_SESSION_NAME`, if set (else one is made up per exchange).
    pub session_name: Option<String>,
}

/// Where the container credentials endpoint's `Authorization` value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContainerAuthorization {
    /// No `Authorization` header (ECS).
    None,
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (EKS Pod Identity), read on every call.
    TokenFile(PathBuf),
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
    Token,
}

/// The container credentials endpoint, from the environment: checked, but not called.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContainerSettings {
    /// The endpoint (its query, if any, is part of the request and not shown in messages).
    pub url: Url,
    /// Which variable named it.
    pub from: &'static str,
    /// The `Authorization` header's source.
    pub authorization: ContainerAuthorization,
}

impl ContainerSettings {
    /// Whether this is EKS Pod Identity: the endpoint is its agent (`169.254.170.23`,
    /// `fd00:ec2::23`), or an authorization token file goes with it (what EKS sets; ECS never
    /// does). What the reports and the likely causes name; the call is the same either way.
    pub fn is_pod_identity(&self) -> bool {
        let agent = match self.url.host() {
            Some(url::Host::Ipv4(ip)) => ip == EKS_POD_IDENTITY_V4,
            Some(url::Host::Ipv6(ip)) => ip == EKS_POD_IDENTITY_V6,
            _ => false,
        };
        agent || matches!(self.authorization, ContainerAuthorization::TokenFile(_))
    }
}

/// The shared-config profile the chain would use.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProfileSettings {
    /// `AWS_PROFILE`, or `default`.
    pub name: String,
    /// Whether `AWS_PROFILE` named it: then the profile is used (and its failure is final);
    /// else the `default` profile is tried when a shared file exists, and the chain goes on to
    /// the metadata service when that profile holds no credentials.
    pub named: bool,
}

/// The provider the environment selects, with its settings: what a refresh will call.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialsChoice {
    /// The credentials provider given in code.
    Explicit,
    /// `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY`.
    Environment {
        /// Whether `AWS_SESSION_TOKEN` is set too.
        session_token: bool,
    },
    /// `AssumeRoleWithWebIdentity`.
    WebIdentity(WebIdentitySettings),
    /// The container credentials endpoint.
    Container(ContainerSettings),
    /// A shared-config profile; with [`ProfileSettings::named`] unset, only when a shared file
    /// exists, else the metadata service.
    Profile(ProfileSettings),
    /// The instance metadata service.
    Metadata,
}

impl CredentialsChoice {
    /// The provider.
    pub fn provider(&self) -> AwsProvider {
        match self {
            CredentialsChoice::Explicit => AwsProvider::Explicit,
            CredentialsChoice::Environment { .. } => AwsProvider::Environment,
            CredentialsChoice::WebIdentity(_) => AwsProvider::WebIdentity,
            CredentialsChoice::Container(_) => AwsProvider::Container,
            CredentialsChoice::Profile(_) => AwsProvider::Profile,
            CredentialsChoice::Metadata => AwsProvider::Metadata,
        }
    }
}

/// A provider the chain passed over, and why: what the final error says when the provider that
/// was tried fails too (as aws-config's chain does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The provider passed over.
    pub provider: AwsProvider,
    /// The setting that made it worth a mention (`AWS_ACCESS_KEY_ID`).
    pub setting: &'static str,
    /// Why, after the setting's name ("is set but AWS_SECRET_ACCESS_KEY is not").
    pub reason: String,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.setting, self.reason)
    }
}

/// The provider the environment selects, and the ones passed over before it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Selection {
    /// The provider a refresh calls.
    pub choice: CredentialsChoice,
    /// The providers before it that the environment ruled out, in the chain's order (the
    /// unremarkable "not set" ones are left out).
    pub skipped: Vec<Skipped>,
}

/// Selects the provider from `env` (`explicit`: a credentials provider was given in code). No
/// I/O. Half-set variables are errors here, before any network call: `AWS_ROLE_ARN` without
/// `AWS_WEB_IDENTITY_TOKEN_FILE` (or the reverse), a container URI on a host the rules refuse.
pub fn select(env: &dyn Environment, explicit: bool) -> Result<Selection, Error> {
    if explicit {
        return Ok(Selection {
            choice: CredentialsChoice::Explicit,
            skipped: Vec::new(),
        });
    }
    let mut skipped = Vec::new();
    let has = |name: &str| env.non_empty_var(name).is_some();
    match (has("AWS_ACCESS_KEY_ID"), has("AWS_SECRET_ACCESS_KEY")) {
        (true, true) => {
            return Ok(Selection {
                choice: CredentialsChoice::Environment {
                    session_token: has("AWS_SESSION_TOKEN"),
                },
                skipped,
            });
        }
        (true, false) => skipped.push(Skipped {
            provider: AwsProvider::Environment,
            setting: "AWS_ACCESS_KEY_ID",
            reason: "is set but AWS_SECRET_ACCESS_KEY is not".to_owned(),
        }),
        (false, true) => skipped.push(Skipped {
            provider: AwsProvider::Environment,
            setting: "AWS_SECRET_ACCESS_KEY",
            reason: "is set but AWS_ACCESS_KEY_ID is not".to_owned(),
        }),
        (false, false) => {}
    }
    if let Some(web) = web_identity(env)? {
        return Ok(Selection {
            choice: CredentialsChoice::WebIdentity(web),
            skipped,
        });
    }
    if let Some(container) = container(env)? {
        return Ok(Selection {
            choice: CredentialsChoice::Container(container),
            skipped,
        });
    }
    let choice = match env.non_empty_var(PROFILE) {
        Some(name) => CredentialsChoice::Profile(ProfileSettings { name, named: true }),
        None => CredentialsChoice::Profile(ProfileSettings {
            name: "default".to_owned(),
            named: false,
        }),
    };
    Ok(Selection { choice, skipped })
}

fn web_identity(env: &dyn Environment) -> Result<Option<WebIdentitySettings>, Error> {
    let token_file = env.non_empty_var(WEB_IDENTITY_TOKEN_FILE);
    let role_arn = env.non_empty_var(ROLE_ARN);
    let (token_file, role_arn) = match (token_file, role_arn) {
        (None, None) => return Ok(None),
        (Some(file), Some(arn)) => (file, arn),
        (None, Some(_)) => {
            return Err(bad_environment(
                format!(
                    "{ROLE_ARN} is set but {WEB_IDENTITY_TOKEN_FILE} is not: web identity (EKS IRSA) needs both"
                ),
                &causes::WEB_IDENTITY_INCOMPLETE,
            ));
        }
        (Some(_), None) => {
            return Err(bad_environment(
                format!(
                    "{WEB_IDENTITY_TOKEN_FILE} is set but {ROLE_ARN} is not: web identity (EKS IRSA) needs both"
                ),
                &causes::WEB_IDENTITY_INCOMPLETE,
            ));
        }
    };
    if !is_role_arn(&role_arn) {
        return Err(bad_environment(
            format!(
                "{ROLE_ARN} is not an IAM role ARN (arn:PARTITION:iam::ACCOUNT:role/NAME): {}",
                shown(&role_arn)
            ),
            &causes::WEB_IDENTITY_INCOMPLETE,
        ));
    }
    let session_name = env.non_empty_var(ROLE_SESSION_NAME);
    if let Some(name) = &session_name
        && !is_session_name(name)
    {
        return Err(bad_environment(
            format!(
                "{ROLE_SESSION_NAME} must be 2 to 64 of the characters A-Z a-z 0-9 + = , . @ _ -: {}",
                shown(name)
            ),
            &causes::WEB_IDENTITY_INCOMPLETE,
        ));
    }
    Ok(Some(WebIdentitySettings {
        role_arn,
        token_file: PathBuf::from(token_file),
        session_name,
    }))
}

fn container(env: &dyn Environment) -> Result<Option<ContainerSettings>, Error> {
    let (url, from) = if let Some(relative) = env.non_empty_var(CONTAINER_RELATIVE_URI) {
        // Relative to ECS's fixed host, as the SDKs join it: a path (with its query).
        if !relative.starts_with('/') {
            return Err(bad_environment(
                format!("{CONTAINER_RELATIVE_URI} must be a path starting with '/'"),
                &causes::CONTAINER_URI_REFUSED,
            ));
        }
        let url = Url::parse(&format!("http://{ECS_HOST}{relative}")).map_err(|e| {
            bad_environment(
                format!("{CONTAINER_RELATIVE_URI} is not a valid path ({e})"),
                &causes::CONTAINER_URI_REFUSED,
            )
        })?;
        (url, CONTAINER_RELATIVE_URI)
    } else if let Some(full) = env.non_empty_var(CONTAINER_FULL_URI) {
        let url = Url::parse(&full).map_err(|e| {
            bad_environment(
                format!("{CONTAINER_FULL_URI} is not a valid URL ({e})"),
                &causes::CONTAINER_URI_REFUSED,
            )
        })?;
        check_container_host(&url)?;
        (url, CONTAINER_FULL_URI)
    } else {
        return Ok(None);
    };
    let authorization = if let Some(file) = env.non_empty_var(CONTAINER_AUTHORIZATION_TOKEN_FILE) {
        ContainerAuthorization::TokenFile(PathBuf::from(file))
    } else if env.non_empty_var(CONTAINER_AUTHORIZATION_TOKEN).is_some() {
        ContainerAuthorization::Token
    } else {
        ContainerAuthorization::None
    };
    Ok(Some(ContainerSettings {
        url,
        from,
        authorization,
    }))
}

/// The AWS SDKs' rule for a full container credentials URI: `https` to any host, plain `http`
/// only to a loopback address, ECS's `169.254.170.2`, or EKS Pod Identity's `169.254.170.23`
/// and `fd00:ec2::23` — where the credentials never cross a network. A host *name* over `http`
/// must be `localhost`: the SDKs resolve other names and check every address, which lets a DNS
/// answer decide where credentials go; this source refuses them before any lookup.
fn check_container_host(url: &Url) -> Result<(), Error> {
    let refuse = |why: String| {
        bad_environment(
            format!("{CONTAINER_FULL_URI} {why}"),
            &causes::CONTAINER_URI_REFUSED,
        )
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("must not hold user info".to_owned()));
    }
    match (url.scheme(), url.host()) {
        (_, None) => Err(refuse("has no host".to_owned())),
        ("https", Some(_)) => Ok(()),
        ("http", Some(url::Host::Domain(name))) if name.eq_ignore_ascii_case("localhost") => Ok(()),
        ("http", Some(url::Host::Ipv4(ip))) if allowed_plain_http(IpAddr::V4(ip)) => Ok(()),
        ("http", Some(url::Host::Ipv6(ip))) if allowed_plain_http(IpAddr::V6(ip)) => Ok(()),
        ("http", Some(host)) => Err(refuse(format!(
            "names {host} over plain http: only https, or http to a loopback address, \
             169.254.170.2 (ECS), 169.254.170.23 or fd00:ec2::23 (EKS Pod Identity) may carry credentials"
        ))),
        (scheme, Some(_)) => Err(refuse(format!("must be an http(s) URL, not {scheme}://…"))),
    }
}

fn allowed_plain_http(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4 == ECS_HOST || v4 == EKS_POD_IDENTITY_V4,
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6 == EKS_POD_IDENTITY_V6
                || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// `arn:PARTITION:iam::ACCOUNT:role/NAME`.
fn is_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", partition, "iam", "", account, resource]
        if !partition.is_empty()
            && !account.is_empty()
            && resource.starts_with("role/")
            && resource.len() > "role/".len())
}

/// IAM's `RoleSessionName` pattern, `[\w+=,.@-]{2,64}`.
fn is_session_name(name: &str) -> bool {
    (2..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

/// A value of the environment for a message: short ones quoted, long ones by size (never a
/// secret here, but a pasted token in the wrong variable is not ours to print).
fn shown(value: &str) -> String {
    if value.len() <= 128 {
        format!("{value:?}")
    } else {
        format!("a {}-byte value", value.len())
    }
}

fn bad_environment(message: String, cause: &'static wif_core::Cause) -> Error {
    Error::new(Step::Source, ErrorKind::InvalidConfig, message).with_known_cause(cause)
}

#[cfg(test)]
mod tests;
