//! The region and credentials an AWS workload signs with: one resolver that both AWS sources use
//! ([`AwsSource`](crate::AwsSource) to sign `GetCallerIdentity`, [`AwsJwtSource`](crate::AwsJwtSource)
//! to call `GetWebIdentityToken`), so they find the same keys in the same order
//! (`docs/protocol.md#aws-region`).
//!
//! Resolution decides everything the environment can answer before any network call, so a Lambda
//! function (env credentials + `AWS_REGION`) never touches the metadata service. When metadata is
//! needed, one IMDSv2 `PUT` serves the whole refresh (and the next ones, for most of its TTL), and
//! the region and credential lookups run concurrently. The region and the metadata role name are
//! cached for the life of the resolver; credentials are read afresh on every refresh (they
//! rotate), or kept until shortly before they expire when a provider says when.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use tokio::sync::OnceCell;
use wif_core::http::describe_url;
use wif_core::{
    Clock, Environment, Error, ErrorKind, OsEnvironment, RetryPolicy, Step, SystemClock,
};

use crate::chain::{self, Selection};
use crate::credential_source::{
    AwsCredentialSource, IMDSV2_SESSION_TOKEN_URL, REGION_URL, URL, metadata_url,
};
use crate::imds::{self, Imds, MetadataClient, unresolvable_credentials, unresolvable_region};
use crate::provenance::{Provenance, RegionFrom, Resolved};
use crate::region::is_plausible_region;
use crate::web_identity::StsClient;

mod credentials;

use credentials::{Cached, Planned, ProfileLookup};

/// Finds the region and the credentials of an AWS workload, and says where they came from.
///
/// * **Region**: the builder's `region`, then `AWS_REGION`, then `AWS_DEFAULT_REGION`, then the
///   `region` of the shared-config profile (when a shared file exists), then the metadata
///   `region_url`. Cached after the first success.
/// * **Credentials**: the builder's `credentials_provider`, else the default chain
///   ([`crate::chain`]): `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY`, web identity (EKS
///   IRSA), container credentials (ECS, EKS Pod Identity), a shared-config profile, the
///   metadata `url`. Temporary credentials of web identity, containers and profiles are kept
///   until [`REFRESH_MARGIN`] before they expire; the others are read afresh on every refresh.
///
/// Cheap to clone (clones share the cached region and credentials). Both AWS sources hold one:
/// see [`AwsSource::resolver`](crate::AwsSource::resolver) and
/// [`AwsJwtSource::resolver`](crate::AwsJwtSource::resolver).
#[derive(Clone)]
pub struct AwsResolver {
    inner: Arc<Inner>,
}

/// How long before they expire temporary credentials are replaced: a signature made with them
/// must still be good when Google STS has AWS check it, a moment later, on a clock that may be
/// a little ahead.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

pub(crate) struct Inner {
    pub(crate) imds: Imds,
    region: Option<String>,
    pub(crate) provider: Option<SharedCredentialsProvider>,
    pub(crate) environment: Arc<dyn Environment>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) sts_http: StsClient,
    pub(crate) sts_retry: RetryPolicy,
    cached_region: OnceCell<(String, RegionFrom)>,
    pub(crate) cached_credentials: std::sync::Mutex<Option<Cached>>,
}

impl AwsResolver {
    /// Resolves region and credentials as one refresh does (network calls included). The
    /// environment is read anew each time; bad settings in it (half of IRSA's variables, a
    /// container URI on a refused host, a missing token file) fail before any network call.
    pub async fn resolve(&self) -> Result<Resolved, Error> {
        let inner = &*self.inner;
        let selection = chain::select(&*inner.environment, inner.provider.is_some())?;
        let (known_region, profile) = inner.local_region(&selection).await?;
        if let Some(region) = &known_region {
            // Another refresh may have cached one meanwhile; either is the same answer.
            let _ = inner.cached_region.set(region.clone());
        }
        let source = Planned::new(inner, selection, profile).await?;
        // Fail on what is missing before contacting anything.
        if known_region.is_none() && inner.imds.region_url.is_none() {
            return Err(unresolvable_region());
        }
        let needs_metadata_credentials = source.needs_metadata();
        if needs_metadata_credentials && inner.imds.credentials_url.is_none() {
            return Err(source.explain(unresolvable_credentials()));
        }

        let imdsv2 = inner.imds.is_v2();
        let session_token = if known_region.is_none() || needs_metadata_credentials {
            inner.imds.session_token().await.map_err(|e| {
                if needs_metadata_credentials {
                    source.explain(e)
                } else {
                    e
                }
            })?
        } else {
            None
        };
        let token = session_token.as_ref();
        let region = async {
            match known_region {
                Some(known) => Ok(known),
                None => inner
                    .cached_region
                    .get_or_try_init(|| async {
                        let region = inner.imds.region(token).await?;
                        Ok::<_, Error>((region, RegionFrom::Metadata { imdsv2 }))
                    })
                    .await
                    .cloned(),
            }
        };
        let ((region, region_from), (credentials, credentials_from)) = if source.needs_region() {
            // The call goes to the region's AWS STS: the region first.
            let region = region.await?;
            let credentials = source.credentials(inner, &region.0, token).await?;
            (region, credentials)
        } else {
            tokio::try_join!(region, source.credentials(inner, "", token))?
        };
        Ok(Resolved {
            region,
            credentials,
            provenance: Provenance {
                region_from,
                credentials_from,
            },
        })
    }

    /// The clock that stamps signatures.
    pub fn clock(&self) -> &dyn Clock {
        &*self.inner.clock
    }
}

impl Inner {
    /// The region the builder, the environment or the profile gives, if any (the cached one
    /// first), and the profile's files when they were read for it. An empty variable counts as
    /// unset (Go's rule; Python would sign for the region "").
    async fn local_region(
        &self,
        selection: &Selection,
    ) -> Result<(Option<(String, RegionFrom)>, Option<ProfileLookup>), Error> {
        if let Some(cached) = self.cached_region.get() {
            return Ok((Some(cached.clone()), None));
        }
        if let Some(region) = &self.region {
            return Ok((Some((region.clone(), RegionFrom::Explicit)), None));
        }
        for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
            let Some(value) = self.environment.non_empty_var(var) else {
                continue;
            };
            if !is_plausible_region(&value) {
                return Err(Error::new(
                    Step::Source,
                    ErrorKind::InvalidConfig,
                    format!("{var}={value:?} is not an AWS region name"),
                ));
            }
            return Ok((Some((value, RegionFrom::Environment(var))), None));
        }
        let profile = ProfileLookup::read(&*self.environment, selection).await?;
        let region = match &profile {
            Some(lookup) => lookup.region().await?,
            None => None,
        };
        if let Some((region, _)) = &region
            && !is_plausible_region(region)
        {
            return Err(Error::new(
                Step::Source,
                ErrorKind::InvalidConfig,
                format!("the profile's region {region:?} is not an AWS region name"),
            ));
        }
        Ok((region, profile))
    }
}

impl fmt::Debug for AwsResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let url = |u: &Option<url::Url>| u.as_ref().map(describe_url);
        f.debug_struct("AwsResolver")
            .field("region", &inner.region)
            .field("cached_region", &inner.cached_region.get().map(|r| &r.0))
            .field("region_url", &url(&inner.imds.region_url))
            .field("credentials_url", &url(&inner.imds.credentials_url))
            .field(
                "imdsv2_session_token_url",
                &url(&inner.imds.session_token_url),
            )
            // The provider's own Debug is not ours to trust with secrets.
            .field(
                "credentials_provider",
                &inner.provider.as_ref().map(|_| "<provider>"),
            )
            .field("environment", &inner.environment)
            .finish_non_exhaustive()
    }
}

/// The settings of an [`AwsResolver`], held by both source builders: the configuration's
/// `credential_source` (the one model of it, checked by [`AwsCredentialSource::validate`]) and
/// what code adds. Validated in [`build`](Self::build), before any network call.
pub(crate) struct ResolverBuilder {
    pub(crate) source: AwsCredentialSource,
    region: Option<String>,
    provider: Option<SharedCredentialsProvider>,
    environment: Option<Arc<dyn Environment>>,
    clock: Option<Arc<dyn Clock>>,
    http: Option<reqwest::Client>,
    sts_http: Option<reqwest::Client>,
    metadata_timeout: Duration,
    metadata_retry: RetryPolicy,
}

impl ResolverBuilder {
    pub(crate) fn new() -> Self {
        ResolverBuilder {
            source: AwsCredentialSource::default(),
            region: None,
            provider: None,
            environment: None,
            clock: None,
            http: None,
            sts_http: None,
            metadata_timeout: imds::REQUEST_TIMEOUT,
            // Metadata 5xx are rare and brief; timeouts are not retried at all (see imds.rs).
            metadata_retry: RetryPolicy::default()
                .with_max_attempts(3)
                .with_backoff(Duration::from_millis(100), Duration::from_secs(1))
                .with_deadline(Duration::from_secs(10)),
        }
    }

    /// Applies every field present in `source`; fields it lacks keep their value.
    pub(crate) fn credential_source(&mut self, source: &AwsCredentialSource) {
        let AwsCredentialSource {
            environment_id,
            region_url,
            url,
            regional_cred_verification_url,
            imdsv2_session_token_url,
        } = source.clone();
        let own = &mut self.source;
        own.environment_id = environment_id.or(own.environment_id.take());
        own.region_url = region_url.or(own.region_url.take());
        own.url = url.or(own.url.take());
        own.regional_cred_verification_url =
            regional_cred_verification_url.or(own.regional_cred_verification_url.take());
        own.imdsv2_session_token_url =
            imdsv2_session_token_url.or(own.imdsv2_session_token_url.take());
    }

    pub(crate) fn region(&mut self, region: String) {
        self.region = Some(region);
    }

    pub(crate) fn credentials_provider(&mut self, provider: SharedCredentialsProvider) {
        self.provider = Some(provider);
    }

    pub(crate) fn environment(&mut self, environment: Arc<dyn Environment>) {
        self.environment = Some(environment);
    }

    pub(crate) fn clock(&mut self, clock: Arc<dyn Clock>) {
        self.clock = Some(clock);
    }

    pub(crate) fn http_client(&mut self, client: reqwest::Client) {
        self.http = Some(client);
    }

    pub(crate) fn sts_http_client(&mut self, client: reqwest::Client) {
        self.sts_http = Some(client);
    }

    pub(crate) fn metadata_timeout(&mut self, timeout: Duration) {
        self.metadata_timeout = timeout;
    }

    pub(crate) fn metadata_retry(&mut self, policy: RetryPolicy) {
        self.metadata_retry = policy;
    }

    /// Validates everything and builds the resolver. No network call happens here.
    pub(crate) fn build(self) -> Result<AwsResolver, Error> {
        self.source.validate()?;
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
        let source = &self.source;
        let imds = Imds {
            http,
            timeout: self.metadata_timeout,
            retry: self.metadata_retry,
            region_url: metadata_url(REGION_URL, source.region_url.as_deref())?,
            credentials_url: metadata_url(URL, source.url.as_deref())?,
            session_token_url: metadata_url(
                IMDSV2_SESSION_TOKEN_URL,
                source.imdsv2_session_token_url.as_deref(),
            )?,
            remembered: Default::default(),
        };
        Ok(AwsResolver {
            inner: Arc::new(Inner {
                imds,
                region: self.region,
                provider: self.provider,
                environment: self.environment.unwrap_or_else(|| Arc::new(OsEnvironment)),
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                sts_http: self.sts_http.map(StsClient::given).unwrap_or_default(),
                // AWS STS's throttling and 5xx are brief; an attempt is cut at 10 s.
                sts_retry: RetryPolicy::default()
                    .with_max_attempts(3)
                    .with_deadline(Duration::from_secs(30)),
                cached_region: OnceCell::new(),
                cached_credentials: std::sync::Mutex::new(None),
            }),
        })
    }
}

impl fmt::Debug for ResolverBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = &self.source;
        f.debug_struct("ResolverBuilder")
            .field("environment_id", &source.environment_id)
            .field("region_url", &source.region_url)
            .field("credentials_url", &source.url)
            .field("imdsv2_session_token_url", &source.imdsv2_session_token_url)
            .field(
                "regional_cred_verification_url",
                &source.regional_cred_verification_url,
            )
            .field("region", &self.region)
            .field(
                "credentials_provider",
                &self.provider.as_ref().map(|_| "<provider>"),
            )
            .finish_non_exhaustive()
    }
}

/// The region and credential setters of a source builder whose [`ResolverBuilder`] is its
/// `resolver` field: written once, so both AWS sources take the same settings with the same
/// meaning. `$http` names the metadata client's setter.
macro_rules! resolver_setters {
    ($http:ident) => {
        /// Applies every field present in a parsed `credential_source` object (its metadata
        /// URLs, `environment_id`, `regional_cred_verification_url`); fields it lacks keep
        /// their value. Checked in `build()`, by [`AwsCredentialSource::validate`].
        ///
        /// [`AwsCredentialSource::validate`]: crate::AwsCredentialSource::validate
        pub fn credential_source(mut self, source: &$crate::AwsCredentialSource) -> Self {
            self.resolver.credential_source(source);
            self
        }

        /// `credential_source.region_url`: metadata URL of the availability zone.
        pub fn region_url(mut self, url: impl Into<String>) -> Self {
            self.resolver.source.region_url = Some(url.into());
            self
        }

        /// `credential_source.url`: metadata URL of the role name (credentials at `url/<role>`).
        pub fn credentials_url(mut self, url: impl Into<String>) -> Self {
            self.resolver.source.url = Some(url.into());
            self
        }

        /// `credential_source.imdsv2_session_token_url`: enables IMDSv2 (one `PUT` per refresh).
        pub fn imdsv2_session_token_url(mut self, url: impl Into<String>) -> Self {
            self.resolver.source.imdsv2_session_token_url = Some(url.into());
            self
        }

        /// The region; wins over `AWS_REGION`, `AWS_DEFAULT_REGION` and `region_url`.
        pub fn region(mut self, region: impl Into<String>) -> Self {
            self.resolver.region(region.into());
            self
        }

        /// Where credentials come from instead of the environment and the metadata service: any
        /// aws-config provider (container credentials, IRSA web identity, SSO, profiles, the
        /// default chain) or your own (say, credentials of a role you assumed). Called once per
        /// refresh; it is not cached by this source.
        pub fn credentials_provider(
            mut self,
            provider: impl aws_credential_types::provider::ProvideCredentials + 'static,
        ) -> Self {
            self.resolver.credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(provider),
            );
            self
        }

        /// Uses the config's credentials provider and, when it has one, its region (as an
        /// explicit region). The provider is called once per refresh.
        #[cfg(feature = "aws-config")]
        #[cfg_attr(docsrs, doc(cfg(feature = "aws-config")))]
        pub fn sdk_config(mut self, config: &aws_config::SdkConfig) -> Self {
            if let Some(provider) = config.credentials_provider() {
                self = self.credentials_provider(provider);
            }
            if let Some(region) = config.region() {
                self = self.region(region.as_ref());
            }
            self
        }

        /// The environment variables to read (default: the process environment).
        pub fn environment(
            mut self,
            environment: std::sync::Arc<dyn wif_core::Environment>,
        ) -> Self {
            self.resolver.environment(environment);
            self
        }

        /// The clock that stamps signatures (default: the system clock).
        pub fn clock(mut self, clock: std::sync::Arc<dyn wif_core::Clock>) -> Self {
            self.resolver.clock(clock);
            self
        }

        /// The client for metadata calls. By default the source builds its own: 1 s connect
        /// timeout, no proxy (a proxy cannot reach the link-local metadata address). Each call is
        /// still cut at the metadata timeout.
        pub fn $http(mut self, client: reqwest::Client) -> Self {
            self.resolver.http_client(client);
            self
        }

        /// The client for AWS STS `AssumeRoleWithWebIdentity` (web identity, EKS IRSA; default
        /// [`wif_core::http::default_client`], built at the first call).
        pub fn sts_http_client(mut self, client: reqwest::Client) -> Self {
            self.resolver.sts_http_client(client);
            self
        }

        /// Timeout of each metadata call (default 3 s).
        pub fn metadata_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.resolver.metadata_timeout(timeout);
            self
        }

        /// Retry policy of metadata calls (default: 3 attempts on 5xx, 100 ms backoff, 10 s
        /// deadline).
        pub fn metadata_retry(mut self, policy: wif_core::RetryPolicy) -> Self {
            self.resolver.metadata_retry(policy);
            self
        }
    };
}
pub(crate) use resolver_setters;
