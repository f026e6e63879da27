//! Recovering from a token the server no longer accepts.
//!
//! wif's cache refreshes a token ahead of its expiry, so a client normally never sends an
//! expired one. A token can still be refused before its time: revoked, its service account's
//! bindings changed, the server's clock ahead of ours. Google's clients treat that 401
//! (`UNAUTHENTICATED` over gRPC) as permanent, and would keep sending the same cached token.
//! [`RefreshOnUnauthorized`] wraps a client's retry policy: after a first attempt refused as
//! unauthenticated, it drops every token wif cached for the chain (the impersonated one and the
//! federated one under it: which of them the server stopped accepting is unknown) and retries
//! once, with new ones. Retrying is safe whatever the request: a request refused for its
//! credentials had no effect.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use google_cloud_gax::error::Error as GaxError;
use google_cloud_gax::error::rpc::Code;
use google_cloud_gax::retry_policy::RetryPolicy;
use google_cloud_gax::retry_result::RetryResult;
use google_cloud_gax::retry_state::RetryState;
use google_cloud_gax::throttle_result::ThrottleResult;
use wif_core::TokenProvider;

/// A retry policy that refreshes wif's token once after an `UNAUTHENTICATED` answer, and
/// otherwise decides as the policy it wraps. Give it to a client's builder with
/// `with_retry_policy`; build it with
/// [`WifCredentialsProvider::refresh_on_unauthorized`](crate::WifCredentialsProvider::refresh_on_unauthorized).
pub struct RefreshOnUnauthorized<P> {
    tokens: Arc<dyn TokenProvider>,
    inner: P,
}

impl<P> RefreshOnUnauthorized<P> {
    pub(crate) fn new(tokens: Arc<dyn TokenProvider>, inner: P) -> Self {
        RefreshOnUnauthorized { tokens, inner }
    }
}

/// Whether the server refused the request's credentials: HTTP 401, or gRPC `UNAUTHENTICATED`.
fn is_unauthenticated(error: &GaxError) -> bool {
    error.http_status_code() == Some(401)
        || error
            .status()
            .is_some_and(|s| s.code == Code::Unauthenticated)
}

impl<P: RetryPolicy> RetryPolicy for RefreshOnUnauthorized<P> {
    fn on_error(&self, state: &RetryState, error: GaxError) -> RetryResult {
        // Only after the first attempt: a second refusal with a new token is not the token's
        // age, and goes to the wrapped policy (which calls it permanent).
        if state.attempt_count <= 1 && is_unauthenticated(&error) {
            tracing::debug!("the server refused the token; refreshing it and retrying once");
            self.tokens.invalidate_all();
            return RetryResult::Continue(error);
        }
        self.inner.on_error(state, error)
    }

    fn on_throttle(&self, state: &RetryState, error: GaxError) -> ThrottleResult {
        self.inner.on_throttle(state, error)
    }

    fn remaining_time(&self, state: &RetryState) -> Option<Duration> {
        self.inner.remaining_time(state)
    }
}

impl<P: fmt::Debug> fmt::Debug for RefreshOnUnauthorized<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshOnUnauthorized")
            .field("tokens", &self.tokens)
            .field("inner", &self.inner)
            .finish()
    }
}
