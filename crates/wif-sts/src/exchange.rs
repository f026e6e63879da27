//! The chain's exchange step ([`Step::Exchange`](wif_core::Step::Exchange)): one RFC 8693 token
//! exchange at Google STS, with retries and a timeout per attempt. Request encoding lives in
//! [`crate::request`], response parsing in [`crate::response`], error hints in [`crate::hints`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use tokio::time::Instant;
use tracing::Instrument as _;
use url::Url;
use wif_core::{
    AccessToken, Error, ErrorKind, Redactor, RetryPolicy, SourceContext, Step, SubjectToken,
    SubjectTokenSource, TokenProvider, async_trait,
};

use crate::StsExchangeBuilder;
use crate::hints::{Sent, http_error};
use crate::request::{FORM_CONTENT_TYPE, FormTemplate, METRICS_HEADER};
use crate::response;

/// The Google STS token-exchange client: trades a subject token for a federated access token.
///
/// Cheap to clone (one reference count). As a [`TokenProvider`], each
/// [`token`](TokenProvider::token) call asks the source for a fresh subject token and exchanges
/// it; nothing is cached here, so wrap it in [`wif_core::TokenCache`] (the `wif` facade does).
///
/// ```no_run
/// # use wif_core::{async_trait, Error, SourceContext, SubjectToken, SubjectTokenSource};
/// # #[derive(Debug)] struct MyOidc;
/// # #[async_trait] impl SubjectTokenSource for MyOidc {
/// #     async fn subject_token(&self, _: &SourceContext) -> Result<SubjectToken, Error> { Ok(SubjectToken::new("eyJ..")) }
/// # }
/// # async fn run() -> Result<(), Error> {
/// let sts = wif_sts::StsExchange::builder()
///     .source(MyOidc)
///     .audience("//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/pool/providers/oidc")
///     .subject_token_type("urn:ietf:params:oauth:token-type:jwt")
///     .build()?;
/// // An already obtained subject token can be exchanged directly:
/// let token = sts.exchange(&SubjectToken::new("eyJ..")).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct StsExchange {
    inner: Arc<Inner>,
}

/// Everything [`StsExchangeBuilder::build`] checked and prepared.
pub(crate) struct Inner {
    pub(crate) source: Arc<dyn SubjectTokenSource>,
    pub(crate) context: SourceContext,
    pub(crate) token_url: Url,
    /// "POST https://host/path" for messages (never a query string).
    pub(crate) what: String,
    pub(crate) form: FormTemplate,
    pub(crate) client_id: Option<String>,
    /// The sensitive Basic header, built once.
    pub(crate) client_auth: Option<HeaderValue>,
    pub(crate) metrics: HeaderValue,
    pub(crate) http: reqwest::Client,
    pub(crate) retry: RetryPolicy,
    pub(crate) timeout: Duration,
}

impl StsExchange {
    /// Starts configuring an exchange.
    pub fn builder() -> StsExchangeBuilder {
        StsExchangeBuilder::default()
    }

    pub(crate) fn from_inner(inner: Inner) -> Self {
        StsExchange {
            inner: Arc::new(inner),
        }
    }

    /// The context handed to the source: audience, subject token type, impersonated account.
    pub fn source_context(&self) -> &SourceContext {
        &self.inner.context
    }

    /// The STS endpoint this exchange posts to, as it is contacted.
    pub fn token_url(&self) -> &Url {
        &self.inner.token_url
    }

    /// One exchange of an already-obtained subject token, retried per the policy.
    ///
    /// Errors are at [`Step::Exchange`] with the server's `error`/`error_description` and, for
    /// known misconfigurations, a hint; an empty subject token fails at [`Step::Source`] before
    /// any request is sent.
    pub async fn exchange(&self, subject: &SubjectToken) -> Result<AccessToken, Error> {
        let inner = &*self.inner;
        if subject.is_empty() {
            return Err(Error::new(
                Step::Source,
                ErrorKind::InvalidToken,
                "the subject token is empty",
            ));
        }
        let span = tracing::info_span!(
            "sts_exchange",
            audience = %inner.form.audience,
            token_host = inner.token_url.host_str().unwrap_or(""),
        );
        async {
            let token = inner
                .retry
                .run(Step::Exchange, &inner.what, |attempt| {
                    let attempt_span = tracing::debug_span!(
                        "sts_attempt",
                        attempt,
                        status = tracing::field::Empty
                    );
                    inner.attempt(subject).instrument(attempt_span)
                })
                .await;
            match &token {
                Ok(t) => tracing::debug!(
                    lifetime_s = t.remaining().map(|d| d.as_secs()),
                    "STS exchange succeeded"
                ),
                Err(e) => tracing::debug!(
                    kind = ?e.kind(),
                    status = e.status(),
                    retryable = e.is_retryable(),
                    "STS exchange failed"
                ),
            }
            token
        }
        .instrument(span)
        .await
    }
}

impl Inner {
    /// One attempt, its error scrubbed of everything the request carried (the subject token and
    /// the secrets inside it, the client credentials) before the retry loop or anyone logs it.
    async fn attempt(&self, subject: &SubjectToken) -> Result<AccessToken, Error> {
        self.send_once(subject).await.map_err(|e| {
            let mut redactor = Redactor::new().subject_token(subject);
            if let Some(auth) = &self.client_auth {
                redactor.add_header_value(auth);
            }
            e.redact(&redactor)
        })
    }

    async fn send_once(&self, subject: &SubjectToken) -> Result<AccessToken, Error> {
        // Taken before sending, so latency shortens rather than lengthens the token's lifetime.
        let sent_at = Instant::now();
        let mut request = self
            .http
            .post(self.token_url.clone())
            .header(CONTENT_TYPE, FORM_CONTENT_TYPE)
            .header(METRICS_HEADER, self.metrics.clone())
            .body(self.form.encode(subject));
        if let Some(auth) = &self.client_auth {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        // Our own cut-off rather than reqwest's, so the whole attempt (connect, headers, body) is
        // bounded and the error says which call and how long.
        let response = match tokio::time::timeout(
            self.timeout,
            wif_core::http::send(Step::Exchange, &self.what, request),
        )
        .await
        {
            Ok(response) => response?,
            Err(_) => {
                return Err(Error::new(
                    Step::Exchange,
                    ErrorKind::Timeout,
                    format!(
                        "{}: no complete response within {:.1}s",
                        self.what,
                        self.timeout.as_secs_f64()
                    ),
                ));
            }
        };
        tracing::Span::current().record("status", response.status);
        if !response.is_success() {
            tracing::debug!("STS refused the exchange");
            let sent = Sent {
                audience: &self.form.audience,
                subject_token_type: &self.form.subject_token_type,
            };
            let mut err = http_error(response.status, &response.body, &sent).context(&self.what);
            if let Some(after) = response.retry_after() {
                err = err.with_retry_after(after);
            }
            // Kept so a diagnosis can measure this machine's clock against Google's.
            if let Some(date) = response.date() {
                err = err.with_server_date(date);
            }
            return Err(err);
        }
        tracing::debug!("STS answered");
        response::parse(&response.body, sent_at).map_err(|e| e.context(&self.what))
    }
}

#[async_trait]
impl TokenProvider for StsExchange {
    /// Gets a fresh subject token from the source (its errors pass through unchanged) and
    /// exchanges it.
    async fn token(&self) -> Result<AccessToken, Error> {
        wif_core::note_progress(
            Step::Source,
            &format!("the `{}` source", self.inner.source.kind()),
            1,
        );
        let subject = self.inner.source.subject_token(&self.inner.context).await?;
        self.exchange(&subject).await
    }
}

impl fmt::Debug for StsExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("StsExchange")
            .field("token_url", &wif_core::http::describe_url(&inner.token_url))
            .field("audience", &inner.form.audience)
            .field("subject_token_type", &inner.form.subject_token_type)
            .field("scope", &inner.form.scope)
            .field("options", &inner.form.options)
            .field("client_id", &inner.client_id)
            .field(
                "client_auth",
                &inner.client_auth.as_ref().map(|_| "[REDACTED]"),
            )
            .field("impersonated_email", &inner.context.impersonated_email)
            .field("source", &inner.source)
            .field("retry", &inner.retry)
            .field("timeout", &inner.timeout)
            .finish_non_exhaustive()
    }
}
