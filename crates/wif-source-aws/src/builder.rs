//! Configuration of an [`AwsSource`]: the `credential_source` fields of an `external_account`
//! file (`docs/protocol.md#credential-source-shapes`) plus what code can add (a region, a credentials provider,
//! the injected environment, clock and HTTP client). All validation happens in
//! [`AwsSourceBuilder::build`], before any network call, with errors naming the field.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use serde::Deserialize;
use tokio::sync::OnceCell;
use url::Url;
use wif_core::{Clock, Environment, Error, OsEnvironment, RetryPolicy, SystemClock};

use crate::imds::{self, Imds, MetadataClient};
use crate::region::is_plausible_region;
use crate::signing::verification_url;
use crate::source::Inner;
use crate::{
    AWS_SUBJECT_TOKEN_TYPE, AwsSource, DEFAULT_REGIONAL_CRED_VERIFICATION_URL, TargetResource,
};

/// The AWS `credential_source` object of an `external_account` credential file, as gcloud writes it.
///
/// ```
/// let json = r#"{
///   "environment_id": "aws1",
///   "region_url": "http://169.254.169.254/latest/meta-data/placement/availability-zone",
///   "url": "http://169.254.169.254/latest/meta-data/iam/security-credentials",
///   "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
///   "imdsv2_session_token_url": "http://169.254.169.254/latest/api/token"
/// }"#;
/// let source: wif_source_aws::AwsCredentialSource = serde_json::from_str(json)?;
/// let aws = wif_source_aws::AwsSource::builder().credential_source(&source).build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct AwsCredentialSource {
    /// `aws1`.
    pub environment_id: Option<String>,
    /// Metadata URL answering the availability zone.
    pub region_url: Option<String>,
    /// Metadata URL listing the role name; `url/<role>` answers its credentials.
    pub url: Option<String>,
    /// Template of the signed AWS STS URL, `{region}` substituted.
    pub regional_cred_verification_url: Option<String>,
    /// Metadata URL of the IMDSv2 session token (present with `--enable-imdsv2`).
    pub imdsv2_session_token_url: Option<String>,
}

/// Builds an [`AwsSource`]. Every setting is optional.
pub struct AwsSourceBuilder {
    environment_id: Option<String>,
    region_url: Option<String>,
    credentials_url: Option<String>,
    imdsv2_session_token_url: Option<String>,
    regional_cred_verification_url: Option<String>,
    subject_token_type: Option<String>,
    region: Option<String>,
    provider: Option<SharedCredentialsProvider>,
    environment: Option<Arc<dyn Environment>>,
    clock: Option<Arc<dyn Clock>>,
    http: Option<reqwest::Client>,
    metadata_timeout: Duration,
    metadata_retry: RetryPolicy,
    target_resource: TargetResource,
}

impl AwsSourceBuilder {
    pub(crate) fn new() -> Self {
        AwsSourceBuilder {
            environment_id: None,
            region_url: None,
            credentials_url: None,
            imdsv2_session_token_url: None,
            regional_cred_verification_url: None,
            subject_token_type: None,
            region: None,
            provider: None,
            environment: None,
            clock: None,
            http: None,
            metadata_timeout: imds::REQUEST_TIMEOUT,
            // Metadata 5xx are rare and brief; timeouts are not retried at all (see imds.rs).
            metadata_retry: RetryPolicy::default()
                .with_max_attempts(3)
                .with_backoff(Duration::from_millis(100), Duration::from_secs(1))
                .with_deadline(Duration::from_secs(10)),
            target_resource: TargetResource::Signed,
        }
    }

    /// Applies every field present in a parsed `credential_source` object.
    pub fn credential_source(mut self, source: &AwsCredentialSource) -> Self {
        let AwsCredentialSource {
            environment_id,
            region_url,
            url,
            regional_cred_verification_url,
            imdsv2_session_token_url,
        } = source.clone();
        self.environment_id = environment_id.or(self.environment_id);
        self.region_url = region_url.or(self.region_url);
        self.credentials_url = url.or(self.credentials_url);
        self.regional_cred_verification_url =
            regional_cred_verification_url.or(self.regional_cred_verification_url);
        self.imdsv2_session_token_url = imdsv2_session_token_url.or(self.imdsv2_session_token_url);
        self
    }

    /// `credential_source.environment_id`: must be `aws1` (`aws01` is accepted, as Python and Go
    /// parse the version as a number). Optional for sources built in code.
    pub fn environment_id(mut self, id: impl Into<String>) -> Self {
        self.environment_id = Some(id.into());
        self
    }

    /// `credential_source.region_url`: metadata URL of the availability zone.
    pub fn region_url(mut self, url: impl Into<String>) -> Self {
        self.region_url = Some(url.into());
        self
    }

    /// `credential_source.url`: metadata URL of the role name (credentials at `url/<role>`).
    pub fn credentials_url(mut self, url: impl Into<String>) -> Self {
        self.credentials_url = Some(url.into());
        self
    }

    /// `credential_source.imdsv2_session_token_url`: enables IMDSv2 (a session token `PUT`,
    /// reused for four minutes of its five-minute TTL).
    pub fn imdsv2_session_token_url(mut self, url: impl Into<String>) -> Self {
        self.imdsv2_session_token_url = Some(url.into());
        self
    }

    /// `credential_source.regional_cred_verification_url`; must be `https`. Default
    /// [`DEFAULT_REGIONAL_CRED_VERIFICATION_URL`].
    pub fn regional_cred_verification_url(mut self, url: impl Into<String>) -> Self {
        self.regional_cred_verification_url = Some(url.into());
        self
    }

    /// The configuration's `subject_token_type`, checked in `build()`: it must be
    /// `urn:ietf:params:aws:token-type:aws4_request`.
    pub fn subject_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.subject_token_type = Some(token_type.into());
        self
    }

    /// The region to sign for; wins over `AWS_REGION`, `AWS_DEFAULT_REGION` and `region_url`.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Where credentials come from instead of the environment and the metadata service: any
    /// aws-config provider (container credentials, IRSA web identity, SSO, profiles, the default
    /// chain) or your own (say, credentials of a role you assumed). Called once per refresh; it
    /// is not cached by this source.
    pub fn credentials_provider(mut self, provider: impl ProvideCredentials + 'static) -> Self {
        self.provider = Some(SharedCredentialsProvider::new(provider));
        self
    }

    /// The environment variables to read (default: the process environment).
    pub fn environment(mut self, environment: Arc<dyn Environment>) -> Self {
        self.environment = Some(environment);
        self
    }

    /// The clock that stamps signatures (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The client for metadata calls. By default the source builds its own: 1 s connect timeout,
    /// no proxy (a proxy cannot reach the link-local metadata address). Each call is still cut at
    /// the metadata timeout.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Timeout of each metadata call (default 3 s).
    pub fn metadata_timeout(mut self, timeout: Duration) -> Self {
        self.metadata_timeout = timeout;
        self
    }

    /// Retry policy of metadata calls (default: 3 attempts on 5xx, 100 ms backoff, 10 s deadline).
    pub fn metadata_retry(mut self, policy: RetryPolicy) -> Self {
        self.metadata_retry = policy;
        self
    }

    /// Whether `x-goog-cloud-target-resource` is signed (default [`TargetResource::Signed`]).
    pub fn target_resource(mut self, mode: TargetResource) -> Self {
        self.target_resource = mode;
        self
    }

    /// Validates everything and builds the source. No network call happens here.
    pub fn build(self) -> Result<AwsSource, Error> {
        if let Some(id) = &self.environment_id {
            validate_environment_id(id)?;
        }
        if let Some(t) = &self.subject_token_type
            && t != AWS_SUBJECT_TOKEN_TYPE
        {
            return Err(Error::config(
                "subject_token_type",
                format!("is {t:?}, but an AWS credential_source needs {AWS_SUBJECT_TOKEN_TYPE:?}"),
            ));
        }
        let verification_url = self
            .regional_cred_verification_url
            .unwrap_or_else(|| DEFAULT_REGIONAL_CRED_VERIFICATION_URL.to_owned());
        verification_url_check(&verification_url)?;
        if let Some(region) = &self.region
            && !is_plausible_region(region)
        {
            return Err(Error::config(
                "region",
                format!("{region:?} is not an AWS region name"),
            ));
        }
        if self.metadata_timeout.is_zero() {
            return Err(Error::config(
                "metadata_timeout",
                "must be greater than zero",
            ));
        }
        let http = match self.http {
            Some(client) => MetadataClient::given(client),
            None => MetadataClient::lazy(),
        };
        let imds = Imds {
            http,
            timeout: self.metadata_timeout,
            retry: self.metadata_retry,
            region_url: metadata_url("credential_source.region_url", self.region_url)?,
            credentials_url: metadata_url("credential_source.url", self.credentials_url)?,
            session_token_url: metadata_url(
                "credential_source.imdsv2_session_token_url",
                self.imdsv2_session_token_url,
            )?,
            remembered: Default::default(),
        };
        Ok(AwsSource::from_inner(Inner {
            imds,
            verification_url,
            region: self.region,
            provider: self.provider,
            environment: self.environment.unwrap_or_else(|| Arc::new(OsEnvironment)),
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            target_resource: self.target_resource,
            cached_region: OnceCell::new(),
        }))
    }
}

impl fmt::Debug for AwsSourceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsSourceBuilder")
            .field("environment_id", &self.environment_id)
            .field("region_url", &self.region_url)
            .field("credentials_url", &self.credentials_url)
            .field("imdsv2_session_token_url", &self.imdsv2_session_token_url)
            .field(
                "regional_cred_verification_url",
                &self.regional_cred_verification_url,
            )
            .field("region", &self.region)
            .field(
                "credentials_provider",
                &self.provider.as_ref().map(|_| "<provider>"),
            )
            .field("target_resource", &self.target_resource)
            .finish_non_exhaustive()
    }
}

/// `^aws(\d+)$` with version 1, like Python (whose error wording we keep) and Go.
fn validate_environment_id(id: &str) -> Result<(), Error> {
    const FIELD: &str = "credential_source.environment_id";
    let version = id
        .strip_prefix("aws")
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            Error::config(
                FIELD,
                format!("{id:?} is not an AWS environment id; gcloud writes \"aws1\""),
            )
        })?;
    if version.trim_start_matches('0') != "1" {
        return Err(Error::config(
            FIELD,
            format!("aws version '{version}' is not supported; only \"aws1\" is"),
        ));
    }
    Ok(())
}

fn verification_url_check(template: &str) -> Result<(), Error> {
    // Checked with a stand-in region; the real one is checked again when signing.
    verification_url(template, "us-east-1")
        .map(|_| ())
        .map_err(|problem| {
            Error::config("credential_source.regional_cred_verification_url", problem)
        })
}

fn metadata_url(field: &str, url: Option<String>) -> Result<Option<Url>, Error> {
    let Some(raw) = url else { return Ok(None) };
    let parsed =
        Url::parse(&raw).map_err(|e| Error::config(field, format!("not a valid URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(Error::config(field, "must be an http(s) URL with a host"));
    }
    Ok(Some(parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_ids() {
        for ok in ["aws1", "aws01"] {
            assert!(validate_environment_id(ok).is_ok(), "{ok}");
        }
        for (bad, says) in [
            ("aws2", "aws version '2' is not supported"),
            ("aws0", "aws version '0' is not supported"),
            ("AWS1", "not an AWS environment id"),
            ("aws", "not an AWS environment id"),
            ("aws1x", "not an AWS environment id"),
            ("", "not an AWS environment id"),
            ("azure1", "not an AWS environment id"),
        ] {
            let err = validate_environment_id(bad).expect_err(bad);
            assert!(err.is_config(), "{bad}: {err:?}");
            let shown = err.to_string();
            assert!(
                shown.contains("credential_source.environment_id"),
                "{shown}"
            );
            assert!(shown.contains(says), "{bad}: {shown}");
        }
    }

    #[test]
    fn metadata_urls_must_be_http_with_a_host() {
        assert!(metadata_url("f", Some("http://169.254.169.254/latest/api/token".into())).is_ok());
        assert!(metadata_url("f", Some("http://[fd00:ec2::254]/latest/api/token".into())).is_ok());
        assert!(metadata_url("f", None).expect("none is fine").is_none());
        for bad in [
            "169.254.169.254/latest",
            "ftp://169.254.169.254/",
            "unix:/var/run/x",
        ] {
            let err = metadata_url("credential_source.url", Some(bad.into())).expect_err(bad);
            assert!(err.to_string().contains("credential_source.url"), "{err}");
        }
    }
}
