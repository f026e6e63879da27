//! # An AWS Lambda function that reads Google Cloud Storage with no Google key
//!
//! The function lists the objects of a bucket. Its Google credentials come from Workload Identity
//! Federation: the Lambda's execution role signs an AWS STS `GetCallerIdentity` request (from the
//! `AWS_*` variables Lambda sets), Google STS exchanges it for a Google token (and IAM
//! Credentials optionally turns that into a service-account token), and the token is **cached
//! for the life of the container**: warm invocations reuse it and refresh it a few minutes before
//! it expires, so a busy function makes one exchange per container per hour, not one per call.
//!
//! Everything the function does lives in [`Handler`], so it is tested by calling it directly,
//! without the Lambda runtime; `main.rs` only keeps one `Handler` in a process-wide `static` and
//! hands invocations to it.
//!
//! ```no_run
//! use wif_example_aws_lambda::{Handler, ListRequest};
//!
//! # async fn run() -> Result<(), wif::Error> {
//! // What main.rs does once per container: ADC (GOOGLE_APPLICATION_CREDENTIALS=wif.json, the
//! // file `gcloud iam workload-identity-pools create-cred-config --aws` wrote) and GCS_BASE_URL.
//! let handler = Handler::from_environment(std::sync::Arc::new(wif::OsEnvironment))?;
//! // What each invocation does.
//! let listed = handler.list_objects(&ListRequest::new("my-bucket").with_prefix("reports/")).await?;
//! println!("{:?}", listed.objects);
//! # Ok(()) }
//! ```
//!
//! A second handler, [`OfficialWriter`] (feature `official-client`, on by default), writes
//! objects through Google's official `google-cloud-storage` client instead, on the same
//! credentials through the `wif-google-cloud` bridge; `main.rs` runs it when
//! `WIF_EXAMPLE_HANDLER=write`.
//!
//! See the crate's README for the Google Cloud and AWS set-up, step by step.

mod event;
#[cfg(feature = "official-client")]
mod official;
mod storage;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lambda_runtime::{Diagnostic, LambdaEvent};
use url::Url;
use wif::{Credentials, Environment, Error, RetryPolicy, Step};

pub use event::{DEFAULT_LIMIT, ListRequest, ListResponse, MAX_LIMIT};
#[cfg(feature = "official-client")]
pub use official::{OfficialWriter, WriteRequest, WriteResponse};

/// The variable naming the Cloud Storage endpoint (an emulator, a private endpoint).
pub const GCS_BASE_URL_VAR: &str = "GCS_BASE_URL";

/// The Cloud Storage endpoint used when [`GCS_BASE_URL_VAR`] is unset.
pub const DEFAULT_GCS_BASE_URL: &str = "https://storage.googleapis.com";

/// The variable naming a PEM file of CA certificates to trust beside the public ones (a
/// TLS-inspecting proxy in front of Google, a test server): what `wif`'s `--ca-certs` reads from
/// the same variable.
pub const CA_CERTS_VAR: &str = "WIF_CA_CERTS";

/// Pages one invocation reads at most ([`MAX_LIMIT`] fills 10 full pages; the rest allows for
/// sparse ones).
const MAX_PAGES: usize = 50;

/// Time kept back from the invocation's deadline, so an error is reported before Lambda kills
/// the invocation with a bare "Task timed out".
const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

/// The function: credentials, one HTTP client, and where Cloud Storage is.
///
/// Build one per container and share it across invocations (clones of the [`Credentials`] share
/// one token cache, so even several `Handler`s built from one `Credentials` exchange once).
#[derive(Clone, Debug)]
pub struct Handler {
    creds: Credentials,
    http: reqwest::Client,
    gcs_base: Url,
    retry: RetryPolicy,
}

impl Handler {
    /// A handler calling Cloud Storage at `gcs_base` (e.g. [`DEFAULT_GCS_BASE_URL`]) with `creds`.
    ///
    /// `gcs_base` must be `https`, or `http` to a loopback address (emulators and tests): a bearer
    /// token is never sent in clear text over a network.
    pub fn new(creds: Credentials, http: reqwest::Client, gcs_base: &str) -> Result<Self, Error> {
        Ok(Handler {
            creds,
            http,
            gcs_base: parse_base_url(gcs_base)?,
            retry: RetryPolicy::default(),
        })
    }

    /// The handler a container starts with: Application Default Credentials
    /// (`GOOGLE_APPLICATION_CREDENTIALS`), [`GCS_BASE_URL_VAR`] and [`CA_CERTS_VAR`], read from
    /// `env`; the AWS credentials and region are read from `env` too, at each token refresh. One
    /// HTTP client, the chain's own (rustls, timeouts, no redirects, its first token's lookups
    /// made at once), serves Google STS, IAM Credentials and Cloud Storage.
    ///
    /// Without [`GCS_BASE_URL_VAR`], Cloud Storage is where the credentials' endpoints are:
    /// Google's, or a fake's or the emulator's when `WIF_ENDPOINT_BASE_URL` says so — so a test
    /// runs this very function against fakes by setting one variable.
    pub fn from_environment(env: Arc<dyn Environment>) -> Result<Self, Error> {
        let configured = env.var(GCS_BASE_URL_VAR).filter(|v| !v.is_empty());
        let ca_certs = env.var(CA_CERTS_VAR).filter(|v| !v.is_empty());
        let mut builder = Credentials::builder().environment(env).adc()?;
        if let Some(path) = ca_certs {
            use wif::layers::core::local_file::{MAX_LOCAL_FILE_BYTES, read_bounded};
            let pem = read_bounded(Path::new(&path), MAX_LOCAL_FILE_BYTES, CA_CERTS_VAR)
                .map_err(|e| e.into_error(Step::Config))?;
            builder = builder.add_root_certificates_pem(pem);
        }
        let chain = builder.build_chain()?;
        let http = chain.http_client().clone();
        let creds = chain.into_credentials();
        let base = configured
            .or_else(|| creds.info().endpoint_base_url.clone())
            .unwrap_or_else(|| DEFAULT_GCS_BASE_URL.to_owned());
        Handler::new(creds, http, &base)
    }

    /// Replaces how Cloud Storage calls are retried (default: 3 attempts within 30 s, on 408,
    /// 429, 5xx and connection failures). Each invocation's deadline shortens it further.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The credentials every invocation shares.
    pub fn credentials(&self) -> &Credentials {
        &self.creds
    }

    /// Where Cloud Storage is.
    pub fn gcs_base(&self) -> &Url {
        &self.gcs_base
    }

    /// Lists the objects `request` asks for, following pages up to its limit.
    pub async fn list_objects(&self, request: &ListRequest) -> Result<ListResponse, Error> {
        self.list_with(request, &self.retry).await
    }

    /// The Lambda entry point: [`list_objects`](Self::list_objects) within the invocation's
    /// deadline, with errors turned into the `Diagnostic` Lambda reports (the error's `Display`:
    /// the step, the server's words and a hint — never a token).
    pub async fn invoke(
        &self,
        event: LambdaEvent<ListRequest>,
    ) -> Result<ListResponse, Diagnostic> {
        let retry = match budget(event.context.deadline, SystemTime::now()) {
            Some(left) => self.retry.with_deadline(self.retry.deadline().min(left)),
            None => self.retry,
        };
        let request = &event.payload;
        match self.list_with(request, &retry).await {
            Ok(response) => {
                tracing::info!(
                    request_id = %event.context.request_id,
                    bucket = %request.bucket,
                    objects = response.objects.len(),
                    truncated = response.truncated,
                    token_expires_in_s = response.token_expires_in_s,
                    "listed objects"
                );
                Ok(response)
            }
            Err(e) => {
                tracing::error!(request_id = %event.context.request_id, error = %e, "invocation failed");
                Err(diagnostic(&e))
            }
        }
    }

    async fn list_with(
        &self,
        request: &ListRequest,
        retry: &RetryPolicy,
    ) -> Result<ListResponse, Error> {
        // Bad events fail here, before a token is fetched.
        request.validate()?;
        let limit = request.limit();
        let mut response = ListResponse::default();
        let mut page_token: Option<String> = None;
        let mut pages = 0;
        loop {
            pages += 1;
            let page = storage::PageRequest {
                bucket: &request.bucket,
                prefix: request.prefix.as_deref(),
                page_token: page_token.as_deref(),
                max_results: limit - response.objects.len(),
            };
            let url = storage::page_url(&self.gcs_base, &page)?;
            let (page, token) = storage::list_page(&self.http, &self.creds, retry, &url).await?;
            response.token_expires_in_s = token.remaining().map(|left| left.as_secs());
            response
                .objects
                .extend(page.items.into_iter().map(|item| item.name));
            match page.next_page_token.filter(|t| !t.is_empty()) {
                None => break,
                Some(_) if response.objects.len() >= limit => {
                    response.truncated = true;
                    break;
                }
                // Pages may be empty, but a server that hands back the token it was given
                // would keep us here until the deadline.
                Some(next) if page_token.as_deref() == Some(next.as_str()) => {
                    return Err(Error::invalid_response(
                        Step::Api,
                        "objects.list returned the same nextPageToken twice",
                    ));
                }
                Some(_) if pages >= MAX_PAGES => {
                    response.truncated = true;
                    break;
                }
                Some(next) => page_token = Some(next),
            }
        }
        if response.objects.len() > limit {
            response.objects.truncate(limit);
            response.truncated = true;
        }
        Ok(response)
    }
}

/// The `Diagnostic` Lambda reports for `error`: its type names the failed step (`ExchangeError`,
/// `ImpersonationError`, `ApiError`, …) so CloudWatch metrics can group failures; its message is
/// the error's `Display`, which never holds a token.
pub fn diagnostic(error: &Error) -> Diagnostic {
    let step = match error.step() {
        Step::Config => "Config",
        Step::Source => "Source",
        Step::Exchange => "Exchange",
        Step::Impersonation => "Impersonation",
        Step::Api => "Api",
        _ => "Wif",
    };
    Diagnostic {
        error_type: format!("{step}Error"),
        error_message: error.to_string(),
    }
}

/// Time left before `deadline_ms` (milliseconds since the epoch, as Lambda gives it), minus a
/// margin; `None` when there is no deadline (0, outside Lambda).
fn budget(deadline_ms: u64, now: SystemTime) -> Option<Duration> {
    if deadline_ms == 0 {
        return None;
    }
    let deadline = SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(deadline_ms))?;
    let left = deadline.duration_since(now).unwrap_or(Duration::ZERO);
    // Never zero: one short attempt still beats failing without trying.
    Some(
        left.saturating_sub(DEADLINE_MARGIN)
            .max(Duration::from_millis(100)),
    )
}

fn parse_base_url(base: &str) -> Result<Url, Error> {
    let url = Url::parse(base)
        .map_err(|e| Error::config(GCS_BASE_URL_VAR, format_args!("{base:?} is not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        // The rule every wif layer applies to plain-http credentials.
        "http" if wif::layers::core::http::is_loopback(&url) => {}
        other => {
            return Err(Error::config(
                GCS_BASE_URL_VAR,
                format_args!(
                    "must be https (http only to a loopback address), not {other}: the request carries a bearer token"
                ),
            ));
        }
    }
    if url.cannot_be_a_base() || url.query().is_some() || url.fragment().is_some() {
        return Err(Error::config(
            GCS_BASE_URL_VAR,
            "must be a plain base URL such as https://storage.googleapis.com (no query or fragment)",
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_must_be_https_or_loopback_http() {
        for ok in [
            "https://storage.googleapis.com",
            "https://storage.example.com/prefix/",
            "http://127.0.0.1:4443",
            "http://localhost:4443",
            "http://[::1]:4443",
        ] {
            assert!(parse_base_url(ok).is_ok(), "{ok} should be accepted");
        }
        for (bad, expected) in [
            ("http://storage.googleapis.com", "must be https"),
            ("http://10.0.0.1", "must be https"),
            ("ftp://127.0.0.1", "must be https"),
            ("storage.googleapis.com", "is not a URL"),
            ("https://storage.googleapis.com?x=1", "no query"),
        ] {
            match parse_base_url(bad) {
                Ok(u) => panic!("{bad} should be refused, got {u}"),
                Err(e) => {
                    let shown = e.to_string();
                    assert!(shown.contains(expected), "{bad}: {shown}");
                    assert!(shown.contains("GCS_BASE_URL"), "{bad}: {shown}");
                }
            }
        }
    }

    #[test]
    fn budget_follows_the_lambda_deadline() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let ms = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or_default()
        };
        assert_eq!(budget(0, now), None, "no deadline outside Lambda");
        assert_eq!(
            budget(ms(now + Duration::from_secs(3)), now),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(
            budget(ms(now - Duration::from_secs(1)), now),
            Some(Duration::from_millis(100)),
            "a passed deadline still allows one short attempt"
        );
    }

    #[test]
    fn diagnostics_name_the_step() {
        let d = diagnostic(&Error::http(
            Step::Exchange,
            400,
            br#"{"error":"invalid_grant"}"#,
        ));
        assert_eq!(d.error_type, "ExchangeError");
        assert!(
            d.error_message.contains("STS token exchange failed"),
            "{d:?}"
        );
        assert!(d.error_message.contains("invalid_grant"), "{d:?}");
    }
}
