//! Resolving the configuration's `credential_source` into a [`SourcePlan`]: the source's
//! settings, and for AWS where region and credentials will come from (AWS's order: the builder,
//! then the environment, then the configuration's metadata URLs).

use std::time::Duration;

use url::Url;
use wif_core::{Environment, Error};
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

    let region = match (&b.aws_region, env_region(env), &region_url) {
        (Some(r), _, _) => {
            AwsRegionPlan::Known(Setting::new(r.clone(), Origin::Builder("aws_region")))
        }
        (None, Some(known), _) => AwsRegionPlan::Known(known),
        (None, None, Some(url)) => AwsRegionPlan::Metadata(url.clone()),
        (None, None, None) => AwsRegionPlan::Missing,
    };
    let has = |name: &str| env.non_empty_var(name).is_some();
    let (id, secret) = (has("AWS_ACCESS_KEY_ID"), has("AWS_SECRET_ACCESS_KEY"));
    let credentials = match (&b.aws_provider, id && secret, &credentials_url) {
        (Some(_), _, _) => AwsCredentialsPlan::Provider,
        (None, true, _) => AwsCredentialsPlan::Environment {
            session_token: has("AWS_SESSION_TOKEN"),
        },
        (None, false, Some(url)) => AwsCredentialsPlan::Metadata(url.clone()),
        (None, false, None) => AwsCredentialsPlan::Missing,
    };
    if id != secret && b.aws_provider.is_none() {
        let (set, unset) = if id {
            ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        } else {
            ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID")
        };
        let then = match credentials {
            AwsCredentialsPlan::Metadata(_) => {
                "the environment's key pair is skipped and the instance metadata service is asked"
            }
            _ => "the environment's key pair is skipped",
        };
        warnings.push(Warning::new(
            WarningKind::Fallback,
            set,
            format!("is set but {unset} is not: {then}"),
        ));
    }
    let defaulted = config.notes().default_verification_url
        && a.regional_cred_verification_url == DEFAULT_REGIONAL_CRED_VERIFICATION_URL;
    Ok(AwsSourcePlan {
        environment_id: a.environment_id.clone(),
        region,
        credentials,
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
