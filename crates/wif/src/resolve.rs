//! Resolving, the first half of building: builder + configuration + environment → a [`Plan`].
//!
//! One rule for every setting: what was set on the builder wins, then the configuration, then
//! the environment, then the default (the AWS region and credentials follow AWS's order
//! instead: builder, then the environment, then the metadata URLs of the configuration). Each
//! value keeps where it came from, so errors and warnings name the setting the user actually
//! used. A pure function: it reads the environment only through the builder's [`Environment`],
//! does no I/O and builds nothing. `tests/plan_table.rs` holds the rules as one table.
//!
//! What the plan must not hold (a client secret, URL-source header values, your source and
//! clients) travels beside it to the assembly, in [`Parts`].
//!
//! [`Environment`]: wif_core::Environment

use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use secrecy::SecretString;
use url::Url;
use wif_core::{
    CLOUD_PLATFORM_SCOPE, Clock, Environment, Error, SubjectTokenSource, http::is_loopback,
};
use wif_source_x509::CertificateDer;

use crate::CredentialsBuilder;
use crate::config::{DEFAULT_UNIVERSE_DOMAIN, ExternalAccountConfig, parse_audience};
use crate::plan::{
    CustomSourcePlan, HttpPlan, ImpersonationPlan, Origin, Plan, Setting, SourcePlan, TrustOutcome,
    Warning, WarningKind,
};
use crate::trust::{Checked, Used};

mod source;

/// The plan, and what assembly needs beside it that a plan must not show.
pub(crate) struct Resolved {
    pub(crate) plan: Plan,
    pub(crate) parts: Parts,
}

/// Secrets and live objects: assembly takes every *setting* from the plan, and only these from
/// here.
pub(crate) struct Parts {
    /// Your own source (the plan says [`SourcePlan::Custom`]).
    pub(crate) source: Option<Arc<dyn SubjectTokenSource>>,
    pub(crate) client_secret: Option<SecretString>,
    /// URL-source headers, values included.
    pub(crate) url_headers: Vec<(String, String)>,
    pub(crate) http_client: Option<reqwest::Client>,
    pub(crate) extra_roots: Vec<CertificateDer<'static>>,
    pub(crate) aws_provider: Option<SharedCredentialsProvider>,
    pub(crate) environment: Arc<dyn Environment>,
    pub(crate) clock: Option<Arc<dyn Clock>>,
}

/// The effective value: the builder's, else the configuration's, else none.
fn first<T>(
    builder: Option<Setting<T>>,
    config: impl FnOnce() -> Option<Setting<T>>,
) -> Option<Setting<T>> {
    builder.or_else(config)
}

fn built<T: Clone>(value: &Option<T>, method: &'static str) -> Option<Setting<T>> {
    value
        .as_ref()
        .map(|v| Setting::new(v.clone(), Origin::Builder(method)))
}

fn configured<T>(
    cfg: Option<&ExternalAccountConfig>,
    field: &'static str,
    get: impl FnOnce(&ExternalAccountConfig) -> Option<T>,
) -> Option<Setting<T>> {
    cfg.and_then(get)
        .map(|v| Setting::new(v, Origin::Config(field)))
}

/// A URL setting, parsed; an error names the setting as the user set it.
fn parse_url(setting: &Setting<String>, fallback: &'static str) -> Result<Setting<Url>, Error> {
    let url = Url::parse(setting.value.trim()).map_err(|e| {
        Error::config(
            &setting.origin.setting(fallback),
            format!("is not a valid absolute URL ({e})"),
        )
    })?;
    Ok(Setting::new(url, setting.origin))
}

pub(crate) fn resolve(b: &CredentialsBuilder) -> Result<Resolved, Error> {
    let cfg = b.config.as_ref();
    if b.impersonate_email.is_some() && b.impersonation_url.is_some() {
        return Err(Error::config(
            "impersonation_url",
            "both .impersonate(email) and .impersonation_url(url) were given; give one \
             (impersonate() follows the universe and endpoint_base_url, \
             impersonation_url() is used as written)",
        ));
    }
    let endpoint_base = endpoint_base(b)?;
    let (trust, checked) = check_universe_and_trust(b)?;
    let mut warnings: Vec<Warning> = cfg.map(|c| c.warnings().to_vec()).unwrap_or_default();

    let universe = first(built(&b.universe_domain, "universe_domain"), || {
        cfg.map(|c| {
            let defaulted =
                c.notes().default_universe && c.universe_domain == DEFAULT_UNIVERSE_DOMAIN;
            let origin = if defaulted {
                Origin::Default
            } else {
                Origin::Config("universe_domain")
            };
            Setting::new(c.universe_domain.clone(), origin)
        })
    })
    .unwrap_or_else(|| Setting::new(DEFAULT_UNIVERSE_DOMAIN.to_owned(), Origin::Default));

    let audience = first(built(&b.audience, "audience"), || {
        configured(cfg, "audience", |c| Some(c.audience.clone()))
    })
    .ok_or_else(|| {
        Error::config(
            "audience",
            "is required (the workload identity pool provider's resource name)",
        )
    })?;
    let setting = audience.origin.setting("audience");
    warnings.extend(
        parse_audience(&audience.value)
            .warnings
            .into_iter()
            .map(|w| Warning::new(WarningKind::Suspicious, setting.clone(), w)),
    );

    let subject_token_type = first(built(&b.subject_token_type, "subject_token_type"), || {
        configured(cfg, "subject_token_type", |c| {
            Some(c.subject_token_type.clone())
        })
    })
    .ok_or_else(|| Error::config("subject_token_type", "is required"))?;

    let source = match (&b.source, cfg) {
        (Some(s), _) => Setting::new(
            SourcePlan::Custom(CustomSourcePlan {
                kind: s.kind().to_owned(),
            }),
            Origin::Builder("source"),
        ),
        (None, Some(c)) => Setting::new(
            source::plan(c, b, checked.source_url.clone(), &mut warnings)?,
            Origin::Config("credential_source"),
        ),
        (None, None) => {
            return Err(Error::config(
                "credential_source",
                "no subject token source: give a configuration file or call `.source(...)`",
            ));
        }
    };
    let certificate_source = matches!(source.value, SourcePlan::Certificate(_));

    let token_url = checked_as(
        token_url(
            b,
            cfg,
            &universe.value,
            certificate_source,
            endpoint_base.as_ref(),
        )?,
        checked.token_url,
    );
    warn_if_outside_universe(&token_url, &universe.value, &mut warnings);

    let scopes = match &b.scopes {
        Some(s) if !s.is_empty() => Setting::new(s.clone(), Origin::Builder("scopes")),
        other => {
            if other.is_some() {
                warnings.push(Warning::new(
                    WarningKind::Ignored,
                    "CredentialsBuilder::scopes",
                    "no scope given: the default cloud-platform is used",
                ));
            }
            Setting::new(vec![CLOUD_PLATFORM_SCOPE.to_owned()], Origin::Default)
        }
    };

    let mut impersonation = impersonation(b, cfg, &universe.value, endpoint_base.as_ref())?;
    if let Some(i) = &mut impersonation {
        i.url = checked_as(i.url.clone(), checked.impersonation_url);
    }
    if impersonation.is_none()
        && let Some(lifetime) = lifetime(b, cfg)
    {
        warnings.push(Warning::new(
            WarningKind::Ignored,
            lifetime.origin.setting("token_lifetime"),
            "ignored: the chain does not impersonate a service account",
        ));
    }
    // With impersonation, the federated token only has to call IAM Credentials; we ask STS for
    // cloud-platform (as Go's x/oauth2 does), which covers generateAccessToken.
    let sts_scopes = match &impersonation {
        Some(_) => Setting::new(
            vec![CLOUD_PLATFORM_SCOPE.to_owned()],
            Origin::Rule(
                "with impersonation, STS is asked for cloud-platform, which covers IAM Credentials",
            ),
        ),
        None => scopes.clone(),
    };

    let quota_project = first(built(&b.quota_project, "quota_project"), || {
        configured(cfg, "quota_project_id", |c| c.quota_project_id.clone())
    })
    .or_else(|| {
        b.environment
            .non_empty_var("GOOGLE_CLOUD_QUOTA_PROJECT")
            .map(|v| Setting::new(v, Origin::Environment("GOOGLE_CLOUD_QUOTA_PROJECT")))
    });
    let (client_id, client_secret) = match (&b.client_auth, cfg) {
        (Some((id, secret)), _) => (
            Some(Setting::new(id.clone(), Origin::Builder("client_auth"))),
            secret.clone(),
        ),
        (None, Some(c)) => match &c.client_id {
            Some(id) => (
                Some(Setting::new(id.clone(), Origin::Config("client_id"))),
                c.client_secret.clone(),
            ),
            None => (None, None),
        },
        (None, None) => (None, None),
    };
    let workforce_pool_user_project = first(
        built(
            &b.workforce_pool_user_project,
            "workforce_pool_user_project",
        ),
        || {
            configured(cfg, "workforce_pool_user_project", |c| {
                c.workforce_pool_user_project.clone()
            })
        },
    );

    let extra_roots = extra_roots(&b.root_certificates)?;
    let http = HttpPlan {
        client: match b.http_client {
            Some(_) => Origin::Builder("http_client"),
            None => Origin::Default,
        },
        extra_root_certificates: extra_roots.len(),
        mtls: certificate_source,
    };
    let url_headers = match cfg.map(|c| &c.credential_source) {
        Some(crate::CredentialSource::Url(u)) if b.source.is_none() => u.headers.clone(),
        _ => Vec::new(),
    };
    let plan = Plan {
        configuration: b.config_from.clone(),
        universe_domain: universe,
        endpoint_base_url: endpoint_base,
        audience,
        subject_token_type,
        token_url,
        scopes,
        sts_scopes,
        impersonation,
        quota_project,
        client_secret_set: client_id.is_some() && client_secret.is_some(),
        client_id,
        workforce_pool_user_project,
        trust,
        http,
        retry: b
            .retry
            .map(|r| Setting::new(r, Origin::Builder("retry_policy")))
            .unwrap_or_else(|| Setting::new(Default::default(), Origin::Default)),
        cache: b
            .cache
            .map(|c| Setting::new(c, Origin::Builder("cache_options")))
            .unwrap_or_else(|| Setting::new(Default::default(), Origin::Default)),
        chain_deadline: b
            .chain_deadline
            .map(|d| Setting::new(d, Origin::Builder("chain_deadline")))
            .unwrap_or_else(|| Setting::new(wif_core::DEFAULT_CHAIN_DEADLINE, Origin::Default)),
        source,
        warnings,
    };
    Ok(Resolved {
        plan,
        parts: Parts {
            source: b.source.clone(),
            client_secret,
            url_headers,
            http_client: b.http_client.clone(),
            extra_roots,
            aws_provider: b.aws_provider.clone(),
            environment: b.environment.clone(),
            clock: b.clock.clone(),
        },
    })
}

/// The URL a trust policy checked, when it is the one the plan uses: what was checked is what
/// is handed onward, parsed once.
fn checked_as(url: Setting<Url>, checked: Option<Url>) -> Setting<Url> {
    match checked {
        Some(checked) if checked.as_str() == url.value.as_str() => {
            Setting::new(checked, url.origin)
        }
        _ => url,
    }
}

/// The endpoint override: the builder's, else `WIF_ENDPOINT_BASE_URL` (checked: `https`, or
/// `http` to this machine).
fn endpoint_base(b: &CredentialsBuilder) -> Result<Option<Setting<Url>>, Error> {
    let explicit = b.endpoint_base_url.as_deref();
    let origin = match explicit {
        Some(_) => Origin::Builder("endpoint_base_url"),
        None => Origin::Environment(crate::ENDPOINT_BASE_URL_VAR),
    };
    Ok(crate::endpoints::resolve(explicit, &*b.environment)?.map(|url| Setting::new(url, origin)))
}

/// `url` moved under the endpoint override, unless it is a URL set on the builder (yours, kept
/// as given): the moved URL's origin is the override's.
fn moved(url: Setting<String>, endpoint_base: Option<&Setting<Url>>) -> Setting<String> {
    let explicit = matches!(
        url.origin,
        Origin::Builder("token_url" | "impersonation_url")
    );
    match endpoint_base {
        Some(base) if !explicit => Setting::new(
            crate::endpoints::rebase(&base.value, &url.value),
            base.origin,
        ),
        _ => url,
    }
}

/// The STS endpoint. A certificate source calls the universe's mTLS twin `sts.mtls.{universe}`
/// (the only one that asks for a client certificate) in place of the default endpoint, unless
/// the endpoint was set on the builder; any other configured endpoint (gcloud writes the mTLS
/// one) is kept. The endpoint override then moves it, unless set on the builder.
fn token_url(
    b: &CredentialsBuilder,
    cfg: Option<&ExternalAccountConfig>,
    universe: &str,
    certificate_source: bool,
    endpoint_base: Option<&Setting<Url>>,
) -> Result<Setting<Url>, Error> {
    let default = wif_sts::default_token_url(universe);
    let mut url = first(built(&b.token_url, "token_url"), || {
        cfg.map(|c| {
            let origin = if c.notes().default_token_url.as_ref() == Some(&c.token_url) {
                Origin::Default
            } else {
                Origin::Config("token_url")
            };
            Setting::new(c.token_url.clone(), origin)
        })
    })
    .unwrap_or_else(|| Setting::new(default.clone(), Origin::Default));
    if certificate_source && !matches!(url.origin, Origin::Builder(_)) && url.value == default {
        url = Setting::new(
            wif_source_x509::mtls_token_url(universe),
            Origin::Rule("a certificate source calls the universe's mTLS STS endpoint"),
        );
    }
    parse_url(&moved(url, endpoint_base), "token_url")
}

/// A subject token sent to a host outside the universe is worth a second look (the trust
/// policy refuses it for configurations from elsewhere).
fn warn_if_outside_universe(url: &Setting<Url>, universe: &str, warnings: &mut Vec<Warning>) {
    let Some(host) = url.value.host_str() else {
        return;
    };
    if is_loopback(&url.value) || host.eq_ignore_ascii_case(universe) {
        return;
    }
    let suffix = format!(".{}", universe.to_ascii_lowercase());
    if !host.to_ascii_lowercase().ends_with(&suffix) {
        warnings.push(Warning::new(
            WarningKind::Suspicious,
            url.origin.setting("token_url"),
            format!("host {host} is not in universe {universe}: the subject token is sent there"),
        ));
    }
}

/// The impersonation URL: the builder's URL, or the builder's service account in the universe,
/// else the configuration's; the last two moved by the endpoint override. The service account
/// is read from it strictly (an email).
fn impersonation(
    b: &CredentialsBuilder,
    cfg: Option<&ExternalAccountConfig>,
    universe: &str,
    endpoint_base: Option<&Setting<Url>>,
) -> Result<Option<ImpersonationPlan>, Error> {
    let url = match (&b.impersonation_url, &b.impersonate_email) {
        (Some(url), _) => Setting::new(url.clone(), Origin::Builder("impersonation_url")),
        (None, Some(email)) => {
            if !is_service_account(email) {
                return Err(Error::config(
                    &Origin::Builder("impersonate").setting("impersonate"),
                    format!(
                        "{:?} is not a service account email (NAME@PROJECT_ID.iam.gserviceaccount.com)",
                        clip(email)
                    ),
                ));
            }
            Setting::new(
                wif_impersonate::default_impersonation_url(universe, email),
                Origin::Builder("impersonate"),
            )
        }
        (None, None) => match configured(cfg, "service_account_impersonation_url", |c| {
            c.service_account_impersonation_url.clone()
        }) {
            Some(url) => url,
            None => return Ok(None),
        },
    };
    let service_account = wif_impersonate::email_from_url(&url.value).ok_or_else(|| {
        Error::config(
            &url.origin.setting("service_account_impersonation_url"),
            "no service account email found before `:generateAccessToken`",
        )
    })?;
    let url = parse_url(
        &moved(url, endpoint_base),
        "service_account_impersonation_url",
    )?;
    let lifetime = lifetime(b, cfg)
        .unwrap_or_else(|| Setting::new(wif_impersonate::DEFAULT_LIFETIME, Origin::Default));
    Ok(Some(ImpersonationPlan {
        url,
        service_account,
        lifetime,
    }))
}

/// An email that survives being put into the default impersonation URL and read back.
fn is_service_account(email: &str) -> bool {
    let url = wif_impersonate::default_impersonation_url(DEFAULT_UNIVERSE_DOMAIN, email);
    wif_impersonate::email_from_url(&url).as_deref() == Some(email)
}

/// A value for an error message: what the user typed, within reason.
fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

/// The lifetime set on the builder or in the configuration (`None`: the default).
fn lifetime(
    b: &CredentialsBuilder,
    cfg: Option<&ExternalAccountConfig>,
) -> Option<Setting<Duration>> {
    first(built(&b.lifetime, "token_lifetime"), || {
        configured(
            cfg,
            "service_account_impersonation.token_lifetime_seconds",
            |c| {
                c.token_lifetime_seconds
                    .filter(|s| *s > 0)
                    .map(|s| Duration::from_secs(u64::from(s)))
            },
        )
    })
}

/// The certificates of every `add_root_certificates_pem` bundle; a bundle without any is an
/// error (it is surely the wrong file).
fn extra_roots(bundles: &[Vec<u8>]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let mut roots = Vec::new();
    for pem in bundles {
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

/// The explicit universe must be a domain and agree with the configuration's (a token for one
/// universe is useless in another, and the configuration's default `token_url` was derived from
/// its own universe); then the trust policy, if any, checks the configuration.
fn check_universe_and_trust(b: &CredentialsBuilder) -> Result<(TrustOutcome, Checked), Error> {
    if let Some(domain) = &b.universe_domain {
        if !crate::config::is_domain(domain) {
            return Err(Error::config(
                "universe_domain",
                "is not a domain name (e.g. \"googleapis.com\")",
            ));
        }
        if let Some(cfg) = &b.config
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
    let Some(policy) = &b.trust_policy else {
        return Ok((TrustOutcome::Trusted, Checked::default()));
    };
    let Some(cfg) = &b.config else {
        return Ok((TrustOutcome::NothingToCheck, Checked::default()));
    };
    if let Some(refusal) = &b.config_text_refusal {
        return Err(refusal.clone());
    }
    let mut policy = policy.clone();
    if let Some(domain) = &b.universe_domain {
        policy = policy.allow_universe_domain(domain.clone());
    }
    let used = Used {
        token_url: b.token_url.is_none(),
        impersonation: b.impersonation_url.is_none() && b.impersonate_email.is_none(),
        source: b.source.is_none(),
    };
    let checked = policy.check_used(cfg, used)?;
    let exempt = [
        (used.token_url, "token_url"),
        (used.impersonation, "service_account_impersonation_url"),
        (used.source, "credential_source"),
    ]
    .into_iter()
    .filter(|(checked, _)| !checked)
    .map(|(_, field)| field)
    .collect();
    Ok((TrustOutcome::Accepted { exempt }, checked))
}
