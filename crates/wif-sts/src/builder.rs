//! Configuring an [`StsExchange`]: every setting is checked in [`StsExchangeBuilder::build`], so
//! bad configuration fails there, naming the field, before any network call.

use std::fmt;
use std::sync::Arc;

use reqwest::header::HeaderValue;
use secrecy::SecretString;
use url::Url;
use wif_core::step_call::CallSettings;
use wif_core::{Error, SourceContext, SubjectTokenSource};

use crate::exchange::{Inner, StsExchange};
use crate::request::{FormTemplate, basic_auth, metrics_header, options_json};
use crate::{DEFAULT_TIMEOUT, DEFAULT_TOKEN_URL};

/// Builds an [`StsExchange`]. Created by [`StsExchange::builder`].
///
/// `source`, `audience` and `subject_token_type` are required; everything else has a default.
#[derive(Default)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct StsExchangeBuilder {
    source: Option<Arc<dyn SubjectTokenSource>>,
    audience: Option<String>,
    subject_token_type: Option<String>,
    token_url: Option<Endpoint>,
    scopes: Vec<String>,
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    workforce_pool_user_project: Option<String>,
    impersonation: bool,
    config_lifetime: bool,
    impersonated_email: Option<String>,
    call: CallSettings,
}

/// The STS endpoint as the caller gave it.
#[derive(Debug)]
enum Endpoint {
    /// Text, parsed by `build()`.
    Text(String),
    /// Already parsed by the caller; used as is.
    Parsed(Url),
}

impl StsExchangeBuilder {
    /// The subject-token source called before every exchange by [`wif_core::TokenProvider::token`].
    pub fn source(self, source: impl SubjectTokenSource + 'static) -> Self {
        self.source_arc(Arc::new(source))
    }

    wif_core::builder_setters! {
        /// Like [`StsExchangeBuilder::source`], for a source that is already shared.
        pub fn source_arc(source: Arc<dyn SubjectTokenSource>) => Some(source);

        /// The STS `audience`: the pool provider's full resource name,
        /// `//iam.googleapis.com/projects/<NUMBER>/locations/global/workloadIdentityPools/<POOL>/providers/<PROVIDER>`
        /// (or a workforce pool provider's). Required; sent verbatim.
        pub fn audience(audience: impl Into<String>) => Some(audience);

        /// The STS `subject_token_type`, e.g. `urn:ietf:params:aws:token-type:aws4_request` or
        /// `urn:ietf:params:oauth:token-type:jwt`. Required; sent verbatim.
        pub fn subject_token_type(subject_token_type: impl Into<String>) => Some(subject_token_type);
    }

    /// The STS endpoint. Default [`DEFAULT_TOKEN_URL`]; see [`crate::default_token_url`] for
    /// other universes. Must be `https`, except on loopback hosts (emulators and tests).
    pub fn token_url(mut self, token_url: impl Into<String>) -> Self {
        self.token_url = Some(Endpoint::Text(token_url.into()));
        self
    }

    /// Like [`token_url`](Self::token_url), for a URL already parsed — the one a trust policy
    /// vetted, say: it is used exactly as given, never parsed again from text (the `https`
    /// and no-user-info rules still apply).
    pub fn token_url_parsed(mut self, token_url: Url) -> Self {
        self.token_url = Some(Endpoint::Parsed(token_url));
        self
    }

    /// The scopes to request, sent space-separated. Empty entries are skipped; with no scopes the
    /// `scope` field is omitted.
    pub fn scopes(mut self, scopes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// OAuth client authentication (`client_id`/`client_secret` of the credential file), sent
    /// as HTTP Basic. A missing secret is sent as empty, as Python's google-auth does. An empty
    /// `client_id` means no client authentication.
    pub fn client_auth(
        mut self,
        client_id: impl Into<String>,
        client_secret: Option<SecretString>,
    ) -> Self {
        self.client_id = Some(client_id.into());
        self.client_secret = client_secret;
        self
    }

    /// The workforce pool's billing project, sent as `options={"userProject":..}` when there is
    /// no client authentication. Only valid for workforce pool audiences.
    pub fn workforce_pool_user_project(mut self, project: impl Into<String>) -> Self {
        self.workforce_pool_user_project = Some(project.into());
        self
    }

    /// What the `x-goog-api-client` metrics header reports: whether service-account
    /// impersonation follows, and whether the configuration set a token lifetime.
    pub fn metrics(mut self, impersonation: bool, config_lifetime: bool) -> Self {
        self.impersonation = impersonation;
        self.config_lifetime = config_lifetime;
        self
    }

    /// The service account that will be impersonated after the exchange. Only recorded in the
    /// [`SourceContext`] handed to the source (executable sources pass it on).
    pub fn impersonated_email(mut self, email: impl Into<String>) -> Self {
        self.impersonated_email = Some(email.into());
        self
    }

    wif_core::call_setters!();

    /// Checks the configuration and builds the exchange. Errors are [`wif_core::Step::Config`]
    /// errors naming the field.
    pub fn build(self) -> Result<StsExchange, Error> {
        let source = self
            .source
            .ok_or_else(|| Error::config("source", "a subject token source is required"))?;
        let audience = required("audience", self.audience)?;
        let subject_token_type = required("subject_token_type", self.subject_token_type)?;
        let token_url = match self.token_url {
            None => parse_token_url(DEFAULT_TOKEN_URL)?,
            Some(Endpoint::Text(raw)) => parse_token_url(&raw)?,
            Some(Endpoint::Parsed(url)) => check_token_url(url)?,
        };

        let call = self.call.resolve(DEFAULT_TIMEOUT)?;

        let client_id = self.client_id.filter(|id| !id.is_empty());
        let client_auth = match &client_id {
            None => None,
            // RFC 7617 §2: the user-id of Basic auth can't contain a colon.
            Some(id) if id.contains(':') => {
                return Err(Error::config("client_id", "must not contain ':'"));
            }
            Some(id) => Some(
                basic_auth(id, self.client_secret.as_ref())
                    .ok_or_else(|| Error::config("client_id", "can't be sent in an HTTP header"))?,
            ),
        };

        let user_project = self.workforce_pool_user_project.filter(|p| !p.is_empty());
        if user_project.is_some() && !is_workforce_audience(&audience) {
            // Same rule and wording as Go; Python raises the equivalent InvalidValue.
            return Err(Error::config(
                "workforce_pool_user_project",
                "should not be set for non-workforce pool credentials (the audience is not \
                 //iam.googleapis.com/locations/<LOCATION>/workforcePools/..)",
            ));
        }

        let scope = self
            .scopes
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");

        let metrics = metrics_header(source.kind(), self.impersonation, self.config_lifetime);
        let metrics = HeaderValue::from_str(&metrics).map_err(|_| {
            Error::config("source", "its kind() can't be sent in the metrics header")
        })?;

        let mut context = SourceContext::new(audience.clone(), subject_token_type.clone());
        if let Some(email) = self.impersonated_email.filter(|e| !e.is_empty()) {
            context = context.with_impersonated_email(email);
        }

        Ok(StsExchange::from_inner(Inner {
            what: format!("POST {}", wif_core::http::describe_url(&token_url)),
            form: FormTemplate {
                audience,
                subject_token_type,
                scope: (!scope.is_empty()).then_some(scope),
                options: options_json(user_project.as_deref(), client_id.is_some()),
            },
            token_url,
            source,
            context,
            client_id,
            client_auth,
            metrics,
            http: call.client,
            retry: call.retry,
            timeout: call.timeout,
        }))
    }
}

fn required(field: &str, value: Option<String>) -> Result<String, Error> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v),
        Some(_) => Err(Error::config(field, "must not be empty")),
        None => Err(Error::config(field, "is required")),
    }
}

/// Parses and vets the STS URL: `https`, or `http` on a loopback host only (emulators, tests).
/// User info is refused: reqwest would turn it into a second `Authorization` header.
fn parse_token_url(raw: &str) -> Result<Url, Error> {
    let url = Url::parse(raw.trim())
        .map_err(|e| Error::config("token_url", format!("is not a valid URL ({e})")))?;
    check_token_url(url)
}

/// The rules of [`parse_token_url`] for a URL parsed elsewhere.
fn check_token_url(url: Url) -> Result<Url, Error> {
    if url.host().is_none() {
        return Err(Error::config("token_url", "has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::config("token_url", "must not contain user info"));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if wif_core::http::is_loopback(&url) => Ok(url),
        "http" => Err(Error::config(
            "token_url",
            format!(
                "must use https (http is only allowed for loopback hosts): {}",
                wif_core::http::describe_url(&url)
            ),
        )),
        other => Err(Error::config(
            "token_url",
            format!("must be an https URL, not `{other}:`"),
        )),
    }
}

/// Python's anchored `^//iam\.googleapis\.com/locations/[^/]+/workforcePools/`.
fn is_workforce_audience(audience: &str) -> bool {
    audience
        .strip_prefix("//iam.googleapis.com/locations/")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(location, rest)| !location.is_empty() && rest.starts_with("workforcePools/"))
}

impl fmt::Debug for StsExchangeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StsExchangeBuilder")
            .field("source", &self.source)
            .field("audience", &self.audience)
            .field("subject_token_type", &self.subject_token_type)
            .field("token_url", &self.token_url)
            .field("scopes", &self.scopes)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[REDACTED]"),
            )
            .field(
                "workforce_pool_user_project",
                &self.workforce_pool_user_project,
            )
            .field("impersonation", &self.impersonation)
            .field("config_lifetime", &self.config_lifetime)
            .field("impersonated_email", &self.impersonated_email)
            .field("call", &self.call)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_url_rules() {
        for ok in [
            "https://sts.googleapis.com/v1/token",
            "https://sts.europe-west1.rep.googleapis.com/v1/token",
            "http://127.0.0.1:8080/v1/token",
            "http://127.0.0.2/v1/token",
            "http://[::1]:9000/v1/token",
            "http://localhost:1234/token",
            "http://LOCALHOST/token",
        ] {
            assert!(parse_token_url(ok).is_ok(), "{ok}");
        }
        for (bad, want) in [
            ("", "not a valid URL"),
            ("sts.googleapis.com/v1/token", "not a valid URL"),
            ("http://sts.googleapis.com/v1/token", "must use https"),
            ("http://10.0.0.1/v1/token", "must use https"),
            ("http://localhost.evil.example/v1/token", "must use https"),
            ("ftp://sts.googleapis.com/v1/token", "not `ftp:`"),
            ("https://user:pw@sts.googleapis.com/v1/token", "user info"),
            ("file:///etc/passwd", "no host"),
        ] {
            let e = parse_token_url(bad).expect_err(bad);
            assert!(e.is_config(), "{bad}");
            let shown = e.to_string();
            assert!(shown.contains("`token_url`"), "{bad}: {shown}");
            assert!(shown.contains(want), "{bad}: {shown}");
            assert!(!shown.contains("pw@"), "{shown}");
        }
    }

    #[test]
    fn workforce_audiences() {
        assert!(is_workforce_audience(
            "//iam.googleapis.com/locations/global/workforcePools/pool/providers/p"
        ));
        assert!(is_workforce_audience(
            "//iam.googleapis.com/locations/eu/workforcePools/pool/providers/p"
        ));
        for not in [
            "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q",
            "//iam.googleapis.com/locations//workforcePools/pool",
            "x//iam.googleapis.com/locations/global/workforcePools/pool",
            "//iam.googleapis.com/locations/global/workloadIdentityPools/pool",
        ] {
            assert!(!is_workforce_audience(not), "{not}");
        }
    }
}
