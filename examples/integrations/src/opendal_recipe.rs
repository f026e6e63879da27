//! opendal 0.59 (its GCS service): wif credentials as reqsign's `ProvideCredential`, the trait
//! `opendal::services::Gcs::credential_provider` takes, and an HTTP transport with wif's TLS for
//! an opendal built without one of its own (its default transport's rustls builds aws-lc-rs).

use std::time::Duration;

use opendal::services::Gcs;
use opendal::{HttpTransporter, Operator};
use opendal_http_transport_reqwest::ReqwestTransport;
use reqsign_core::time::Timestamp;
use reqsign_google::{Credential, Token};
use secrecy::ExposeSecret;

/// reqsign's GCS `ProvideCredential` over wif credentials: each token opendal signs with comes
/// from wif's cache, with its expiry, so opendal asks again (a cache read) as it nears it.
#[derive(Clone, Debug)]
pub struct WifGcsCredential(pub wif::Credentials);

impl reqsign_core::ProvideCredential for WifGcsCredential {
    type Credential = Credential;

    async fn provide_credential(
        &self,
        _ctx: &reqsign_core::Context,
    ) -> reqsign_core::Result<Option<Credential>> {
        let token = self.0.token().await.map_err(|e| {
            let retryable = e.is_retryable();
            reqsign_core::Error::unexpected("wif could not get a Google access token")
                .with_source(e)
                .set_retryable(retryable)
        })?;
        // No expiry known: have opendal ask again within minutes rather than keep it forever.
        let left = token.remaining().unwrap_or(UNKNOWN_EXPIRY);
        Ok(Some(Credential::with_token(Token {
            access_token: token.secret().expose_secret().to_owned(),
            expires_at: Some(Timestamp::now() + left),
        })))
    }
}

/// How long opendal keeps a token whose expiry wif does not know (reqsign asks again 2 min
/// before the time it is given).
const UNKNOWN_EXPIRY: Duration = Duration::from_secs(300);

/// An opendal GCS operator for `bucket` on wif's tokens alone, over a reqwest client with wif's
/// rustls configuration. `endpoint`: `None` for Google, or an emulator's root URL.
///
/// opendal's own credential search (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's file, the
/// metadata server) is turned off: opendal tries the providers of its chain in turn and skips
/// one that fails, so with it on a wif failure would fall through to other credentials.
pub fn gcs_operator(
    credentials: wif::Credentials,
    bucket: &str,
    endpoint: Option<&str>,
) -> Result<Operator, Box<dyn std::error::Error + Send + Sync>> {
    let mut builder = Gcs::default()
        .bucket(bucket)
        .credential_provider(WifGcsCredential(credentials))
        .disable_config_load()
        .disable_vm_metadata();
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint(endpoint);
    }
    let operator = Operator::new(builder)?;
    let transport = HttpTransporter::new(ReqwestTransport::new(transfer_client()?));
    let context = operator.context().with_http_transport(transport);
    Ok(operator.with_context(context))
}

/// reqwest with wif's TLS (its crypto provider and roots): connect and idle-read timeouts, no
/// whole-request one (objects of any size).
pub fn transfer_client() -> Result<reqwest::Client, Box<dyn std::error::Error + Send + Sync>> {
    let tls = wif::layers::core::http::tls_config(&[])?;
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(60))
        .build()?)
}
