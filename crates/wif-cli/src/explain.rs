//! `wif explain`: walks the whole chain once, step by step — configuration, subject token,
//! STS exchange, impersonation, token — and says for each what it used, what it proved, how
//! long it took and how it ended; on failure, the named cause and the fix
//! ([`diagnose`]; every cause is in docs/troubleshooting.md, the chain in docs/flow.md).
//!
//! Unlike `wif token`, the chain is run one step at a time so each can be timed and shown on
//! its own, with the very layers `wif token` uses (`CredentialsBuilder::build_chain`): the
//! exchange gets the subject token we looked at, and impersonation the federated token of that
//! exchange. The AWS source is the exception: it is built here from the configuration so that
//! `resolve()` can tell where region and credentials came from, and signs with this walk's
//! clock (`--clock-offset`). Nothing is cached.
//!
//! Options beyond `--credentials` and `--format`:
//! * `--call-aws` sends the signed `GetCallerIdentity` request to AWS STS (the URL it was signed
//!   for, or `--aws-sts-endpoint` / `WIF_AWS_STS_ENDPOINT`, e.g. the emulator's `/aws/sts`) to
//!   show the ARN Google will see and check it against the 127-byte `google.subject` limit.
//! * `--clock-offset SECONDS` (hidden) pretends this machine's clock is off by that much: AWS
//!   requests are signed at the shifted time and the skew is measured from it. It exists so the
//!   clock-skew diagnosis can be tested against the emulator, which keeps real time; tests use it
//!   rather than faking the emulator's clock.
//!
//! The report goes to stdout. When the chain fails, the failing step's error also goes to stderr
//! and the exit status is that of `wif token` (2 for configuration, 1 for the chain).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use wif::config::ExternalAccountConfig;
use wif::layers::core::Clock;
use wif::{Chain, Credentials, Environment, Error, ErrorKind, OsEnvironment, Step, SubjectToken};

mod diagnose;
mod google;
mod report;
mod source;

use diagnose::Known;
use report::{Redactor, Report, StepId, StepReport};

/// `wif explain` options.
#[derive(clap::Args, Debug)]
pub(crate) struct ExplainArgs {
    #[command(flatten)]
    common: crate::Common,
    /// AWS sources: send the signed GetCallerIdentity request to AWS STS to show the caller's
    /// ARN, account and the assumed-role session ARN Google will see.
    #[arg(long)]
    call_aws: bool,
    /// Where --call-aws sends the request instead of the AWS STS URL it was signed for (a stand-in
    /// such as the emulator's http://127.0.0.1:PORT/aws/sts).
    #[arg(long, env = "WIF_AWS_STS_ENDPOINT", value_name = "URL")]
    aws_sts_endpoint: Option<String>,
    /// Testing aid: act as if this machine's clock were off by SECONDS (negative: behind).
    #[arg(
        long,
        hide = true,
        allow_negative_numbers = true,
        value_name = "SECONDS"
    )]
    clock_offset: Option<i64>,
}

/// Runs the walk, writes the report to `out`, and returns the first failure.
pub(crate) async fn run(args: ExplainArgs, out: &mut dyn Write) -> Result<(), Error> {
    let format = args.common.format;
    let (http, ca_certs) = http_client(&args.common)?;
    let mut walk = Walk {
        env: Arc::new(OsEnvironment),
        clock: Arc::new(OffsetClock(args.clock_offset.unwrap_or(0))),
        http,
        ca_certs,
        chain: None,
        args,
        known: Known::default(),
        redactor: Redactor::default(),
        steps: StepId::ALL.map(StepReport::new),
        credentials_shown: None,
    };
    let result = walk.run().await;
    let report = Report::new(walk.credentials_shown.take(), walk.steps.to_vec());
    let text = match format {
        crate::Format::Text => report.text(),
        crate::Format::Json => report.json() + "\n",
    };
    let text = walk.redactor.scrub(text);
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| {
            Error::new(
                Step::Config,
                ErrorKind::Io,
                "could not write the report to stdout",
            )
            .with_source(e)
        })?;
    result
}

/// The default client, also trusting `--ca-certs` (as `wif token` does), and the PEM it read.
fn http_client(common: &crate::Common) -> Result<(reqwest::Client, Option<Vec<u8>>), Error> {
    let Some(path) = &common.ca_certs else {
        return Ok((wif::layers::core::http::default_client()?, None));
    };
    let problem = |what: String| Error::new(Step::Config, ErrorKind::InvalidConfig, what);
    let pem = crate::read_ca_certs(path)?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|_| {
        problem(format!(
            "--ca-certs {}: not a PEM certificate bundle",
            path.display()
        ))
    })?;
    let mut builder = wif::layers::core::http::client_builder();
    for cert in certs {
        builder = builder.add_root_certificate(cert);
    }
    let client = builder
        .build()
        .map_err(|e| problem("could not build the HTTP client".to_owned()).with_source(e))?;
    Ok((client, Some(pem)))
}

/// The system clock shifted by a fixed offset (see `--clock-offset`).
#[derive(Clone, Copy, Debug)]
struct OffsetClock(i64);

impl Clock for OffsetClock {
    fn now(&self) -> SystemTime {
        let now = SystemTime::now();
        let by = Duration::from_secs(self.0.unsigned_abs());
        let shifted = if self.0 >= 0 {
            now.checked_add(by)
        } else {
            now.checked_sub(by)
        };
        shifted.unwrap_or(now)
    }
}

/// One run of the walk: what it uses, what it learned, and the five step reports.
struct Walk {
    args: ExplainArgs,
    env: Arc<dyn Environment>,
    clock: Arc<OffsetClock>,
    http: reqwest::Client,
    /// `--ca-certs`, for the chain's own clients (the mTLS one of a certificate source).
    ca_certs: Option<Vec<u8>>,
    /// The facade's layers for this configuration, assembled at the first step that needs them.
    chain: Option<Arc<Chain>>,
    known: Known,
    redactor: Redactor,
    steps: [StepReport; 5],
    credentials_shown: Option<String>,
}

impl Walk {
    /// The layers `wif token` would use for `cfg` (`CredentialsBuilder::build_chain`), with this
    /// walk's environment and HTTP client: the steps below call them one at a time.
    fn chain(&mut self, cfg: &ExternalAccountConfig) -> Result<Arc<Chain>, Error> {
        if let Some(chain) = &self.chain {
            return Ok(chain.clone());
        }
        let mut builder = Credentials::builder()
            .config(cfg.clone())
            .environment(self.env.clone())
            .http_client(self.http.clone());
        if let Some(pem) = &self.ca_certs {
            builder = builder.add_root_certificates_pem(pem.clone());
        }
        let chain = Arc::new(builder.build_chain()?);
        self.chain = Some(chain.clone());
        Ok(chain)
    }

    fn step(&mut self, id: StepId) -> &mut StepReport {
        let i = StepId::ALL.iter().position(|s| *s == id).unwrap_or(0);
        &mut self.steps[i]
    }

    async fn run(&mut self) -> Result<(), Error> {
        let config = match self.config_step() {
            Ok(config) => config,
            Err(e) => return Err(self.skip_after(StepId::Config, e)),
        };
        let subject = match self.source_step(&config).await {
            Ok(subject) => subject,
            Err(e) => return Err(self.skip_after(StepId::Source, e)),
        };
        let federated = match self.exchange_step(&config, &subject).await {
            Ok(token) => token,
            Err(e) => return Err(self.skip_after(StepId::Exchange, e)),
        };
        let token = match self.impersonation_step(&config, federated).await {
            Ok(token) => token,
            Err(e) => return Err(self.skip_after(StepId::Impersonation, e)),
        };
        self.token_step(&config, &token);
        Ok(())
    }

    /// Marks every step after `failed` as skipped; returns the error for the exit status.
    fn skip_after(&mut self, failed: StepId, err: Error) -> Error {
        let after = StepId::ALL.iter().skip_while(|s| **s != failed).skip(1);
        let n = StepId::ALL
            .iter()
            .position(|s| *s == failed)
            .map_or(0, |i| i + 1);
        for id in after.copied().collect::<Vec<_>>() {
            self.step(id).skipped(format!("not run: step {n} failed"));
        }
        err
    }

    /// Step 1: find, read and parse the configuration, and say what it means.
    fn config_step(&mut self) -> Result<ExternalAccountConfig, Error> {
        let started = Instant::now();
        let result = self.load_config();
        let step = self.step(StepId::Config);
        step.took(started.elapsed());
        match result {
            Ok((config, path, found_by)) => {
                step.fact("file", "file", path.display().to_string());
                step.fact("found_by", "found by", found_by);
                self.credentials_shown = Some(path.display().to_string());
                self.describe_config(&config);
                Ok(config)
            }
            Err(e) => {
                step.fail(&e);
                step.diagnose(diagnose::config_failure(&e));
                Err(e)
            }
        }
    }

    fn load_config(&self) -> Result<(ExternalAccountConfig, PathBuf, &'static str), Error> {
        let (path, found_by) = match &self.args.common.credentials {
            Some(p) => (p.clone(), "--credentials"),
            None => match wif::adc::find_credentials_file(&*self.env)? {
                Some(p)
                    if self
                        .env
                        .var("GOOGLE_APPLICATION_CREDENTIALS")
                        .is_some_and(|v| !v.is_empty()) =>
                {
                    (p, "GOOGLE_APPLICATION_CREDENTIALS")
                }
                Some(p) => (p, "gcloud's application_default_credentials.json"),
                None => {
                    return Err(Error::config(
                        "GOOGLE_APPLICATION_CREDENTIALS",
                        "no credentials found: the variable is unset and gcloud's application_default_credentials.json does not exist",
                    ));
                }
            },
        };
        let json = wif::adc::read_credentials_file(&path)?;
        let config = ExternalAccountConfig::from_json(&json)
            .map_err(|e| e.context(format_args!("{}", path.display())))?;
        Ok((config, path, found_by))
    }

    fn describe_config(&mut self, cfg: &ExternalAccountConfig) {
        use wif::config::AudienceKind;
        let audience = cfg.parsed_audience();
        let impersonate = cfg.impersonated_email();
        let universe = cfg.universe_domain.clone();
        let step = self.step(StepId::Config);
        step.fact("type", "type", "external_account");
        step.fact("source", "source", cfg.source_kind());
        step.fact(
            "subject_token_type",
            "subject token type",
            cfg.subject_token_type.clone(),
        );
        step.fact("audience", "audience", cfg.audience.clone());
        let (pool_kind, project, location, pool, provider) = match &audience.kind {
            AudienceKind::WorkloadPool {
                project_number,
                location,
                pool,
                provider,
            } => (
                "workload",
                Some(project_number.clone()),
                Some(location.clone()),
                Some(pool.clone()),
                provider.clone(),
            ),
            AudienceKind::WorkforcePool {
                location,
                pool,
                provider,
            } => (
                "workforce",
                None,
                Some(location.clone()),
                Some(pool.clone()),
                provider.clone(),
            ),
            _ => ("other", None, None, None, None),
        };
        let pool_type = match pool_kind {
            "workload" => "workload identity pool",
            "workforce" => "workforce identity pool",
            _ => "not a pool provider",
        };
        step.fact_with_text(
            "pool_type",
            "pool type",
            pool_kind,
            Some(pool_type.to_owned()),
        );
        step.fact("project_number", "project number", project);
        step.fact("location", "location", location);
        step.fact("pool", "pool", pool);
        step.fact("provider", "provider", provider);
        step.fact("impersonate", "impersonate", impersonate.clone());
        let lifetime = impersonate
            .as_ref()
            .map(|_| cfg.token_lifetime_seconds.unwrap_or(3600));
        step.fact("token_lifetime_seconds", "token lifetime (s)", lifetime);
        step.fact("token_url", "token URL", shown_url(&cfg.token_url));
        step.fact("universe_domain", "universe domain", universe.clone());
        step.optional("client_id", "client id", cfg.client_id.clone());
        step.optional(
            "client_secret_set",
            "client secret set",
            cfg.client_secret.is_some(),
        );
        step.optional(
            "workforce_pool_user_project",
            "workforce user project",
            cfg.workforce_pool_user_project.clone(),
        );
        step.optional(
            "quota_project",
            "quota project",
            cfg.quota_project_id.clone(),
        );
        for w in &audience.warnings {
            step.warn(format!("audience: {w}"));
        }
        if universe != wif::config::DEFAULT_UNIVERSE_DOMAIN {
            step.warn(format!(
                "universe domain {universe} is not googleapis.com: tokens are issued by and only work in that universe (sts.{universe}, iamcredentials.{universe})"
            ));
        }
        if let Ok(url) = url::Url::parse(&cfg.token_url)
            && let Some(host) = url.host_str()
            && !wif::layers::core::http::is_loopback(&url)
            && !host.ends_with(&universe)
        {
            step.warn(format!(
                "token_url host {host} is not in universe {universe}: the subject token is sent there"
            ));
        }
        step.ok(match &impersonate {
            Some(sa) => format!(
                "a valid {pool_type} configuration: {} identity → Google STS → impersonate {sa}",
                cfg.source_kind()
            ),
            None => format!(
                "a valid {pool_type} configuration: {} identity → Google STS → federated token used directly",
                cfg.source_kind()
            ),
        });
        self.known.source_kind = Some(cfg.source_kind());
        self.known.audience = Some(audience);
        self.known.impersonate = impersonate;
    }

    /// Step 2: obtain the subject token and show what it proves (see [`source`]).
    async fn source_step(&mut self, cfg: &ExternalAccountConfig) -> Result<SubjectToken, Error> {
        let started = Instant::now();
        let result = match &cfg.credential_source {
            wif::CredentialSource::Aws(aws) => self.aws_source(cfg, aws).await,
            _ => self.token_source(cfg).await,
        };
        self.known.local_now = Some(self.clock.now());
        let known = &self.known;
        let diagnoses = result
            .as_ref()
            .err()
            .map(|e| diagnose::source_failure(e, known));
        let step = self.step(StepId::Source);
        step.took(started.elapsed());
        if let (Err(e), Some(diagnoses)) = (&result, diagnoses) {
            step.fail(e);
            step.diagnose(diagnoses);
        }
        result
    }
}

/// A URL for display: scheme, host, port and path (a query may carry credentials).
fn shown_url(raw: &str) -> String {
    url::Url::parse(raw)
        .map(|u| wif::layers::core::http::describe_url(&u))
        .unwrap_or_else(|_| "(not a URL)".to_owned())
}

/// "59 min 58 s", "2 h 0 min", "12 s".
fn describe_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_clock_shifts_both_ways() {
        let behind = OffsetClock(-1200).now();
        let ahead = OffsetClock(1200).now();
        let gap = ahead.duration_since(behind).expect("ahead is later");
        assert!(gap >= Duration::from_secs(2400), "{gap:?}");
        assert!(gap < Duration::from_secs(2410), "{gap:?}");
    }

    #[test]
    fn durations_and_hosts_read_naturally() {
        assert_eq!(describe_duration(Duration::from_secs(12)), "12 s");
        assert_eq!(describe_duration(Duration::from_secs(3599)), "59 min 59 s");
        assert_eq!(describe_duration(Duration::from_secs(7260)), "2 h 1 min");
        assert_eq!(
            shown_url("https://sts.googleapis.com/v1/token?key=secret"),
            "https://sts.googleapis.com/v1/token"
        );
    }
}
