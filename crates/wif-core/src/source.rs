//! The two pluggable seams of the chain.
//!
//! * [`SubjectTokenSource`] — the [`Step::Source`](crate::Step::Source) step: proves who the
//!   workload is (AWS, file, URL, executable, yours).
//! * [`TokenProvider`] — anything that hands out Google access tokens: the STS exchange, the
//!   impersonation layer, the cache, the facade's `Credentials`, or a static token in tests.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::{AccessToken, Error, SubjectToken};

/// What a subject-token source may need to know about the exchange it serves.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SourceContext {
    /// The STS audience: the workload/workforce pool provider's full resource name.
    pub audience: String,
    /// The subject token type the exchange will declare (`urn:ietf:params:oauth:token-type:jwt`, …).
    pub subject_token_type: String,
    /// The service account that will be impersonated, when there is one.
    pub impersonated_email: Option<String>,
}

impl SourceContext {
    /// A context for `audience` and `subject_token_type`, without impersonation.
    pub fn new(audience: impl Into<String>, subject_token_type: impl Into<String>) -> Self {
        SourceContext {
            audience: audience.into(),
            subject_token_type: subject_token_type.into(),
            impersonated_email: None,
        }
    }

    /// Records the service account that will be impersonated.
    pub fn with_impersonated_email(mut self, email: impl Into<String>) -> Self {
        self.impersonated_email = Some(email.into());
        self
    }
}

/// The chain's source step ([`Step::Source`](crate::Step::Source)): produces the token that
/// proves who this workload is.
///
/// Implement this to plug your own identity into wif-rs; every built-in source implements it too.
///
/// ```
/// use wif_core::{async_trait, Error, SourceContext, SubjectToken, SubjectTokenSource};
///
/// #[derive(Debug)]
/// struct FromVault;
///
/// #[async_trait]
/// impl SubjectTokenSource for FromVault {
///     async fn subject_token(&self, _ctx: &SourceContext) -> Result<SubjectToken, Error> {
///         Ok(SubjectToken::new("eyJhbGciOi..."))
///     }
/// }
/// ```
#[async_trait]
pub trait SubjectTokenSource: Send + Sync + fmt::Debug {
    /// Produces a fresh subject token. Called once per STS exchange; never cached by the caller.
    async fn subject_token(&self, ctx: &SourceContext) -> Result<SubjectToken, Error>;

    /// The source kind reported in Google's `x-goog-api-client` metrics header
    /// (`aws`, `file`, `url`, `executable`, `x509`); `programmatic` for your own sources.
    fn kind(&self) -> &'static str {
        "programmatic"
    }
}

/// Anything that hands out Google access tokens.
#[async_trait]
pub trait TokenProvider: Send + Sync + fmt::Debug {
    /// Returns a token valid for at least a short while. Implementations decide about caching.
    async fn token(&self) -> Result<AccessToken, Error>;

    /// Forgets this layer's cached token, so the next [`token`](Self::token) call fetches a new
    /// one from the layer below — which may answer from its own cache. API clients call this
    /// after a 401. The default does nothing (no cache).
    fn invalidate(&self) {}

    /// Forgets every cached token down the chain — this layer's and those of the providers it
    /// wraps — so the next [`token`](Self::token) call runs the whole chain again (a new STS
    /// exchange, not only a new impersonation). For operators and tests; after a 401,
    /// [`invalidate`](Self::invalidate) is enough. The default forgets this layer's token; a
    /// provider wrapping others passes the call on.
    fn invalidate_all(&self) {
        self.invalidate();
    }

    /// The base URL every Google API of this provider's universe is served under, when it was
    /// pointed away from Google's hosts (a fake, the emulator): BigQuery under
    /// `{base}/bigquery/v2/`, Cloud Storage under `{base}/storage/v1/`. API clients given this
    /// provider and no endpoint of their own use it, so one setting moves them all. `None` (the
    /// default): Google's hosts.
    fn endpoint_base_url(&self) -> Option<&str> {
        None
    }

    /// The token [`token`](Self::token) would hand out right now without any I/O, waiting or
    /// locking, if there is one that is fresh (outside the refresh-ahead margin); `None`
    /// otherwise, and then the caller awaits [`token`](Self::token). For callers that must not
    /// await on their hot path: a tower layer's `call`, a synchronous interceptor. Cached
    /// providers ([`TokenCache`](crate::TokenCache), `wif::Credentials`) answer from their
    /// cache; the default is `None`.
    fn fresh_token(&self) -> Option<AccessToken> {
        None
    }
}

/// Implements both traits for a smart pointer by forwarding every method to the pointee, so a
/// shared (`Arc`) or boxed source or provider is one too. A macro: the impls differ only in the
/// pointer, and one generic impl over `Deref` would overlap the sources' and providers' own.
macro_rules! forward_through {
    ($($pointer:ident),+) => {$(
        #[async_trait]
        impl<T: SubjectTokenSource + ?Sized> SubjectTokenSource for $pointer<T> {
            async fn subject_token(&self, ctx: &SourceContext) -> Result<SubjectToken, Error> {
                (**self).subject_token(ctx).await
            }
            fn kind(&self) -> &'static str {
                (**self).kind()
            }
        }

        #[async_trait]
        impl<T: TokenProvider + ?Sized> TokenProvider for $pointer<T> {
            async fn token(&self) -> Result<AccessToken, Error> {
                (**self).token().await
            }
            fn invalidate(&self) {
                (**self).invalidate()
            }
            fn invalidate_all(&self) {
                (**self).invalidate_all()
            }
            fn endpoint_base_url(&self) -> Option<&str> {
                (**self).endpoint_base_url()
            }
            fn fresh_token(&self) -> Option<AccessToken> {
                (**self).fresh_token()
            }
        }
    )+};
}

forward_through!(Arc, Box);

/// A provider that always returns the same token: for tests, and for tokens obtained elsewhere.
#[derive(Clone, Debug)]
pub struct StaticTokenProvider {
    token: AccessToken,
}

impl StaticTokenProvider {
    /// Always hands out `token`.
    pub fn new(token: AccessToken) -> Self {
        StaticTokenProvider { token }
    }
}

#[async_trait]
impl TokenProvider for StaticTokenProvider {
    async fn token(&self) -> Result<AccessToken, Error> {
        Ok(self.token.clone())
    }

    /// Always the token: it is all this provider has.
    fn fresh_token(&self) -> Option<AccessToken> {
        Some(self.token.clone())
    }
}
