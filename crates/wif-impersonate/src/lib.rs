//! # wif-impersonate — service-account impersonation for Workload Identity Federation
//!
//! The chain's impersonation step ([`Step::Impersonation`](wif_core::Step::Impersonation)),
//! optional: trade the federated token from the Google STS exchange for a service account's access
//! token, through the IAM Credentials API's
//! [`generateAccessToken`](https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/generateAccessToken).
//!
//! ```text
//! caller ──token()──▶ TokenCache ──▶ [Impersonation] ──▶ STS exchange ──▶ SubjectTokenSource
//! ```
//!
//! [`Impersonation`] implements [`wif_core::TokenProvider`]: each `token()` call asks the inner
//! (federated) provider for its token — give it a cached one, the inner token is reused across
//! impersonations — and then POSTs once to `generateAccessToken`. Wrap the result in a
//! [`wif_core::TokenCache`]; this crate does no caching of its own.
//!
//! When the federated principal may not impersonate the service account, the error says that the
//! STS exchange succeeded and which IAM binding is missing, so the two halves of a
//! misconfiguration are never confused.
//!
//! ```no_run
//! use std::time::Duration;
//! use wif_core::{AccessToken, StaticTokenProvider, TokenProvider};
//! use wif_impersonate::Impersonation;
//!
//! # async fn run() -> Result<(), wif_core::Error> {
//! // In real use the federated provider is the (cached) STS exchange.
//! let federated = StaticTokenProvider::new(AccessToken::new("federated-token"));
//! let writer = Impersonation::builder()
//!     .federated(federated)
//!     .service_account("writer@my-project.iam.gserviceaccount.com")
//!     .lifetime(Duration::from_secs(1800))
//!     .build()?;
//! let token = writer.token().await?;
//! println!("token for {} expires at {:?}", writer.service_account_email(), token.expires_at_utc());
//! # Ok(()) }
//! ```

mod builder;
pub mod causes;
mod connect_ahead;
mod endpoint;
// The fuzz targets' entry points: behind the `fuzzing` feature, and compiled into the crate's
// own tests, which exercise them.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod impersonation;
#[cfg(feature = "testing")]
pub mod testing;

pub use builder::ImpersonationBuilder;
pub use endpoint::{default_impersonation_url, email_from_url};
pub use impersonation::Impersonation;

/// The universe domain of Google's public cloud, used when none is given.
pub use wif_core::protocol::DEFAULT_UNIVERSE_DOMAIN;
/// The default requested lifetime of an impersonated token (what Google grants without the
/// lifetime-extension org policy).
pub const DEFAULT_LIFETIME: std::time::Duration = std::time::Duration::from_secs(3600);
/// The longest lifetime Google grants (12 h), and only with the org policy
/// `constraints/iam.allowServiceAccountCredentialLifetimeExtension`.
pub const MAX_LIFETIME: std::time::Duration = std::time::Duration::from_secs(43_200);
/// The default timeout of each `generateAccessToken` attempt.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
