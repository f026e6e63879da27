//! Turns a configuration's `credential_source` into a [`SubjectTokenSource`].

use std::sync::Arc;

use wif_core::{Environment, Error, Step, SubjectTokenSource};
use wif_source_file::FileSource;
use wif_source_url::UrlSource;

use crate::config::{CredentialSource, ExternalAccountConfig};

pub(crate) fn from_config(
    config: &ExternalAccountConfig,
    http: &reqwest::Client,
    _env: &Arc<dyn Environment>,
) -> Result<Arc<dyn SubjectTokenSource>, Error> {
    match &config.credential_source {
        CredentialSource::File(f) => Ok(Arc::new(FileSource::new(f.file.clone(), f.format.clone()))),
        CredentialSource::Url(u) => Ok(Arc::new(
            UrlSource::new(&u.url, u.format.clone())?
                .with_headers(u.headers.clone())?
                .with_http_client(http.clone()),
        )),
        CredentialSource::Aws(_) => Err(Error::not_supported(
            Step::Config,
            "the AWS credential source is not supported by this build yet",
        )),
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
