//! Assembly, the second half of building: a resolved [`Plan`] → the layers of a [`Chain`] (HTTP
//! clients, source, STS exchange, impersonation). Every setting comes from the plan; from
//! [`Parts`] only what a plan must not hold (secrets, your source and clients). Nothing here
//! decides a value, so what the plan says is what runs. No network I/O (a certificate source's
//! mTLS client reads the certificate files).

use std::sync::Arc;

use wif_core::http::Resolver;
use wif_core::{Error, ErrorKind, Step, SubjectTokenSource, TokenCache};
use wif_impersonate::Impersonation;
use wif_source_aws::AwsSource;
use wif_source_exec::ExecutableSource;
use wif_source_file::FileSource;
use wif_source_url::UrlSource;
use wif_source_x509::{CertificateConfigLocation, X509Source};
use wif_sts::StsExchange;

use crate::plan::{AwsRegionPlan, AwsSourcePlan, CertificateSourcePlan, Origin, Plan, SourcePlan};
use crate::resolve::{Parts, Resolved};
use crate::{Chain, CredentialsInfo};

/// The HTTP clients of a chain: `general` for the source, `exchange` for STS and IAM
/// Credentials (the same client, unless a certificate source calls them over mTLS), and their
/// resolver when the chain built them (`None` with a client given to the builder).
struct Clients {
    general: reqwest::Client,
    exchange: reqwest::Client,
    resolver: Option<Resolver>,
}

pub(crate) fn assemble(resolved: Resolved) -> Result<Chain, Error> {
    let Resolved { plan, parts } = resolved;
    for warning in &plan.warnings {
        tracing::warn!(setting = %warning.setting, "{}", warning.message);
    }
    let x509 = match &plan.source.value {
        SourcePlan::Certificate(c) => Some(certificate_source(c, &parts)),
        _ => None,
    };
    let clients = clients(&parts, x509.as_ref())?;
    let (source, aws) = source(&plan, &parts, &clients, x509)?;
    let exchange = Arc::new(exchange(&plan, &parts, source.clone(), &clients)?);
    let impersonation = impersonation(&plan, &exchange, &clients)?;
    let prefetch = clients
        .resolver
        .clone()
        .map(|resolver| (resolver, hosts(&plan)));
    Ok(Chain {
        info: info(&plan),
        prefetch,
        source,
        aws,
        http: clients.general,
        exchange,
        impersonation,
        cache: plan.cache.value,
        deadline: plan.chain_deadline.value,
        plan,
    })
}

fn internal(what: &str, e: reqwest::Error) -> Error {
    Error::new(Step::Config, ErrorKind::Internal, what.to_owned()).with_source(e)
}

fn clients(parts: &Parts, x509: Option<&X509Source>) -> Result<Clients, Error> {
    // The clients the chain builds share one resolver, which can look up every host at once.
    let resolver = parts.http_client.is_none().then(Resolver::new);
    let dns = |builder: reqwest::ClientBuilder| match &resolver {
        Some(r) => builder.dns_resolver(Arc::new(r.clone())),
        None => builder,
    };
    let general = match &parts.http_client {
        Some(c) => c.clone(),
        None => wif_core::http::build_client(dns(wif_core::http::client_builder_with_roots(
            &parts.extra_roots,
        )?))?,
    };
    // A certificate source's client presents the workload certificate (Python sends it on the
    // STS and the impersonation calls alike).
    let exchange = match x509 {
        Some(x) => dns(x.mtls_client_builder(&parts.extra_roots)?)
            .build()
            .map_err(|e| internal("could not build the mTLS HTTP client", e))?,
        None => general.clone(),
    };
    Ok(Clients {
        general,
        exchange,
        resolver,
    })
}

/// The hosts a run of the chain calls by name: a URL source's, STS, IAM Credentials.
fn hosts(plan: &Plan) -> Vec<String> {
    let mut urls: Vec<&url::Url> = Vec::new();
    if let SourcePlan::Url(u) = &plan.source.value {
        urls.push(&u.url);
    }
    urls.push(&plan.token_url.value);
    if let Some(i) = &plan.impersonation {
        urls.push(&i.url.value);
    }
    let mut hosts: Vec<String> = Vec::new();
    for host in urls.into_iter().filter_map(|u| u.host_str()) {
        if !hosts.iter().any(|h| h == host) {
            hosts.push(host.to_owned());
        }
    }
    hosts
}

/// A certificate source is kept concrete: the exchange's client presents its certificate.
fn certificate_source(c: &CertificateSourcePlan, parts: &Parts) -> X509Source {
    let location = match &c.certificate_config {
        Some(path) => CertificateConfigLocation::Path(path.clone()),
        None => CertificateConfigLocation::Default,
    };
    let mut source = X509Source::new(location).with_environment(parts.environment.clone());
    if let Some(chain) = &c.trust_chain {
        source = source.with_trust_chain(chain);
    }
    source
}

type Source = (Arc<dyn SubjectTokenSource>, Option<AwsSource>);

fn source(
    plan: &Plan,
    parts: &Parts,
    clients: &Clients,
    x509: Option<X509Source>,
) -> Result<Source, Error> {
    let env = &parts.environment;
    let source: Arc<dyn SubjectTokenSource> = match (&plan.source.value, &parts.source, x509) {
        (SourcePlan::Custom(_), Some(custom), _) => custom.clone(),
        (SourcePlan::Certificate(_), _, Some(x)) => Arc::new(x),
        (SourcePlan::File(f), _, _) => Arc::new(FileSource::new(f.path.clone(), f.format.clone())),
        (SourcePlan::Url(u), _, _) => Arc::new(
            UrlSource::from_url(u.url.clone(), u.format.clone())?
                .with_headers(parts.url_headers.clone())?
                .with_http_client(clients.general.clone()),
        ),
        (SourcePlan::Aws(a), _, _) => {
            let aws = aws_source(a, parts)?;
            return Ok((Arc::new(aws.clone()), Some(aws)));
        }
        (SourcePlan::Executable(e), _, _) => {
            // Building needs no permission; GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES is checked
            // (through the same environment) each time the source runs, as Python does.
            let mut b = ExecutableSource::builder()
                .command(&e.command)
                .timeout(e.timeout.value)
                .environment(env.clone());
            if let Some(o) = &e.output_file {
                b = b.output_file(o);
            }
            if let Some(i) = e.interactive_timeout {
                b = b.interactive_timeout(i);
            }
            if let Some(clock) = &parts.clock {
                b = b.clock(clock.clone());
            }
            Arc::new(b.build()?)
        }
        _ => {
            return Err(Error::new(
                Step::Config,
                ErrorKind::Internal,
                "the plan's source does not match what the builder was given",
            ));
        }
    };
    Ok((source, None))
}

/// The AWS source builds its own metadata client on purpose: IMDS needs ~1 s timeouts and no
/// proxy, unlike the STS client. It reads the environment's region and credentials itself, on
/// every refresh; only what the builder set is handed over.
fn aws_source(a: &AwsSourcePlan, parts: &Parts) -> Result<AwsSource, Error> {
    let mut b = AwsSource::builder()
        .environment_id(&a.environment_id)
        .regional_cred_verification_url(&a.regional_cred_verification_url.value)
        .subject_token_type(wif_source_aws::AWS_SUBJECT_TOKEN_TYPE)
        .environment(parts.environment.clone());
    if let Some(u) = &a.region_url {
        b = b.region_url(u.as_str());
    }
    if let Some(u) = &a.credentials_url {
        b = b.credentials_url(u.as_str());
    }
    if let Some(u) = &a.imdsv2_session_token_url {
        b = b.imdsv2_session_token_url(u.as_str());
    }
    if let AwsRegionPlan::Known(region) = &a.region
        && matches!(region.origin, Origin::Builder(_))
    {
        b = b.region(region.value.clone());
    }
    if let Some(p) = &parts.aws_provider {
        b = b.credentials_provider(p.clone());
    }
    if let Some(clock) = &parts.clock {
        b = b.clock(clock.clone());
    }
    b.build()
}

fn exchange(
    plan: &Plan,
    parts: &Parts,
    source: Arc<dyn SubjectTokenSource>,
    clients: &Clients,
) -> Result<StsExchange, Error> {
    let impersonation = plan.impersonation.as_ref();
    let configured_lifetime =
        impersonation.is_some_and(|i| !matches!(i.lifetime.origin, Origin::Default));
    let mut sts = StsExchange::builder()
        .source_arc(source)
        .audience(plan.audience.value.clone())
        .subject_token_type(plan.subject_token_type.value.clone())
        .token_url_parsed(plan.token_url.value.clone())
        .scopes(plan.sts_scopes.value.clone())
        .metrics(impersonation.is_some(), configured_lifetime)
        .http_client(clients.exchange.clone())
        .retry_policy(plan.retry.value);
    if let Some(id) = &plan.client_id {
        sts = sts.client_auth(id.value.clone(), parts.client_secret.clone());
    }
    if let Some(p) = &plan.workforce_pool_user_project {
        sts = sts.workforce_pool_user_project(p.value.clone());
    }
    if let Some(i) = impersonation {
        sts = sts.impersonated_email(i.service_account.clone());
    }
    sts.build()
}

fn impersonation(
    plan: &Plan,
    exchange: &Arc<StsExchange>,
    clients: &Clients,
) -> Result<Option<Impersonation>, Error> {
    let Some(i) = &plan.impersonation else {
        return Ok(None);
    };
    // The federated token is cached on its own: a second impersonation within its life costs one
    // IAM call, not an STS exchange too.
    let federated = TokenCache::with_options(exchange.clone(), plan.cache.value);
    // Another host than STS (as at Google): its handshakes can overlap the exchange.
    let sts = &plan.token_url.value;
    let other_host = i.url.value.origin() != sts.origin();
    let mut imp = Impersonation::builder()
        .federated(federated)
        .connect_ahead(other_host)
        .url_parsed(i.url.value.clone())
        .universe_domain(plan.universe_domain.value.clone())
        .scopes(plan.scopes.value.clone())
        .lifetime(i.lifetime.value)
        .http_client(clients.exchange.clone())
        .retry_policy(plan.retry.value);
    if let Some(q) = &plan.quota_project {
        imp = imp.quota_project(q.value.clone());
    }
    imp.build().map(Some)
}

fn info(plan: &Plan) -> CredentialsInfo {
    let imp = plan.impersonation.as_ref();
    CredentialsInfo {
        source_kind: plan.source_kind().to_owned(),
        audience: Some(plan.audience.value.clone()),
        subject_token_type: Some(plan.subject_token_type.value.clone()),
        // The URLs as the layers contact them (parsed), not as written.
        token_url: Some(plan.token_url.value.to_string()),
        impersonated_service_account: imp.map(|i| i.service_account.clone()),
        impersonation_url: imp.map(|i| i.url.value.to_string()),
        scopes: plan.scopes.value.clone(),
        quota_project_id: plan.quota_project.as_ref().map(|q| q.value.clone()),
        universe_domain: plan.universe_domain.value.clone(),
        warnings: plan.warnings.clone(),
        endpoint_base_url: plan
            .endpoint_base_url
            .as_ref()
            .map(|b| b.value.as_str().trim_end_matches('/').to_owned()),
    }
}
