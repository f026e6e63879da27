//! [`CredentialsBuilder`]: the settings of a chain — from a configuration file, by hand, or both
//! (explicit settings win over the configuration). Building is two steps: [`plan`] resolves
//! them into a printable [`Plan`] (`resolve`), and [`build_chain`] turns that plan into the
//! layers (`assemble`).
//!
//! [`plan`]: CredentialsBuilder::plan
//! [`build_chain`]: CredentialsBuilder::build_chain

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use secrecy::SecretString;
use wif_core::{
    CacheOptions, Clock, Environment, Error, OsEnvironment, RetryPolicy, SubjectTokenSource,
};

use crate::config::ExternalAccountConfig;
use crate::plan::{ConfigurationFrom, Origin, Plan};
use crate::trust::TrustPolicy;
use crate::{Chain, Credentials, adc, assemble, resolve};

/// Builds [`Credentials`]. Every setter is optional except what the chain cannot do without
/// (an audience, a subject token type and a source — all supplied by a configuration file).
///
/// `build()` is synchronous and does no I/O: no token is fetched and no task is started until the
/// first `token()` call.
///
/// Explicit settings are yours and trusted; a configuration is trusted too unless a
/// [`trust_policy`](Self::trust_policy) is set, which then checks the parts of the
/// configuration the chain uses.
#[must_use]
pub struct CredentialsBuilder {
    pub(crate) config: Option<ExternalAccountConfig>,
    pub(crate) config_from: Option<ConfigurationFrom>,
    pub(crate) source: Option<Arc<dyn SubjectTokenSource>>,
    pub(crate) audience: Option<String>,
    pub(crate) subject_token_type: Option<String>,
    pub(crate) token_url: Option<String>,
    pub(crate) scopes: Option<Vec<String>>,
    pub(crate) impersonation_url: Option<String>,
    pub(crate) impersonate_email: Option<String>,
    pub(crate) lifetime: Option<Duration>,
    pub(crate) quota_project: Option<String>,
    pub(crate) client_auth: Option<(String, Option<SecretString>)>,
    pub(crate) workforce_pool_user_project: Option<String>,
    pub(crate) universe_domain: Option<String>,
    pub(crate) endpoint_base_url: Option<String>,
    pub(crate) trust_policy: Option<TrustPolicy>,
    /// What a trust policy would refuse in the configuration's JSON text (its size, a
    /// duplicate key), which the parsed configuration no longer shows.
    pub(crate) config_text_refusal: Option<Error>,
    pub(crate) http_client: Option<reqwest::Client>,
    pub(crate) root_certificates: Vec<Vec<u8>>,
    pub(crate) aws_provider: Option<SharedCredentialsProvider>,
    pub(crate) aws_region: Option<String>,
    pub(crate) environment: Arc<dyn Environment>,
    pub(crate) clock: Option<Arc<dyn Clock>>,
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) cache: Option<CacheOptions>,
    pub(crate) chain_deadline: Option<Duration>,
}

impl Default for CredentialsBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for CredentialsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsBuilder")
            .field("config", &self.config)
            .field("source", &self.source)
            .field("audience", &self.audience)
            .field("impersonate", &self.impersonate_email)
            .field("scopes", &self.scopes)
            .field("trust_policy", &self.trust_policy)
            .finish_non_exhaustive()
    }
}

impl CredentialsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        CredentialsBuilder {
            config: None,
            config_from: None,
            source: None,
            audience: None,
            subject_token_type: None,
            token_url: None,
            scopes: None,
            impersonation_url: None,
            impersonate_email: None,
            lifetime: None,
            quota_project: None,
            client_auth: None,
            workforce_pool_user_project: None,
            universe_domain: None,
            endpoint_base_url: None,
            trust_policy: None,
            config_text_refusal: None,
            http_client: None,
            root_certificates: Vec::new(),
            aws_provider: None,
            aws_region: None,
            environment: Arc::new(OsEnvironment),
            clock: None,
            retry: None,
            cache: None,
            chain_deadline: None,
        }
    }

    /// Starts from a parsed `external_account` configuration.
    pub fn config(self, config: ExternalAccountConfig) -> Self {
        self.config_from(config, None, Origin::Builder("config"))
    }

    fn config_from(
        mut self,
        config: ExternalAccountConfig,
        path: Option<PathBuf>,
        found_by: Origin,
    ) -> Self {
        self.config = Some(config);
        self.config_from = Some(ConfigurationFrom { path, found_by });
        self.config_text_refusal = None;
        self
    }

    /// Parses and validates an `external_account` configuration JSON string.
    ///
    /// With a [`trust_policy`](Self::trust_policy) (set before or after this call), text over
    /// [`MAX_UNTRUSTED_CONFIG_BYTES`](crate::trust::MAX_UNTRUSTED_CONFIG_BYTES) or with a key
    /// twice in one object is refused — when the policy is already set, before parsing.
    pub fn config_json(self, json: &str) -> Result<Self, Error> {
        self.config_text(json, None, Origin::Builder("config_json"))
    }

    fn config_text(self, json: &str, path: Option<&Path>, found_by: Origin) -> Result<Self, Error> {
        let text = crate::trust::check_text(json);
        if self.trust_policy.is_some() {
            text.clone()?;
        }
        let config = ExternalAccountConfig::from_json(json)?;
        let mut this = self.config_from(config, path.map(Path::to_owned), found_by);
        this.config_text_refusal = text.err();
        Ok(this)
    }

    /// Reads, parses and validates an `external_account` configuration file. The file must be a
    /// regular file of at most [`MAX_LOCAL_FILE_BYTES`](wif_core::local_file::MAX_LOCAL_FILE_BYTES)
    /// (1 MiB); a pipe, a device or a larger file is refused before it is read.
    pub fn config_file(self, path: impl AsRef<Path>) -> Result<Self, Error> {
        self.read_config(path.as_ref(), Origin::Builder("config_file"))
    }

    fn read_config(self, path: &Path, found_by: Origin) -> Result<Self, Error> {
        let json = adc::read_credentials_file(path)?;
        self.config_text(&json, Some(path), found_by)
            .map_err(|e| e.context(format_args!("{}", path.display())))
    }

    /// Loads the configuration Application Default Credentials point at, using this builder's
    /// [`environment`](Self::environment).
    pub fn adc(self) -> Result<Self, Error> {
        match adc::find_credentials_file(&*self.environment)? {
            Some(path) => {
                let found_by = if self.environment.non_empty_var(adc::CREDENTIALS_ENV_VAR).is_some()
                {
                    Origin::Environment(adc::CREDENTIALS_ENV_VAR)
                } else {
                    // gcloud's well-known file: where ADC looks by default.
                    Origin::Default
                };
                self.read_config(&path, found_by)
            }
            None => Err(Error::config(
                adc::CREDENTIALS_ENV_VAR,
                "no credentials found: the variable is unset and gcloud's application_default_credentials.json does not exist",
            )
            .with_known_cause(&crate::causes::CREDENTIALS_NOT_FOUND)),
        }
    }

    /// Uses your own subject token source instead of the configuration's `credential_source`.
    pub fn source(mut self, source: impl SubjectTokenSource + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    wif_core::builder_setters! {
        /// Like [`source`](Self::source), for a shared source.
        pub fn source_arc(source: Arc<dyn SubjectTokenSource>) => Some(source);

        /// The STS audience: the pool provider's full resource name.
        pub fn audience(audience: impl Into<String>) => Some(audience);

        /// The subject token type (`urn:ietf:params:oauth:token-type:jwt`, `…:id_token`, `…:saml2`,
        /// `urn:ietf:params:aws:token-type:aws4_request`).
        pub fn subject_token_type(token_type: impl Into<String>) => Some(subject_token_type);

        /// The STS endpoint (default `https://sts.{universe_domain}/v1/token`).
        pub fn token_url(url: impl Into<String>) => Some(token_url);
    }

    /// Scopes of the final token (default `cloud-platform`).
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    wif_core::builder_setters! {
        /// Impersonates this service account (IAM Credentials `generateAccessToken` of the
        /// universe, or at the [`endpoint_base_url`](Self::endpoint_base_url)). Not together with
        /// [`impersonation_url`](Self::impersonation_url): [`build`](Self::build) refuses both.
        pub fn impersonate(service_account_email: impl Into<String>) => Some(impersonate_email);

        /// Impersonates through this full `generateAccessToken` URL (as in the configuration file),
        /// used as given. Not together with [`impersonate`](Self::impersonate):
        /// [`build`](Self::build) refuses both.
        pub fn impersonation_url(url: impl Into<String>) => Some(impersonation_url);

        /// Lifetime of impersonated tokens (default 1 hour).
        pub fn token_lifetime(lifetime: Duration) => Some(lifetime);

        /// The project billed for quota (`x-goog-user-project`).
        pub fn quota_project(project: impl Into<String>) => Some(quota_project);
    }

    /// OAuth client authentication for the STS call (HTTP Basic).
    pub fn client_auth(
        mut self,
        client_id: impl Into<String>,
        client_secret: Option<SecretString>,
    ) -> Self {
        self.client_auth = Some((client_id.into(), client_secret));
        self
    }

    wif_core::builder_setters! {
        /// The workforce pool user project (workforce pools only).
        pub fn workforce_pool_user_project(project: impl Into<String>) => Some(workforce_pool_user_project);

        /// The universe domain (default: the configuration's, else `googleapis.com`). Default
        /// endpoints follow it: `https://sts.{universe}/v1/token`, and
        /// `https://iamcredentials.{universe}/…` for [`impersonate`](Self::impersonate). A
        /// configuration declaring another universe is refused at [`build`](Self::build), as
        /// Google's client libraries refuse a universe mismatch.
        pub fn universe_domain(domain: impl Into<String>) => Some(universe_domain);

        /// Points every Google endpoint of the universe at `url` — STS, IAM Credentials, and the
        /// BigQuery and Cloud Storage clients built from these credentials (they ask
        /// [`TokenProvider::endpoint_base_url`](wif_core::TokenProvider::endpoint_base_url)) — as a
        /// fake server or the emulator serves them under one base URL. The same setting can come
        /// from the environment, [`WIF_ENDPOINT_BASE_URL`](crate::ENDPOINT_BASE_URL_VAR); this one
        /// wins. `https`, or `http` to this machine only; checked by [`build`](Self::build).
        ///
        /// The configuration's `token_url` and `service_account_impersonation_url`, and the
        /// defaults of [`impersonate`](Self::impersonate), keep their paths under `url`; an
        /// explicit [`token_url`](Self::token_url) or [`impersonation_url`](Self::impersonation_url)
        /// is kept as given. So production code runs unchanged in a test:
        ///
        /// ```
        /// # fn production(builder: wif::CredentialsBuilder) -> Result<wif::Credentials, wif::Error> {
        /// // Production code: Google's hosts, unless the environment says otherwise.
        /// builder.impersonate("writer@my-project.iam.gserviceaccount.com").build()
        /// # }
        /// # let source = wif::testing::StaticSubjectToken::new("t");
        /// // The test gives it a builder pointed at a fake (or sets WIF_ENDPOINT_BASE_URL).
        /// let builder = wif::Credentials::builder()
        ///     .source(source)
        ///     .audience(wif::testing::FAKE_AUDIENCE)
        ///     .subject_token_type("urn:ietf:params:oauth:token-type:jwt")
        ///     .endpoint_base_url("http://127.0.0.1:8787");
        /// let creds = production(builder)?;
        /// assert_eq!(
        ///     creds.info().impersonation_url.as_deref(),
        ///     Some("http://127.0.0.1:8787/v1/projects/-/serviceAccounts/writer@my-project.iam.gserviceaccount.com:generateAccessToken"),
        /// );
        /// # Ok::<(), wif::Error>(())
        /// ```
        pub fn endpoint_base_url(url: impl Into<String>) => Some(endpoint_base_url);

        /// Checks the configuration with `policy` at [`build`](Self::build), before anything in it
        /// is used. Without it, the configuration is trusted (your own file). Values you set on the
        /// builder are not checked — they replace the configuration's: an explicit
        /// [`token_url`](Self::token_url), impersonation or [`source`](Self::source) exempts the
        /// configuration's `token_url`, `service_account_impersonation_url` or `credential_source`.
        /// A [`universe_domain`](Self::universe_domain) set here counts as trusted.
        ///
        /// ```
        /// use wif::{Credentials, TrustPolicy};
        ///
        /// let policy = TrustPolicy::strict()
        ///     .allow_universe_domain("s3nsapis.fr")
        ///     .allow_file_directory("/var/lib/my-app/tokens");
        /// let builder = Credentials::builder().trust_policy(policy);
        /// # let _ = builder;
        /// ```
        pub fn trust_policy(policy: TrustPolicy) => Some(trust_policy);

        /// The HTTP client every layer uses (default: [`wif_core::http::default_client`]).
        ///
        /// With a certificate (X.509) source, the STS and impersonation calls use a client built
        /// from the certificate instead (the same timeouts, presenting the workload certificate);
        /// this one serves the rest.
        pub fn http_client(client: reqwest::Client) => Some(http_client);
    }

    /// Also trusts the CA certificates of this PEM bundle, beside the public web roots, for the
    /// STS and impersonation calls: for a private CA in front of Google (a TLS-inspecting proxy)
    /// or a test server. Applies to the default client and to the mTLS client of a certificate
    /// source, not to a client given to [`http_client`](Self::http_client). May be called more
    /// than once; the PEM is parsed by [`build`](Self::build).
    pub fn add_root_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates.push(pem.into());
        self
    }

    /// AWS source: get AWS credentials from this provider instead of the environment or the
    /// instance metadata service — any `aws-config` provider (ECS/Fargate container
    /// credentials, EKS IRSA or Pod Identity, SSO, profiles) or your own, e.g. after an
    /// `AssumeRole` in code.
    pub fn aws_credentials_provider(mut self, provider: impl ProvideCredentials + 'static) -> Self {
        self.aws_provider = Some(SharedCredentialsProvider::new(provider));
        self
    }

    wif_core::builder_setters! {
        /// AWS source: use this region instead of `AWS_REGION` / `AWS_DEFAULT_REGION` / metadata.
        pub fn aws_region(region: impl Into<String>) => Some(aws_region);
    }

    /// AWS source: take credentials and region from an `aws-config` [`SdkConfig`]
    /// (`aws_config::load_defaults(..)`, or [`wif_source_aws::config_loader`]).
    ///
    /// [`SdkConfig`]: wif_source_aws::aws_config::SdkConfig
    #[cfg(feature = "aws-config")]
    #[cfg_attr(docsrs, doc(cfg(feature = "aws-config")))]
    pub fn aws_sdk_config(mut self, config: &wif_source_aws::aws_config::SdkConfig) -> Self {
        if let Some(p) = config.credentials_provider() {
            self.aws_provider = Some(p);
        }
        if let Some(r) = config.region() {
            self.aws_region = Some(r.to_string());
        }
        self
    }

    /// Where environment variables are read from (default: the process environment).
    pub fn environment(mut self, env: Arc<dyn Environment>) -> Self {
        self.environment = env;
        self
    }

    wif_core::builder_setters! {
        /// The wall clock the sources read (default: the system clock): the time an AWS signature
        /// is stamped with, and against which an executable's cached response expires. For tests
        /// and diagnostics (`wif explain --clock-offset`), so a wrong clock can be played without
        /// changing the machine's.
        pub fn clock(clock: Arc<dyn Clock>) => Some(clock);

        /// How STS and IAM calls are retried.
        pub fn retry_policy(policy: RetryPolicy) => Some(retry);

        /// Cache timing.
        pub fn cache_options(options: CacheOptions) => Some(cache);

        /// The longest a refresh of the whole chain may take — subject token, STS exchange,
        /// impersonation, with every retry — so no `token()` call waits longer (default
        /// [`DEFAULT_CHAIN_DEADLINE`](wif_core::DEFAULT_CHAIN_DEADLINE), 30 s;
        /// [`Duration::MAX`] for none). Past it, `token()` fails with a retryable
        /// [`Timeout`](wif_core::ErrorKind::Timeout) error naming the step that was running, and
        /// that refresh's work stops. Each step keeps its own timeouts and
        /// [`retry_policy`](Self::retry_policy) deadline within it; raise this for an executable
        /// source whose command takes most of its `timeout_millis`.
        pub fn chain_deadline(deadline: Duration) => Some(chain_deadline);
    }

    /// Resolves every setting — from this builder, the configuration and the
    /// [`environment`](Self::environment), in that order, else the defaults — into a printable,
    /// secret-free [`Plan`] that says where each came from, with the warnings. Validates
    /// everything the chain needs and builds nothing: no I/O, no HTTP client.
    ///
    /// [`build`](Self::build) and [`build_chain`](Self::build_chain) assemble exactly this plan.
    pub fn plan(&self) -> Result<Plan, Error> {
        resolve::resolve(self).map(|resolved| resolved.plan)
    }

    /// Assembles the chain. Validates everything; does no I/O.
    pub fn build(self) -> Result<Credentials, Error> {
        self.build_chain().map(Chain::into_credentials)
    }

    /// Assembles the same layers as [`build`](Self::build) without wrapping them in their cache,
    /// for running the flow one step at a time (what `wif explain` does). Same validation, no
    /// I/O. The chain keeps its [`Plan`] ([`Chain::plan`]).
    pub fn build_chain(self) -> Result<Chain, Error> {
        let resolved = resolve::resolve(&self)?;
        assemble::assemble(resolved)
    }
}
