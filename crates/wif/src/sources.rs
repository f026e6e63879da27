//! Turns a configuration's `credential_source` into a [`SubjectTokenSource`].

use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use wif_core::{Environment, Error, Step, SubjectTokenSource};
use wif_source_exec::ExecutableSource;
use wif_source_file::FileSource;
use wif_source_url::UrlSource;
use wif_source_x509::{CertificateConfigLocation, CertificateDer, X509Source};

use crate::config::{CertificateSourceConfig, CredentialSource, ExternalAccountConfig};

/// What the builder knows beyond the configuration file.
pub(crate) struct SourceOptions<'a> {
    pub http: &'a reqwest::Client,
    pub env: &'a Arc<dyn Environment>,
    pub aws_provider: Option<SharedCredentialsProvider>,
    pub aws_region: Option<String>,
    /// The URL source's URL as a trust policy checked it: fetched as is.
    pub checked_url: Option<url::Url>,
}

pub(crate) fn from_config(
    config: &ExternalAccountConfig,
    opts: SourceOptions<'_>,
) -> Result<Arc<dyn SubjectTokenSource>, Error> {
    let http = opts.http;
    match &config.credential_source {
        CredentialSource::File(f) => {
            Ok(Arc::new(FileSource::new(f.file.clone(), f.format.clone())))
        }
        CredentialSource::Url(u) => {
            let source = match opts.checked_url {
                Some(url) => UrlSource::from_url(url, u.format.clone())?,
                None => UrlSource::new(&u.url, u.format.clone())?,
            };
            Ok(Arc::new(
                source
                    .with_headers(u.headers.clone())?
                    .with_http_client(http.clone()),
            ))
        }
        CredentialSource::Aws(a) => {
            // The AWS source builds its own metadata client on purpose: IMDS needs ~1 s
            // timeouts and no proxy, unlike the STS client.
            // The parser only selects the AWS source for the AWS subject_token_type.
            let mut b = a.source_builder().environment(opts.env.clone());
            if let Some(p) = opts.aws_provider {
                b = b.credentials_provider(p);
            }
            if let Some(r) = opts.aws_region {
                b = b.region(r);
            }
            Ok(Arc::new(b.build()?))
        }
        CredentialSource::Executable(e) => {
            // Building needs no permission; GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES is checked
            // (through the same environment) each time the source runs, as Python does.
            let mut b = ExecutableSource::builder()
                .command(&e.command)
                .timeout(Duration::from_millis(e.timeout_millis.into()))
                .environment(opts.env.clone());
            if let Some(o) = &e.output_file {
                b = b.output_file(o);
            }
            if let Some(i) = e.interactive_timeout_millis {
                b = b.interactive_timeout(Duration::from_millis(i.into()));
            }
            Ok(Arc::new(b.build()?))
        }
        CredentialSource::Certificate(c) => Ok(Arc::new(x509_source(c, opts.env))),
    }
}

fn x509_source(c: &CertificateSourceConfig, env: &Arc<dyn Environment>) -> X509Source {
    let location = match &c.certificate_config_location {
        Some(path) => CertificateConfigLocation::Path(path.clone()),
        None => CertificateConfigLocation::Default,
    };
    let mut source = X509Source::new(location).with_environment(env.clone());
    if let Some(chain) = &c.trust_chain_path {
        source = source.with_trust_chain(chain);
    }
    source
}

/// The certificate source of a configuration, when it has one. The builder needs the concrete
/// source: the STS client must present the very certificate the subject token is made of.
pub(crate) fn certificate_source(
    config: &ExternalAccountConfig,
    env: &Arc<dyn Environment>,
) -> Option<X509Source> {
    match &config.credential_source {
        CredentialSource::Certificate(c) => Some(x509_source(c, env)),
        _ => None,
    }
}

/// The STS endpoint and HTTP client of a certificate (X.509) source: the client presents the
/// workload certificate (Python sends it on the STS and the impersonation calls alike), and the
/// universe's default STS endpoint is replaced by its mTLS twin `sts.mtls.{universe}`, the only
/// one that asks for a client certificate. An endpoint set on the builder, or any other
/// endpoint in the configuration (gcloud writes the mTLS one), is kept.
pub(crate) fn mtls_exchange(
    source: &X509Source,
    token_url: String,
    token_url_is_explicit: bool,
    universe: &str,
    extra_roots: &[CertificateDer<'static>],
) -> Result<(String, reqwest::Client), Error> {
    let token_url = if !token_url_is_explicit && token_url == wif_sts::default_token_url(universe) {
        let mtls = wif_source_x509::mtls_token_url(universe);
        tracing::debug!(token_url = %mtls, "certificate source: using the mTLS STS endpoint");
        mtls
    } else {
        token_url
    };
    let client = source
        .mtls_client_builder(extra_roots)?
        .build()
        .map_err(|e| {
            Error::new(
                Step::Config,
                wif_core::ErrorKind::Internal,
                "could not build the mTLS HTTP client",
            )
            .with_source(e)
        })?;
    Ok((token_url, client))
}
