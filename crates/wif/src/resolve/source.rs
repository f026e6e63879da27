//! Resolving the configuration's `credential_source` into a [`SourcePlan`]: the source's
//! settings, and for AWS where region and credentials will come from (AWS's order: the builder,
//! then the environment, then the configuration's metadata URLs).

use std::time::Duration;

use url::Url;
use wif_core::{Environment, Error};
use wif_source_aws::chain::{self, AwsProvider, CredentialsChoice};
use wif_source_exec::ALLOW_EXECUTABLES_ENV;

use super::parse_url;
use crate::CredentialsBuilder;
use crate::config::{
    AwsSourceConfig, CredentialSource, DEFAULT_EXECUTABLE_TIMEOUT_MILLIS,
    DEFAULT_REGIONAL_CRED_VERIFICATION_URL, ExternalAccountConfig,
};
use crate::plan::{
    AwsCredentialsPlan, AwsRegionPlan, AwsSourcePlan, CertificateSourcePlan, ExecutableSourcePlan,
    FileSourcePlan, Origin, Setting, SourcePlan, UrlSourcePlan, Warning, WarningKind,
};

/// The source's plan; `checked_url` is a URL source's URL as a trust policy checked it (then
/// fetched as is).
pub(super) fn plan(
    config: &ExternalAccountConfig,
    b: &CredentialsBuilder,
    checked_url: Option<Url>,
    warnings: &mut Vec<Warning>,
) -> Result<SourcePlan, Error> {
    let env = &*b.environment;
    Ok(match &config.credential_source {
        CredentialSource::File(f) => SourcePlan::File(FileSourcePlan {
            path: f.file.clone(),
            format: f.format.clone(),
        }),
        CredentialSource::Url(u) => SourcePlan::Url(UrlSourcePlan {
            url: match checked_url {
                Some(checked) => checked,
                None => url(&u.url, "credential_source.url")?,
            },
            header_names: u.headers.iter().map(|(name, _)| name.clone()).collect(),
            format: u.format.clone(),
        }),
        CredentialSource::Aws(a) => SourcePlan::Aws(aws(a, config, b, warnings)?),
        CredentialSource::Executable(e) => {
            let defaulted = config.notes().default_timeout
                && e.timeout_millis == DEFAULT_EXECUTABLE_TIMEOUT_MILLIS;
            let allowed = match env.var(ALLOW_EXECUTABLES_ENV) {
                Some(v) => Setting::new(v == "1", Origin::Environment(ALLOW_EXECUTABLES_ENV)),
                None => Setting::new(false, Origin::Default),
            };
            if !allowed.value {
                warnings.push(Warning::new(
                    WarningKind::Suspicious,
                    ALLOW_EXECUTABLES_ENV,
                    "is not 1: the executable source will refuse to run the command",
                ));
            }
            SourcePlan::Executable(ExecutableSourcePlan {
                command: e.command.clone(),
                timeout: Setting::new(
                    Duration::from_millis(e.timeout_millis.into()),
                    if defaulted {
                        Origin::Default
                    } else {
                        Origin::Config("credential_source.executable.timeout_millis")
                    },
                ),
                output_file: e.output_file.clone(),
                interactive_timeout: e
                    .interactive_timeout_millis
                    .map(|m| Duration::from_millis(m.into())),
                allowed,
            })
        }
        CredentialSource::Certificate(c) => SourcePlan::Certificate(CertificateSourcePlan {
            certificate_config: c.certificate_config_location.clone(),
            trust_chain: c.trust_chain_path.clone(),
        }),
    })
}

fn url(value: &str, field: &'static str) -> Result<Url, Error> {
    parse_url(
        &Setting::new(value.to_owned(), Origin::Config(field)),
        field,
    )
    .map(|s| s.value)
}

fn optional_url(value: &Option<String>, field: &'static str) -> Result<Option<Url>, Error> {
    value.as_deref().map(|v| url(v, field)).transpose()
}

fn aws(
    a: &AwsSourceConfig,
    config: &ExternalAccountConfig,
    b: &CredentialsBuilder,
    warnings: &mut Vec<Warning>,
) -> Result<AwsSourcePlan, Error> {
    let env = &*b.environment;
    let region_url = optional_url(&a.region_url, "credential_source.region_url")?;
    let credentials_url = optional_url(&a.url, "credential_source.url")?;
    let imdsv2_session_token_url = optional_url(
        &a.imdsv2_session_token_url,
        "credential_source.imdsv2_session_token_url",
    )?;

    let profile_possible = [
        chain::PROFILE,
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "HOME",
        "USERPROFILE",
    ]
    .into_iter()
    .any(|var| env.non_empty_var(var).is_some());
    let region = match (&b.aws_region, env_region(env), &region_url) {
        (Some(r), _, _) => {
            AwsRegionPlan::Known(Setting::new(r.clone(), Origin::Builder("aws_region")))
        }
        (None, Some(known), _) => AwsRegionPlan::Known(known),
        // Where no shared file can be (no AWS_PROFILE, no file variable, no home), no profile
        // gives a region.
        (None, None, Some(url)) if !profile_possible => AwsRegionPlan::Metadata(url.clone()),
        (None, None, None) if !profile_possible => AwsRegionPlan::Missing,
        // A shared-config profile's region comes next, when a file names one: the plan reads
        // no file, so it says both.
        (None, None, url) => AwsRegionPlan::ProfileOrMetadata {
            profile: env
                .non_empty_var(chain::PROFILE)
                .unwrap_or_else(|| "default".to_owned()),
            metadata: url.clone(),
        },
    };
    // The AWS source's own choice of provider, from the same environment: the plan says what
    // a refresh will call.
    let selection = chain::select(env, b.aws_provider.is_some());
    let credentials = match &selection {
        Err(e) => {
            warnings.push(Warning::new(
                WarningKind::Suspicious,
                "AWS credentials",
                format!("{}: the AWS source will fail before any call", e.message()),
            ));
            AwsCredentialsPlan::Invalid {
                problem: e.message().to_owned(),
            }
        }
        Ok(selection) => match &selection.choice {
            CredentialsChoice::Explicit => AwsCredentialsPlan::Provider,
            CredentialsChoice::Environment { session_token } => AwsCredentialsPlan::Environment {
                session_token: *session_token,
            },
            CredentialsChoice::WebIdentity(w) => AwsCredentialsPlan::WebIdentity {
                role_arn: w.role_arn.clone(),
                token_file: w.token_file.clone(),
            },
            CredentialsChoice::Container(c) => AwsCredentialsPlan::Container {
                url: c.url.clone(),
                pod_identity: c.is_pod_identity(),
            },
            CredentialsChoice::Profile(p) if p.named => AwsCredentialsPlan::Profile {
                name: p.name.clone(),
            },
            CredentialsChoice::Profile(_) if profile_possible => {
                AwsCredentialsPlan::ProfileOrMetadata {
                    metadata: credentials_url.clone(),
                }
            }
            CredentialsChoice::Profile(_) | CredentialsChoice::Metadata => match &credentials_url {
                Some(url) => AwsCredentialsPlan::Metadata(url.clone()),
                None => AwsCredentialsPlan::Missing,
            },
            _ => AwsCredentialsPlan::Missing,
        },
    };
    if let Ok(selection) = &selection {
        for skipped in &selection.skipped {
            let then = match (&credentials, skipped.provider) {
                (AwsCredentialsPlan::Metadata(_), _) => {
                    "the environment's key pair is skipped and the instance metadata service is asked"
                }
                _ => "the environment's key pair is skipped",
            };
            warnings.push(Warning::new(
                WarningKind::Fallback,
                skipped.setting,
                format!("{}: {then}", skipped.reason),
            ));
        }
    }
    let credential_chain = if b.aws_provider.is_some() {
        vec![AwsProvider::Explicit]
    } else {
        AwsProvider::CHAIN.to_vec()
    };
    let defaulted = config.notes().default_verification_url
        && a.regional_cred_verification_url == DEFAULT_REGIONAL_CRED_VERIFICATION_URL;
    Ok(AwsSourcePlan {
        environment_id: a.environment_id.clone(),
        region,
        credentials,
        credential_chain,
        region_url,
        credentials_url,
        imdsv2_session_token_url,
        regional_cred_verification_url: Setting::new(
            a.regional_cred_verification_url.clone(),
            if defaulted {
                Origin::Default
            } else {
                Origin::Config("credential_source.regional_cred_verification_url")
            },
        ),
    })
}

/// `AWS_REGION`, then `AWS_DEFAULT_REGION` (an empty value counts as unset, Go's rule).
fn env_region(env: &dyn Environment) -> Option<Setting<String>> {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .into_iter()
        .find_map(|var| {
            env.non_empty_var(var)
                .map(|v| Setting::new(v, Origin::Environment(var)))
        })
}
