//! The second handler: writes an object through Google's official `google-cloud-storage`
//! client, its credentials the same keyless wif chain as [`Handler`](crate::Handler)'s, handed
//! over by the `wif-google-cloud` bridge. For functions whose code already uses the official
//! clients: only the credentials change.
//!
//! ```text
//! event:  {"bucket": "my-bucket", "name": "reports/2026/a.csv", "content": "id,kind\n1,signup\n"}
//! answer: {"name": "reports/2026/a.csv", "size": 17, "generation": 1764892800123456}
//! ```

use std::sync::Arc;
use std::time::Duration;

use google_cloud_gax::retry_policy::RetryPolicyExt as _;
use google_cloud_storage::client::Storage;
use google_cloud_storage::retry_policy::RetryableErrors;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::{Deserialize, Serialize};
use wif::{Credentials, Environment, Error, ErrorKind, Step};
use wif_google_cloud::WifCredentialsProvider;

use crate::{GCS_BASE_URL_VAR, diagnostic};

/// How long the official client keeps retrying one write (transient failures, and the one
/// retry with a new token after a 401).
const RETRY_TIME_LIMIT: Duration = Duration::from_secs(30);

/// The event of the writing handler: an object to create.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WriteRequest {
    /// The bucket name (not a `gs://` URL).
    pub bucket: String,
    /// The object name.
    pub name: String,
    /// The object's content, as text.
    pub content: String,
}

/// What the writing handler answers: the stored object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct WriteResponse {
    /// The object name.
    pub name: String,
    /// Its size in bytes.
    pub size: i64,
    /// The generation Cloud Storage gave it.
    pub generation: i64,
}

/// The writing handler: the official Cloud Storage client on wif credentials. Build one per
/// container, as [`Handler`](crate::Handler).
#[derive(Clone, Debug)]
pub struct OfficialWriter {
    credentials: Credentials,
    storage: Storage,
}

impl OfficialWriter {
    /// The writer a container starts with: Application Default Credentials from `env`, and
    /// Cloud Storage at [`GCS_BASE_URL_VAR`], else where the credentials' endpoints are
    /// (`WIF_ENDPOINT_BASE_URL`), else Google's.
    pub async fn from_environment(env: Arc<dyn Environment>) -> Result<Self, Error> {
        let endpoint = env.var(GCS_BASE_URL_VAR).filter(|v| !v.is_empty());
        let credentials = Credentials::builder().environment(env).adc()?.build()?;
        let endpoint = endpoint.or_else(|| credentials.info().endpoint_base_url.clone());
        Self::new(credentials, endpoint.as_deref()).await
    }

    /// A writer with `credentials`, calling Cloud Storage at `endpoint` (Google's when `None`).
    pub async fn new(credentials: Credentials, endpoint: Option<&str>) -> Result<Self, Error> {
        let provider = WifCredentialsProvider::new(credentials.clone());
        let mut builder = Storage::builder()
            .with_retry_policy(
                provider.refresh_on_unauthorized(RetryableErrors.with_time_limit(RETRY_TIME_LIMIT)),
            )
            .with_credentials(provider);
        if let Some(endpoint) = endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        let storage = builder.build().await.map_err(|e| {
            Error::config(
                GCS_BASE_URL_VAR,
                format_args!("the Cloud Storage client could not be built: {e}"),
            )
        })?;
        Ok(OfficialWriter {
            credentials,
            storage,
        })
    }

    /// The credentials every invocation shares.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Writes the object `request` describes.
    pub async fn write(&self, request: &WriteRequest) -> Result<WriteResponse, Error> {
        crate::ListRequest::new(&request.bucket).validate()?;
        if request.name.is_empty() {
            return Err(Error::new(
                Step::Api,
                ErrorKind::InvalidConfig,
                "invalid event: `name` is empty",
            ));
        }
        let object = self
            .storage
            .write_object(
                format!("projects/_/buckets/{}", request.bucket),
                &request.name,
                bytes::Bytes::from(request.content.clone()),
            )
            .send_buffered()
            .await
            .map_err(call_error)?;
        Ok(WriteResponse {
            name: object.name,
            size: object.size,
            generation: object.generation,
        })
    }

    /// The Lambda entry point: [`write`](Self::write), with errors as the `Diagnostic` Lambda
    /// reports (never a token).
    pub async fn invoke(
        &self,
        event: LambdaEvent<WriteRequest>,
    ) -> Result<WriteResponse, Diagnostic> {
        let request = &event.payload;
        match self.write(request).await {
            Ok(response) => {
                tracing::info!(
                    request_id = %event.context.request_id,
                    bucket = %request.bucket,
                    name = %response.name,
                    size = response.size,
                    "wrote object"
                );
                Ok(response)
            }
            Err(e) => {
                tracing::error!(request_id = %event.context.request_id, error = %e, "invocation failed");
                Err(diagnostic(&e))
            }
        }
    }
}

/// The wif error behind a failed call: wif's own when getting the token failed (its step, its
/// cause: an `ExchangeError` reads as one in CloudWatch), else the API's answer at
/// [`Step::Api`].
fn call_error(error: google_cloud_storage::Error) -> Error {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(e) = cause {
        if let Some(wif) = e.downcast_ref::<Error>() {
            return wif.clone();
        }
        cause = e.source();
    }
    let retryable = error
        .http_status_code()
        .is_some_and(|s| s == 408 || s == 429 || s >= 500);
    Error::new(
        Step::Api,
        ErrorKind::Http,
        format!("Cloud Storage objects.insert failed: {error}"),
    )
    .retryable(retryable)
}
