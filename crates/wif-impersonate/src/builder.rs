//! Configuring an [`Impersonation`]: which service account, which scopes and lifetime, and the
//! HTTP plumbing. Every check happens in [`ImpersonationBuilder::build`], before any network call,
//! and names the credential-file field at fault.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderValue;
use wif_core::step_call::CallSettings;
use wif_core::{CLOUD_PLATFORM_SCOPE, Clock, Error, SystemClock, TokenProvider};

use crate::endpoint::{self, URL_FIELD};
use crate::impersonation::{Impersonation, Settings};
use crate::{DEFAULT_LIFETIME, DEFAULT_TIMEOUT, DEFAULT_UNIVERSE_DOMAIN, MAX_LIFETIME};

/// The credential file's name for the lifetime (under `service_account_impersonation`).
const LIFETIME_FIELD: &str = "service_account_impersonation.token_lifetime_seconds";

/// How a delegate must be written in the request; bare emails get this prefix.
const DELEGATE_PREFIX: &str = "projects/-/serviceAccounts/";

/// The `generateAccessToken` URL as the caller gave it.
#[derive(Debug)]
enum Endpoint {
    /// Text, parsed by `build()`.
    Text(String),
    /// Already parsed by the caller; used as is.
    Parsed(url::Url),
}

/// Builds an [`Impersonation`]. Setters consume and return the builder; [`build`](Self::build)
/// validates everything.
#[derive(Debug, Default)]
#[must_use]
pub struct ImpersonationBuilder {
    federated: Option<Arc<dyn TokenProvider>>,
    url: Option<Endpoint>,
    service_account: Option<String>,
    universe_domain: Option<String>,
    scopes: Option<Vec<String>>,
    lifetime: Option<Duration>,
    delegates: Vec<String>,
    quota_project: Option<String>,
    call: CallSettings,
    clock: Option<Arc<dyn Clock>>,
    connect_ahead: bool,
}

impl ImpersonationBuilder {
    /// The provider of the federated token (the STS exchange, normally behind a cache). Required.
    pub fn federated(self, provider: impl TokenProvider + 'static) -> Self {
        self.federated_arc(Arc::new(provider))
    }

    /// Like [`federated`](Self::federated), for a provider that is already shared.
    pub fn federated_arc(mut self, provider: Arc<dyn TokenProvider>) -> Self {
        self.federated = Some(provider);
        self
    }

    /// The full `generateAccessToken` URL (`service_account_impersonation_url`), used verbatim.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(Endpoint::Text(url.into()));
        self
    }

    /// Like [`url`](Self::url), for a URL already parsed — the one a trust policy vetted, say:
    /// it is used exactly as given, never parsed again from text (the `https` rule and the
    /// service-account check still apply).
    pub fn url_parsed(mut self, url: url::Url) -> Self {
        self.url = Some(Endpoint::Parsed(url));
        self
    }

    /// The service account to impersonate; the URL is built with
    /// [`default_impersonation_url`](crate::default_impersonation_url). An alternative to
    /// [`url`](Self::url): give one of them (or both, naming the same account).
    pub fn service_account(mut self, email: impl Into<String>) -> Self {
        self.service_account = Some(email.into());
        self
    }

    /// The universe domain for the URL built from [`service_account`](Self::service_account).
    /// Default: `googleapis.com`.
    pub fn universe_domain(mut self, universe_domain: impl Into<String>) -> Self {
        self.universe_domain = Some(universe_domain.into());
        self
    }

    /// The OAuth scopes of the impersonated token. Default: `cloud-platform`.
    pub fn scopes(mut self, scopes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// The requested token lifetime, 1 s to 12 h in whole seconds. Default: 1 h. More than 1 h
    /// needs the org policy `constraints/iam.allowServiceAccountCredentialLifetimeExtension`.
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = Some(lifetime);
        self
    }

    /// The delegation chain, as emails or `projects/-/serviceAccounts/EMAIL` names. Default: none.
    pub fn delegates(mut self, delegates: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.delegates = delegates.into_iter().map(Into::into).collect();
        self
    }

    /// The project billed for the call, sent as `x-goog-user-project`. Default: none.
    pub fn quota_project(mut self, project: impl Into<String>) -> Self {
        self.quota_project = Some(project.into());
        self
    }

    wif_core::call_setters!();

    /// While the federated token is being fetched (an STS exchange in flight), open the
    /// connection to the IAM Credentials host, so that `generateAccessToken` costs one round trip
    /// once the token is there instead of three (TCP, TLS, the call). It is opened by a `HEAD /`
    /// without credentials on the [`http_client`](Self::http_client), which keeps the connection
    /// for the call. Worth it when IAM Credentials is another host than STS (as at Google);
    /// default: off. The `wif` facade turns it on in that case.
    pub fn connect_ahead(mut self, on: bool) -> Self {
        self.connect_ahead = on;
        self
    }

    /// The wall clock the answer's `expireTime` is read against (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Validates the configuration and builds the provider. Makes no network call.
    pub fn build(self) -> Result<Impersonation, Error> {
        let federated = self.federated.ok_or_else(|| {
            Error::config(
                "federated",
                "impersonation needs the provider of the federated (STS) token",
            )
        })?;
        let (url, email) = target(
            self.url,
            self.service_account.as_deref(),
            self.universe_domain.as_deref(),
        )?;
        let lifetime = self.lifetime.unwrap_or(DEFAULT_LIFETIME);
        check_lifetime(lifetime)?;
        let scopes = match self.scopes {
            Some(scopes) => check_scopes(scopes)?,
            None => vec![CLOUD_PLATFORM_SCOPE.to_owned()],
        };
        let delegates = self
            .delegates
            .into_iter()
            .map(delegate_name)
            .collect::<Result<Vec<_>, _>>()?;
        let quota_project = self.quota_project.map(quota_project_header).transpose()?;
        let call = self.call.resolve(DEFAULT_TIMEOUT)?;
        Impersonation::new(Settings {
            federated,
            url,
            email,
            scopes,
            lifetime,
            delegates,
            quota_project,
            client: call.client,
            retry: call.retry,
            timeout: call.timeout,
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            connect_ahead: self.connect_ahead,
        })
    }
}

/// Resolves the URL and the email from what was given: a URL wins (it is used verbatim, so the
/// universe domain is not consulted), but a service account given alongside it must be the one
/// the URL names.
fn target(
    url: Option<Endpoint>,
    service_account: Option<&str>,
    universe_domain: Option<&str>,
) -> Result<(url::Url, String), Error> {
    if let Some(email) = service_account
        && !endpoint::is_plausible_email(email)
    {
        return Err(Error::config(
            "service_account",
            format_args!("`{email}` is not a service account email"),
        ));
    }
    match (url, service_account) {
        (Some(url), given) => {
            let (url, email) = match url {
                Endpoint::Text(raw) => endpoint::check_url(&raw)?,
                Endpoint::Parsed(url) => endpoint::check_parsed_url(url)?,
            };
            match given {
                Some(given) if !given.eq_ignore_ascii_case(&email) => Err(Error::config(
                    URL_FIELD,
                    format_args!(
                        "names the service account `{email}`, but `{given}` was also given; \
                         give one of them"
                    ),
                )),
                _ => Ok((url, email)),
            }
        }
        (None, Some(email)) => {
            let universe_domain = universe_domain.unwrap_or(DEFAULT_UNIVERSE_DOMAIN);
            if !endpoint::is_plausible_domain(universe_domain) {
                return Err(Error::config(
                    "universe_domain",
                    format_args!("`{universe_domain}` is not a domain name"),
                ));
            }
            endpoint::check_url(&crate::default_impersonation_url(universe_domain, email))
        }
        (None, None) => Err(Error::config(
            URL_FIELD,
            "missing: give the impersonation URL or the service account email",
        )),
    }
}

fn check_lifetime(lifetime: Duration) -> Result<(), Error> {
    if lifetime.subsec_nanos() != 0 {
        return Err(Error::config(
            LIFETIME_FIELD,
            format_args!("{lifetime:?} is not a whole number of seconds"),
        ));
    }
    if lifetime.is_zero() || lifetime > MAX_LIFETIME {
        return Err(Error::config(
            LIFETIME_FIELD,
            format_args!(
                "{} s is out of range: Google accepts 1 to {} s (more than 3600 s only with the org \
                 policy constraints/iam.allowServiceAccountCredentialLifetimeExtension)",
                lifetime.as_secs(),
                MAX_LIFETIME.as_secs()
            ),
        ));
    }
    Ok(())
}

fn check_scopes(scopes: Vec<String>) -> Result<Vec<String>, Error> {
    if scopes.is_empty() {
        return Err(Error::config(
            "scopes",
            "at least one scope is required for an impersonated token",
        ));
    }
    if let Some(bad) = scopes
        .iter()
        .find(|s| s.is_empty() || s.chars().any(char::is_whitespace))
    {
        return Err(Error::config(
            "scopes",
            format_args!("`{bad}` is not a scope (give each scope as its own item)"),
        ));
    }
    Ok(scopes)
}

/// The `x-goog-user-project` value: a project ID, which is never empty and has no spaces.
fn quota_project_header(project: String) -> Result<HeaderValue, Error> {
    let invalid = || {
        Error::config(
            "quota_project_id",
            format_args!("{project:?} is not a project ID"),
        )
    };
    if project.is_empty() || project.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    HeaderValue::from_str(&project).map_err(|_| invalid())
}

/// IAM Credentials names delegates as resources; accept bare emails for convenience.
fn delegate_name(delegate: String) -> Result<String, Error> {
    let email = delegate.strip_prefix(DELEGATE_PREFIX).unwrap_or(&delegate);
    if !endpoint::is_plausible_email(email) {
        return Err(Error::config(
            "delegates",
            format_args!("`{delegate}` is not a service account email or `{DELEGATE_PREFIX}EMAIL`"),
        ));
    }
    if delegate.starts_with(DELEGATE_PREFIX) {
        Ok(delegate)
    } else {
        Ok(format!("{DELEGATE_PREFIX}{delegate}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wif_core::{AccessToken, StaticTokenProvider, Step};

    const SA: &str = "writer@proj.iam.gserviceaccount.com";

    fn base() -> ImpersonationBuilder {
        Impersonation::builder()
            .federated(StaticTokenProvider::new(AccessToken::new("federated")))
            .http_client(wif_core::http::default_client().unwrap())
    }

    fn config_error(builder: ImpersonationBuilder) -> Error {
        let err = builder.build().expect_err("configuration must be rejected");
        assert!(err.is_config(), "{err:?}");
        assert_eq!(err.step(), Step::Config);
        err
    }

    /// Asserts each builder is rejected with an error naming its field.
    fn assert_each_names_its_field(table: Vec<(ImpersonationBuilder, &str)>) {
        for (builder, field) in table {
            let shown = config_error(builder).to_string();
            assert!(shown.contains(field), "want {field}: {shown}");
        }
    }

    #[test]
    fn service_account_builds_the_default_url() {
        let imp = base().service_account(SA).build().expect("builds");
        assert_eq!(imp.service_account_email(), SA);
        assert_eq!(
            imp.url(),
            crate::default_impersonation_url("googleapis.com", SA)
        );
        let imp = base()
            .service_account(SA)
            .universe_domain("s3nsapis.fr")
            .build()
            .expect("builds");
        assert_eq!(
            imp.url(),
            crate::default_impersonation_url("s3nsapis.fr", SA)
        );
    }

    #[test]
    fn url_is_used_verbatim_and_names_the_email() {
        let url = "http://127.0.0.1:9/sa/x@y:generateAccessToken";
        // The universe domain only matters for a URL built from an email.
        let imp = base()
            .url(url)
            .universe_domain("ignored here")
            .build()
            .expect("builds");
        assert_eq!(imp.url(), url);
        assert_eq!(imp.service_account_email(), "x@y");
    }

    #[test]
    fn a_parsed_url_is_used_as_given_under_the_same_rules() {
        let url = url::Url::parse("http://127.0.0.1:9/sa/x@y:generateAccessToken").expect("URL");
        let imp = base()
            .url("https://iamcredentials.googleapis.com/v1/other")
            .url_parsed(url.clone())
            .build()
            .expect("builds");
        assert_eq!(imp.url(), url.as_str(), "the last setting wins");
        assert_eq!(imp.service_account_email(), "x@y");
        for bad in [
            format!("http://example.com/v1/projects/-/serviceAccounts/{SA}:generateAccessToken"),
            "https://iamcredentials.googleapis.com/v1/foo".to_owned(),
        ] {
            let url = url::Url::parse(&bad).expect("URL");
            let shown = config_error(base().url_parsed(url)).to_string();
            assert!(shown.contains(URL_FIELD), "{bad}: {shown}");
        }
    }

    #[test]
    fn url_and_service_account_must_agree() {
        let url = crate::default_impersonation_url("googleapis.com", SA);
        let imp = base()
            .url(&url)
            .service_account(SA.to_uppercase())
            .build()
            .expect("same account, different case");
        assert_eq!(imp.service_account_email(), SA);
        let err = config_error(
            base()
                .url(&url)
                .service_account("other@proj.iam.gserviceaccount.com"),
        );
        let shown = err.to_string();
        assert!(
            shown.contains(URL_FIELD) && shown.contains("other@proj"),
            "{shown}"
        );
    }

    #[test]
    fn rejects_bad_targets_naming_the_field() {
        let table: Vec<(ImpersonationBuilder, &str)> = vec![
            (base(), URL_FIELD),
            (
                base().url("https://iamcredentials.googleapis.com/v1/foo"),
                URL_FIELD,
            ),
            (
                base().url(format!(
                    "http://example.com/v1/projects/-/serviceAccounts/{SA}:generateAccessToken"
                )),
                URL_FIELD,
            ),
            (base().service_account("not-an-email"), "`service_account`"),
            (base().service_account("a@b/../c"), "`service_account`"),
            (
                base().service_account(SA).universe_domain("evil.com/x?"),
                "`universe_domain`",
            ),
            (
                Impersonation::builder()
                    .service_account(SA)
                    .http_client(wif_core::http::default_client().unwrap()),
                "`federated`",
            ),
        ];
        assert_each_names_its_field(table);
    }

    #[test]
    fn lifetime_range_is_1_to_43200_whole_seconds() {
        for secs in [1, 3600, 43_200] {
            let imp = base()
                .service_account(SA)
                .lifetime(Duration::from_secs(secs))
                .build();
            assert!(imp.is_ok(), "{secs}: {imp:?}");
        }
        for bad in [
            Duration::ZERO,
            Duration::from_secs(43_201),
            Duration::from_millis(1500),
        ] {
            let shown = config_error(base().service_account(SA).lifetime(bad)).to_string();
            assert!(shown.contains(LIFETIME_FIELD), "{bad:?}: {shown}");
        }
    }

    #[test]
    fn scopes_delegates_quota_project_and_timeout_are_checked() {
        let empty: [&str; 0] = [];
        let table: Vec<(ImpersonationBuilder, &str)> = vec![
            (base().service_account(SA).scopes(empty), "`scopes`"),
            (base().service_account(SA).scopes(["a b"]), "`scopes`"),
            (
                base().service_account(SA).delegates(["nope"]),
                "`delegates`",
            ),
            (
                base()
                    .service_account(SA)
                    .delegates(["projects/-/serviceAccounts/"]),
                "`delegates`",
            ),
            (
                base().service_account(SA).quota_project(""),
                "`quota_project_id`",
            ),
            (
                base().service_account(SA).quota_project("a\nb"),
                "`quota_project_id`",
            ),
            (
                base().service_account(SA).timeout(Duration::ZERO),
                "`timeout`",
            ),
        ];
        assert_each_names_its_field(table);
    }

    #[test]
    fn delegates_get_the_resource_prefix_once() {
        assert_eq!(
            delegate_name("d@p.iam.gserviceaccount.com".into())
                .ok()
                .as_deref(),
            Some("projects/-/serviceAccounts/d@p.iam.gserviceaccount.com")
        );
        assert_eq!(
            delegate_name("projects/-/serviceAccounts/d@p".into())
                .ok()
                .as_deref(),
            Some("projects/-/serviceAccounts/d@p")
        );
    }
}
