//! One refresh's credentials: the provider the chain selected, called (or its credentials
//! reused while they are fresh), and its failure explained with the providers passed over
//! before it and, for a pod or a task with no role, the likely cause.

use std::time::SystemTime;

use crate::imds::Session;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use wif_core::{Environment, Error, ErrorKind, Step};

use super::{Inner, REFRESH_MARGIN};
use crate::causes;
use crate::chain::{
    AwsProvider, ContainerSettings, CredentialsChoice, PROFILE, Selection, Skipped,
    WebIdentitySettings,
};
use crate::credentials::{AwsCredentials, Expiring};
#[cfg(feature = "aws-config")]
use crate::profile::ProfileFiles;
use crate::provenance::CredentialsFrom;
use crate::{container, web_identity};

/// Temporary credentials kept between refreshes, with the choice that fetched them.
pub(crate) struct Cached {
    choice: CredentialsChoice,
    expiring: Expiring,
    from: CredentialsFrom,
}

/// What a refresh calls for credentials, decided before any network call.
enum Provider {
    Explicit(SharedCredentialsProvider),
    Environment(AwsCredentials),
    WebIdentity(WebIdentitySettings),
    Container(ContainerSettings),
    #[cfg(feature = "aws-config")]
    Profile(ProfileLookup),
    Metadata,
}

/// The chain's choice for one refresh, with the profile's files read when a profile is used.
pub(crate) struct Planned {
    provider: Provider,
    choice: CredentialsChoice,
    skipped: Vec<Skipped>,
    /// The platform's own variables, for the likely cause when nothing gave credentials.
    platform: Option<Platform>,
}

/// The shared-config profile the refresh may use, its files read.
pub(crate) struct ProfileLookup {
    #[cfg(feature = "aws-config")]
    files: ProfileFiles,
    // Without profiles built in, no lookup is ever made.
    #[cfg_attr(not(feature = "aws-config"), allow(dead_code))]
    name: String,
}

impl ProfileLookup {
    /// The shared files, when `AWS_PROFILE` names a profile or one of them exists (the chain's
    /// rule for using a profile, for its region as for its credentials).
    pub(crate) async fn read(
        env: &dyn Environment,
        selection: &Selection,
    ) -> Result<Option<ProfileLookup>, Error> {
        let named = env.non_empty_var(PROFILE);
        #[cfg(feature = "aws-config")]
        {
            let _ = selection;
            Ok(crate::profile::read_files(env)
                .await?
                .map(|files| ProfileLookup {
                    files,
                    name: named.unwrap_or_else(|| "default".to_owned()),
                }))
        }
        #[cfg(not(feature = "aws-config"))]
        {
            if let Some(name) = named
                && matches!(selection.choice, CredentialsChoice::Profile(_))
            {
                return Err(Error::new(
                    Step::Source,
                    ErrorKind::NotSupported,
                    format!("{PROFILE}={name:?} names a shared-config profile, but this build reads no profiles"),
                )
                .with_known_cause(&causes::PROFILES_NOT_BUILT));
            }
            Ok(None)
        }
    }

    /// The profile's `region`, if it names one.
    pub(crate) async fn region(&self) -> Result<Option<(String, crate::RegionFrom)>, Error> {
        #[cfg(feature = "aws-config")]
        {
            Ok(self
                .files
                .profile(&self.name)
                .await?
                .and_then(|p| p.region)
                .map(|region| {
                    (
                        region,
                        crate::RegionFrom::Profile {
                            name: self.name.clone(),
                        },
                    )
                }))
        }
        #[cfg(not(feature = "aws-config"))]
        Ok(None)
    }
}

impl Planned {
    pub(crate) async fn new(
        inner: &Inner,
        selection: Selection,
        profile: Option<ProfileLookup>,
    ) -> Result<Planned, Error> {
        let env = &*inner.environment;
        let Selection {
            choice,
            mut skipped,
        } = selection;
        let provider = match &choice {
            CredentialsChoice::Explicit => match &inner.provider {
                Some(p) => Provider::Explicit(p.clone()),
                None => Provider::Metadata,
            },
            CredentialsChoice::Environment { .. } => match AwsCredentials::from_environment(env) {
                Some(creds) => Provider::Environment(creds),
                None => Provider::Metadata,
            },
            CredentialsChoice::WebIdentity(w) => Provider::WebIdentity(w.clone()),
            CredentialsChoice::Container(c) => Provider::Container(c.clone()),
            CredentialsChoice::Profile(p) => {
                let profile = match profile {
                    Some(found) => Some(found),
                    None => {
                        ProfileLookup::read(
                            env,
                            &Selection {
                                choice: choice.clone(),
                                skipped: Vec::new(),
                            },
                        )
                        .await?
                    }
                };
                profile_or_metadata(p.named, &p.name, profile, &mut skipped).await?
            }
            CredentialsChoice::Metadata => Provider::Metadata,
        };
        let platform = matches!(provider, Provider::Metadata)
            .then(|| Platform::of(env))
            .flatten();
        Ok(Planned {
            provider,
            choice,
            skipped,
            platform,
        })
    }

    pub(crate) fn needs_metadata(&self) -> bool {
        matches!(self.provider, Provider::Metadata)
    }

    /// Whether the credentials call needs the region: web identity's regional AWS STS, and a
    /// profile's (an assume-role chain, SSO).
    pub(crate) fn needs_region(&self) -> bool {
        match &self.provider {
            Provider::WebIdentity(_) => true,
            #[cfg(feature = "aws-config")]
            Provider::Profile(_) => true,
            _ => false,
        }
    }

    fn words(&self) -> &'static str {
        match self.provider {
            Provider::Explicit(_) => "the credentials provider",
            Provider::Environment(_) => "the environment",
            Provider::WebIdentity(_) => "web identity (AssumeRoleWithWebIdentity)",
            Provider::Container(_) => "the container credentials endpoint",
            #[cfg(feature = "aws-config")]
            Provider::Profile(_) => "the shared-config profile",
            Provider::Metadata => "the instance metadata service",
        }
    }

    /// The provider's failure with what came before it: each provider passed over and why (as
    /// aws-config's chain reports), and for a pod or an ECS task with no role, that cause.
    pub(crate) fn explain(&self, err: Error) -> Error {
        let mut err = err;
        if !self.skipped.is_empty() {
            let passed: Vec<String> = self
                .skipped
                .iter()
                .map(|s| format!("{} ({s})", skipped_words(s.provider)))
                .collect();
            err = err.context(format!(
                "no AWS credentials from {}, nor from {}",
                passed.join(", "),
                self.words()
            ));
        }
        match self.platform {
            Some(platform) => platform.explain(err),
            None => err,
        }
    }

    /// The credentials, fresh: a provider's temporary credentials are reused until
    /// [`REFRESH_MARGIN`] before they expire, then fetched anew; none is ever handed out
    /// expired.
    pub(crate) async fn credentials(
        &self,
        inner: &Inner,
        region: &str,
        token: Option<&Session>,
    ) -> Result<(AwsCredentials, CredentialsFrom), Error> {
        let now = inner.clock.now();
        if let Some(reused) = self.reusable(inner, now) {
            return Ok(reused);
        }
        let fetched = self.fetch(inner, region, token).await;
        let (expiring, from) = fetched.map_err(|e| self.explain(e))?;
        if let Some(at) = expiring.expires_at
            && at <= now
        {
            return Err(expired(&from, at, now));
        }
        let usable = (expiring.credentials.clone(), from.clone());
        // A provider given in code is called on every refresh (its own cache, if it has one,
        // decides); the environment and the metadata service are read afresh (they rotate).
        let kept = matches!(
            self.provider,
            Provider::WebIdentity(_) | Provider::Container(_)
        ) || self.is_profile();
        if kept
            && expiring.expires_at.is_some_and(|at| {
                at.duration_since(now)
                    .is_ok_and(|left| left > REFRESH_MARGIN)
            })
            && let Ok(mut cache) = inner.cached_credentials.lock()
        {
            *cache = Some(Cached {
                choice: self.choice.clone(),
                expiring,
                from,
            });
        }
        Ok(usable)
    }

    fn is_profile(&self) -> bool {
        #[cfg(feature = "aws-config")]
        return matches!(self.provider, Provider::Profile(_));
        #[cfg(not(feature = "aws-config"))]
        false
    }

    fn reusable(
        &self,
        inner: &Inner,
        now: SystemTime,
    ) -> Option<(AwsCredentials, CredentialsFrom)> {
        let cache = inner.cached_credentials.lock().ok()?;
        let cached = cache.as_ref()?;
        let fresh = cached.choice == self.choice
            && cached
                .expiring
                .expires_at
                .and_then(|at| at.duration_since(now).ok())
                .is_some_and(|left| left > REFRESH_MARGIN);
        fresh.then(|| (cached.expiring.credentials.clone(), cached.from.clone()))
    }

    async fn fetch(
        &self,
        inner: &Inner,
        region: &str,
        token: Option<&Session>,
    ) -> Result<(Expiring, CredentialsFrom), Error> {
        let unexpiring = |credentials| Expiring {
            credentials,
            expires_at: None,
            role_arn: None,
        };
        match &self.provider {
            Provider::Explicit(provider) => {
                let creds = provider
                    .provide_credentials()
                    .await
                    .map_err(provider_error)?;
                let expiring = Expiring {
                    expires_at: creds.expiry(),
                    credentials: AwsCredentials::from(creds),
                    role_arn: None,
                };
                Ok((expiring, CredentialsFrom::Provider))
            }
            Provider::Environment(creds) => {
                let session_token = creds.session_token().is_some();
                Ok((
                    unexpiring(creds.clone()),
                    CredentialsFrom::Environment { session_token },
                ))
            }
            Provider::WebIdentity(settings) => {
                let endpoint = web_identity::sts_endpoint(&*inner.environment, region)?;
                let expiring = web_identity::assume_role(
                    settings,
                    &endpoint,
                    &inner.sts_http,
                    &inner.sts_retry,
                    inner.clock.now(),
                )
                .await?;
                let from = CredentialsFrom::WebIdentity {
                    role_arn: settings.role_arn.clone(),
                    session_arn: expiring.role_arn.clone(),
                };
                Ok((expiring, from))
            }
            Provider::Container(settings) => {
                let http = inner.imds.http.get()?;
                let expiring =
                    container::credentials(settings, &*inner.environment, http, &inner.imds.retry)
                        .await?;
                let from = CredentialsFrom::Container {
                    pod_identity: settings.is_pod_identity(),
                    role_arn: expiring.role_arn.clone(),
                };
                Ok((expiring, from))
            }
            #[cfg(feature = "aws-config")]
            Provider::Profile(lookup) => {
                let expiring = lookup
                    .files
                    .credentials(&lookup.name, region, inner.clock.clone())
                    .await?
                    .ok_or_else(|| {
                        Error::new(
                            Step::Source,
                            ErrorKind::InvalidConfig,
                            format!("AWS profile {:?} gave no credentials", lookup.name),
                        )
                        .with_known_cause(&causes::PROFILE_FAILED)
                    })?;
                Ok((
                    expiring,
                    CredentialsFrom::Profile {
                        name: lookup.name.clone(),
                    },
                ))
            }
            Provider::Metadata => {
                let imdsv2 = inner.imds.is_v2();
                let (creds, role) = inner.imds.credentials(token).await?;
                Ok((
                    unexpiring(creds),
                    CredentialsFrom::Metadata { imdsv2, role },
                ))
            }
        }
    }
}

/// The profile when it can give credentials; else, for the `default` profile the chain only
/// tried because a file exists, the metadata service (a `[default]` with a region only is
/// common on EC2). A profile `AWS_PROFILE` names must work.
#[cfg_attr(not(feature = "aws-config"), allow(clippy::unused_async))]
async fn profile_or_metadata(
    named: bool,
    name: &str,
    lookup: Option<ProfileLookup>,
    skipped: &mut Vec<Skipped>,
) -> Result<Provider, Error> {
    let failed = |why: String| {
        Error::new(Step::Source, ErrorKind::InvalidConfig, why)
            .with_known_cause(&causes::PROFILE_FAILED)
    };
    let Some(lookup) = lookup else {
        if named {
            return Err(failed(format!(
                "{PROFILE}={name:?}, but neither the shared config file (AWS_CONFIG_FILE, \
                 ~/.aws/config) nor the credentials file (AWS_SHARED_CREDENTIALS_FILE, \
                 ~/.aws/credentials) exists"
            )));
        }
        return Ok(Provider::Metadata);
    };
    #[cfg(feature = "aws-config")]
    {
        let found = lookup.files.profile(name).await?;
        if let Some(info) = &found {
            // A profile this build cannot follow fails now, before any call.
            info.check_supported(name)?;
        }
        match found {
            Some(p) if p.has_credentials() => Ok(Provider::Profile(lookup)),
            _ if named => Err(failed(match found {
                Some(_) => format!(
                    "AWS profile {name:?} has no credentials settings (aws_access_key_id, \
                     role_arn, credential_process, sso_session, …)"
                ),
                None => format!("{PROFILE}={name:?}, but the shared files have no such profile"),
            })),
            _ => {
                skipped.push(Skipped {
                    provider: AwsProvider::Profile,
                    setting: "profile",
                    reason: format!("{name:?} holds no credentials"),
                });
                Ok(Provider::Metadata)
            }
        }
    }
    #[cfg(not(feature = "aws-config"))]
    {
        let _ = (lookup, skipped);
        Ok(Provider::Metadata)
    }
}

fn skipped_words(provider: AwsProvider) -> &'static str {
    match provider {
        AwsProvider::Environment => "the environment",
        AwsProvider::Profile => "the shared-config profile",
        AwsProvider::WebIdentity => "web identity",
        AwsProvider::Container => "the container credentials endpoint",
        AwsProvider::Metadata => "the instance metadata service",
        _ => "the credentials provider",
    }
}

/// Credentials that expired before they could be used: never signed with. Their issuer's
/// clock and ours disagree, or the issuer handed out stale ones.
fn expired(from: &CredentialsFrom, at: SystemTime, now: SystemTime) -> Error {
    let ago = now.duration_since(at).map_or(0, |d| d.as_secs());
    Error::new(
        Step::Source,
        ErrorKind::InvalidResponse,
        format!(
            "the AWS credentials from {} expired {ago} s ago by this machine's clock; they are \
             not used",
            from.provider()
        ),
    )
    .with_known_cause(&causes::AWS_CREDENTIALS_EXPIRED)
}

/// Maps a credentials-provider failure. The provider's error chain is kept (it says which link
/// of an aws-config chain failed and why); AWS SDK errors carry no secrets.
pub(crate) fn provider_error(e: CredentialsError) -> Error {
    let (kind, retryable) = match &e {
        CredentialsError::CredentialsNotLoaded(_) | CredentialsError::InvalidConfiguration(_) => {
            (ErrorKind::InvalidConfig, false)
        }
        CredentialsError::ProviderTimedOut(_) => (ErrorKind::Timeout, true),
        CredentialsError::ProviderError(_) => (ErrorKind::Transport, true),
        _ => (ErrorKind::Internal, false),
    };
    let mut message = format!("the AWS credentials provider failed: {e}");
    let mut cause = std::error::Error::source(&e);
    for _ in 0..5 {
        let Some(c) = cause else { break };
        message.push_str(&format!(": {c}"));
        cause = c.source();
    }
    Error::new(Step::Source, kind, message).retryable(retryable)
}

/// The platforms that give every container a variable, whether or not it has a role: what
/// turns "no credentials" into "this pod (or task) has no role".
#[derive(Clone, Copy, Debug)]
enum Platform {
    /// A Kubernetes pod (`KUBERNETES_SERVICE_HOST`) with no IRSA or Pod Identity variables.
    EksPod,
    /// An ECS task (`ECS_CONTAINER_METADATA_URI(_V4)`) that ECS gave no credentials variable.
    EcsTask,
}

impl Platform {
    fn of(env: &dyn Environment) -> Option<Platform> {
        if env.non_empty_var("ECS_CONTAINER_METADATA_URI_V4").is_some()
            || env.non_empty_var("ECS_CONTAINER_METADATA_URI").is_some()
        {
            Some(Platform::EcsTask)
        } else if env.non_empty_var("KUBERNETES_SERVICE_HOST").is_some() {
            Some(Platform::EksPod)
        } else {
            None
        }
    }

    fn explain(self, err: Error) -> Error {
        match self {
            Platform::EksPod => err
                .context(
                    "this is a Kubernetes pod (KUBERNETES_SERVICE_HOST is set) without IRSA's \
                     AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE or Pod Identity's \
                     AWS_CONTAINER_CREDENTIALS_FULL_URI",
                )
                .with_known_cause(&causes::EKS_POD_WITHOUT_ROLE),
            Platform::EcsTask => err
                .context(
                    "this is an ECS task (ECS_CONTAINER_METADATA_URI_V4 is set) without \
                     AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, which ECS sets for a task role",
                )
                .with_known_cause(&causes::ECS_TASK_WITHOUT_ROLE),
        }
    }
}
