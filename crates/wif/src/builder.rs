//! [`CredentialsBuilder`]: assembles source → STS → [impersonation] → cache from a configuration
//! file, by hand, or both (explicit settings win over the configuration).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use secrecy::SecretString;
use wif_core::{
    CLOUD_PLATFORM_SCOPE, CacheOptions, Environment, Error, OsEnvironment, RetryPolicy, Step,
    SubjectTokenSource, TokenCache,
};
use wif_impersonate::Impersonation;
use wif_sts::StsExchange;

use crate::config::ExternalAccountConfig;
use crate::trust::{Checked, TrustPolicy, Used};
use crate::{Chain, Credentials, CredentialsInfo, adc, sources};

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
    config: Option<ExternalAccountConfig>,
    source: Option<Arc<dyn SubjectTokenSource>>,
    audience: Option<String>,
    subject_token_type: Option<String>,
    token_url: Option<String>,
    scopes: Option<Vec<String>>,
    impersonation_url: Option<String>,
    impersonate_email: Option<String>,
    lifetime: Option<Duration>,
    quota_project: Option<String>,
    client_auth: Option<(String, Option<SecretString>)>,
    workforce_pool_user_project: Option<String>,
    universe_domain: Option<String>,
    trust_policy: Option<TrustPolicy>,
    /// What a trust policy would refuse in the configuration's JSON text (its size, a
    /// duplicate key), which the parsed configuration no longer shows.
    config_text_refusal: Option<Error>,
    http_client: Option<reqwest::Client>,
    root_certificates: Vec<Vec<u8>>,
    aws_provider: Option<SharedCredentialsProvider>,
    aws_region: Option<String>,
    environment: Arc<dyn Environment>,
    retry: RetryPolicy,
    cache: CacheOptions,
    chain_deadline: Duration,
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
            trust_policy: None,
            config_text_refusal: None,
            http_client: None,
            root_certificates: Vec::new(),
            aws_provider: None,
            aws_region: None,
            environment: Arc::new(OsEnvironment),
            retry: RetryPolicy::default(),
            cache: CacheOptions::default(),
            chain_deadline: wif_core::DEFAULT_CHAIN_DEADLINE,
        }
    }

    /// Starts from a parsed `external_account` configuration.
    pub fn config(mut self, config: ExternalAccountConfig) -> Self {
        self.config = Some(config);
        self.config_text_refusal = None;
        self
    }

    /// Parses and validates an `external_account` configuration JSON string.
    ///
    /// With a [`trust_policy`](Self::trust_policy) (set before or after this call), text over
    /// [`MAX_UNTRUSTED_CONFIG_BYTES`](crate::trust::MAX_UNTRUSTED_CONFIG_BYTES) or with a key
    /// twice in one object is refused — when the policy is already set, before parsing.
    pub fn config_json(self, json: &str) -> Result<Self, Error> {
        let text = crate::trust::check_text(json);
        if self.trust_policy.is_some() {
            text.clone()?;
        }
        let mut this = self.config(ExternalAccountConfig::from_json(json)?);
        this.config_text_refusal = text.err();
        Ok(this)
    }

    /// Reads, parses and validates an `external_account` configuration file. The file must be a
    /// regular file of at most [`MAX_LOCAL_FILE_BYTES`](wif_core::local_file::MAX_LOCAL_FILE_BYTES)
    /// (1 MiB); a pipe, a device or a larger file is refused before it is read.
    pub fn config_file(self, path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let json = adc::read_credentials_file(path)?;
        self.config_json(&json)
            .map_err(|e| e.context(format_args!("{}", path.display())))
    }

    /// Loads the configuration Application Default Credentials point at, using this builder's
    /// [`environment`](Self::environment).
    pub fn adc(self) -> Result<Self, Error> {
        match adc::find_credentials_file(&*self.environment)? {
            Some(path) => self.config_file(path),
            None => Err(Error::config(
                "GOOGLE_APPLICATION_CREDENTIALS",
                "no credentials found: the variable is unset and gcloud's application_default_credentials.json does not exist",
            )
            .with_hint(
                "create a configuration with `gcloud iam workload-identity-pools create-cred-config ... --output-file=wif.json` and set GOOGLE_APPLICATION_CREDENTIALS=wif.json",
            )),
        }
    }

    /// Uses your own subject token source instead of the configuration's `credential_source`.
    pub fn source(mut self, source: impl SubjectTokenSource + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// Like [`source`](Self::source), for a shared source.
    pub fn source_arc(mut self, source: Arc<dyn SubjectTokenSource>) -> Self {
        self.source = Some(source);
        self
    }

    /// The STS audience: the pool provider's full resource name.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The subject token type (`urn:ietf:params:oauth:token-type:jwt`, `…:id_token`, `…:saml2`,
    /// `urn:ietf:params:aws:token-type:aws4_request`).
    pub fn subject_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.subject_token_type = Some(token_type.into());
        self
    }

    /// The STS endpoint (default `https://sts.{universe_domain}/v1/token`).
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
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

    /// Impersonates this service account (IAM Credentials `generateAccessToken`).
    pub fn impersonate(mut self, service_account_email: impl Into<String>) -> Self {
        self.impersonate_email = Some(service_account_email.into());
        self.impersonation_url = None;
        self
    }

    /// Impersonates through this full `generateAccessToken` URL (as in the configuration file).
    pub fn impersonation_url(mut self, url: impl Into<String>) -> Self {
        self.impersonation_url = Some(url.into());
        self.impersonate_email = None;
        self
    }

    /// Lifetime of impersonated tokens (default 1 hour).
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = Some(lifetime);
        self
    }

    /// The project billed for quota (`x-goog-user-project`).
    pub fn quota_project(mut self, project: impl Into<String>) -> Self {
        self.quota_project = Some(project.into());
        self
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

    /// The workforce pool user project (workforce pools only).
    pub fn workforce_pool_user_project(mut self, project: impl Into<String>) -> Self {
        self.workforce_pool_user_project = Some(project.into());
        self
    }

    /// The universe domain (default: the configuration's, else `googleapis.com`). Default
    /// endpoints follow it: `https://sts.{universe}/v1/token`, and
    /// `https://iamcredentials.{universe}/…` for [`impersonate`](Self::impersonate). A
    /// configuration declaring another universe is refused at [`build`](Self::build), as
    /// Google's client libraries refuse a universe mismatch.
    pub fn universe_domain(mut self, domain: impl Into<String>) -> Self {
        self.universe_domain = Some(domain.into());
        self
    }

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
    pub fn trust_policy(mut self, policy: TrustPolicy) -> Self {
        self.trust_policy = Some(policy);
        self
    }

    /// The HTTP client every layer uses (default: [`wif_core::http::default_client`]).
    ///
    /// With a certificate (X.509) source, the STS and impersonation calls use a client built
    /// from the certificate instead (the same timeouts, presenting the workload certificate);
    /// this one serves the rest.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
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

    /// AWS source: use this region instead of `AWS_REGION` / `AWS_DEFAULT_REGION` / metadata.
    pub fn aws_region(mut self, region: impl Into<String>) -> Self {
        self.aws_region = Some(region.into());
        self
    }

    /// AWS source: take credentials and region from an `aws-config` [`SdkConfig`]
    /// (`aws_config::load_defaults(..)`, or [`wif_source_aws::config_loader`]).
    ///
    /// [`SdkConfig`]: wif_source_aws::aws_config::SdkConfig
    #[cfg(feature = "aws-config")]
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

    /// How STS and IAM calls are retried.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Cache timing.
    pub fn cache_options(mut self, options: CacheOptions) -> Self {
        self.cache = options;
        self
    }

    /// The longest a refresh of the whole chain may take — subject token, STS exchange,
    /// impersonation, with every retry — so no `token()` call waits longer (default
    /// [`DEFAULT_CHAIN_DEADLINE`](wif_core::DEFAULT_CHAIN_DEADLINE), 30 s;
    /// [`Duration::MAX`] for none). Past it, `token()` fails with a retryable
    /// [`Timeout`](wif_core::ErrorKind::Timeout) error naming the step that was running, and
    /// that refresh's work stops. Each step keeps its own timeouts and
    /// [`retry_policy`](Self::retry_policy) deadline within it; raise this for an executable
    /// source whose command takes most of its `timeout_millis`.
    pub fn chain_deadline(mut self, deadline: Duration) -> Self {
        self.chain_deadline = deadline;
        self
    }

    /// Assembles the chain. Validates everything; does no I/O.
    pub fn build(self) -> Result<Credentials, Error> {
        self.build_chain().map(Chain::into_credentials)
    }

    /// Assembles the same layers as [`build`](Self::build) without wrapping them in their cache,
    /// for running the flow one step at a time (what `wif explain` does). Same validation, no
    /// I/O.
    pub fn build_chain(self) -> Result<Chain, Error> {
        let cfg = self.config.as_ref();
        let checked = self.check_universe_and_trust()?;
        let universe = self
            .universe_domain
            .clone()
            .or_else(|| cfg.map(|c| c.universe_domain.clone()))
            .unwrap_or_else(|| crate::config::DEFAULT_UNIVERSE_DOMAIN.to_owned());
        let audience = self
            .audience
            .clone()
            .or_else(|| cfg.map(|c| c.audience.clone()))
            .ok_or_else(|| {
                Error::config(
                    "audience",
                    "is required (the workload identity pool provider's resource name)",
                )
            })?;
        let subject_token_type = self
            .subject_token_type
            .clone()
            .or_else(|| cfg.map(|c| c.subject_token_type.clone()))
            .ok_or_else(|| Error::config("subject_token_type", "is required"))?;
        let token_url = self
            .token_url
            .clone()
            .or_else(|| cfg.map(|c| c.token_url.clone()))
            .unwrap_or_else(|| wif_sts::default_token_url(&universe));
        let scopes = self
            .scopes
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec![CLOUD_PLATFORM_SCOPE.to_owned()]);
        let impersonation_url = match (&self.impersonation_url, &self.impersonate_email) {
            (Some(url), _) => Some(url.clone()),
            (None, Some(email)) => {
                Some(wif_impersonate::default_impersonation_url(&universe, email))
            }
            (None, None) => cfg.and_then(|c| c.service_account_impersonation_url.clone()),
        };
        let lifetime = self.lifetime.or_else(|| {
            cfg.and_then(|c| c.token_lifetime_seconds)
                .filter(|s| *s > 0)
                .map(|s| Duration::from_secs(u64::from(s)))
        });
        let quota_project = self
            .quota_project
            .clone()
            .or_else(|| cfg.and_then(|c| c.quota_project_id.clone()))
            .or_else(|| {
                self.environment
                    .var("GOOGLE_CLOUD_QUOTA_PROJECT")
                    .filter(|v| !v.is_empty())
            });
        let client_auth = self.client_auth.clone().or_else(|| {
            cfg.and_then(|c| c.client_id.clone().map(|id| (id, c.client_secret.clone())))
        });
        let workforce_user_project = self
            .workforce_pool_user_project
            .clone()
            .or_else(|| cfg.and_then(|c| c.workforce_pool_user_project.clone()));

        let extra_roots = self.extra_roots()?;
        let http = match &self.http_client {
            Some(c) => c.clone(),
            None if extra_roots.is_empty() => wif_core::http::default_client()?,
            None => plain_client_with_roots(&extra_roots)?,
        };
        // A certificate source is kept concrete: the STS client presents its certificate.
        let x509 = match (&self.source, cfg) {
            (None, Some(c)) => sources::certificate_source(c, &self.environment),
            _ => None,
        };
        let (token_url, exchange_http) = match &x509 {
            Some(x) => sources::mtls_exchange(
                x,
                token_url,
                self.token_url.is_some(),
                &universe,
                &extra_roots,
            )?,
            None => (token_url, http.clone()),
        };
        let source: Arc<dyn SubjectTokenSource> = match (&self.source, &x509, cfg) {
            (Some(s), _, _) => s.clone(),
            (None, Some(x), _) => Arc::new(x.clone()),
            (None, None, Some(c)) => sources::from_config(
                c,
                sources::SourceOptions {
                    http: &http,
                    env: &self.environment,
                    aws_provider: self.aws_provider.clone(),
                    aws_region: self.aws_region.clone(),
                    checked_url: checked.source_url.clone(),
                },
            )?,
            (None, None, None) => {
                return Err(Error::config(
                    "credential_source",
                    "no subject token source: give a configuration file or call `.source(...)`",
                ));
            }
        };
        let impersonated_email = match &impersonation_url {
            Some(url) => Some(wif_impersonate::email_from_url(url).ok_or_else(|| {
                Error::config(
                    "service_account_impersonation_url",
                    "no service account email found before `:generateAccessToken`",
                )
            })?),
            None => None,
        };

        // With impersonation, the federated token only has to call IAM Credentials; we ask STS
        // for cloud-platform (as Go's x/oauth2 does), which covers generateAccessToken.
        let sts_scopes = if impersonation_url.is_some() {
            vec![CLOUD_PLATFORM_SCOPE.to_owned()]
        } else {
            scopes.clone()
        };
        let mut sts = StsExchange::builder()
            .source_arc(source.clone())
            .audience(audience.clone())
            .subject_token_type(subject_token_type.clone())
            .scopes(sts_scopes)
            .metrics(impersonation_url.is_some(), lifetime.is_some())
            .http_client(exchange_http.clone())
            .retry_policy(self.retry);
        if let Some((id, secret)) = client_auth {
            sts = sts.client_auth(id, secret);
        }
        if let Some(p) = workforce_user_project {
            sts = sts.workforce_pool_user_project(p);
        }
        if let Some(email) = &impersonated_email {
            sts = sts.impersonated_email(email.clone());
        }
        // The URL a trust policy checked is used as parsed, unless the certificate source put
        // its mTLS endpoint in place of the default one.
        sts = match checked.token_url.filter(|u| u.as_str() == token_url) {
            Some(url) => sts.token_url_parsed(url),
            None => sts.token_url(token_url),
        };
        let sts = Arc::new(sts.build()?);

        let impersonation = match &impersonation_url {
            None => None,
            Some(url) => {
                // The federated token is cached on its own: a second impersonation within its
                // life costs one IAM call, not an STS exchange too.
                let federated = TokenCache::with_options(sts.clone(), self.cache);
                let imp = Impersonation::builder().federated(federated);
                let mut imp = match checked.impersonation_url {
                    Some(checked) => imp.url_parsed(checked),
                    None => imp.url(url.clone()),
                }
                .universe_domain(universe.clone())
                .scopes(scopes.clone())
                .http_client(exchange_http.clone())
                .retry_policy(self.retry);
                if let Some(l) = lifetime {
                    imp = imp.lifetime(l);
                }
                if let Some(q) = &quota_project {
                    imp = imp.quota_project(q.clone());
                }
                Some(imp.build()?)
            }
        };
        // The URLs as the layers contact them (parsed), not as written.
        let info = CredentialsInfo {
            source_kind: source.kind().to_owned(),
            audience: Some(audience),
            subject_token_type: Some(subject_token_type),
            token_url: Some(sts.token_url().to_string()),
            impersonated_service_account: impersonated_email,
            impersonation_url: impersonation.as_ref().map(|imp| imp.url().to_owned()),
            scopes,
            quota_project_id: quota_project,
            universe_domain: universe,
        };
        Ok(Chain {
            source,
            exchange: sts,
            impersonation,
            cache: self.cache,
            deadline: self.chain_deadline,
            info,
        })
    }
}

/// The default client, also trusting `roots`.
fn plain_client_with_roots(
    roots: &[wif_source_x509::CertificateDer<'static>],
) -> Result<reqwest::Client, Error> {
    let mut builder = wif_core::http::client_builder();
    for (i, der) in roots.iter().enumerate() {
        let cert = reqwest::Certificate::from_der(der).map_err(|_| {
            Error::config(
                "root_certificates",
                format!("certificate {} is not a usable trust anchor", i + 1),
            )
        })?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build().map_err(|e| {
        Error::new(
            Step::Config,
            wif_core::ErrorKind::Internal,
            "could not build the HTTP client",
        )
        .with_source(e)
    })
}

impl CredentialsBuilder {
    /// The certificates of every [`add_root_certificates_pem`](Self::add_root_certificates_pem)
    /// bundle; a bundle without any is an error (it is surely the wrong file).
    fn extra_roots(&self) -> Result<Vec<wif_source_x509::CertificateDer<'static>>, Error> {
        let mut roots = Vec::new();
        for pem in &self.root_certificates {
            let parsed = wif_source_x509::parse_root_certificates(pem)?;
            if parsed.is_empty() {
                return Err(Error::config(
                    "root_certificates",
                    "a PEM bundle holds no certificate (-----BEGIN CERTIFICATE-----)",
                ));
            }
            roots.extend(parsed);
        }
        Ok(roots)
    }

    /// The explicit universe must be a domain and agree with the configuration's (a token for
    /// one universe is useless in another, and the configuration's default `token_url` was
    /// derived from its own universe); then the trust policy, if any, checks the configuration.
    fn check_universe_and_trust(&self) -> Result<Checked, Error> {
        if let Some(domain) = &self.universe_domain {
            if !crate::config::is_domain(domain) {
                return Err(Error::config(
                    "universe_domain",
                    "is not a domain name (e.g. \"googleapis.com\")",
                ));
            }
            if let Some(cfg) = &self.config
                && !cfg.universe_domain.eq_ignore_ascii_case(domain)
            {
                return Err(Error::config(
                    "universe_domain",
                    format!(
                        "the builder was given {domain}, but the credential configuration is for universe {}",
                        cfg.universe_domain
                    ),
                )
                .with_hint(
                    "set \"universe_domain\" in the configuration (gcloud writes it), or drop .universe_domain(…)",
                ));
            }
        }
        let (Some(policy), Some(cfg)) = (&self.trust_policy, &self.config) else {
            return Ok(Checked::default());
        };
        if let Some(refusal) = &self.config_text_refusal {
            return Err(refusal.clone());
        }
        let mut policy = policy.clone();
        if let Some(domain) = &self.universe_domain {
            policy = policy.allow_universe_domain(domain.clone());
        }
        policy.check_used(
            cfg,
            Used {
                token_url: self.token_url.is_none(),
                impersonation: self.impersonation_url.is_none() && self.impersonate_email.is_none(),
                source: self.source.is_none(),
            },
        )
    }
}
