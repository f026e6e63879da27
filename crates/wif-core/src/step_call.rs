//! The HTTP settings of a token step's calls — the client, the retry policy and the timeout of
//! each attempt — held once for `wif_sts::StsExchangeBuilder` and
//! `wif_impersonate::ImpersonationBuilder`, which take them with the same setters and fill in
//! the same defaults.
//!
//! A builder embeds a [`CallSettings`] as its `call` field and gets the setters users call
//! (`http_client`, `retry_policy`, `timeout`) from [`call_setters!`](crate::call_setters).

use std::time::Duration;

use crate::{Error, RetryPolicy};

/// What a token step's builder was told about its HTTP calls; unset parts take the defaults.
#[derive(Clone, Debug, Default)]
pub struct CallSettings {
    /// The HTTP client (default [`http::default_client`](crate::http::default_client)).
    pub client: Option<reqwest::Client>,
    /// How failed calls are retried (default [`RetryPolicy::default`]).
    pub retry: Option<RetryPolicy>,
    /// The timeout of each attempt (default: the step's).
    pub timeout: Option<Duration>,
}

/// [`CallSettings`] with the defaults filled in.
#[derive(Clone, Debug)]
pub struct ResolvedCall {
    /// The HTTP client.
    pub client: reqwest::Client,
    /// How failed calls are retried.
    pub retry: RetryPolicy,
    /// The timeout of each attempt; never zero.
    pub timeout: Duration,
}

impl CallSettings {
    /// Fills in the defaults, the timeout with `default_timeout`. A zero timeout is a
    /// configuration error naming `timeout`.
    pub fn resolve(self, default_timeout: Duration) -> Result<ResolvedCall, Error> {
        let timeout = self.timeout.unwrap_or(default_timeout);
        if timeout.is_zero() {
            return Err(Error::config("timeout", "must be longer than zero"));
        }
        let client = match self.client {
            Some(client) => client,
            None => crate::http::default_client()?,
        };
        Ok(ResolvedCall {
            client,
            retry: self.retry.unwrap_or_default(),
            timeout,
        })
    }
}

/// The setters of a [`CallSettings`] held in a builder's `call` field: `http_client`,
/// `retry_policy` and `timeout`, each returning the builder.
///
/// ```
/// use std::time::Duration;
/// use wif_core::step_call::CallSettings;
///
/// /// Configures some token step.
/// #[derive(Default)]
/// #[must_use]
/// pub struct StepBuilder {
///     call: CallSettings,
/// }
///
/// impl StepBuilder {
///     wif_core::call_setters!();
/// }
///
/// let call = StepBuilder::default().timeout(Duration::ZERO).call;
/// assert!(call.resolve(Duration::from_secs(10)).is_err());
/// ```
#[macro_export]
macro_rules! call_setters {
    () => {
        $crate::builder_setters! {
            /// The HTTP client (share one across all layers). Default:
            /// [`wif_core::http::default_client`].
            pub fn http_client(client: ::reqwest::Client) => Some(call.client);

            /// How failed calls are retried (only 408, 429, 5xx and transport failures are
            /// retried). Default: [`wif_core::RetryPolicy::default`].
            pub fn retry_policy(policy: $crate::RetryPolicy) => Some(call.retry);

            /// The timeout of each attempt (connect, send, whole response). Default: 10 s.
            pub fn timeout(timeout: ::std::time::Duration) => Some(call.timeout);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_parts_take_the_defaults_and_a_zero_timeout_is_refused() {
        let resolved = CallSettings::default()
            .resolve(Duration::from_secs(10))
            .expect("defaults");
        assert_eq!(resolved.timeout, Duration::from_secs(10));
        let set = CallSettings {
            timeout: Some(Duration::from_secs(3)),
            ..CallSettings::default()
        };
        assert_eq!(
            set.resolve(Duration::from_secs(10)).expect("set").timeout,
            Duration::from_secs(3)
        );
        let zero = CallSettings {
            timeout: Some(Duration::ZERO),
            ..CallSettings::default()
        };
        let err = zero.resolve(Duration::from_secs(10)).expect_err("zero");
        assert!(
            err.is_config() && err.to_string().contains("timeout"),
            "{err}"
        );
    }
}
