//! # wif-sts — the Google STS token exchange (RFC 8693)
//!
//! The exchange step ([`Step::Exchange`](wif_core::Step::Exchange)) of Workload Identity
//! Federation: a subject token (an OIDC/SAML token, or the signed AWS `GetCallerIdentity` request)
//! is exchanged at `https://sts.googleapis.com/v1/token` for a federated Google access token, after
//! Google checks the pool provider's attribute condition.
//!
//! ```text
//! caller ──▶ TokenCache ──▶ [impersonation] ──▶ StsExchange (this crate) ──▶ SubjectTokenSource
//! ```
//!
//! [`StsExchange`] implements [`wif_core::TokenProvider`]: each `token()` call asks its source for
//! a fresh subject token and exchanges it. It does not cache; wrap it in [`wif_core::TokenCache`]
//! (the `wif` facade does this for you).
//!
//! On the wire it matches Google's own clients (Python google-auth, Go x/oauth2): the form
//! fields, HTTP Basic client authentication, the workforce `options`, and the
//! `x-goog-api-client` metrics header. Failures say what STS answered and, for the usual
//! misconfigurations (attribute condition, audience format, disabled pool, clock skew, the
//! 127-byte `google.subject` limit, quota), what to check, and name the [cause](causes). Retryable failures (408, 429, 5xx,
//! transport errors, timeouts) are retried per the [`wif_core::RetryPolicy`], and every attempt
//! has its own timeout.
//!
//! ```no_run
//! use wif_core::{async_trait, Error, SourceContext, SubjectToken, SubjectTokenSource, TokenProvider};
//! use wif_sts::StsExchange;
//!
//! /// Your workload's OIDC token, from wherever you keep it.
//! #[derive(Debug)]
//! struct MyOidcToken;
//!
//! #[async_trait]
//! impl SubjectTokenSource for MyOidcToken {
//!     async fn subject_token(&self, _ctx: &SourceContext) -> Result<SubjectToken, Error> {
//!         Ok(SubjectToken::new("eyJhbGciOi..."))
//!     }
//! }
//!
//! # async fn run() -> Result<(), Error> {
//! let sts = StsExchange::builder()
//!     .source(MyOidcToken)
//!     .audience("//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/my-pool/providers/my-oidc")
//!     .subject_token_type("urn:ietf:params:oauth:token-type:jwt")
//!     .scopes([wif_core::CLOUD_PLATFORM_SCOPE])
//!     .build()?;
//! let token = sts.token().await?;
//! println!("federated token valid for {:?}", token.remaining());
//! # Ok(()) }
//! ```
//!
//! ## Testing your code
//!
//! The `testing` feature brings this crate's own fake of STS (`testing::FakeSts`: success,
//! every documented error, slow, flaky and expired-then-valid answers) and a recorder that
//! decodes what was sent:
//!
#![cfg_attr(feature = "testing", doc = "```")]
#![cfg_attr(not(feature = "testing"), doc = "```ignore")]
//! use wif_core::{secrecy::ExposeSecret as _, TokenProvider as _};
//! use wif_sts::{StsExchange, testing::{FakeSts, StaticSubjectToken, AUDIENCE}};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wif_core::Error> {
//! let sts = FakeSts::start().await;
//! let exchange = StsExchange::builder()
//!     .source(StaticSubjectToken::new("my-oidc-token"))
//!     .audience(AUDIENCE)
//!     .subject_token_type("urn:ietf:params:oauth:token-type:jwt")
//!     .token_url(sts.token_url())
//!     .build()?;
//! exchange.token().await?;
//! let sent = &sts.requests().await[0];
//! assert_eq!(sent.audience, AUDIENCE);
//! assert_eq!(sent.subject_token.secret().expose_secret(), "my-oidc-token");
//! # Ok(()) }
//! ```

mod builder;
pub mod causes;
mod exchange;
// The fuzz targets' entry points: behind the `fuzzing` feature, and compiled into the crate's
// own tests, which exercise them.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod hints;
mod request;
mod response;
#[cfg(feature = "testing")]
pub mod testing;

use std::time::Duration;

pub use builder::StsExchangeBuilder;
pub use exchange::StsExchange;

/// Google's STS endpoint in the default (`googleapis.com`) universe
/// ([`wif_core::protocol::DEFAULT_STS_TOKEN_URL`]).
pub use wif_core::protocol::DEFAULT_STS_TOKEN_URL as DEFAULT_TOKEN_URL;

/// Default timeout of each exchange attempt.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The STS endpoint of a universe: `https://sts.{universe_domain}/v1/token`, as Google's
/// clients derive it. An empty (or blank) domain means the default universe, `googleapis.com`.
///
/// ```
/// assert_eq!(wif_sts::default_token_url("googleapis.com"), wif_sts::DEFAULT_TOKEN_URL);
/// assert_eq!(wif_sts::default_token_url("s3nsapis.fr"), "https://sts.s3nsapis.fr/v1/token");
/// ```
pub fn default_token_url(universe_domain: &str) -> String {
    wif_core::protocol::sts_token_url(universe_domain)
}

#[cfg(test)]
mod tests {
    #[test]
    fn empty_universe_is_the_default() {
        assert_eq!(super::default_token_url(""), super::DEFAULT_TOKEN_URL);
        assert_eq!(super::default_token_url("  "), super::DEFAULT_TOKEN_URL);
    }
}
