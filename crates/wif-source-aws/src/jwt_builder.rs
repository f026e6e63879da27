//! Configuration of an [`AwsJwtSource`]: what `GetWebIdentityToken` asks for (audiences,
//! lifetime, tags), where it is sent, and — delegated to an [`AwsSourceBuilder`], so resolution
//! is the same code — where the AWS credentials and region come from. All validation happens in
//! [`AwsJwtSourceBuilder::build`], before any network call, with errors naming the field.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::provider::ProvideCredentials;
use url::Url;
use wif_core::http::{DEFAULT_REQUEST_TIMEOUT, default_client};
use wif_core::{Clock, Environment, Error, RetryPolicy};

use crate::aws_sts::check_transport;
use crate::jwt_source::JwtInner;
use crate::{AwsCredentialSource, AwsJwtSource, AwsSource, AwsSourceBuilder, causes};

/// The default AWS STS endpoint of [`AwsJwtSource`]: the regional one, `{region}` replaced by the
/// resolved region. `GetWebIdentityToken` is not served by the global `https://sts.amazonaws.com`.
pub use wif_core::protocol::DEFAULT_AWS_STS_ENDPOINT;

/// Most audiences one token may carry (AWS's limit).
const MAX_AUDIENCES: usize = 10;
/// Longest audience, in characters (AWS's limit).
const MAX_AUDIENCE_CHARS: usize = 1000;
/// Shortest and longest token lifetime AWS issues.
const MIN_DURATION: Duration = Duration::from_secs(60);
const MAX_DURATION: Duration = Duration::from_secs(3600);
/// AWS's default lifetime, kept as ours.
const DEFAULT_DURATION: Duration = Duration::from_secs(300);
/// Most tags (custom claims) we send; AWS's session-tag limit.
const MAX_TAGS: usize = 50;
/// AWS's limit on a session tag's key, in characters.
const MAX_TAG_KEY_CHARS: usize = 128;
/// AWS's limit on a session tag's value, in characters.
const MAX_TAG_VALUE_CHARS: usize = 256;

/// Builds an [`AwsJwtSource`]. Only the audience is required.
///
/// The credential and region settings are those of [`AwsSourceBuilder`] (and mean the same):
/// an explicit provider, then `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, then the metadata
/// `credentials_url`; an explicit region, then `AWS_REGION`/`AWS_DEFAULT_REGION`, then the
/// metadata `region_url`.
pub struct AwsJwtSourceBuilder {
    aws: AwsSourceBuilder,
    audiences: Vec<String>,
    duration: Duration,
    tags: Vec<(String, String)>,
    endpoint: Option<String>,
    http: Option<reqwest::Client>,
    timeout: Duration,
    retry: RetryPolicy,
}

impl AwsJwtSourceBuilder {
    pub(crate) fn new() -> Self {
        AwsJwtSourceBuilder {
            aws: AwsSource::builder(),
            audiences: Vec::new(),
            duration: DEFAULT_DURATION,
            tags: Vec::new(),
            endpoint: None,
            http: None,
            timeout: DEFAULT_REQUEST_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }

    /// Adds an audience (`aud` claim): what the pool's OIDC provider accepts, by default
    /// `https://iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER`,
    /// or one of its allowed audiences. Required; 1 to 10 audiences of 1 to 1000 characters.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Adds several audiences (see [`audience`](Self::audience)).
    pub fn audiences<I, S>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audiences.extend(audiences.into_iter().map(Into::into));
        self
    }

    /// The token's lifetime (`DurationSeconds`): whole seconds from 60 to 3600, default 300. It
    /// cannot outlive the AWS session whose credentials sign the request.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self
    }

    /// Adds a tag, which AWS puts into the token as a custom claim (for attribute mappings and
    /// conditions). At most 50; keys of 1 to 128 characters, distinct regardless of case (as AWS
    /// compares them); values of at most 256 characters.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.push((key.into(), value.into()));
        self
    }

    /// The AWS STS endpoint, `{region}` replaced by the resolved region (default
    /// [`DEFAULT_AWS_STS_ENDPOINT`]). `https`, or `http` to a loopback address (the emulator, test
    /// fakes). The request is signed for this URL's host and path. The global
    /// `https://sts.amazonaws.com` is refused: it does not serve `GetWebIdentityToken`.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The client for the AWS STS call (default [`wif_core::http::default_client`]). Metadata
    /// calls keep their own client (see [`metadata_http_client`](Self::metadata_http_client)).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Timeout of each AWS STS call (default 30 s, [`DEFAULT_REQUEST_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Retry policy of the AWS STS call (default [`RetryPolicy::default`]): 5xx, 429 and AWS's
    /// throttling codes are retried, each attempt signed afresh.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Applies a parsed AWS `credential_source` (metadata URLs, `environment_id`): see
    /// [`AwsSourceBuilder::credential_source`].
    pub fn credential_source(mut self, source: &AwsCredentialSource) -> Self {
        self.aws = self.aws.credential_source(source);
        self
    }

    /// The region: see [`AwsSourceBuilder::region`].
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.aws = self.aws.region(region);
        self
    }

    /// Metadata URL of the availability zone: see [`AwsSourceBuilder::region_url`].
    pub fn region_url(mut self, url: impl Into<String>) -> Self {
        self.aws = self.aws.region_url(url);
        self
    }

    /// Metadata URL of the role credentials: see [`AwsSourceBuilder::credentials_url`].
    pub fn credentials_url(mut self, url: impl Into<String>) -> Self {
        self.aws = self.aws.credentials_url(url);
        self
    }

    /// Enables IMDSv2: see [`AwsSourceBuilder::imdsv2_session_token_url`].
    pub fn imdsv2_session_token_url(mut self, url: impl Into<String>) -> Self {
        self.aws = self.aws.imdsv2_session_token_url(url);
        self
    }

    /// Where credentials come from: see [`AwsSourceBuilder::credentials_provider`].
    pub fn credentials_provider(mut self, provider: impl ProvideCredentials + 'static) -> Self {
        self.aws = self.aws.credentials_provider(provider);
        self
    }

    /// The environment variables to read: see [`AwsSourceBuilder::environment`].
    pub fn environment(mut self, environment: Arc<dyn Environment>) -> Self {
        self.aws = self.aws.environment(environment);
        self
    }

    /// The clock that stamps signatures: see [`AwsSourceBuilder::clock`].
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.aws = self.aws.clock(clock);
        self
    }

    /// The client for metadata calls: see [`AwsSourceBuilder::http_client`].
    pub fn metadata_http_client(mut self, client: reqwest::Client) -> Self {
        self.aws = self.aws.http_client(client);
        self
    }

    /// Timeout of each metadata call: see [`AwsSourceBuilder::metadata_timeout`].
    pub fn metadata_timeout(mut self, timeout: Duration) -> Self {
        self.aws = self.aws.metadata_timeout(timeout);
        self
    }

    /// Retry policy of metadata calls: see [`AwsSourceBuilder::metadata_retry`].
    pub fn metadata_retry(mut self, policy: RetryPolicy) -> Self {
        self.aws = self.aws.metadata_retry(policy);
        self
    }

    #[cfg(feature = "aws-config")]
    pub(crate) fn map_aws(mut self, f: impl FnOnce(AwsSourceBuilder) -> AwsSourceBuilder) -> Self {
        self.aws = f(self.aws);
        self
    }

    /// Validates everything and builds the source. No network call happens here.
    pub fn build(self) -> Result<AwsJwtSource, Error> {
        validate_audiences(&self.audiences)?;
        validate_duration(self.duration)?;
        validate_tags(&self.tags)?;
        let endpoint = self
            .endpoint
            .unwrap_or_else(|| DEFAULT_AWS_STS_ENDPOINT.to_owned());
        // Checked with a stand-in region; the real one is checked again at each call.
        endpoint_url(&endpoint, "us-east-1").map_err(|e| e.into_config())?;
        if self.timeout.is_zero() {
            return Err(Error::config("timeout", "must be greater than zero"));
        }
        let aws = self.aws.build()?;
        let http = match self.http {
            Some(client) => client,
            None => default_client()?,
        };
        Ok(AwsJwtSource::from_inner(JwtInner {
            aws,
            endpoint,
            audiences: self.audiences,
            duration: self.duration,
            tags: self.tags,
            http,
            timeout: self.timeout,
            retry: self.retry,
        }))
    }
}

impl fmt::Debug for AwsJwtSourceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsJwtSourceBuilder")
            .field("audiences", &self.audiences)
            .field("duration", &self.duration)
            .field("tag_keys", &tag_keys(&self.tags))
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("aws", &self.aws)
            .finish_non_exhaustive()
    }
}

/// Tag keys only: values are claims about the workload, not ours to print.
pub(crate) fn tag_keys(tags: &[(String, String)]) -> Vec<&str> {
    tags.iter().map(|(key, _)| key.as_str()).collect()
}

fn validate_audiences(audiences: &[String]) -> Result<(), Error> {
    if audiences.is_empty() {
        return Err(Error::config(
            "audience",
            "is required: the `aud` the pool's OIDC provider accepts, by default \
             https://iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER",
        ));
    }
    if audiences.len() > MAX_AUDIENCES {
        return Err(Error::config(
            "audience",
            format!(
                "{} audiences given; AWS issues tokens for at most {MAX_AUDIENCES}",
                audiences.len()
            ),
        ));
    }
    for (i, audience) in audiences.iter().enumerate() {
        let chars = audience.chars().count();
        if chars == 0 || chars > MAX_AUDIENCE_CHARS {
            return Err(Error::config(
                "audience",
                format!(
                    "audience {} has {chars} characters; AWS accepts 1 to {MAX_AUDIENCE_CHARS}",
                    i + 1
                ),
            ));
        }
    }
    Ok(())
}

fn validate_duration(duration: Duration) -> Result<(), Error> {
    if duration.subsec_nanos() != 0 || !(MIN_DURATION..=MAX_DURATION).contains(&duration) {
        return Err(Error::config(
            "duration",
            format!(
                "is {duration:?}; AWS issues tokens for whole seconds from {} to {}",
                MIN_DURATION.as_secs(),
                MAX_DURATION.as_secs()
            ),
        ));
    }
    Ok(())
}

fn validate_tags(tags: &[(String, String)]) -> Result<(), Error> {
    if tags.len() > MAX_TAGS {
        return Err(Error::config(
            "tags",
            format!("{} tags given; at most {MAX_TAGS}", tags.len()),
        ));
    }
    for (i, (key, value)) in tags.iter().enumerate() {
        if key.is_empty() {
            return Err(Error::config(
                "tags",
                format!("tag {} has an empty key", i + 1),
            ));
        }
        // AWS's limits for session tags, in characters; values are not shown (not ours to print).
        if key.chars().count() > MAX_TAG_KEY_CHARS {
            return Err(Error::config(
                "tags",
                format!(
                    "tag {} has a key longer than {MAX_TAG_KEY_CHARS} characters",
                    i + 1
                ),
            ));
        }
        if value.chars().count() > MAX_TAG_VALUE_CHARS {
            return Err(Error::config(
                "tags",
                format!("the value of tag {key:?} is longer than {MAX_TAG_VALUE_CHARS} characters"),
            ));
        }
        // AWS compares tag keys without regard to case.
        if tags[..i].iter().any(|(k, _)| k.eq_ignore_ascii_case(key)) {
            return Err(Error::config(
                "tags",
                format!("the key {key:?} is given twice"),
            ));
        }
    }
    Ok(())
}

/// Why an endpoint is refused, before it becomes a config error (at build) or a source error
/// (at a call, with the resolved region).
pub(crate) struct EndpointProblem {
    problem: String,
    global: bool,
}

impl EndpointProblem {
    fn new(problem: impl Into<String>) -> Self {
        EndpointProblem {
            problem: problem.into(),
            global: false,
        }
    }

    fn hinted(self, err: Error) -> Error {
        if self.global {
            err.with_known_cause(&causes::GLOBAL_STS_ENDPOINT).with_hint(
                "use a regional endpoint, such as https://sts.us-east-1.amazonaws.com/, or leave \
                 `endpoint` unset: the default, https://sts.{region}.amazonaws.com/, follows the \
                 resolved region",
            )
        } else {
            err
        }
    }

    pub(crate) fn into_config(self) -> Error {
        let err = Error::config("endpoint", &self.problem);
        self.hinted(err)
    }

    pub(crate) fn into_error(self, region: &str) -> Error {
        let err = Error::new(
            wif_core::Step::Source,
            wif_core::ErrorKind::InvalidConfig,
            format!("`endpoint` for region {region}: {}", self.problem),
        );
        self.hinted(err)
    }
}

/// The endpoint for `region`: `{region}` replaced, then checked — `https` (or `http` to a
/// loopback address), a host, no query, fragment or user info, not the global STS host.
pub(crate) fn endpoint_url(template: &str, region: &str) -> Result<Url, EndpointProblem> {
    // The default follows the region's partition: China's regions are served under
    // `amazonaws.com.cn`.
    let template = if template == crate::DEFAULT_AWS_STS_ENDPOINT && region.starts_with("cn-") {
        "https://sts.{region}.amazonaws.com.cn/"
    } else {
        template
    };
    let url = Url::parse(&template.replace("{region}", region))
        .map_err(|e| EndpointProblem::new(format!("not a valid URL ({e})")))?;
    // The session token and the issued JWT are credentials.
    check_transport(&url).map_err(EndpointProblem::new)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(EndpointProblem::new(
            "must have no query or fragment: the action and its parameters go in the body",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(EndpointProblem::new("must not hold user info"));
    }
    let host = url.host_str().unwrap_or_default().trim_end_matches('.');
    if host.eq_ignore_ascii_case("sts.amazonaws.com") {
        return Err(EndpointProblem {
            problem: "is the global AWS STS endpoint, which does not serve GetWebIdentityToken"
                .to_owned(),
            global: true,
        });
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let url = endpoint_url(DEFAULT_AWS_STS_ENDPOINT, "eu-west-1")
            .ok()
            .expect("ok");
        assert_eq!(url.as_str(), "https://sts.eu-west-1.amazonaws.com/");
        let china = endpoint_url(DEFAULT_AWS_STS_ENDPOINT, "cn-north-1")
            .ok()
            .expect("ok");
        assert_eq!(china.as_str(), "https://sts.cn-north-1.amazonaws.com.cn/");
        for ok in [
            "http://127.0.0.1:8080/aws/sts",
            "http://[::1]:1/",
            "http://localhost:9/x",
            "https://sts-fips.{region}.amazonaws.com/",
        ] {
            assert!(endpoint_url(ok, "us-east-1").is_ok(), "{ok}");
        }
        for (bad, says) in [
            ("https://sts.amazonaws.com", "global"),
            ("https://STS.amazonaws.com./", "global"),
            ("http://sts.us-east-1.amazonaws.com/", "https"),
            ("http://10.0.0.1/", "https"),
            ("https://sts.us-east-1.amazonaws.com/?Action=X", "query"),
            ("https://u:p@sts.us-east-1.amazonaws.com/", "user info"),
            ("sts.us-east-1.amazonaws.com", "not a valid URL"),
            ("unix:/run/sts", "no host"),
        ] {
            let err = endpoint_url(bad, "us-east-1").expect_err(bad);
            assert!(err.problem.contains(says), "{bad}: {}", err.problem);
            let err = err.into_config();
            assert!(err.to_string().contains("`endpoint`"), "{err}");
            assert_eq!(
                err.known_cause() == Some(&causes::GLOBAL_STS_ENDPOINT),
                says == "global",
                "{bad}"
            );
        }
    }

    #[test]
    fn audiences_durations_and_tags() {
        let aud = |n: usize| vec!["a".repeat(n)];
        assert!(validate_audiences(&aud(1)).is_ok());
        assert!(validate_audiences(&aud(1000)).is_ok());
        assert!(
            validate_audiences(&["é".repeat(1000)]).is_ok(),
            "chars, not bytes"
        );
        for bad in [vec![], aud(0), aud(1001), vec!["a".to_owned(); 11]] {
            let err = validate_audiences(&bad).expect_err("invalid");
            assert!(err.to_string().contains("`audience`"), "{err}");
        }
        for ok in [60, 300, 3600] {
            assert!(validate_duration(Duration::from_secs(ok)).is_ok(), "{ok}");
        }
        for bad in [
            Duration::ZERO,
            Duration::from_secs(59),
            Duration::from_secs(3601),
            Duration::from_millis(60_500),
        ] {
            let err = validate_duration(bad).expect_err("invalid");
            assert!(err.to_string().contains("`duration`"), "{err}");
        }
        let tag = |k: &str| (k.to_owned(), "v".to_owned());
        let long_value = ("k".to_owned(), "SECRETISH".repeat(29));
        assert!(validate_tags(&[tag("team"), tag("env")]).is_ok());
        assert!(validate_tags(&[tag(&"é".repeat(128)), ("v".into(), "é".repeat(256))]).is_ok());
        for bad in [
            vec![tag("")],
            vec![tag("a"), tag("a")],
            vec![tag("Team"), tag("team")],
            vec![tag("k"); 51],
            vec![tag(&"k".repeat(129))],
            vec![long_value],
        ] {
            let err = validate_tags(&bad).expect_err("invalid");
            assert!(err.to_string().contains("`tags`"), "{err}");
            assert!(
                !err.to_string().contains("SECRETISH"),
                "values are not shown: {err}"
            );
        }
    }
}
