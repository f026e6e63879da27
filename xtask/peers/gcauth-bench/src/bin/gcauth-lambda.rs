//! The wif Lambda example (`examples/aws-lambda`) rebuilt on google-cloud-auth, for `cargo xtask
//! bench` to compare cold starts: the same runtime (`lambda_runtime`, current-thread Tokio), the
//! same credentials (Application Default Credentials: `GOOGLE_APPLICATION_CREDENTIALS`, the
//! execution role's `AWS_*` variables), and the same work per invocation: a token, then one
//! Cloud Storage `objects.list` page of the event's bucket at `GCS_BASE_URL`, answered with the
//! object names. Errors are the invocation's error; a token is never printed.

use google_cloud_auth::credentials::AccessTokenCredentials;
use google_cloud_auth::credentials::external_account::Builder;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

struct Handler {
    creds: AccessTokenCredentials,
    http: reqwest::Client,
    gcs_base: String,
}

impl Handler {
    fn from_environment() -> Result<Handler, Error> {
        let path = std::env::var("GOOGLE_APPLICATION_CREDENTIALS")?;
        let json: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
        let creds = Builder::new(json)
            .with_scopes([CLOUD_PLATFORM])
            .build_access_token_credentials()?;
        Ok(Handler {
            creds,
            http: reqwest::Client::new(),
            gcs_base: std::env::var("GCS_BASE_URL")
                .unwrap_or_else(|_| "https://storage.googleapis.com".to_owned()),
        })
    }

    async fn invoke(&self, event: LambdaEvent<Value>) -> Result<Value, Error> {
        let bucket = event.payload["bucket"]
            .as_str()
            .ok_or("the event has no bucket")?;
        let token = self.creds.access_token().await?;
        let url = format!(
            "{}/storage/v1/b/{bucket}/o?fields=items/name,nextPageToken",
            self.gcs_base.trim_end_matches('/')
        );
        let page: Value = self
            .http
            .get(url)
            .bearer_auth(&token.token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let objects: Vec<Value> = page["items"]
            .as_array()
            .map(|items| items.iter().map(|i| i["name"].clone()).collect())
            .unwrap_or_default();
        Ok(json!({ "objects": objects }))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // Without its default aws-lc backend google-cloud-auth needs a process-wide provider: ring,
    // as wif uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let handler: &'static Handler = Box::leak(Box::new(Handler::from_environment()?));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        handler.invoke(event)
    }))
    .await
}
