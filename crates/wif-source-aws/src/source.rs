//! The AWS [`SubjectTokenSource`] and its builder: resolve region and credentials (the shared
//! [`AwsResolver`]), sign `GetCallerIdentity`, serialize (`docs/protocol.md#aws-subject-token`).
//!
//! The builder takes the `credential_source` fields of an `external_account` file
//! (`docs/protocol.md#credential-source-shapes`) plus what code can add (a region, a credentials
//! provider, the injected environment, clock and HTTP client). All validation happens in
//! [`AwsSourceBuilder::build`], before any network call, with errors naming the field.

use std::sync::Arc;

use wif_core::{Error, SourceContext, SubjectToken, SubjectTokenSource, async_trait};

use crate::AWS_SUBJECT_TOKEN_TYPE;
use crate::credential_source::DEFAULT_REGIONAL_CRED_VERIFICATION_URL;
use crate::provenance::Resolved;
use crate::resolver::{AwsResolver, ResolverBuilder, resolver_setters};
use crate::signing::{SignedRequest, TargetResource, sign_get_caller_identity};

/// AWS workloads proving their identity to Google: a [`SubjectTokenSource`] that signs AWS STS
/// `GetCallerIdentity` with the workload's AWS credentials.
///
/// Cheap to clone (clones share the cached region). Build it with [`AwsSource::builder`].
#[derive(Clone, Debug)]
pub struct AwsSource {
    resolver: AwsResolver,
    regional_cred_verification_url: Arc<str>,
    target_resource: TargetResource,
}

impl AwsSource {
    /// A builder; every setting is optional (a bare `build()` reads env credentials and region).
    pub fn builder() -> AwsSourceBuilder {
        AwsSourceBuilder::new()
    }

    /// A source signing for the default `regional_cred_verification_url` with `resolver`'s
    /// region and credentials.
    pub(crate) fn with_resolver(resolver: AwsResolver) -> AwsSource {
        AwsSource {
            resolver,
            regional_cred_verification_url: DEFAULT_REGIONAL_CRED_VERIFICATION_URL.into(),
            target_resource: TargetResource::Signed,
        }
    }

    /// The `regional_cred_verification_url` template (`{region}` not yet substituted).
    pub fn regional_cred_verification_url(&self) -> &str {
        &self.regional_cred_verification_url
    }

    /// Whether `x-goog-cloud-target-resource` is signed.
    pub fn target_resource(&self) -> TargetResource {
        self.target_resource
    }

    /// Where region and credentials come from.
    pub fn resolver(&self) -> &AwsResolver {
        &self.resolver
    }

    /// Resolves region and credentials as one refresh would (metadata calls included), without
    /// signing: see [`AwsResolver::resolve`]. The region, the role name and the IMDSv2 session
    /// token (within its TTL) are kept after the first success.
    pub async fn resolve(&self) -> Result<Resolved, Error> {
        self.resolver.resolve().await
    }

    /// Signs `GetCallerIdentity` for `audience` with resolved region and credentials, at the
    /// source's clock's time.
    pub fn sign(&self, resolved: &Resolved, audience: &str) -> Result<SignedRequest, Error> {
        check_audience(audience)?;
        sign_get_caller_identity(
            &resolved.credentials,
            &resolved.region,
            &self.regional_cred_verification_url,
            audience,
            self.resolver.clock().now(),
            self.target_resource,
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

fn check_audience(audience: &str) -> Result<(), Error> {
    if audience.is_empty() {
        return Err(Error::config(
            "audience",
            "must not be empty: it is sent (and signed) as x-goog-cloud-target-resource",
        ));
    }
    Ok(())
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

/// Builds an [`AwsSource`]. Every setting is optional.
#[derive(Debug)]
pub struct AwsSourceBuilder {
    resolver: ResolverBuilder,
    subject_token_type: Option<String>,
    target_resource: TargetResource,
}

impl AwsSourceBuilder {
    fn new() -> Self {
        AwsSourceBuilder {
            resolver: ResolverBuilder::new(),
            subject_token_type: None,
            target_resource: TargetResource::Signed,
        }
    }

    resolver_setters!(http_client);

    /// `credential_source.environment_id`: must be `aws1` (`aws01` is accepted, as Python and Go
    /// parse the version as a number). Optional for sources built in code.
    pub fn environment_id(mut self, id: impl Into<String>) -> Self {
        self.resolver.source.environment_id = Some(id.into());
        self
    }

    /// `credential_source.regional_cred_verification_url`; must be `https`. Default
    /// [`DEFAULT_REGIONAL_CRED_VERIFICATION_URL`].
    pub fn regional_cred_verification_url(mut self, url: impl Into<String>) -> Self {
        self.resolver.source.regional_cred_verification_url = Some(url.into());
        self
    }

    /// The configuration's `subject_token_type`, checked in `build()`: it must be
    /// `urn:ietf:params:aws:token-type:aws4_request`.
    pub fn subject_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.subject_token_type = Some(token_type.into());
        self
    }

    /// Whether `x-goog-cloud-target-resource` is signed (default [`TargetResource::Signed`]).
    pub fn target_resource(mut self, mode: TargetResource) -> Self {
        self.target_resource = mode;
        self
    }

    /// Validates everything and builds the source. No network call happens here.
    pub fn build(self) -> Result<AwsSource, Error> {
        if let Some(t) = &self.subject_token_type
            && t != AWS_SUBJECT_TOKEN_TYPE
        {
            return Err(Error::config(
                "subject_token_type",
                format!("is {t:?}, but an AWS credential_source needs {AWS_SUBJECT_TOKEN_TYPE:?}"),
            ));
        }
        let regional_cred_verification_url =
            self.resolver.source.verification_url_template().into();
        Ok(AwsSource {
            resolver: self.resolver.build()?,
            regional_cred_verification_url,
            target_resource: self.target_resource,
        })
    }
}
