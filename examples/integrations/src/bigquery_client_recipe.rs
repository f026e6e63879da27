//! gcp-bigquery-client 0.28: wif credentials as its `Authenticator`
//! (`ClientBuilder::new().build_from_authenticator(Arc::new(WifAuthenticator(credentials)))`).
//! It is still on reqwest 0.12 (and yup-oauth2 for its own flows), so beside wif on reqwest
//! 0.13 an application builds two reqwests until it moves.

use gcp_bigquery_client::error::BQError;
use secrecy::ExposeSecret;

/// A `gcp_bigquery_client::auth::Authenticator` over wif credentials.
#[derive(Clone, Debug)]
pub struct WifAuthenticator(pub wif::Credentials);

#[async_trait::async_trait]
impl gcp_bigquery_client::auth::Authenticator for WifAuthenticator {
    async fn access_token(&self) -> Result<String, BQError> {
        let token = self.0.token().await.map_err(|e| {
            // Its error type has no variant for a foreign authenticator; the wif error is the
            // source of an io::Error.
            BQError::InvalidServiceAccountAuthenticator(std::io::Error::other(e))
        })?;
        Ok(token.secret().expose_secret().to_owned())
    }
}
