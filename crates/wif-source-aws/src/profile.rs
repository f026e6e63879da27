//! Shared-config profiles — a developer's machine: `AWS_PROFILE` and the files
//! `~/.aws/config` and `~/.aws/credentials` (`docs/protocol.md#profiles`), through aws-config's
//! `ProfileFileCredentialsProvider`, which knows every kind of profile: static keys,
//! `credential_process`, assume-role chains, and AWS IAM Identity Center (SSO).
//!
//! The two files are found through the injected [`Environment`] (`AWS_CONFIG_FILE`,
//! `AWS_SHARED_CREDENTIALS_FILE`, `HOME`) and read here, bounded and refusing anything but a
//! regular file; aws-config gets their contents, the profile's name, the region, the HTTP client
//! and the clock, never a path to read. What a profile itself runs or reads — a
//! `credential_process` command, an SSO token cache — is aws-config's, in the process's own
//! environment.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

#[cfg(not(feature = "profile-chains"))]
use aws_config::credential_process::CredentialProcessProvider;
#[cfg(feature = "profile-chains")]
use aws_config::profile::ProfileFileCredentialsProvider;
#[cfg(feature = "profile-chains")]
use aws_config::provider_config::ProviderConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
#[cfg(feature = "profile-chains")]
use aws_smithy_async::rt::sleep::TokioSleep;
use aws_smithy_async::time::TimeSource;
use aws_types::os_shim_internal::{Env, Fs};
use secrecy::SecretString;
use wif_core::local_file::{self, LocalFileErrorKind, MAX_LOCAL_FILE_BYTES};
use wif_core::{Clock, Environment, Error, ErrorKind, Step};

#[cfg(feature = "profile-chains")]
use crate::aws_http::https_client;
use crate::causes;
use crate::credentials::{AwsCredentials, Expiring};

/// The two shared files, read: what the profile provider is given.
#[derive(Clone)]
pub(crate) struct ProfileFiles {
    config: Option<(PathBuf, String)>,
    credentials: Option<(PathBuf, String)>,
}

impl std::fmt::Debug for ProfileFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The credentials file holds secret keys: paths only.
        f.debug_struct("ProfileFiles")
            .field("config", &self.config.as_ref().map(|(p, _)| p))
            .field("credentials", &self.credentials.as_ref().map(|(p, _)| p))
            .finish()
    }
}

/// Where the files are: `AWS_CONFIG_FILE` else `~/.aws/config`, and
/// `AWS_SHARED_CREDENTIALS_FILE` else `~/.aws/credentials` (home: `HOME`, else `USERPROFILE`).
pub(crate) fn locations(env: &dyn Environment) -> [(EnvConfigFileKind, Option<PathBuf>); 2] {
    let home = env
        .non_empty_var("HOME")
        .or_else(|| env.non_empty_var("USERPROFILE"))
        .map(PathBuf::from);
    let at = |var: &str, name: &str| {
        env.non_empty_var(var)
            .map(|p| expand_home(&p, home.as_deref()))
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(name)))
    };
    [
        (EnvConfigFileKind::Config, at("AWS_CONFIG_FILE", "config")),
        (
            EnvConfigFileKind::Credentials,
            at("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
        ),
    ]
}

/// `~/x` as the SDKs expand it.
fn expand_home(path: &str, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}

/// Reads the files that exist; `None` when neither does (then there is no profile to use).
pub(crate) async fn read_files(env: &dyn Environment) -> Result<Option<ProfileFiles>, Error> {
    let mut files = ProfileFiles {
        config: None,
        credentials: None,
    };
    for (kind, path) in locations(env) {
        let Some(path) = path else { continue };
        let what = match kind {
            EnvConfigFileKind::Config => "AWS shared config file",
            _ => "AWS shared credentials file",
        };
        let text =
            match local_file::read_bounded_async(path.clone(), MAX_LOCAL_FILE_BYTES, what).await {
                Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
                    profile_error(format!("{what} {} is not UTF-8 text", path.display()))
                })?,
                Err(e) if e.kind() == LocalFileErrorKind::NotFound => continue,
                Err(e) => return Err(profile_error(e.to_string())),
            };
        match kind {
            EnvConfigFileKind::Config => files.config = Some((path, text)),
            _ => files.credentials = Some((path, text)),
        }
    }
    Ok((files.config.is_some() || files.credentials.is_some()).then_some(files))
}

impl ProfileFiles {
    fn for_aws_config(&self) -> EnvConfigFiles {
        let mut builder = EnvConfigFiles::builder();
        if let Some((_, text)) = &self.config {
            builder = builder.with_contents(EnvConfigFileKind::Config, text.clone());
        }
        if let Some((_, text)) = &self.credentials {
            builder = builder.with_contents(EnvConfigFileKind::Credentials, text.clone());
        }
        builder.build()
    }

    /// The files, for messages.
    fn describe(&self) -> String {
        [&self.config, &self.credentials]
            .into_iter()
            .flatten()
            .map(|(p, _)| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" and ")
    }

    /// What the files say about profile `name` (`[default]`, `[profile dev]` or `[dev]`), if
    /// they have it.
    pub(crate) async fn profile(&self, name: &str) -> Result<Option<ProfileInfo>, Error> {
        // Contents only: the empty Fs and Env are never consulted.
        let set = aws_config::profile::load(
            &Fs::from_slice(&[]),
            &Env::from_slice(&[]),
            &self.for_aws_config(),
            Some(name.to_owned().into()),
        )
        .await
        .map_err(|e| profile_error(format!("{} could not be parsed: {e}", self.describe())))?;
        // The profile's Debug shows its keys' values (secret keys among them): it is read
        // here and dropped.
        Ok(set.get_profile(name).map(|profile| {
            let get = |key: &str| profile.get(key).filter(|v| !v.is_empty());
            let kind = if let Some(key) = CHAIN_KEYS.iter().find(|k| get(k).is_some()) {
                ProfileKind::Chained(key)
            } else if let Some(command) = get("credential_process") {
                ProfileKind::Process(command.to_owned())
            } else if let Some(id) = get("aws_access_key_id") {
                ProfileKind::Keys {
                    id: id.to_owned(),
                    secret: get("aws_secret_access_key").map(|s| SecretString::from(s.to_owned())),
                    session_token: get("aws_session_token")
                        .map(|s| SecretString::from(s.to_owned())),
                }
            } else {
                ProfileKind::Nothing
            };
            ProfileInfo {
                region: get("region").map(str::to_owned),
                kind,
            }
        }))
    }

    /// The profile's credentials. Built with `profile-chains`, aws-config's
    /// `ProfileFileCredentialsProvider` gets them, whatever the profile is; otherwise static
    /// keys are taken as they are and a `credential_process` is run through aws-config's
    /// `CredentialProcessProvider`, and any other profile is an error naming the feature.
    /// `Ok(None)`: the profile holds no credentials.
    pub(crate) async fn credentials(
        &self,
        name: &str,
        region: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Option<Expiring>, Error> {
        #[cfg(feature = "profile-chains")]
        {
            let _ = self.profile(name).await?;
            self.credentials_of_any_profile(name, region, clock).await
        }
        #[cfg(not(feature = "profile-chains"))]
        {
            use secrecy::ExposeSecret as _;
            let _ = (region, clock);
            let Some(info) = self.profile(name).await? else {
                return Ok(None);
            };
            let from_files = || format!("AWS profile {name:?} (from {})", self.describe());
            let expiring = |credentials| Expiring {
                credentials,
                expires_at: None,
                role_arn: None,
            };
            match info.kind {
                ProfileKind::Nothing => Ok(None),
                ProfileKind::Keys {
                    id,
                    secret,
                    session_token,
                } => {
                    let secret = secret.ok_or_else(|| {
                        profile_error(format!(
                            "{} has aws_access_key_id but no aws_secret_access_key",
                            from_files()
                        ))
                    })?;
                    Ok(Some(expiring(AwsCredentials::new(
                        id,
                        secret.expose_secret(),
                        session_token.map(|t| t.expose_secret().to_owned()),
                    ))))
                }
                ProfileKind::Process(command) => {
                    let provider = CredentialProcessProvider::new(command);
                    let credentials =
                        tokio::time::timeout(PROCESS_TIMEOUT, provider.provide_credentials())
                            .await
                            .map_err(|_| {
                                profile_error(format!(
                                    "{}: its credential_process did not finish within {} s",
                                    from_files(),
                                    PROCESS_TIMEOUT.as_secs()
                                ))
                            })?
                            .map_err(|e| provider_failure(name, &self.describe(), &e))?;
                    Ok(Some(Expiring {
                        expires_at: credentials.expiry(),
                        credentials: AwsCredentials::from(credentials),
                        role_arn: None,
                    }))
                }
                ProfileKind::Chained(_) => info.check_supported(name).map(|()| None),
            }
        }
    }

    /// Any kind of profile, through aws-config's `ProfileFileCredentialsProvider`.
    #[cfg(feature = "profile-chains")]
    async fn credentials_of_any_profile(
        &self,
        name: &str,
        region: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Option<Expiring>, Error> {
        let config = ProviderConfig::without_region()
            .with_region(Some(aws_config::Region::new(region.to_owned())))
            .with_http_client(https_client())
            .with_sleep_impl(TokioSleep::new())
            .with_time_source(ClockTime(clock));
        let provider = ProfileFileCredentialsProvider::builder()
            .configure(&config)
            .profile_name(name)
            .profile_files(self.for_aws_config())
            .build();
        match provider.provide_credentials().await {
            Ok(credentials) => Ok(Some(Expiring {
                expires_at: credentials.expiry(),
                credentials: AwsCredentials::from(credentials),
                role_arn: None,
            })),
            Err(CredentialsError::CredentialsNotLoaded(_)) => Ok(None),
            Err(e) => Err(provider_failure(name, &self.describe(), &e)),
        }
    }
}

/// How long a `credential_process` command may run.
#[cfg(not(feature = "profile-chains"))]
const PROCESS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What a profile says that the chain needs before calling anything.
#[derive(Debug)]
pub(crate) struct ProfileInfo {
    /// `region`.
    pub(crate) region: Option<String>,
    /// How it gives credentials.
    pub(crate) kind: ProfileKind,
}

impl ProfileInfo {
    /// Whether it has a way to get credentials.
    pub(crate) fn has_credentials(&self) -> bool {
        !matches!(self.kind, ProfileKind::Nothing)
    }

    /// An error naming the `profile-chains` feature when the profile needs it and this build
    /// lacks it.
    pub(crate) fn check_supported(&self, name: &str) -> Result<(), Error> {
        match self.kind {
            #[cfg(not(feature = "profile-chains"))]
            ProfileKind::Chained(key) => Err(Error::new(
                Step::Source,
                ErrorKind::NotSupported,
                format!(
                    "AWS profile {name:?} uses {key}, which this build does not follow: it reads \
                     static keys and credential_process; assume-role chains, SSO and web \
                     identity in profiles need the `profile-chains` feature (aws-config's \
                     profile provider)"
                ),
            )
            .with_known_cause(&causes::PROFILES_NOT_BUILT)),
            _ => {
                let _ = name;
                Ok(())
            }
        }
    }
}

/// How a profile gives credentials, in the AWS SDKs' precedence: a role to assume or a
/// sign-in first, then a command, then keys.
#[derive(Debug)]
// With `profile-chains`, aws-config's provider reads the profile itself.
#[cfg_attr(feature = "profile-chains", allow(dead_code))]
pub(crate) enum ProfileKind {
    /// One of [`CHAIN_KEYS`]: aws-config's full profile provider follows it.
    Chained(&'static str),
    /// `credential_process`.
    Process(String),
    /// `aws_access_key_id` (+ `aws_secret_access_key`, `aws_session_token`).
    Keys {
        id: String,
        secret: Option<SecretString>,
        session_token: Option<SecretString>,
    },
    /// No credentials settings (a `[default]` with a region only).
    Nothing,
}

/// The keys of profiles that assume a role (from a source profile, a credential source or a
/// web identity) or sign in (SSO, `aws login`): followed by aws-config's profile provider.
const CHAIN_KEYS: [&str; 7] = [
    "role_arn",
    "source_profile",
    "credential_source",
    "web_identity_token_file",
    "sso_session",
    "sso_start_url",
    "login_session",
];

/// Our clock, as aws-config's time source (credential expiry, SSO token expiry, signing).
#[cfg_attr(not(feature = "profile-chains"), allow(dead_code))]
#[derive(Debug)]
struct ClockTime(Arc<dyn Clock>);

impl TimeSource for ClockTime {
    fn now(&self) -> SystemTime {
        self.0.now()
    }
}

fn profile_error(message: String) -> Error {
    Error::new(Step::Source, ErrorKind::InvalidConfig, message)
        .with_known_cause(&causes::PROFILE_FAILED)
}

/// A profile that could not give credentials, with aws-config's chain of reasons; an SSO
/// session that needs a new sign-in says so.
fn provider_failure(name: &str, files: &str, err: &CredentialsError) -> Error {
    let mut reasons = err.to_string();
    let mut next = std::error::Error::source(err);
    for _ in 0..6 {
        let Some(cause) = next else { break };
        reasons.push_str(&format!(": {cause}"));
        next = cause.source();
    }
    let lower = reasons.to_ascii_lowercase();
    let sso = lower.contains("sso")
        && (lower.contains("expired")
            || lower.contains("cached sso token")
            || lower.contains("unauthorized"));
    let retryable = matches!(
        err,
        CredentialsError::ProviderTimedOut(_) | CredentialsError::ProviderError(_)
    ) && !sso;
    let kind = if retryable {
        ErrorKind::Transport
    } else {
        ErrorKind::InvalidConfig
    };
    let err = Error::new(
        Step::Source,
        kind,
        format!("AWS profile {name:?} (from {files}) gave no credentials: {reasons}"),
    )
    .retryable(retryable);
    if sso {
        err.with_known_cause(&causes::SSO_SESSION_EXPIRED)
            .with_hint(format!(
                "the profile's SSO sign-in has expired: run `aws sso login --profile {name}`"
            ))
    } else {
        err.with_known_cause(&causes::PROFILE_FAILED)
    }
}

#[cfg(test)]
mod tests {
    use wif_core::MapEnvironment;

    use super::*;

    #[test]
    fn the_files_are_where_the_sdks_look() {
        let home = MapEnvironment::new().with("HOME", "/home/dev");
        let [(_, config), (_, credentials)] = locations(&home);
        assert_eq!(config, Some(PathBuf::from("/home/dev/.aws/config")));
        assert_eq!(
            credentials,
            Some(PathBuf::from("/home/dev/.aws/credentials"))
        );

        let moved = home
            .with("AWS_CONFIG_FILE", "~/work/aws-config")
            .with("AWS_SHARED_CREDENTIALS_FILE", "/etc/aws/creds");
        let [(_, config), (_, credentials)] = locations(&moved);
        assert_eq!(config, Some(PathBuf::from("/home/dev/work/aws-config")));
        assert_eq!(credentials, Some(PathBuf::from("/etc/aws/creds")));

        let windows = MapEnvironment::new().with("USERPROFILE", "C:\\Users\\dev");
        let [(_, config), _] = locations(&windows);
        assert!(config.is_some_and(|c| c.starts_with("C:\\Users\\dev")));

        let nowhere = MapEnvironment::new();
        assert!(locations(&nowhere).iter().all(|(_, p)| p.is_none()));
    }

    #[test]
    fn sso_failures_are_named_and_not_retried() {
        let expired = CredentialsError::provider_error(std::io::Error::other(
            "failed to load SSO token: the SSO token has expired and cannot be refreshed",
        ));
        let err = provider_failure("dev", "/home/dev/.aws/config", &expired);
        assert_eq!(err.known_cause(), Some(&causes::SSO_SESSION_EXPIRED));
        assert!(!err.is_retryable());
        assert!(
            err.hint()
                .is_some_and(|h| h.contains("aws sso login --profile dev")),
            "{err}"
        );
        let other = CredentialsError::invalid_configuration("role_arn without source_profile");
        let err = provider_failure("dev", "/home/dev/.aws/config", &other);
        assert_eq!(err.known_cause(), Some(&causes::PROFILE_FAILED));
        assert!(
            err.to_string().contains("role_arn without source_profile"),
            "{err}"
        );
        assert!(err.to_string().contains("\"dev\""), "{err}");
    }
}
