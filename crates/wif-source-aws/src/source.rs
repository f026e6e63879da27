//! The AWS [`SubjectTokenSource`]: resolve region and credentials, sign, serialize.
//!
//! Resolution decides everything the environment can answer before any network call, so a Lambda
//! function (env credentials + `AWS_REGION`) never touches the metadata service. When metadata is
//! needed, one IMDSv2 `PUT` serves the whole refresh (and the next ones, for most of its TTL), and
//! the region and credential lookups run concurrently. The region and the role name are cached
//! for the life of the source; credentials are read afresh on every refresh (they rotate).

use std::fmt;
use std::sync::Arc;

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use tokio::sync::OnceCell;
use wif_core::http::describe_url;
use wif_core::{
    Clock, Environment, Error, ErrorKind, SourceContext, Step, SubjectToken, SubjectTokenSource,
    async_trait,
};

use crate::imds::{Imds, unresolvable_credentials, unresolvable_region};
use crate::region::is_plausible_region;
use crate::{
    AWS_SUBJECT_TOKEN_TYPE, AwsCredentials, AwsSourceBuilder, SignedRequest, TargetResource,
    sign_get_caller_identity,
};

/// Where the region came from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegionFrom {
    /// Set on the builder (or taken from an aws-config `SdkConfig`).
    Explicit,
    /// The named environment variable (`AWS_REGION` or `AWS_DEFAULT_REGION`).
    Environment(&'static str),
    /// The metadata service's `region_url`.
    Metadata {
        /// Whether an IMDSv2 session token was used.
        imdsv2: bool,
    },
}

/// Where the credentials came from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialsFrom {
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (Lambda, or set by hand).
    Environment {
        /// Whether `AWS_SESSION_TOKEN` was set (temporary credentials).
        session_token: bool,
    },
    /// The metadata service: the instance profile's role.
    Metadata {
        /// Whether an IMDSv2 session token was used.
        imdsv2: bool,
        /// The role name the metadata service listed.
        role: String,
    },
    /// The credentials provider given to the builder (aws-config chain, your own supplier).
    Provider,
}

/// Where region and credentials came from: what `wif explain` shows.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Provenance {
    /// Where the region came from.
    pub region_from: RegionFrom,
    /// Where the credentials came from.
    pub credentials_from: CredentialsFrom,
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = |imdsv2: bool| if imdsv2 { "IMDSv2" } else { "IMDSv1" };
        match &self.region_from {
            RegionFrom::Explicit => f.write_str("region set explicitly")?,
            RegionFrom::Environment(var) => write!(f, "region from {var}")?,
            RegionFrom::Metadata { imdsv2 } => {
                write!(f, "region from instance metadata ({})", v(*imdsv2))?
            }
        }
        match &self.credentials_from {
            CredentialsFrom::Environment { session_token } => write!(
                f,
                "; credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY ({})",
                if *session_token {
                    "with AWS_SESSION_TOKEN"
                } else {
                    "long-term keys, no session token"
                }
            ),
            CredentialsFrom::Metadata { imdsv2, role } => write!(
                f,
                "; credentials of role {role} from instance metadata ({})",
                v(*imdsv2)
            ),
            CredentialsFrom::Provider => f.write_str("; credentials from the credentials provider"),
        }
    }
}

/// The region and credentials one refresh signs with, and where they came from.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Resolved {
    /// The AWS region (credential scope and STS host).
    pub region: String,
    /// The credentials (secrets redacted in `Debug`).
    pub credentials: AwsCredentials,
    /// Where both came from.
    pub provenance: Provenance,
}

/// AWS workloads proving their identity to Google: a [`SubjectTokenSource`] that signs AWS STS
/// `GetCallerIdentity` with the workload's AWS credentials.
///
/// Cheap to clone (clones share the cached region). Build it with [`AwsSource::builder`].
#[derive(Clone)]
pub struct AwsSource {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) imds: Imds,
    pub(crate) verification_url: String,
    pub(crate) region: Option<String>,
    pub(crate) provider: Option<SharedCredentialsProvider>,
    pub(crate) environment: Arc<dyn Environment>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) target_resource: TargetResource,
    pub(crate) cached_region: OnceCell<(String, RegionFrom)>,
}

/// How this refresh gets its credentials (decided before any network call).
enum CredentialsPlan {
    Environment(AwsCredentials),
    Provider(SharedCredentialsProvider),
    Metadata,
}

impl AwsSource {
    /// A builder; every setting is optional (a bare `build()` reads env credentials and region).
    pub fn builder() -> AwsSourceBuilder {
        AwsSourceBuilder::new()
    }

    pub(crate) fn from_inner(inner: Inner) -> Self {
        AwsSource {
            inner: Arc::new(inner),
        }
    }

    /// The clock that stamps signatures.
    pub(crate) fn clock(&self) -> &dyn Clock {
        &*self.inner.clock
    }

    /// The `regional_cred_verification_url` template (`{region}` not yet substituted).
    pub fn regional_cred_verification_url(&self) -> &str {
        &self.inner.verification_url
    }

    /// Whether `x-goog-cloud-target-resource` is signed.
    pub fn target_resource(&self) -> TargetResource {
        self.inner.target_resource
    }

    /// Resolves region and credentials as one refresh would (metadata calls included), without
    /// signing. The region, the role name and the IMDSv2 session token (within its TTL) are
    /// kept after the first success; credentials never are.
    pub async fn resolve(&self) -> Result<Resolved, Error> {
        let inner = &*self.inner;
        let known_region = match inner.cached_region.get() {
            Some(cached) => Some(cached.clone()),
            None => inner.local_region()?,
        };
        if let Some(region) = &known_region {
            // Another refresh may have cached one meanwhile; either is the same answer.
            let _ = inner.cached_region.set(region.clone());
        }
        let plan = if let Some(provider) = &inner.provider {
            CredentialsPlan::Provider(provider.clone())
        } else if let Some(creds) = AwsCredentials::from_environment(&*inner.environment) {
            CredentialsPlan::Environment(creds)
        } else {
            inner.warn_on_half_key_pair();
            CredentialsPlan::Metadata
        };
        // Fail on what is missing before contacting anything.
        if known_region.is_none() && inner.imds.region_url.is_none() {
            return Err(unresolvable_region());
        }
        let needs_metadata_credentials = matches!(plan, CredentialsPlan::Metadata);
        if needs_metadata_credentials && inner.imds.credentials_url.is_none() {
            return Err(inner.explain_missing_credentials(unresolvable_credentials()));
        }

        let imdsv2 = inner.imds.is_v2();
        let session_token = if known_region.is_none() || needs_metadata_credentials {
            inner.imds.session_token().await.map_err(|e| {
                if needs_metadata_credentials {
                    inner.tried_environment_first(e)
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
        let credentials = async {
            match plan {
                CredentialsPlan::Environment(creds) => {
                    let session_token = creds.session_token().is_some();
                    Ok((creds, CredentialsFrom::Environment { session_token }))
                }
                CredentialsPlan::Provider(provider) => {
                    let creds = provider
                        .provide_credentials()
                        .await
                        .map_err(provider_error)?;
                    Ok((AwsCredentials::from(creds), CredentialsFrom::Provider))
                }
                CredentialsPlan::Metadata => {
                    let (creds, role) = inner
                        .imds
                        .credentials(token)
                        .await
                        .map_err(|e| inner.tried_environment_first(e))?;
                    Ok((creds, CredentialsFrom::Metadata { imdsv2, role }))
                }
            }
        };
        let ((region, region_from), (credentials, credentials_from)) =
            tokio::try_join!(region, credentials)?;
        Ok(Resolved {
            region,
            credentials,
            provenance: Provenance {
                region_from,
                credentials_from,
            },
        })
    }

    /// Signs `GetCallerIdentity` for `audience` with resolved region and credentials, at the
    /// source's clock's time.
    pub fn sign(&self, resolved: &Resolved, audience: &str) -> Result<SignedRequest, Error> {
        check_audience(audience)?;
        sign_get_caller_identity(
            &resolved.credentials,
            &resolved.region,
            &self.inner.verification_url,
            audience,
            self.inner.clock.now(),
            self.inner.target_resource,
        )
    }

    /// Resolves and signs: the request the subject token serializes.
    pub async fn signed_request(&self, audience: &str) -> Result<SignedRequest, Error> {
        check_audience(audience)?;
        let resolved = self.resolve().await?;
        let signed = self.sign(&resolved, audience)?;
        tracing::debug!(
            region = %resolved.region,
            host = signed.host(),
            signed_headers = %signed.signed_headers().join(";"),
            provenance = %resolved.provenance,
            "signed AWS GetCallerIdentity"
        );
        Ok(signed)
    }
}

impl Inner {
    /// The region the builder or the environment gives, if any. An empty variable counts as
    /// unset (Go's rule; Python would sign for the region "").
    fn local_region(&self) -> Result<Option<(String, RegionFrom)>, Error> {
        if let Some(region) = &self.region {
            return Ok(Some((region.clone(), RegionFrom::Explicit)));
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
            return Ok(Some((value, RegionFrom::Environment(var))));
        }
        Ok(None)
    }

    /// Which half of an env key pair is set without the other, the usual reason none was found.
    fn half_key_pair(&self) -> Option<&'static str> {
        let has = |name: &str| self.environment.var(name).is_some_and(|v| !v.is_empty());
        match (has("AWS_ACCESS_KEY_ID"), has("AWS_SECRET_ACCESS_KEY")) {
            (true, false) => Some("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"),
            (false, true) => Some("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"),
            _ => None,
        }
    }

    fn explain_missing_credentials(&self, err: Error) -> Error {
        match self.half_key_pair() {
            Some(why) => err.context(why),
            None => err,
        }
    }

    /// The metadata service failed after the environment was skipped for half a key pair: the
    /// error says why each provider gave nothing, as aws-config's chain does, since the half
    /// pair is the usual mistake and the metadata failure only its consequence.
    fn tried_environment_first(&self, err: Error) -> Error {
        match self.half_key_pair() {
            Some(why) => err.context(format!(
                "no AWS credentials from the environment ({why}), nor from the instance metadata service"
            )),
            None => err,
        }
    }

    /// Falling back to the metadata service with half a key pair set is legal (both reference
    /// libraries do it) but rarely intended.
    fn warn_on_half_key_pair(&self) {
        if let Some(why) = self.half_key_pair() {
            tracing::warn!("{why}; using the instance metadata service for AWS credentials");
        }
    }
}

fn check_audience(audience: &str) -> Result<(), Error> {
    if audience.is_empty() {
        return Err(Error::config(
            "audience",
            "must not be empty: it is sent (and signed) as x-goog-cloud-target-resource",
        ));
    }
    Ok(())
}

/// Maps a credentials-provider failure. The provider's error chain is kept (it says which link
/// of an aws-config chain failed and why); AWS SDK errors carry no secrets.
fn provider_error(e: CredentialsError) -> Error {
    let (kind, retryable) = match &e {
        CredentialsError::CredentialsNotLoaded(_) | CredentialsError::InvalidConfiguration(_) => {
            (ErrorKind::InvalidConfig, false)
        }
        CredentialsError::ProviderTimedOut(_) => (ErrorKind::Timeout, true),
        CredentialsError::ProviderError(_) => (ErrorKind::Transport, true),
        _ => (ErrorKind::Internal, false),
    };
    let mut message = format!("the AWS credentials provider failed: {e}");
    let mut cause = std::error::Error::source(&e);
    for _ in 0..5 {
        let Some(c) = cause else { break };
        message.push_str(&format!(": {c}"));
        cause = c.source();
    }
    Error::new(Step::Source, kind, message).retryable(retryable)
}

#[async_trait]
impl SubjectTokenSource for AwsSource {
    async fn subject_token(&self, ctx: &SourceContext) -> Result<SubjectToken, Error> {
        if ctx.subject_token_type != AWS_SUBJECT_TOKEN_TYPE {
            return Err(Error::config(
                "subject_token_type",
                format!(
                    "is {:?}, but an AWS credential source produces {AWS_SUBJECT_TOKEN_TYPE:?}",
                    ctx.subject_token_type
                ),
            ));
        }
        Ok(self.signed_request(&ctx.audience).await?.subject_token())
    }

    fn kind(&self) -> &'static str {
        "aws"
    }
}

impl fmt::Debug for AwsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let url = |u: &Option<url::Url>| u.as_ref().map(describe_url);
        f.debug_struct("AwsSource")
            .field("region", &inner.region)
            .field("cached_region", &inner.cached_region.get().map(|r| &r.0))
            .field("region_url", &url(&inner.imds.region_url))
            .field("credentials_url", &url(&inner.imds.credentials_url))
            .field(
                "imdsv2_session_token_url",
                &url(&inner.imds.session_token_url),
            )
            .field("regional_cred_verification_url", &inner.verification_url)
            // The provider's own Debug is not ours to trust with secrets.
            .field(
                "credentials_provider",
                &inner.provider.as_ref().map(|_| "<provider>"),
            )
            .field("environment", &inner.environment)
            .field("target_resource", &inner.target_resource)
            .finish_non_exhaustive()
    }
}
