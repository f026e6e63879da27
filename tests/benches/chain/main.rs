//! The chain benchmark behind `cargo xtask bench`: wif and its peers against one emulator, in
//! one run.
//!
//! * **Cold chain** — the first token for the Lambda case (credentials in the environment,
//!   impersonation) and the EC2 IMDSv2 case (credentials from the metadata service,
//!   impersonation): in this process, and as whole processes (`wif token`, google-cloud-auth's
//!   bench binary, Python google-auth). HTTP round trips per step and TCP connections come from
//!   a counting proxy (see `proxy.rs`).
//! * **Cached token** — the same harness for all three (median ns per call).
//! * **Thundering herd** — 1,000 cold callers at once: STS and IAM calls per client.
//! * **Peer behaviours** — an STS 503, and a Lambda whose configuration names IMDSv2 while the
//!   metadata service never answers.
//! * **Footprint** — `wif token` peak RSS, binary sizes, the Lambda example's cold start.
//!
//! ```text
//! cargo bench -p wif-tests --bench chain -- [--wif-cli PATH] [--lambda PATH] [--gcauth PATH]
//!     [--gcauth-inprocess PATH] [--gcauth-lambda PATH]
//!     [--python PATH --script PATH] [--criterion DIR] [--runs N] [--out FILE] [--realnet]
//! ```
//!
//! With `--realnet`, the real-network section instead (`realnet/`): the clients over HTTPS to
//! the production host names, with DNS, in a private network namespace with round-trip times
//! of 20 and 100 ms.
//!
//! Paths must be absolute (cargo runs benches in the package directory). Without them only the
//! in-process parts run. `--criterion` is `target/criterion` after the `cached_token` bench: its
//! results become a section and the cached-token targets. Markdown goes to `--out` (or stdout);
//! progress to stderr. `cargo xtask bench` builds everything and passes the paths.

mod behaviour;
mod cold;
mod estimates;
mod lambda;
mod peers;
mod process;
mod proxy;
mod realnet;
mod report;
mod wif_side;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use std::time::Duration;
use wif_emulator::configs::{WrittenConfigs, read_env_file, write_configs};

use wif_emulator::{Emulator, EmulatorConfig, Endpoint, Fault, RunningEmulator};

use crate::peers::Tools;
use crate::proxy::{Log, Proxy};
use crate::report::Target;

/// What the command line asked for.
#[derive(Debug)]
struct Args {
    tools: Tools,
    criterion: Option<PathBuf>,
    out: Option<PathBuf>,
    runs: usize,
    realnet: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        tools: Tools::default(),
        criterion: None,
        out: None,
        runs: 10,
        realnet: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--wif-cli" => args.tools.wif_cli = Some(PathBuf::from(value()?)),
            "--lambda" => args.tools.lambda = Some(PathBuf::from(value()?)),
            "--gcauth" => args.tools.gcauth = Some(PathBuf::from(value()?)),
            "--gcauth-lambda" => args.tools.gcauth_lambda = Some(PathBuf::from(value()?)),
            "--gcauth-inprocess" => {
                args.tools.gcauth_inprocess = Some(PathBuf::from(value()?));
            }
            "--python" => args.tools.python = Some(PathBuf::from(value()?)),
            "--script" => args.tools.script = Some(PathBuf::from(value()?)),
            "--out" => args.out = Some(PathBuf::from(value()?)),
            "--criterion" => args.criterion = Some(PathBuf::from(value()?)),
            "--realnet" => args.realnet = true,
            "--runs" => {
                args.runs = value()?
                    .parse()
                    .map_err(|_| "--runs needs a number".to_owned())?
            }
            // cargo bench adds `--bench`; libtest-style filters mean nothing here.
            _ => {}
        }
    }
    args.runs = args.runs.max(1);
    Ok(args)
}

/// The two cases of the issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    /// AWS Lambda: role credentials and region in the environment, impersonation.
    Lambda,
    /// EC2 with IMDSv2: region, role and credentials from the metadata service, impersonation.
    Ec2,
}

impl Case {
    /// Both.
    pub const ALL: [Case; 2] = [Case::Lambda, Case::Ec2];

    /// Its heading.
    pub fn title(self) -> &'static str {
        match self {
            Case::Lambda => "Lambda (credentials in the environment, impersonation)",
            Case::Ec2 => "EC2 IMDSv2 (credentials from the metadata service, impersonation)",
        }
    }

    /// Its configuration file.
    pub fn config(self, configs: &WrittenConfigs) -> &Path {
        match self {
            Case::Lambda => &configs.aws_lambda,
            Case::Ec2 => &configs.aws_ec2_imdsv2,
        }
    }

    /// The fewest requests the chain can make: Lambda: STS + IAM; IMDSv2: session token,
    /// region, role name, role credentials, STS, IAM.
    pub fn minimum_round_trips(self) -> usize {
        match self {
            Case::Lambda => 2,
            Case::Ec2 => 6,
        }
    }
}

/// Latency of every emulated service in accounting runs: long enough that a client's concurrent
/// requests overlap for certain, short enough to keep the runs quick.
pub const ACCOUNTING_LATENCY_MS: u64 = 20;

/// The emulator, the counting proxy in front of it, and the configurations for both.
pub struct World {
    /// The emulator (IMDSv2 required, so the EC2 case proves the session token).
    pub emulator: RunningEmulator,
    /// The counting proxy.
    pub proxy: Proxy,
    /// Configurations pointing straight at the emulator (timing runs).
    pub direct: WrittenConfigs,
    /// The same configurations pointing at the proxy (accounting runs).
    pub proxied: WrittenConfigs,
    /// The Lambda's environment: the execution role's credentials and region.
    pub lambda_env: Vec<(String, String)>,
    /// Scratch space (RSS reports).
    pub scratch: PathBuf,
    _dir: tempfile::TempDir,
}

impl World {
    async fn start() -> Result<World, String> {
        let mut config = EmulatorConfig::default();
        config.imdsv2_required = true;
        let emulator = Emulator::new(config)
            .start_local()
            .await
            .map_err(|e| format!("start the emulator: {e}"))?;
        let proxy = Proxy::start(emulator.addr()).map_err(|e| format!("start the proxy: {e}"))?;
        let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let direct = write_configs(&emulator, &dir.path().join("direct"))
            .map_err(|e| format!("write configs: {e}"))?;
        let proxied = write_configs(&emulator, &dir.path().join("proxied"))
            .map_err(|e| format!("write configs: {e}"))?;
        for (_, path) in proxied.all() {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{e}"))?;
            std::fs::write(path, text.replace(emulator.base_url(), &proxy.base_url()))
                .map_err(|e| format!("{e}"))?;
        }
        let lambda_env = read_env_file(&direct.aws_lambda_env)
            .map_err(|e| format!("read {}: {e}", direct.aws_lambda_env.display()))?;
        emulator.state().create_bucket(lambda::BUCKET);
        Ok(World {
            scratch: dir.path().to_path_buf(),
            emulator,
            proxy,
            direct,
            proxied,
            lambda_env,
            _dir: dir,
        })
    }

    /// Starts an accounting run: every emulated service of the chain answers after
    /// [`ACCOUNTING_LATENCY_MS`], and the proxy starts a new log.
    pub fn begin_accounting(&self) {
        let latency = Fault::latency(Duration::from_millis(ACCOUNTING_LATENCY_MS));
        for endpoint in [
            Endpoint::Imds,
            Endpoint::GoogleSts,
            Endpoint::IamCredentials,
        ] {
            self.emulator.faults().set(endpoint, latency.clone());
        }
        self.proxy.take();
    }

    /// Ends an accounting run: the proxy's log of it; the latency is gone.
    pub fn end_accounting(&self) -> Log {
        self.emulator.faults().clear();
        self.proxy.take()
    }

    /// The environment of `case`'s workload.
    pub fn env(&self, case: Case) -> Vec<(String, String)> {
        match case {
            Case::Lambda => self.lambda_env.clone(),
            Case::Ec2 => Vec::new(),
        }
    }
}

/// Progress on stderr.
pub fn progress(message: &str) {
    eprintln!("bench: {message}");
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<ExitCode, String> {
    proxy::self_check()?;
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this with nothing, and a
    // test run must not spend a minute benchmarking.
    if !std::env::args().any(|a| a == "--bench") {
        progress("not run by `cargo bench`: parsers checked, nothing measured");
        return Ok(ExitCode::SUCCESS);
    }
    let args = parse_args()?;
    if args.realnet {
        // Fewer runs than on loopback: each waits on real round trips.
        let runs = args.runs.div_ceil(2);
        return realnet::run(&args.tools, runs, args.out.as_deref()).await;
    }
    let world = World::start().await?;
    progress(&format!("emulator at {}", world.emulator.base_url()));

    let mut targets: Vec<Target> = Vec::new();
    let mut body = String::new();

    let estimates = args
        .criterion
        .as_deref()
        .map(estimates::read)
        .unwrap_or_default();
    let cold = cold::run(&world, &args.tools, args.runs, &mut targets).await?;
    body.push_str(&cold);
    let criterion_ran = !estimates.is_empty();
    body.push_str(&cold::cached(&world, &args.tools, criterion_ran, &mut targets).await?);
    if criterion_ran {
        estimates::targets(&estimates, &mut targets);
        body.push_str(&estimates::section(&estimates));
    } else {
        body.push_str("## Criterion: cached `token()`\n\nNot run (pass `--criterion DIR`).\n\n");
    }
    body.push_str(&behaviour::herd(&world, &args.tools, &mut targets).await);
    body.push_str(&behaviour::peer_behaviours(&world, &args.tools).await);
    body.push_str(&cold::footprint(&world, &args.tools, &mut targets).await);

    let mut out = String::from("## Targets\n\n");
    out.push_str(&report::targets(&targets));
    out.push('\n');
    out.push_str(&body);
    match &args.out {
        Some(path) => std::fs::write(path, out).map_err(|e| format!("{}: {e}", path.display()))?,
        None => print!("{out}"),
    }
    Ok(ExitCode::SUCCESS)
}
