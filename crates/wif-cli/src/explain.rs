//! `wif explain`: prints the plan the facade resolved (every setting, and where it came from),
//! then runs the chain's steps one at a time — subject token, STS exchange, impersonation,
//! token — and says for each what it used, what it proved, how long it took and how it ended;
//! on failure, the named cause and the fix ([`diagnose`]; every cause is in
//! docs/troubleshooting.md, the chain in docs/flow.md).
//!
//! Everything comes from the facade: the configuration is loaded, resolved and assembled by
//! `CredentialsBuilder` (`plan`, then `build_chain`) exactly as for `wif token`, and the steps
//! call that chain's layers, with its clients. Unlike `wif token`, each step is timed and shown
//! on its own: the exchange gets the subject token we looked at, and impersonation the federated
//! token of that exchange. For an AWS source the walk takes the chain's own AWS source apart
//! (resolve, then sign) to show where region and credentials came from. Nothing is cached.
//!
//! Options beyond `--credentials` and `--format`:
//! * `--call-aws` sends the signed `GetCallerIdentity` request to AWS STS (the URL it was signed
//!   for, or `--aws-sts-endpoint` / `WIF_AWS_STS_ENDPOINT`, e.g. the emulator's `/aws/sts`) to
//!   show the ARN Google will see and check it against the 127-byte `google.subject` limit.
//! * `--clock-offset SECONDS` (hidden) pretends this machine's clock is off by that much: the
//!   chain is built with that clock, so AWS requests are signed at the shifted time, and the skew
//!   is measured from it. It exists so the clock-skew diagnosis can be tested against the
//!   emulator, which keeps real time; tests use it rather than faking the emulator's clock.
//!
//! The report goes to stdout. When the chain fails, the failing step's error also goes to stderr
//! and the exit status is that of `wif token` (2 for configuration, 1 for the chain).

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use wif::layers::core::Clock;
use wif::plan::{Origin, Plan};
use wif::{Chain, Environment, Error, ErrorKind, OsEnvironment, Step, SubjectToken};

mod diagnose;
mod google;
mod plan;
mod report;
mod source;
#[cfg(test)]
mod troubleshooting_docs;

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
    let mut walk = Walk {
        env: Arc::new(OsEnvironment),
        clock: Arc::new(OffsetClock(args.clock_offset.unwrap_or(0))),
        args,
        known: Known::default(),
        redactor: Redactor::default(),
        steps: StepId::ALL.map(StepReport::new),
        plan: None,
    };
    let result = walk.run().await;
    let credentials = walk
        .plan
        .as_ref()
        .and_then(|p| p.configuration.as_ref())
        .and_then(|c| c.path.as_ref())
        .map(|p| p.display().to_string());
    let report = Report::new(
        credentials,
        walk.plan.as_ref().map(Plan::to_json),
        walk.steps.to_vec(),
    );
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
    known: Known,
    redactor: Redactor,
    steps: [StepReport; 5],
    /// What the facade resolved, once step 1 got that far.
    plan: Option<Plan>,
}

impl Walk {
    fn step(&mut self, id: StepId) -> &mut StepReport {
        let i = StepId::ALL.iter().position(|s| *s == id).unwrap_or(0);
        &mut self.steps[i]
    }

    async fn run(&mut self) -> Result<(), Error> {
        let chain = match self.config_step() {
            Ok(chain) => chain,
            Err(e) => return Err(self.skip_after(StepId::Config, e)),
        };
        let subject = match self.source_step(&chain).await {
            Ok(subject) => subject,
            Err(e) => return Err(self.skip_after(StepId::Source, e)),
        };
        let federated = match self.exchange_step(&chain, &subject).await {
            Ok(token) => token,
            Err(e) => return Err(self.skip_after(StepId::Exchange, e)),
        };
        let token = match self.impersonation_step(&chain, federated).await {
            Ok(token) => token,
            Err(e) => return Err(self.skip_after(StepId::Impersonation, e)),
        };
        self.token_step(&chain, &token);
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

    /// Step 1: the configuration, resolved into the plan (shown), then assembled into the chain
    /// the other steps run — both by the facade, as for `wif token`.
    fn config_step(&mut self) -> Result<Chain, Error> {
        let started = Instant::now();
        let result = self.resolve_and_assemble();
        let step = self.step(StepId::Config);
        step.took(started.elapsed());
        match result {
            Ok(chain) => {
                let sa = chain
                    .plan()
                    .impersonation
                    .as_ref()
                    .map(|i| &i.service_account);
                let pool = plan::pool_type(&chain.plan().audience.value);
                let kind = chain.plan().source_kind().to_owned();
                self.step(StepId::Config).ok(match sa {
                    Some(sa) => format!(
                        "a valid {pool} configuration: {kind} identity → Google STS → impersonate {sa}"
                    ),
                    None => format!(
                        "a valid {pool} configuration: {kind} identity → Google STS → federated token used directly"
                    ),
                });
                Ok(chain)
            }
            Err(e) => {
                let step = self.step(StepId::Config);
                step.fail(&e);
                step.diagnose(diagnose::config_failure(&e));
                Err(e)
            }
        }
    }

    fn resolve_and_assemble(&mut self) -> Result<Chain, Error> {
        let builder = crate::settings::builder(&self.args.common, self.env.clone())?
            .clock(self.clock.clone());
        let plan = builder.plan()?;
        self.describe_plan(&plan);
        self.plan = Some(plan);
        builder.build_chain()
    }

    /// Step 2: obtain the subject token and show what it proves (see [`source`]).
    async fn source_step(&mut self, chain: &Chain) -> Result<SubjectToken, Error> {
        let started = Instant::now();
        let result = match chain.aws_source() {
            Some(aws) => self.aws_source(chain, aws).await,
            None => self.token_source(chain).await,
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

/// How an origin reads after a value: "(configuration `token_url`)".
fn origin_text(origin: Option<Origin>) -> String {
    origin.map(|o| format!("  [{o}]")).unwrap_or_default()
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
