//! The real-network run of the chain bench (`--realnet`): the same clients, but over HTTPS to
//! the production host names, each behind a link with a round-trip time, resolved by a DNS
//! resolver that counts lookups — what a cold start on Lambda or EC2 actually waits for.
//!
//! ```text
//!                       private network namespace (namespace.rs)
//!  client ─ DNS ─▶ resolver 127.0.0.53 (dns.rs): sts.googleapis.com → 127.0.0.2, …
//!  client ─ TCP ─▶ link 127.0.0.2:443 (link.rs, RTT) ─▶ TLS endpoint (tls.rs) ─▶ counting proxy ─▶ emulator
//!  client ─ TCP ─▶ link 169.254.169.254:80 (metadata, RTT 0.5 ms) ─────────────▶ counting proxy ─▶ emulator
//! ```
//!
//! The configurations are the production ones (`https://sts.googleapis.com/v1/token`,
//! `http://169.254.169.254/latest/…`); clients trust the run's CA the way each documents:
//! wif through the builder or `--ca-certs`, google-cloud-auth through `SSL_CERT_FILE`,
//! google-auth through `REQUESTS_CA_BUNDLE`.
//!
//! `WIF_BENCH_TRACE=1` prints each cold start's requests on stderr: when each passed the proxy
//! and when its answer did, in ms from the run's first lookup or connection.

mod cold;
mod dns;
mod lambda;
mod link;
mod namespace;
mod refresh;
mod render;
mod tls;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use wif_emulator::config::DEFAULT_SERVICE_ACCOUNT;
use wif_emulator::configs::{read_env_file, write_configs};
use wif_emulator::{Emulator, EmulatorConfig, RunningEmulator};

use crate::peers::Tools;
use crate::progress;
use crate::proxy::{Log, Proxy};

pub use dns::Query;
pub use link::Connection;
pub use tls::Handshake;

/// The round-trip times measured, ms.
pub const RTTS_MS: [u64; 2] = [20, 100];
/// The metadata service's round trip: it sits on the instance's host, under a millisecond away.
pub const METADATA_RTT: Duration = Duration::from_micros(500);
/// How long the resolver takes to answer: a resolver in the same network with the name cached.
pub const DNS_LATENCY: Duration = Duration::from_millis(1);
/// Lifetime of the service-account tokens the emulator issues here: short, so a refresh comes
/// within seconds.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(30);
/// Lifetime of its federated tokens: shorter still, so that every refresh of a service-account
/// token needs a new federated token too and runs the whole chain (a client keeping the
/// federated token could otherwise skip the metadata and STS calls of every other refresh).
pub const FEDERATED_LIFETIME: Duration = Duration::from_secs(20);

/// A service of the chain, under its production name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// The instance metadata service (plain HTTP, by address).
    Metadata,
    /// Google STS.
    Sts,
    /// IAM Credentials.
    Iam,
    /// Cloud Storage (the Lambda example's call).
    Storage,
}

impl Host {
    /// All of them.
    pub const ALL: [Host; 4] = [Host::Metadata, Host::Sts, Host::Iam, Host::Storage];

    /// The production name (the metadata service has none: clients use its address).
    pub fn name(self) -> &'static str {
        match self {
            Host::Metadata => "169.254.169.254",
            Host::Sts => "sts.googleapis.com",
            Host::Iam => "iamcredentials.googleapis.com",
            Host::Storage => "storage.googleapis.com",
        }
    }

    /// Where its link listens.
    fn listen(self) -> SocketAddr {
        match self {
            Host::Metadata => SocketAddr::from((namespace::METADATA, 80)),
            Host::Sts => SocketAddr::from(([127, 0, 0, 2], 443)),
            Host::Iam => SocketAddr::from(([127, 0, 0, 3], 443)),
            Host::Storage => SocketAddr::from(([127, 0, 0, 4], 443)),
        }
    }

    /// The Google hosts, reached over TLS with the run's round-trip time.
    pub fn is_google(self) -> bool {
        self != Host::Metadata
    }
}

/// The cases of the real-network run: each source, with impersonation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// AWS Lambda: role credentials and region in the environment.
    Lambda,
    /// EC2 with IMDSv2: region, role and credentials from the metadata service.
    Ec2,
    /// An OIDC token in a file.
    File,
}

impl Source {
    /// All of them, in report order.
    pub const ALL: [Source; 3] = [Source::Lambda, Source::Ec2, Source::File];

    /// Its heading.
    pub fn title(self) -> &'static str {
        match self {
            Source::Lambda => "Lambda (credentials in the environment)",
            Source::Ec2 => "EC2 IMDSv2 (credentials from the metadata service)",
            Source::File => "File (an OIDC token in a file)",
        }
    }

    /// Its short label.
    pub fn label(self) -> &'static str {
        match self {
            Source::Lambda => "Lambda",
            Source::Ec2 => "EC2 IMDSv2",
            Source::File => "File",
        }
    }
}

/// Everything one run through the network saw.
#[derive(Debug, Default)]
pub struct RunLog {
    /// Connections per host.
    pub connections: HashMap<Host, Vec<Connection>>,
    /// TLS handshakes completed.
    pub handshakes: Vec<Handshake>,
    /// DNS queries.
    pub dns: Vec<Query>,
    /// HTTP requests, as the counting proxy saw them (decrypted).
    pub http: Log,
}

impl RunLog {
    /// Connections opened, all hosts.
    pub fn connections(&self) -> usize {
        self.connections.values().map(Vec::len).sum()
    }

    /// DNS lookups (see [`Query::is_lookup`]).
    pub fn lookups(&self) -> usize {
        self.dns.iter().filter(|q| q.is_lookup()).count()
    }
}

/// The private network: emulator, proxy, TLS endpoint, links, resolver, configurations.
pub struct Network {
    /// The emulator (IMDSv2 required, tokens living [`TOKEN_LIFETIME`]).
    pub emulator: RunningEmulator,
    proxy: Proxy,
    tls: tls::TlsEndpoint,
    links: Vec<(Host, link::Link)>,
    dns: dns::Resolver,
    /// The CA bundle clients trust.
    pub ca: PathBuf,
    /// The CA, PEM.
    pub ca_pem: String,
    configs: HashMap<&'static str, PathBuf>,
    /// The Lambda's environment.
    pub lambda_env: Vec<(String, String)>,
    rtt: std::sync::atomic::AtomicU64,
    _dir: tempfile::TempDir,
}

impl Network {
    async fn start() -> Result<Network, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        namespace::set_up(dir.path())?;
        let mut config = EmulatorConfig::default();
        config.imdsv2_required = true;
        config.federated_token_lifetime = FEDERATED_LIFETIME;
        config.issued_token_lifetime = Some(TOKEN_LIFETIME);
        let emulator = Emulator::new(config)
            .start_local()
            .await
            .map_err(|e| format!("start the emulator: {e}"))?;
        let proxy = Proxy::start(emulator.addr()).map_err(|e| format!("start the proxy: {e}"))?;
        let hosts: Vec<&str> = Host::ALL
            .iter()
            .filter(|h| h.is_google())
            .map(|h| h.name())
            .collect();
        let pki = tls::Pki::new(&hosts)?;
        let tls = tls::TlsEndpoint::start(&pki, proxy.addr())
            .map_err(|e| format!("start the TLS endpoint: {e}"))?;
        let mut links = Vec::new();
        for host in Host::ALL {
            let (upstream, delay) = if host.is_google() {
                (tls.addr(), Duration::from_millis(RTTS_MS[0]) / 2)
            } else {
                (proxy.addr(), METADATA_RTT / 2)
            };
            let link = link::Link::start(host.listen(), upstream, delay)
                .map_err(|e| format!("link for {}: {e}", host.name()))?;
            links.push((host, link));
        }
        let names: HashMap<String, Ipv4Addr> = Host::ALL
            .iter()
            .filter(|h| h.is_google())
            .filter_map(|h| match h.listen() {
                SocketAddr::V4(v4) => Some((h.name().to_owned(), *v4.ip())),
                SocketAddr::V6(_) => None,
            })
            .collect();
        let dns = dns::Resolver::start(
            SocketAddr::from((namespace::RESOLVER, 53)),
            names,
            DNS_LATENCY,
        )
        .map_err(|e| format!("start the resolver: {e}"))?;

        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, &pki.ca_pem).map_err(|e| format!("{}: {e}", ca.display()))?;
        let written = write_configs(&emulator, &dir.path().join("configs"))
            .map_err(|e| format!("write configs: {e}"))?;
        let mut configs = HashMap::new();
        for (name, path) in [
            ("lambda", &written.aws_lambda),
            ("ec2", &written.aws_ec2_imdsv2),
            ("file", &written.file),
        ] {
            productionize(&emulator, path)?;
            configs.insert(name, path.clone());
        }
        let lambda_env = read_env_file(&written.aws_lambda_env)
            .map_err(|e| format!("read {}: {e}", written.aws_lambda_env.display()))?;
        Ok(Network {
            emulator,
            proxy,
            tls,
            links,
            dns,
            ca,
            ca_pem: pki.ca_pem,
            configs,
            lambda_env,
            rtt: std::sync::atomic::AtomicU64::new(RTTS_MS[0] * 1000),
            _dir: dir,
        })
    }

    /// Sets the Google links' round-trip time (for connections opened from now on).
    pub fn set_rtt(&self, rtt: Duration) {
        for (host, link) in &self.links {
            if host.is_google() {
                link.set_delay(rtt / 2);
            }
        }
        self.rtt
            .store(rtt.as_micros() as u64, std::sync::atomic::Ordering::SeqCst);
    }

    /// The Google links' round-trip time.
    pub fn rtt(&self) -> Duration {
        Duration::from_micros(self.rtt.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// Forgets what was seen so far: the next [`take`](Self::take) covers only what follows.
    pub fn begin(&self) {
        let _ = self.take();
    }

    /// What was seen since the last call.
    pub fn take(&self) -> RunLog {
        RunLog {
            connections: self
                .links
                .iter()
                .map(|(host, link)| (*host, link.take()))
                .collect(),
            handshakes: self.tls.take(),
            dns: self.dns.take(),
            http: self.proxy.take(),
        }
    }

    /// The production-shaped configuration of `source`.
    pub fn config(&self, source: Source) -> &Path {
        let key = match source {
            Source::Lambda => "lambda",
            Source::Ec2 => "ec2",
            Source::File => "file",
        };
        self.configs
            .get(key)
            .map_or(Path::new("/nonexistent"), PathBuf::as_path)
    }

    /// The environment of `source`'s workload.
    pub fn env(&self, source: Source) -> Vec<(String, String)> {
        match source {
            Source::Lambda => self.lambda_env.clone(),
            Source::Ec2 | Source::File => Vec::new(),
        }
    }

    /// What `peer` needs in its environment to trust the CA and reach the hosts.
    pub fn trust_env(&self) -> Vec<(String, String)> {
        let ca = self.ca.to_string_lossy().into_owned();
        let hosts: Vec<&str> = Host::ALL.iter().map(|h| h.name()).collect();
        vec![
            ("SSL_CERT_FILE".to_owned(), ca.clone()),
            ("REQUESTS_CA_BUNDLE".to_owned(), ca),
            // google_auth_bench.py's guard lets these through, in this network only.
            ("WIF_BENCH_NETWORK_HOSTS".to_owned(), hosts.join(",")),
        ]
    }
}

/// Rewrites a configuration the emulator wrote to the production URLs: STS and IAM Credentials
/// by name over HTTPS, the metadata service at its address.
fn productionize(emulator: &RunningEmulator, path: &Path) -> Result<(), String> {
    let base = emulator.base_url();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text = text
        .replace(
            &format!("{base}/v1/token"),
            &format!("https://{}/v1/token", Host::Sts.name()),
        )
        .replace(
            &format!("{base}/v1/projects/-/serviceAccounts/{DEFAULT_SERVICE_ACCOUNT}"),
            &format!(
                "https://{}/v1/projects/-/serviceAccounts/{DEFAULT_SERVICE_ACCOUNT}",
                Host::Iam.name()
            ),
        )
        .replace(base, &format!("http://{}", Host::Metadata.name()));
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The `--realnet` run: re-runs itself in a private network, where it measures and writes the
/// section to `out` (stdout without one).
pub async fn run(tools: &Tools, runs: usize, out: Option<&Path>) -> Result<ExitCode, String> {
    dns::self_check()?;
    if !namespace::inside() {
        return namespace::run_inside();
    }
    let network = Network::start().await?;
    progress(&format!(
        "private network up: emulator at {}, CA {}",
        network.emulator.base_url(),
        network.ca.display()
    ));
    let mut targets = Vec::new();
    let cold = cold::run(&network, tools, runs).await?;
    let refresh = refresh::run(&network, tools, &cold).await?;
    let lambda = lambda::run(
        &network,
        tools.lambda.as_deref(),
        tools.gcauth_lambda.as_deref(),
        runs,
    )
    .await;
    let section = render::section(&cold, &refresh, &lambda, &mut targets);
    match out {
        Some(path) => {
            std::fs::write(path, section).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => print!("{section}"),
    }
    Ok(ExitCode::SUCCESS)
}
