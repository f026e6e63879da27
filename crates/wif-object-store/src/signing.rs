//! Signed URLs without a key: object_store's V4 signer, with the signature made by IAM
//! Credentials `signBlob` as the impersonated service account.
//!
//! object_store asks a signing-credential provider for the account's email and, optionally, a
//! key; given a key it signs the string-to-sign with it, synchronously. Here the "key" is
//! [`wif_impersonate::BlobSigner`]: the token is fetched in the asynchronous provider call (from
//! the wif cache, on the caller's runtime), and the signature is made by one `signBlob` call on
//! a small runtime of this crate's own thread, which the calling thread waits for. That wait is
//! one IAM round trip, bounded by the signer's timeout and retry deadline; on a multi-threaded
//! tokio runtime it happens in `block_in_place`, so the runtime's other tasks keep running.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use object_store::CredentialProvider;
use object_store::client::Signer as KeySigner;
use object_store::gcp::{GcpSigningCredential, ServiceAccountKey};
use secrecy::ExposeSecret;
use wif::Credentials;
use wif_core::{AccessToken, Error};
use wif_impersonate::BlobSigner;

use crate::credential::{STORE, to_store_error};

/// How long a signature may take in all, beyond which the caller gets an error: the signer's
/// retry deadline (30 s) and a margin.
const SIGN_DEADLINE: Duration = Duration::from_secs(40);

/// object_store's `GcpSigningCredentialProvider` for the service account wif impersonates:
/// `signed_url` works through `signBlob`, with no key file.
///
/// The service account needs `iam.serviceAccounts.signBlob` on itself
/// (`roles/iam.serviceAccountTokenCreator`), since it signs with its own token.
#[derive(Clone)]
pub struct GcsSigningCredentials {
    credentials: Credentials,
    signer: BlobSigner,
}

impl fmt::Debug for GcsSigningCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcsSigningCredentials")
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

impl GcsSigningCredentials {
    /// Signs as the service account `credentials` impersonate, at the `signBlob` URL beside
    /// their `generateAccessToken` URL (so an endpoint override moves both). An error, before
    /// any network call, when the credentials impersonate no service account: then name one
    /// with [`for_service_account`](Self::for_service_account).
    pub fn new(credentials: &Credentials) -> Result<Self, Error> {
        let Some(url) = credentials.info().impersonation_url.clone() else {
            return Err(Error::config(
                "service_account_impersonation_url",
                "signed URLs are signed by a service account, and these credentials impersonate none: \
                 add service account impersonation to the configuration, or use \
                 GcsSigningCredentials::for_service_account",
            ));
        };
        let signer = BlobSigner::from_impersonation_url(&url, signing_client()?)?;
        Ok(GcsSigningCredentials {
            credentials: credentials.clone(),
            signer,
        })
    }

    /// Signs as `service_account_email`, with `credentials`' token (whose principal needs
    /// `roles/iam.serviceAccountTokenCreator` on that account), on Google's endpoint of the
    /// credentials' universe or under their endpoint override.
    pub fn for_service_account(
        credentials: &Credentials,
        service_account_email: &str,
    ) -> Result<Self, Error> {
        let info = credentials.info();
        let signer = match &info.endpoint_base_url {
            Some(base) => BlobSigner::from_impersonation_url(
                &format!(
                    "{base}/v1/projects/-/serviceAccounts/{service_account_email}:generateAccessToken"
                ),
                signing_client()?,
            )?,
            None => BlobSigner::for_service_account(
                service_account_email,
                &info.universe_domain,
                signing_client()?,
            )?,
        };
        Ok(GcsSigningCredentials {
            credentials: credentials.clone(),
            signer,
        })
    }

    /// The service account that signs.
    pub fn service_account_email(&self) -> &str {
        self.signer.service_account_email()
    }
}

/// The client of the signing thread: its own, so its connections live on that thread's runtime.
fn signing_client() -> Result<reqwest::Client, Error> {
    wif_core::http::default_client()
}

#[async_trait]
impl CredentialProvider for GcsSigningCredentials {
    type Credential = GcpSigningCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<GcpSigningCredential>> {
        let token = self.credentials.token().await.map_err(to_store_error)?;
        let key = IamKey {
            signer: self.signer.clone(),
            token,
            credentials: self.credentials.clone(),
        };
        Ok(Arc::new(GcpSigningCredential {
            email: self.signer.service_account_email().to_owned(),
            private_key: Some(ServiceAccountKey::new(Box::new(key))),
        }))
    }
}

/// The "private key" object_store signs with: a `signBlob` call with a token in hand.
struct IamKey {
    signer: BlobSigner,
    token: AccessToken,
    credentials: Credentials,
}

impl KeySigner for IamKey {
    /// One `signBlob`. A token refused with 401 (revoked, or expired early) is dropped from the
    /// wif cache; on a multi-threaded runtime a fresh one is fetched there (its other workers
    /// run the chain while this thread waits) and the signing repeated once. On a current-thread
    /// runtime, which this wait blocks, the error is returned and the next call refreshes.
    fn sign(&self, string_to_sign: &[u8]) -> object_store::Result<Vec<u8>> {
        let (signer, token, payload, credentials) = (
            self.signer.clone(),
            self.token.clone(),
            string_to_sign.to_vec(),
            self.credentials.clone(),
        );
        let caller = tokio::runtime::Handle::try_current()
            .ok()
            .filter(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let refresh_on = caller.clone();
        let (reply, answer) = std_mpsc::sync_channel(1);
        let job: Job = Box::pin(async move {
            let mut signed = signer.sign(&token, &payload).await;
            if signed.as_ref().err().and_then(Error::status) == Some(401) {
                credentials.invalidate();
                if let Some(caller) = refresh_on {
                    let fresh = caller.spawn(async move { credentials.token().await }).await;
                    if let Ok(Ok(fresh)) = fresh {
                        signed = signer.sign(&fresh, &payload).await;
                    }
                }
            }
            let _ = reply.send(signed.map(|s| s.signature().expose_secret().clone()));
        });
        worker()?.send(job).map_err(|_| unavailable())?;
        let wait = || answer.recv_timeout(SIGN_DEADLINE);
        let answer = if caller.is_some() {
            tokio::task::block_in_place(wait)
        } else {
            wait()
        };
        match answer {
            Ok(signed) => signed.map_err(to_store_error),
            Err(_) => Err(unavailable()),
        }
    }
}

type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The signing thread's queue, started on first use.
fn worker() -> object_store::Result<&'static std_mpsc::Sender<Job>> {
    static WORKER: OnceLock<Option<std_mpsc::Sender<Job>>> = OnceLock::new();
    WORKER
        .get_or_init(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            let (send, receive) = std_mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("wif-sign-blob".into())
                .spawn(move || {
                    // Jobs arrive on a blocking channel; each runs to completion on this runtime
                    // (one signBlob call with its retries), in order.
                    while let Ok(job) = receive.recv() {
                        runtime.block_on(job);
                    }
                })
                .ok()?;
            Some(send)
        })
        .as_ref()
        .ok_or_else(unavailable)
}

fn unavailable() -> object_store::Error {
    object_store::Error::Generic {
        store: STORE,
        source: "the signBlob signer did not answer in time (or its thread could not start)".into(),
    }
}
