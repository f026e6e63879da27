//! # wif-core — the contracts every wif-rs crate shares
//!
//! wif-rs lets workloads with an identity somewhere else (AWS, any OIDC or SAML issuer) call
//! Google Cloud through [Workload Identity Federation] without a service-account key. The chain:
//!
//! ```text
//! caller ──token()──▶ TokenCache ──▶ [impersonation] ──▶ STS exchange ──▶ SubjectTokenSource
//! ```
//!
//! This crate holds the seams and shared pieces, and starts no I/O of its own (its HTTP and
//! local-file helpers run only when a caller asks):
//!
//! * [`SubjectTokenSource`] — proves who the workload is (implement it to plug in your own).
//! * [`TokenProvider`] — hands out [`AccessToken`]s; the STS exchange, impersonation, the cache
//!   and the facade's `Credentials` all implement it.
//! * [`SubjectToken`] / [`AccessToken`] — secret-holding types with redacted `Debug`.
//! * [`Error`] — one error type: step, kind, server words, retryability, hint.
//! * [`Redactor`] — scrubs the secrets a request carried, in any spelling, out of server text.
//! * [`TokenCache`] — single-flight, refresh-ahead caching around any provider.
//! * [`RetryPolicy`] — exponential backoff with jitter and an overall deadline.
//! * [`ChainDeadline`] — one bound on a whole refresh, naming the step it cut off.
//! * [`http`] — the default `reqwest` client and bounded response reading.
//! * [`Environment`] / [`Clock`] — the outside world, injected so tests stay hermetic.
//! * [`jwt`] — reading (never verifying) a JWT subject token's claims, for diagnostics.
//! * [`local_file`] — bounded reads of local configuration-sized files, refusing pipes and
//!   devices.
//! * [`protocol`] — the protocols' fixed names (token-type URNs, the default universe and its
//!   endpoints, scopes, the AWS STS action), declared once for every crate.
//!
//! ```
//! use std::time::Duration;
//! use wif_core::{AccessToken, StaticTokenProvider, TokenCache, TokenProvider};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wif_core::Error> {
//! let upstream = StaticTokenProvider::new(AccessToken::expiring_in(
//!     "ya29.example",
//!     tokio::time::Instant::now(),
//!     Duration::from_secs(3600),
//! ));
//! let cached = TokenCache::new(upstream);
//! let token = cached.token().await?;
//! assert_eq!(token.token_type(), "Bearer");
//! # Ok(()) }
//! ```
//!
//! ## Features
//!
//! * `testing` (off by default): the `testing` module, log capture for test suites that check what the
//!   crates trace (and that no secret is traced).
//!
//! [Workload Identity Federation]: https://cloud.google.com/iam/docs/workload-identity-federation

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod api_client;
mod builder_setters;
mod cache;
mod cause;
pub mod causes;
mod coarse_clock;
mod deadline;
mod environment;
mod error;
mod format;
// The fuzz targets' entry points: behind the `fuzzing` feature, and compiled into the crate's
// own tests, which exercise them.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod json;
pub mod jwt;
pub mod local_file;
pub mod protocol;
mod redaction;
mod retry;
mod source;
#[cfg(any(test, feature = "testing", feature = "fuzzing"))]
mod spelling;
pub mod step_call;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod token;

pub use async_trait::async_trait;
pub use cache::{CacheClock, CacheOptions, TokenCache};
pub use cause::Cause;
pub use deadline::{ChainDeadline, DEFAULT_CHAIN_DEADLINE, note_progress};
pub use environment::{
    Clock, Environment, FixedClock, MapEnvironment, OsEnvironment, SystemClock, gcloud_config_dir,
};
pub use error::{Error, ErrorKind, ServerError, Step};
pub use format::TokenFormat;
pub use protocol::{CLOUD_PLATFORM_SCOPE, IAM_SCOPE};
pub use redaction::{REDACTED, Redactor};
pub use retry::RetryPolicy;
pub use secrecy;
pub use source::{SourceContext, StaticTokenProvider, SubjectTokenSource, TokenProvider};
pub use token::{AccessToken, SubjectToken, check_issued_token};
