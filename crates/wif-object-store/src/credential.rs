//! The bearer token object_store sends with every Cloud Storage request: wif's cached token.

use std::sync::Arc;

use async_trait::async_trait;
use object_store::CredentialProvider;
use object_store::gcp::GcpCredential;
use secrecy::ExposeSecret;
use wif::Credentials;

/// object_store's name for Cloud Storage in its errors.
pub(crate) const STORE: &str = "GCS";

/// wif [`Credentials`] as object_store's `GcpCredentialProvider`.
///
/// Each request asks [`Credentials::token`]: a copy of the cached token while it is fresh (no
/// I/O, no lock), the chain (once for all concurrent callers) when it is not. A chain failure
/// becomes `object_store::Error::Generic` whose source is the [`wif::Error`] (step, server's
/// words, hint, whether retrying can help).
#[derive(Clone, Debug)]
pub struct GcsCredentials {
    credentials: Credentials,
}

impl GcsCredentials {
    /// Hands `credentials`' tokens to object_store.
    pub fn new(credentials: Credentials) -> Self {
        GcsCredentials { credentials }
    }

    /// The wif credentials underneath.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }
}

#[async_trait]
impl CredentialProvider for GcsCredentials {
    type Credential = GcpCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<GcpCredential>> {
        let token = self.credentials.token().await.map_err(to_store_error)?;
        Ok(Arc::new(GcpCredential {
            bearer: token.secret().expose_secret().to_owned(),
        }))
    }
}

/// A wif error as object_store reports credential failures.
pub(crate) fn to_store_error(err: wif::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: STORE,
        source: Box::new(err),
    }
}
