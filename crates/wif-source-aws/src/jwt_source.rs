//! The subject token for AWS, the other way: AWS outbound identity federation
//! (`docs/protocol.md#aws-issued-jwts`). AWS STS `GetWebIdentityToken` issues a JWT signed by AWS
//! for the calling role (issuer `https://<uuid>.tokens.sts.global.api.aws`, with OIDC discovery
//! and JWKS), and Google STS takes it through an ordinary OIDC provider of the pool as a
//! `urn:ietf:params:oauth:token-type:jwt` subject token.
//!
//! Unlike [`crate::AwsSource`], this source calls AWS STS itself: a SigV4-signed Query-protocol
//! `POST` to the regional endpoint ([`crate::jwt_request`] says what it holds), signed with the
//! credentials and region the shared [`AwsResolver`] finds (the same code as `AwsSource`'s, so
//! the same order: provider, environment, metadata). Its builder, beside it, takes the request's
//! settings and the resolver's; all validation happens in [`AwsJwtSourceBuilder::build`], before
//! any network call, with errors naming the field.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use secrecy::ExposeSecret;
use url::Url;
use wif_core::http::{DEFAULT_REQUEST_TIMEOUT, default_client, describe_url, send};
use wif_core::jwt::UnverifiedJwt;
use wif_core::{
    Error, Redactor, RetryPolicy, SourceContext, Step, SubjectToken, SubjectTokenSource,
    async_trait,
};

use crate::aws_sts::{header_value, response_error};
use crate::credentials::unreadable_answer;
use crate::jwt_request::{
    ACTION, DEFAULT_DURATION, FORM_CONTENT_TYPE, SIGNING_ALGORITHM, TokenRequest, read_answer,
};
use crate::provenance::Resolved;
use crate::resolver::{AwsResolver, ResolverBuilder, resolver_setters};
use crate::signing::{Unsigned, host_header, sigv4};
use crate::source::AwsSource;
use crate::{AWS_SUBJECT_TOKEN_TYPE, JWT_SUBJECT_TOKEN_TYPE};

/// The `subject_token_type` Google also accepts for OIDC tokens.
const ID_TOKEN_TYPE: &str = wif_core::protocol::ID_TOKEN_SUBJECT_TOKEN_TYPE;

/// AWS workloads proving their identity to Google with a JWT that AWS STS issues
/// (`GetWebIdentityToken`, AWS outbound identity federation): a [`SubjectTokenSource`] of
/// `urn:ietf:params:oauth:token-type:jwt` tokens for an OIDC provider of the pool.
///
/// The account must have outbound identity federation enabled
/// (`aws iam enable-outbound-web-identity-federation`), and the role's policy must allow
/// `sts:GetWebIdentityToken`. Each [`subject_token`](SubjectTokenSource::subject_token) call asks
/// AWS for a new token (the exchange's cache is the place to cache); it carries the answer's
/// `Expiration`.
///
/// Cheap to clone. Build it with [`AwsJwtSource::builder`].
#[derive(Clone)]
pub struct AwsJwtSource {
    inner: Arc<JwtInner>,
}

struct JwtInner {
    resolver: AwsResolver,
    request: TokenRequest,
    http: reqwest::Client,
    timeout: Duration,
    retry: RetryPolicy,
    /// What the deprecated [`AwsJwtSource::aws_source`] hands out, made at its first call.
    aws_source: OnceLock<AwsSource>,
}

impl AwsJwtSource {
    /// A builder; [`audience`](AwsJwtSourceBuilder::audience) is required.
    pub fn builder() -> AwsJwtSourceBuilder {
        AwsJwtSourceBuilder::new()
    }

    /// The audiences the token is asked for.
    pub fn audiences(&self) -> &[String] {
        &self.inner.request.audiences
    }

    /// The token lifetime asked for.
    pub fn duration(&self) -> Duration {
        self.inner.request.duration
    }

    /// The AWS STS endpoint template (`{region}` not yet replaced).
    pub fn endpoint(&self) -> &str {
        &self.inner.request.endpoint
    }

    /// Where region and credentials come from: its [`resolve`](AwsResolver::resolve) shows
    /// where they come from (`wif explain`).
    pub fn resolver(&self) -> &AwsResolver {
        &self.inner.resolver
    }

    /// An [`AwsSource`] with this source's region and credentials (the same resolver, so the
    /// same cached region), signing for the default `regional_cred_verification_url`.
    #[deprecated(
        since = "0.2.0",
        note = "use `resolver()`: region and credentials are resolved by an `AwsResolver` that both AWS sources share"
    )]
    pub fn aws_source(&self) -> &AwsSource {
        self.inner
            .aws_source
            .get_or_init(|| AwsSource::with_resolver(self.inner.resolver.clone()))
    }

    /// Resolves region and credentials, then asks AWS STS for a token: one signed `POST`,
    /// retried (signed afresh) on 5xx, 429 and throttling per the retry policy.
    pub async fn web_identity_token(&self) -> Result<SubjectToken, Error> {
        let inner = &*self.inner;
        let resolved = inner.resolver.resolve().await?;
        let url = inner.request.url(&resolved.region)?;
        let what = format!("POST {} (AWS STS {ACTION})", describe_url(&url));
        let body = inner.request.form_body();
        let (token, jwt) = inner
            .retry
            .run(Step::Source, &what, |_| {
                inner.request_once(&resolved, &url, &body, &what)
            })
            .await?;
        tracing::debug!(
            region = %resolved.region,
            provenance = %resolved.provenance,
            issuer = jwt.issuer.as_deref().unwrap_or("-"),
            algorithm = jwt.algorithm.as_deref().unwrap_or("-"),
            expires_at = ?token.expires_at(),
            bytes = token.len(),
            "got an AWS web identity token"
        );
        if jwt.algorithm.as_deref() == Some("ES384") {
            // AWS's other algorithm: Google STS would refuse the token.
            tracing::warn!(
                algorithm = jwt.algorithm.as_deref().unwrap_or("-"),
                "AWS signed the web identity token with another algorithm than RS256 asked for; \
                 Google STS verifies RS256 and ES256 only"
            );
        }
        Ok(token)
    }
}

impl JwtInner {
    /// One attempt: sign at the clock's current time (a retry must not replay an old
    /// signature), send, read the answer.
    async fn request_once(
        &self,
        resolved: &Resolved,
        url: &Url,
        body: &str,
        what: &str,
    ) -> Result<(SubjectToken, UnverifiedJwt), Error> {
        let host = host_header(url);
        let signature = sigv4(
            &resolved.credentials,
            &resolved.region,
            self.resolver.clock().now(),
            &Unsigned {
                action: ACTION,
                service: "sts",
                url: url.as_str(),
                headers: &[("content-type", FORM_CONTENT_TYPE), ("host", &host)],
                body: body.as_bytes(),
            },
        )?;
        let authorization = header_value("authorization", signature.authorization.expose_secret())?;
        // What the request carries that AWS (or a proxy) could quote back: the signature and
        // the session token. Every error of this attempt is scrubbed of them.
        let mut redactor = Redactor::new().header_value(&authorization);
        let mut request = self
            .http
            .post(url.clone())
            .timeout(self.timeout)
            .header(CONTENT_TYPE, FORM_CONTENT_TYPE)
            .header(
                "x-amz-date",
                header_value("x-amz-date", &signature.amz_date)?,
            )
            .header(AUTHORIZATION, authorization)
            .body(body.to_owned());
        if let Some(token) = resolved.credentials.session_token() {
            redactor.add(token.expose_secret());
            request = request.header(
                "x-amz-security-token",
                header_value("x-amz-security-token", token.expose_secret())?,
            );
        }
        let answer = async {
            let response = send(Step::Source, what, request).await?;
            if !response.is_success() {
                return Err(response_error(ACTION, &response).context(what));
            }
            read_answer(&response.body).map_err(|problem| unreadable_answer(what, &problem))
        };
        answer.await.map_err(|e| e.redact(&redactor))
    }
}

#[async_trait]
impl SubjectTokenSource for AwsJwtSource {
    async fn subject_token(&self, ctx: &SourceContext) -> Result<SubjectToken, Error> {
        let wanted = ctx.subject_token_type.as_str();
        if wanted != JWT_SUBJECT_TOKEN_TYPE && wanted != ID_TOKEN_TYPE {
            let err = Error::config(
                "subject_token_type",
                format!("is {wanted:?}, but an AWS JWT source produces {JWT_SUBJECT_TOKEN_TYPE:?}"),
            );
            return Err(if wanted == AWS_SUBJECT_TOKEN_TYPE {
                err.with_hint(
                    "aws4_request is the type of AwsSource's signed GetCallerIdentity (an AWS \
                     provider); a token from GetWebIdentityToken goes to an OIDC provider of the \
                     pool as urn:ietf:params:oauth:token-type:jwt",
                )
            } else {
                err
            });
        }
        let default_audience = format!("https:{}", ctx.audience);
        if !ctx.audience.is_empty()
            && !self
                .audiences()
                .iter()
                .any(|a| *a == default_audience || *a == ctx.audience)
        {
            // Not an error: a provider may list other allowed audiences. But it is the usual
            // cause of Google's `invalid_grant` for this source, so it is said where to look.
            tracing::debug!(
                provider = %ctx.audience,
                "no audience asked of AWS is the provider's default allowed audience (https: + \
                 the provider's name); Google STS accepts the token only if the provider lists \
                 one of them"
            );
        }
        self.web_identity_token().await
    }
}

impl fmt::Debug for AwsJwtSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let request = &inner.request;
        f.debug_struct("AwsJwtSource")
            .field("audiences", &request.audiences)
            .field("duration", &request.duration)
            .field("tag_keys", &request.tag_keys())
            .field("endpoint", &request.endpoint)
            .field("signing_algorithm", &SIGNING_ALGORITHM)
            .field("timeout", &inner.timeout)
            .field("retry", &inner.retry)
            .field("resolver", &inner.resolver)
            .finish_non_exhaustive()
    }
}

/// Builds an [`AwsJwtSource`]. Only the audience is required.
///
/// The credential and region settings are those of [`AwsSourceBuilder`](crate::AwsSourceBuilder)
/// (and mean the same): an explicit provider, then `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`,
/// then the metadata `credentials_url`; an explicit region, then
/// `AWS_REGION`/`AWS_DEFAULT_REGION`, then the metadata `region_url`.
pub struct AwsJwtSourceBuilder {
    resolver: ResolverBuilder,
    audiences: Vec<String>,
    duration: Duration,
    tags: Vec<(String, String)>,
    endpoint: Option<String>,
    http: Option<reqwest::Client>,
    timeout: Duration,
    retry: RetryPolicy,
}

impl AwsJwtSourceBuilder {
    fn new() -> Self {
        AwsJwtSourceBuilder {
            resolver: ResolverBuilder::new(),
            audiences: Vec::new(),
            duration: DEFAULT_DURATION,
            tags: Vec::new(),
            endpoint: None,
            http: None,
            timeout: DEFAULT_REQUEST_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }

    resolver_setters!(metadata_http_client);

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
    /// [`DEFAULT_AWS_STS_ENDPOINT`](crate::DEFAULT_AWS_STS_ENDPOINT)). `https`, or `http` to a
    /// loopback address (the emulator, test fakes). The request is signed for this URL's host
    /// and path. The global `https://sts.amazonaws.com` is refused: it does not serve
    /// `GetWebIdentityToken`.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    wif_core::builder_setters! {
        /// The client for the AWS STS call (default [`wif_core::http::default_client`]). Metadata
        /// calls keep their own client (see [`metadata_http_client`](Self::metadata_http_client)).
        pub fn http_client(client: reqwest::Client) => Some(http);

        /// Timeout of each AWS STS call (default 30 s, [`DEFAULT_REQUEST_TIMEOUT`]).
        pub fn timeout(timeout: Duration) => timeout;

        /// Retry policy of the AWS STS call (default [`RetryPolicy::default`]): 5xx, 429 and AWS's
        /// throttling codes are retried, each attempt signed afresh.
        pub fn retry(policy: RetryPolicy) => retry;
    }

    /// Validates everything and builds the source. No network call happens here.
    pub fn build(self) -> Result<AwsJwtSource, Error> {
        let request =
            TokenRequest::checked(self.endpoint, self.audiences, self.duration, self.tags)?;
        if self.timeout.is_zero() {
            return Err(Error::config("timeout", "must be greater than zero"));
        }
        let resolver = self.resolver.build()?;
        let http = match self.http {
            Some(client) => client,
            None => default_client()?,
        };
        Ok(AwsJwtSource {
            inner: Arc::new(JwtInner {
                resolver,
                request,
                http,
                timeout: self.timeout,
                retry: self.retry,
                aws_source: OnceLock::new(),
            }),
        })
    }
}

impl fmt::Debug for AwsJwtSourceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsJwtSourceBuilder")
            .field("audiences", &self.audiences)
            .field("duration", &self.duration)
            .field("tag_keys", &crate::jwt_request::tag_keys(&self.tags))
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("resolver", &self.resolver)
            .finish_non_exhaustive()
    }
}
