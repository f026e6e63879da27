//! IAM Credentials `signBlob`: a service account signs bytes with a Google-held key, so a
//! workload without a key file can make V4 signed URLs (and other RSA SHA-256 signatures).
//!
//! ```text
//! POST https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{email}:signBlob
//! Authorization: Bearer <a token allowed iam.serviceAccounts.signBlob on {email}>
//! Content-Type: application/json
//!
//! {"payload":"<base64 of the bytes>"}
//! → {"keyId":"…","signedBlob":"<base64 of the RSA PKCS#1 v1.5 SHA-256 signature>"}
//! ```
//!
//! ([reference](https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/signBlob)).
//! The caller's token needs `iam.serviceAccounts.signBlob` on the account
//! (`roles/iam.serviceAccountTokenCreator`): a service account signing with its own token needs
//! that role on itself. The signature is a credential for as long as what it signs is valid (a
//! signed URL grants access to whoever holds it): it is kept in a [`SecretBox`] and never logged.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde::Deserialize;
use tracing::Instrument;
use url::Url;
use wif_core::{AccessToken, Error, ErrorKind, Redactor, RetryPolicy, Step};

use crate::DEFAULT_TIMEOUT;
use crate::endpoint::{METHOD, is_plausible_email};

use wif_core::protocol::SIGN_BLOB_METHOD as SIGN_BLOB;

/// The largest payload accepted before any network call: a signed URL's string-to-sign is a few
/// hundred bytes; IAM's own limit is far above anything this is meant for.
pub const MAX_PAYLOAD: usize = 64 * 1024;

/// Signs bytes as one service account through IAM Credentials `signBlob`.
///
/// Cheap to clone (one `Arc`). Every call has a timeout and is retried (408, 429, 5xx,
/// transport failures) under the [`RetryPolicy`]; errors never quote the token, the payload or
/// the signature.
#[derive(Clone)]
pub struct BlobSigner {
    inner: Arc<Inner>,
}

struct Inner {
    url: Url,
    email: String,
    client: reqwest::Client,
    retry: RetryPolicy,
    timeout: Duration,
    what: String,
}

impl fmt::Debug for BlobSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobSigner")
            .field("service_account", &self.inner.email)
            .field("url", &self.inner.what)
            .finish_non_exhaustive()
    }
}

/// A signature from `signBlob`. `Debug` shows the key ID and the length only.
pub struct BlobSignature {
    key_id: String,
    signature: SecretBox<Vec<u8>>,
}

impl BlobSignature {
    /// The ID of the service-account key Google signed with.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The signature bytes (RSA PKCS#1 v1.5 with SHA-256). Handle them as a credential.
    pub fn signature(&self) -> &SecretBox<Vec<u8>> {
        &self.signature
    }
}

impl fmt::Debug for BlobSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobSignature")
            .field("key_id", &self.key_id)
            .field("signature_len", &self.signature.expose_secret().len())
            .finish()
    }
}

#[derive(Deserialize)]
struct SignBlobResponse {
    #[serde(rename = "keyId", default)]
    key_id: Option<String>,
    #[serde(rename = "signedBlob", default)]
    signed_blob: Option<SecretString>,
}

impl BlobSigner {
    /// A signer for `service_account_email` at the `signBlob` URL of `generate_access_token_url`
    /// (the `service_account_impersonation_url` of a configuration, or
    /// [`Impersonation::url`](crate::Impersonation::url)): the same host and path, the method
    /// changed, so an endpoint override (a fake, the emulator) moves both calls.
    ///
    /// Checked before any network call: the URL must end in `:generateAccessToken` and name a
    /// plausible email, and use `https` unless it is on a loopback address.
    pub fn from_impersonation_url(
        generate_access_token_url: &str,
        client: reqwest::Client,
    ) -> Result<Self, Error> {
        let email = crate::email_from_url(generate_access_token_url).ok_or_else(|| {
            Error::config(
                "service_account_impersonation_url",
                "must end in /serviceAccounts/EMAIL:generateAccessToken to derive the signBlob URL",
            )
        })?;
        let text = generate_access_token_url.replacen(METHOD, SIGN_BLOB, 1);
        let url = Url::parse(&text).map_err(|e| {
            Error::config(
                "service_account_impersonation_url",
                format!("not a URL: {e}"),
            )
        })?;
        if url.scheme() != "https" && !wif_core::http::is_loopback(&url) {
            return Err(Error::config(
                "service_account_impersonation_url",
                "signBlob sends a bearer token: the URL must use https (plain http only to a loopback address)",
            ));
        }
        Ok(Self::new(url, email, client))
    }

    /// A signer for `service_account_email` on Google's public endpoint of `universe_domain`
    /// (`googleapis.com`).
    pub fn for_service_account(
        service_account_email: &str,
        universe_domain: &str,
        client: reqwest::Client,
    ) -> Result<Self, Error> {
        if !is_plausible_email(service_account_email) {
            return Err(Error::config(
                "service_account",
                "not a service account email (NAME@PROJECT.iam.gserviceaccount.com)",
            ));
        }
        let url = crate::default_impersonation_url(universe_domain, service_account_email);
        Self::from_impersonation_url(&url, client)
    }

    fn new(url: Url, email: String, client: reqwest::Client) -> Self {
        let what = format!("POST {}", wif_core::http::describe_url(&url));
        BlobSigner {
            inner: Arc::new(Inner {
                url,
                email,
                client,
                retry: RetryPolicy::default(),
                timeout: DEFAULT_TIMEOUT,
                what,
            }),
        }
    }

    /// The same signer with another retry policy (default: [`RetryPolicy::default`]).
    pub fn with_retry_policy(self, retry: RetryPolicy) -> Self {
        self.with(|inner| inner.retry = retry)
    }

    /// The same signer with another per-attempt timeout (default 10 s; zero is refused by
    /// keeping the default).
    pub fn with_timeout(self, timeout: Duration) -> Self {
        if timeout.is_zero() {
            return self;
        }
        self.with(|inner| inner.timeout = timeout)
    }

    fn with(self, change: impl FnOnce(&mut Inner)) -> Self {
        let inner = &self.inner;
        let mut copy = Inner {
            url: inner.url.clone(),
            email: inner.email.clone(),
            client: inner.client.clone(),
            retry: inner.retry,
            timeout: inner.timeout,
            what: inner.what.clone(),
        };
        change(&mut copy);
        BlobSigner {
            inner: Arc::new(copy),
        }
    }

    /// The service account that signs.
    pub fn service_account_email(&self) -> &str {
        &self.inner.email
    }

    /// The `signBlob` URL.
    pub fn url(&self) -> &str {
        self.inner.url.as_str()
    }

    /// Signs `payload` with the service account's Google-held key, authorized by `token`.
    pub async fn sign(&self, token: &AccessToken, payload: &[u8]) -> Result<BlobSignature, Error> {
        if payload.is_empty() || payload.len() > MAX_PAYLOAD {
            return Err(Error::new(
                Step::Api,
                ErrorKind::InvalidConfig,
                format!(
                    "signBlob payload of {} bytes: it must hold 1 to {MAX_PAYLOAD} bytes",
                    payload.len()
                ),
            ));
        }
        let body = serde_json::json!({
            "payload": base64::engine::general_purpose::STANDARD.encode(payload),
        })
        .to_string();
        let redactor = Redactor::new().access_token(token);
        let (body, redactor) = (&body, &redactor);
        self.inner
            .retry
            .run(Step::Api, &self.inner.what, |attempt| async move {
                self.sign_once(token, body, attempt)
                    .await
                    .map_err(|e| e.redact(redactor))
            })
            .await
    }

    async fn sign_once(
        &self,
        token: &AccessToken,
        body: &str,
        attempt: u32,
    ) -> Result<BlobSignature, Error> {
        let s = &self.inner;
        let span = tracing::debug_span!("sign_blob", attempt, service_account = %s.email);
        async {
            let request = s
                .client
                .post(s.url.clone())
                .timeout(s.timeout)
                .header(AUTHORIZATION, token.authorization_header())
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_owned());
            let response = wif_core::http::send(Step::Api, &s.what, request).await?;
            let response = response
                .error_for_status(Step::Api)
                .map_err(|e| explain(e.context(&s.what), &s.email))?;
            let signature = parse_response(&response.body)?;
            tracing::debug!(key_id = %signature.key_id, "signBlob signed");
            Ok(signature)
        }
        .instrument(span)
        .await
    }
}

/// The hint for the misconfigurations behind an error answer.
fn explain(err: Error, email: &str) -> Error {
    match err.status() {
        Some(403) => err.with_hint(format!(
            "The caller may not sign as {email}: grant it iam.serviceAccounts.signBlob on the \
             service account (roles/iam.serviceAccountTokenCreator; a service account signing \
             with its own token needs the role on itself), and check that the IAM Service \
             Account Credentials API is enabled"
        )),
        Some(404) => err.with_hint(format!("The service account {email} does not exist")),
        Some(401) => err.with_hint(
            "The token was refused: it expired or was revoked; get a fresh one and sign again",
        ),
        _ => err,
    }
}

/// Reads `{"keyId","signedBlob"}`. Nothing of the body reaches an error: it holds the signature.
fn parse_response(body: &[u8]) -> Result<BlobSignature, Error> {
    let invalid = |what: &str| Error::invalid_response(Step::Api, what);
    let response: SignBlobResponse = serde_json::from_slice(body).map_err(|_| {
        invalid(&format!(
            "signBlob response is not the expected JSON object ({} bytes, not shown)",
            body.len()
        ))
    })?;
    let signed = response
        .signed_blob
        .filter(|s| !s.expose_secret().is_empty())
        .ok_or_else(|| invalid("signBlob response has no `signedBlob`"))?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signed.expose_secret().as_bytes())
        .map_err(|_| invalid("signBlob `signedBlob` is not base64 (not shown)"))?;
    Ok(BlobSignature {
        key_id: response.key_id.unwrap_or_default(),
        signature: SecretBox::new(Box::new(signature)),
    })
}

#[cfg(test)]
#[path = "sign_blob_tests.rs"]
mod tests;
