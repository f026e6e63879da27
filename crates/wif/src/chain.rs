//! [`Chain`]: the assembled layers (source → STS → [impersonation]), before they are wrapped in a
//! cache as [`Credentials`], for tools that run the flow one step at a time — `wif explain` times
//! and diagnoses each step this way. What a `Chain` does is exactly what the `Credentials` built
//! from the same builder would do, because [`CredentialsBuilder::build`] is
//! `build_chain()?.into_credentials()`; and it is what its [`Plan`] says, because it was
//! assembled from that plan alone.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use wif_core::http::Resolver;
use wif_core::{
    AccessToken, CacheOptions, ChainDeadline, Error, SourceContext, Step, SubjectToken,
    SubjectTokenSource, TokenCache, TokenProvider,
};
use wif_impersonate::Impersonation;
use wif_source_aws::AwsSource;
use wif_sts::StsExchange;

#[cfg(doc)]
use crate::CredentialsBuilder;
use crate::prefetch::PrefetchFirst;
use crate::{Credentials, CredentialsInfo, Plan};

/// The layers of one credential chain, callable step by step. Made by
/// [`CredentialsBuilder::build_chain`]; no I/O happens until a step is called.
pub struct Chain {
    pub(crate) plan: Plan,
    pub(crate) source: Arc<dyn SubjectTokenSource>,
    /// The same source as `source` when it is the AWS one, kept concrete.
    pub(crate) aws: Option<AwsSource>,
    /// The client of the source (and of STS and IAM, unless they use mTLS).
    pub(crate) http: reqwest::Client,
    pub(crate) exchange: Arc<StsExchange>,
    /// Built around a cache of `exchange`, as `Credentials` use it; [`Chain::impersonate`] hands
    /// it the federated token explicitly instead.
    pub(crate) impersonation: Option<Impersonation>,
    pub(crate) cache: CacheOptions,
    /// Bounds each refresh of the [`Credentials`] (not the step-by-step calls here).
    pub(crate) deadline: Duration,
    pub(crate) info: CredentialsInfo,
    /// The resolver of the clients the chain built, and the hosts its first run looks up.
    pub(crate) prefetch: Option<(Resolver, Vec<String>)>,
}

impl Chain {
    /// The plan the chain was assembled from: every setting and where it came from.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// What the chain was assembled from (safe to print).
    pub fn info(&self) -> &CredentialsInfo {
        &self.info
    }

    /// The subject token source ([`Step::Source`]).
    pub fn source(&self) -> &dyn SubjectTokenSource {
        self.source.as_ref()
    }

    /// The subject token source when it is the AWS one ([`SourcePlan::Aws`]), for a look at
    /// its steps: [`AwsSource::resolve`] tells where region and credentials came from and
    /// [`AwsSource::sign`] signs, with the chain's environment and clock.
    ///
    /// [`SourcePlan::Aws`]: crate::plan::SourcePlan::Aws
    pub fn aws_source(&self) -> Option<&AwsSource> {
        self.aws.as_ref()
    }

    /// The HTTP client the chain's source uses (and STS and IAM Credentials, unless a
    /// certificate source calls them over mTLS): the builder's, or the default one with the
    /// extra root certificates. For a diagnostic call beside the chain, such as
    /// `wif explain --call-aws`.
    pub fn http_client(&self) -> &reqwest::Client {
        &self.http
    }

    /// What the source is told about the exchange it serves (audience, token type, ...).
    pub fn source_context(&self) -> &SourceContext {
        self.exchange.source_context()
    }

    /// [`Step::Source`]: a fresh subject token from the source. Handle it as the credential it
    /// is.
    pub async fn subject_token(&self) -> Result<SubjectToken, Error> {
        self.source.subject_token(self.source_context()).await
    }

    /// [`Step::Exchange`]: exchanges `subject` at Google STS for a federated token — the same
    /// request, HTTP client (the mTLS one for a certificate source), timeout and retries as the
    /// credentials.
    pub async fn exchange(&self, subject: &SubjectToken) -> Result<AccessToken, Error> {
        self.exchange.exchange(subject).await
    }

    /// True when the chain impersonates a service account ([`Step::Impersonation`] runs).
    pub fn impersonates(&self) -> bool {
        self.impersonation.is_some()
    }

    /// The impersonation layer ([`Step::Impersonation`]), if any: the service account, URL,
    /// lifetime and scopes it requests.
    pub fn impersonation(&self) -> Option<&Impersonation> {
        self.impersonation.as_ref()
    }

    /// [`Step::Impersonation`]: trades `federated` for a service account token at IAM
    /// Credentials. A
    /// [`NotSupported`](wif_core::ErrorKind::NotSupported) error when the chain does not
    /// impersonate (the federated token is then the result).
    pub async fn impersonate(&self, federated: &AccessToken) -> Result<AccessToken, Error> {
        match &self.impersonation {
            Some(imp) => imp.generate(federated).await,
            None => Err(Error::not_supported(
                Step::Impersonation,
                "this chain does not impersonate a service account",
            )),
        }
    }

    /// Wraps the chain in its [chain deadline](CredentialsBuilder::chain_deadline) and its
    /// cache: the [`Credentials`] that [`CredentialsBuilder::build`] returns.
    pub fn into_credentials(self) -> Credentials {
        let context = self.exchange.source_context().clone();
        let upstream: Arc<dyn TokenProvider> = match self.impersonation {
            Some(imp) => Arc::new(imp),
            None => Arc::new(self.exchange),
        };
        let upstream: Arc<dyn TokenProvider> = match self.prefetch {
            Some((resolver, hosts)) => Arc::new(PrefetchFirst::new(upstream, resolver, hosts)),
            None => upstream,
        };
        // Inside the cache: one bounded refresh serves every caller waiting on it.
        let upstream: Arc<dyn TokenProvider> =
            Arc::new(ChainDeadline::new(upstream, self.deadline));
        let cache = TokenCache::with_options(upstream, self.cache);
        Credentials::assembled(cache, self.source, context, self.info)
    }
}

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chain")
            .field("info", &self.info)
            .field("source", &self.source)
            .field("impersonates", &self.impersonates())
            .finish()
    }
}
