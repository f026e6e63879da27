//! The settings a Google Cloud API adapter's client is built from — the token provider, the HTTP
//! client, the base URL and the environment its emulator variable is read from, the quota
//! project and the retry policy — held once for `wif_bigquery::BigQueryBuilder` and
//! `wif_storage::StorageBuilder`, which take and resolve them the same way.
//!
//! A builder embeds an [`ApiClientSettings`] as its `settings` field and gets the setters users
//! call (`provider`, `client`, `environment`, `quota_project`, `retry_policy`) from
//! [`api_client_setters!`](crate::api_client_setters); its `base_url` setter, whose meaning
//! depends on the API, it writes itself.

use std::sync::Arc;

use crate::http::{ApiBase, ApiBaseRequest};
use crate::{Environment, Error, OsEnvironment, RetryPolicy, TokenProvider};

/// The common settings of an API adapter's client builder. `Debug` shows no token: providers
/// show what they are, not what they hold.
#[derive(Clone, Debug)]
pub struct ApiClientSettings {
    /// The token provider authenticating every request; `None`: anonymous (an emulator only).
    pub provider: Option<Arc<dyn TokenProvider>>,
    /// The HTTP client; `None`: the adapter's default.
    pub client: Option<reqwest::Client>,
    /// The base URL set in code.
    pub base_url: Option<String>,
    /// Where the emulator variable is read from.
    pub environment: Arc<dyn Environment>,
    /// The project billed for quota (`x-goog-user-project`), as given.
    pub quota_project: Option<String>,
    /// How retryable failures are retried.
    pub retry: RetryPolicy,
}

impl ApiClientSettings {
    /// No provider, client, base URL or quota project; the process environment; `retry`.
    pub fn new(retry: RetryPolicy) -> Self {
        ApiClientSettings {
            provider: None,
            client: None,
            base_url: None,
            environment: Arc::new(OsEnvironment),
            quota_project: None,
            retry,
        }
    }

    /// The checked base URL (see [`ApiBaseRequest::resolve`]): the one set in code, else the
    /// emulator named by `emulator_var` (with `api_path` below it), else the provider's
    /// endpoint base (likewise), else `default`.
    pub fn base(
        &self,
        emulator_var: &str,
        api_path: &str,
        default: &str,
    ) -> Result<ApiBase, Error> {
        ApiBaseRequest {
            explicit: self.base_url.as_deref(),
            emulator_var,
            api_path,
            provider_base: self.provider.as_ref().and_then(|p| p.endpoint_base_url()),
            default,
            authenticated: self.provider.is_some(),
        }
        .resolve(self.environment.as_ref())
    }

    /// The quota project, unless blank.
    pub fn quota_project(&self) -> Option<String> {
        self.quota_project
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
    }
}

/// The setters of an [`ApiClientSettings`] held in a builder's `settings` field:
/// `provider`, `client`, `environment`, `quota_project` and `retry_policy`, each returning the
/// builder. `emulator_var` names the API's emulator variable in the docs; the adapter's
/// `default_retry_policy` function, in scope where the macro is used, is the retry default.
///
/// ```
/// use wif_core::api_client::ApiClientSettings;
/// use wif_core::{AccessToken, MapEnvironment, RetryPolicy, StaticTokenProvider};
///
/// /// Configures a client of some API.
/// #[must_use]
/// pub struct ApiBuilder {
///     settings: ApiClientSettings,
/// }
///
/// /// The retry policy of this API.
/// pub fn default_retry_policy() -> RetryPolicy {
///     RetryPolicy::google_api(std::time::Duration::from_secs(60))
/// }
///
/// impl ApiBuilder {
///     wif_core::api_client_setters!(emulator_var = "SOME_EMULATOR_HOST");
/// }
///
/// let builder = ApiBuilder { settings: ApiClientSettings::new(default_retry_policy()) }
///     .provider(StaticTokenProvider::new(AccessToken::new("ya29.token")))
///     .environment(MapEnvironment::new())
///     .quota_project(" billing ");
/// assert_eq!(builder.settings.quota_project().as_deref(), Some("billing"));
/// ```
#[macro_export]
macro_rules! api_client_setters {
    (emulator_var = $var:literal) => {
        /// The token provider authenticating every request (`wif::Credentials`, or your own).
        /// Without one, requests carry no token, which only an emulator accepts.
        pub fn provider(mut self, provider: impl $crate::TokenProvider + 'static) -> Self {
            self.settings.provider = Some(::std::sync::Arc::new(provider));
            self
        }

        #[doc = concat!("Where `", $var, "` is read from (default: the process environment).")]
        pub fn environment(mut self, environment: impl $crate::Environment + 'static) -> Self {
            self.settings.environment = ::std::sync::Arc::new(environment);
            self
        }

        $crate::builder_setters! {
            /// The HTTP client (share one across the process; it carries the timeouts). Without
            /// it, wif's default client (`wif_core::http`: rustls, a 5 s connect timeout, no
            /// redirects, `localhost` resolved without DNS) is used.
            pub fn client(client: ::reqwest::Client) => Some(settings.client);

            /// The project billed and charged quota, sent as `x-goog-user-project`.
            pub fn quota_project(project: impl Into<String>) => Some(settings.quota_project);

            /// How retryable failures are retried (default: [`default_retry_policy`]).
            pub fn retry_policy(policy: $crate::RetryPolicy) => settings.retry;
        }
    };
}
