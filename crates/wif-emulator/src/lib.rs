//! # wif-emulator — the whole chain on one machine
//!
//! A loopback HTTP server that plays every service a Workload Identity Federation flow touches,
//! with in-memory state, so demos, tests and benchmarks run with no cloud account:
//!
//! | path | plays |
//! |---|---|
//! | `/latest/…` | AWS instance metadata (IMDSv1/v2; optionally v2-only) |
//! | `POST /aws/sts` | AWS STS `GetCallerIdentity` and `GetWebIdentityToken` (verifies SigV4, answers AWS's XML; [`aws_sts_jwt`]), `AssumeRoleWithWebIdentity` (EKS IRSA; [`aws_web_identity`]) |
//! | `GET /ecs/v2/credentials/{id}`, `GET /eks/v1/credentials` | AWS container credentials: ECS's agent, EKS Pod Identity's agent ([`aws_container`]) |
//! | `POST /v1/token` | Google STS (RFC 8693; verifies the AWS SigV4 subject token, the audience, the attribute condition; OIDC JWTs, including AWS's web identity tokens) |
//! | `POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken` | IAM Credentials |
//! | `/bigquery/v2/…` | BigQuery: datasets, tables, `tabledata`, query jobs, GoogleSQL through `sqlparser` ([`bigquery`]) |
//! | `/storage/v1/…`, `/upload/storage/v1/…`, `/download/storage/v1/…` | Cloud Storage JSON API |
//! | `GET /oidc/token` | an OIDC identity provider for URL-sourced configs (`{"id_token": …}`) |
//! | `/_emulator/…` | control: faults, counters, tokeninfo, test OIDC tokens |
//!
//! Every Google API checks the bearer token the chain produced: expired or foreign tokens get
//! 401, so a demo that succeeds proves the chain worked.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use wif_emulator::{Emulator, TableField};
//!
//! let emulator = Emulator::new(Default::default()).start_local().await?;
//! emulator.create_bucket("my-bucket");
//! emulator.create_table("analytics", "events", &[TableField::new("id", "INT64")])?;
//! println!("Cloud Storage at {}, BigQuery at {}", emulator.storage_base_url(), emulator.bigquery_base_url());
//! # Ok(()) }
//! ```
//!
//! The README's "use it in your tests" shows a whole test.
//!
//! For X.509 federation, [`Emulator::with_mtls`] adds a second, HTTPS port serving the same
//! routes that requires a client certificate from a CA you name ([`mtls`]); there Google STS
//! also takes `urn:ietf:params:oauth:token-type:mtls` subject tokens for the X.509 provider
//! ([`EmulatorConfig::x509_audience`]).
//!
//! ```no_run
//! # async fn run(server_chain_pem: String, server_key_pem: String, workload_ca_pem: String)
//! # -> std::io::Result<()> {
//! use wif_emulator::{Emulator, MtlsConfig};
//! let emulator = Emulator::new(Default::default())
//!     .with_mtls(MtlsConfig::new(server_chain_pem, server_key_pem, workload_ca_pem))
//!     .start_local()
//!     .await?;
//! println!("X.509 token_url: {}/v1/token", emulator.mtls_base_url().unwrap_or_default());
//! # Ok(()) }
//! ```

// The README's examples ("use it in your tests") compile as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub mod config;
pub mod faults;
pub mod leaks;
mod signing_key;
mod state;

pub mod aws_container;
mod aws_imds;
mod aws_sts;
pub mod aws_sts_jwt;
pub mod aws_web_identity;
pub mod bigquery;
pub mod configs;
mod control;
mod google_sts;
mod iam;
pub mod mtls;
pub mod oidc;
mod sigv4;
mod storage;
mod x509_names;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use bigquery::{SetupError, TableField};
pub use config::{
    AttributeCondition, AwsIdentity, EmulatorConfig, ServiceAccount, SubjectMapping,
    X509SubjectMapping,
};
pub use faults::{Fault, Faults};
pub use mtls::MtlsConfig;
pub use state::{ANONYMOUS, Issued, State, TokenKind};

/// The services the emulator plays; requests are counted and faults injected per endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// AWS instance metadata.
    Imds = 0,
    /// AWS STS.
    AwsSts = 1,
    /// Google STS.
    GoogleSts = 2,
    /// IAM Credentials.
    IamCredentials = 3,
    /// BigQuery.
    BigQuery = 4,
    /// Cloud Storage.
    Storage = 5,
    /// The emulator's own control API.
    Control = 6,
    /// AWS container credentials (ECS's agent, EKS Pod Identity's agent).
    ContainerCredentials = 7,
}

impl Endpoint {
    pub(crate) const COUNT: usize = 8;

    /// The emulated services, which the control API counts and injects faults into (not itself).
    pub(crate) const SERVICES: [Endpoint; 7] = [
        Endpoint::Imds,
        Endpoint::ContainerCredentials,
        Endpoint::AwsSts,
        Endpoint::GoogleSts,
        Endpoint::IamCredentials,
        Endpoint::BigQuery,
        Endpoint::Storage,
    ];

    /// Which endpoint serves `path`.
    pub fn of_path(path: &str) -> Endpoint {
        if path.starts_with("/latest/") {
            Endpoint::Imds
        } else if path.starts_with("/aws/") {
            Endpoint::AwsSts
        } else if path.starts_with("/ecs/") || path.starts_with("/eks/") {
            Endpoint::ContainerCredentials
        } else if path == "/v1/token" {
            Endpoint::GoogleSts
        } else if path.starts_with("/v1/projects/") {
            Endpoint::IamCredentials
        } else if path.starts_with("/bigquery/") {
            Endpoint::BigQuery
        } else if path.starts_with("/storage/")
            || path.starts_with("/upload/")
            || path.starts_with("/download/")
            || path.starts_with("/resumable/")
            || path.starts_with("/google.storage.v2.Storage/")
        {
            Endpoint::Storage
        } else if path.starts_with("/_emulator/") || path.starts_with("/oidc/") || path == "/" {
            Endpoint::Control
        } else {
            // The XML API's `/{bucket}/{object}`: every path no other service claims.
            Endpoint::Storage
        }
    }

    /// The name used by the control API (`imds`, `container-credentials`, `aws-sts`,
    /// `google-sts`, `iam`, `bigquery`, `storage`).
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Imds => "imds",
            Endpoint::ContainerCredentials => "container-credentials",
            Endpoint::AwsSts => "aws-sts",
            Endpoint::GoogleSts => "google-sts",
            Endpoint::IamCredentials => "iam",
            Endpoint::BigQuery => "bigquery",
            Endpoint::Storage => "storage",
            Endpoint::Control => "control",
        }
    }

    /// The endpoint with this control-API name.
    pub fn from_name(name: &str) -> Option<Endpoint> {
        Endpoint::SERVICES.into_iter().find(|e| e.name() == name)
    }
}

/// An emulator, configured but not yet serving.
#[derive(Debug)]
pub struct Emulator {
    config: EmulatorConfig,
    mtls: Option<MtlsConfig>,
}

impl Emulator {
    /// An emulator of `config`'s world.
    pub fn new(config: EmulatorConfig) -> Self {
        Emulator { config, mtls: None }
    }

    /// Also serves the same routes over mTLS, on a second port of the same address
    /// ([`RunningEmulator::mtls_base_url`]), with `mtls`'s server certificate, to clients
    /// presenting a certificate that chains to its client CA.
    pub fn with_mtls(mut self, mtls: MtlsConfig) -> Self {
        self.mtls = Some(mtls);
        self
    }

    /// Serves on `127.0.0.1` at a free port (and another for mTLS, when configured).
    pub async fn start_local(self) -> std::io::Result<RunningEmulator> {
        self.start(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Serves on `addr` (use a loopback address); the mTLS listener, when configured, takes a
    /// free port of the same IP. Bad mTLS material is an `InvalidInput` error.
    pub async fn start(self, addr: SocketAddr) -> std::io::Result<RunningEmulator> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let mtls_listener = match &self.mtls {
            Some(config) => {
                Some(mtls::MtlsListener::bind(SocketAddr::new(local.ip(), 0), config).await?)
            }
            None => None,
        };
        let state = Arc::new(State::new(self.config));
        let mtls = match mtls_listener {
            Some(listener) => {
                let addr = listener.local_addr()?;
                let (stop, stopped) = oneshot::channel::<()>();
                let task = tokio::spawn(listener.serve(router(state.clone()), stopped));
                tracing::info!(%addr, "emulator listening for mTLS");
                Some(MtlsServer {
                    base_url: format!("https://{addr}"),
                    addr,
                    stop: Some(stop),
                    task,
                })
            }
            None => None,
        };
        let app = router(state.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = server.await {
                tracing::warn!(error = %e, "emulator server stopped with an error");
            }
        });
        tracing::info!(%local, "emulator listening");
        Ok(RunningEmulator {
            base_url: format!("http://{local}"),
            addr: local,
            state,
            stop: Some(stop),
            task,
            mtls,
        })
    }
}

fn router(state: Arc<State>) -> Router {
    Router::new()
        .merge(aws_imds::routes())
        .merge(aws_container::routes())
        .merge(aws_sts::routes())
        .merge(google_sts::routes())
        .merge(iam::routes())
        .merge(bigquery::routes())
        .merge(storage::routes())
        .merge(oidc::routes())
        .merge(control::routes())
        // The Cloud Storage XML API's `/{bucket}/{object}`: whatever no route above took.
        .fallback(storage::xml::handle)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            faults::middleware,
        ))
        .with_state(state)
}

/// A serving emulator. Dropping it stops the server.
#[derive(Debug)]
pub struct RunningEmulator {
    base_url: String,
    addr: SocketAddr,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    mtls: Option<MtlsServer>,
}

/// The serving mTLS listener of a [`RunningEmulator`].
#[derive(Debug)]
struct MtlsServer {
    base_url: String,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl RunningEmulator {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The socket address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:PORT` of the mTLS listener, when the emulator has one
    /// ([`Emulator::with_mtls`]).
    pub fn mtls_base_url(&self) -> Option<&str> {
        self.mtls.as_ref().map(|m| m.base_url.as_str())
    }

    /// The socket address of the mTLS listener, when the emulator has one.
    pub fn mtls_addr(&self) -> Option<SocketAddr> {
        self.mtls.as_ref().map(|m| m.addr)
    }

    /// The emulated world.
    pub fn config(&self) -> &EmulatorConfig {
        &self.state.config
    }

    /// Shared state: issued tokens, counters.
    pub fn state(&self) -> &Arc<State> {
        &self.state
    }

    /// Fault plans.
    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }

    /// Requests received by `endpoint` so far.
    pub fn requests(&self, endpoint: Endpoint) -> u64 {
        self.state.requests(endpoint)
    }

    /// A test OIDC token for `subject`, for the OIDC provider's audience, valid for an hour: the
    /// subject token a file or URL source would read.
    pub fn mint_oidc_token(&self, subject: &str) -> String {
        oidc::mint(
            &self.state,
            subject,
            &self.state.config.oidc_audience(),
            oidc::DEFAULT_LIFETIME,
        )
    }

    /// A web identity token as AWS STS `GetWebIdentityToken` would mint it for the emulated role,
    /// for `audiences` (e.g. [`EmulatorConfig::aws_jwt_allowed_audience`]), valid for `lifetime`
    /// from now: the subject token of the AWS JWT provider, without signing an AWS request.
    pub fn mint_aws_web_identity_token(
        &self,
        audiences: &[&str],
        lifetime: std::time::Duration,
    ) -> String {
        aws_sts_jwt::mint(&self.state, audiences, lifetime)
    }

    /// The authorization token EKS Pod Identity's emulated agent requires (a pod's projected
    /// service-account token; `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` holds it): a JWT this
    /// emulator signed, the same for its whole life.
    pub fn pod_identity_token(&self) -> &str {
        self.state.pod_identity_token()
    }

    /// A projected service-account token as EKS gives an IRSA pod (`sub`
    /// `system:serviceaccount:{namespace}:{name}`, `aud` `sts.amazonaws.com`), valid for
    /// `lifetime`: what `AWS_WEB_IDENTITY_TOKEN_FILE` holds, and the emulated AWS STS
    /// `AssumeRoleWithWebIdentity` accepts.
    pub fn mint_irsa_token(&self, service_account: &str, lifetime: std::time::Duration) -> String {
        aws_web_identity::mint(&self.state, service_account, lifetime)
    }

    /// Enables or disables the emulated AWS account's outbound identity federation; while
    /// disabled, `GetWebIdentityToken` answers `OutboundWebIdentityFederationDisabledException`.
    pub fn set_outbound_web_identity_federation(&self, enabled: bool) {
        self.state.set_outbound_web_identity_federation(enabled);
    }

    /// The root URL Cloud Storage clients take as their endpoint (`STORAGE_EMULATOR_HOST`):
    /// `http://127.0.0.1:PORT`, with the JSON API under `/storage/v1/` and uploads under
    /// `/upload/storage/v1/`.
    pub fn storage_base_url(&self) -> &str {
        &self.base_url
    }

    /// The BigQuery v2 REST root, `http://127.0.0.1:PORT/bigquery/v2/`: what
    /// `wif_bigquery::BigQueryBuilder::base_url` takes. (`BIGQUERY_EMULATOR_HOST` takes the
    /// address alone, [`RunningEmulator::addr`].)
    pub fn bigquery_base_url(&self) -> String {
        format!("{}/bigquery/v2/", self.base_url)
    }

    /// Creates Cloud Storage bucket `name` in the emulated project, with uniform bucket-level
    /// access (so federated principals may use it too). False if it already existed.
    pub fn create_bucket(&self, name: &str) -> bool {
        self.state.create_bucket(name)
    }

    /// Creates BigQuery dataset `dataset` of the emulated project in `location` (`US`, `EU`,
    /// `europe-west1`, …) unless it exists.
    pub fn create_dataset(&self, dataset: &str, location: &str) {
        self.state
            .create_dataset(&self.state.config.project_id, dataset, location);
    }

    /// Creates (or replaces with an empty one) BigQuery table `dataset.table` of the emulated
    /// project with `schema`, creating the dataset in `US` if needed.
    pub fn create_table(
        &self,
        dataset: &str,
        table: &str,
        schema: &[TableField],
    ) -> Result<(), SetupError> {
        self.state
            .create_table(&self.state.config.project_id, dataset, table, schema)
    }

    /// Inserts `rows` (JSON objects, as in `insertAll`) into table `dataset.table` of the
    /// emulated project; a row that does not fit the schema is an error and nothing is inserted.
    pub fn insert_rows(
        &self,
        dataset: &str,
        table: &str,
        rows: &[serde_json::Value],
    ) -> Result<(), SetupError> {
        self.state
            .insert_rows(&self.state.config.project_id, dataset, table, rows)
    }

    /// The rows of table `dataset.table` of the emulated project, in canonical form (scalars as
    /// BigQuery's strings), or `None` when it does not exist.
    pub fn table_rows(&self, dataset: &str, table: &str) -> Option<Vec<serde_json::Value>> {
        self.state
            .table_rows(&self.state.config.project_id, dataset, table)
    }

    /// Requests received so far by each emulated service.
    pub fn counters(&self) -> std::collections::BTreeMap<&'static str, u64> {
        Endpoint::SERVICES
            .into_iter()
            .map(|e| (e.name(), self.state.requests(e)))
            .collect()
    }

    /// Replaces `endpoint`'s fault plan (latency, failures, resets, truncated or slow bodies).
    pub fn set_fault(&self, endpoint: Endpoint, fault: Fault) {
        self.state.faults.set(endpoint, fault);
    }

    /// Expires every token issued so far: the next call with one gets 401, so clients must
    /// refresh.
    pub fn expire_tokens(&self) {
        self.state.expire_all_tokens();
    }

    /// Stops serving and waits for the server tasks.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mtls) = &mut self.mtls {
            if let Some(stop) = mtls.stop.take() {
                let _ = stop.send(());
            }
            let _ = (&mut mtls.task).await;
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(stop) = self.mtls.as_mut().and_then(|m| m.stop.take()) {
            let _ = stop.send(());
        }
    }
}
