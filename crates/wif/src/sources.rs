//! Turns a configuration's `credential_source` into a [`SubjectTokenSource`].

use std::sync::Arc;

use aws_credential_types::provider::SharedCredentialsProvider;
use wif_core::{Environment, Error, Step, SubjectTokenSource};
use wif_source_aws::AwsSource;
use wif_source_file::FileSource;
use wif_source_url::UrlSource;

use crate::config::{CredentialSource, ExternalAccountConfig};

/// What the builder knows beyond the configuration file.
pub(crate) struct SourceOptions<'a> {
    pub http: &'a reqwest::Client,
    pub env: &'a Arc<dyn Environment>,
    pub aws_provider: Option<SharedCredentialsProvider>,
    pub aws_region: Option<String>,
}

pub(crate) fn from_config(
    config: &ExternalAccountConfig,
    opts: SourceOptions<'_>,
) -> Result<Arc<dyn SubjectTokenSource>, Error> {
    let http = opts.http;
    match &config.credential_source {
        CredentialSource::File(f) => Ok(Arc::new(FileSource::new(f.file.clone(), f.format.clone()))),
        CredentialSource::Url(u) => Ok(Arc::new(
            UrlSource::new(&u.url, u.format.clone())?
                .with_headers(u.headers.clone())?
                .with_http_client(http.clone()),
        )),
        CredentialSource::Aws(a) => {
            // The AWS source builds its own metadata client on purpose: IMDS needs ~1 s
            // timeouts and no proxy, unlike the STS client.
            let mut b = AwsSource::builder()
                .environment_id(&a.environment_id)
                .regional_cred_verification_url(&a.regional_cred_verification_url)
                .subject_token_type(&config.subject_token_type)
                .environment(opts.env.clone());
            if let Some(u) = &a.region_url {
                b = b.region_url(u);
            }
            if let Some(u) = &a.url {
                b = b.credentials_url(u);
            }
            if let Some(u) = &a.imdsv2_session_token_url {
                b = b.imdsv2_session_token_url(u);
            }
            if let Some(p) = opts.aws_provider {
                b = b.credentials_provider(p);
            }
            if let Some(r) = opts.aws_region {
                b = b.region(r);
            }
            Ok(Arc::new(b.build()?))
        }
        CredentialSource::Executable(_) => Err(Error::not_supported(
            Step::Config,
            "executable-sourced credentials (credential_source.executable) are not supported yet",
        )
        .with_hint("use a file or URL credential source, or plug your own SubjectTokenSource into Credentials::builder()")),
        CredentialSource::Certificate(_) => Err(Error::not_supported(
            Step::Config,
            "X.509 certificate credentials (credential_source.certificate) are not supported yet",
        )),
    }
}
