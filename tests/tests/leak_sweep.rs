//! The secret-leak sweep, library side: every end-to-end scenario against the emulator — the
//! file, URL, AWS environment (Lambda), AWS IMDSv2 and executable sources, each with and without
//! impersonation; the failure paths (STS 400, IAM 403, an expired token); BigQuery insert and
//! query and Cloud Storage upload (simple and resumable) and download through the adapters — with
//! every crate logging at TRACE into one capture. Then no secret may appear in the logs, in any
//! `Debug` of a public value, or in any error's `Display` or `Debug`:
//!
//! * the AWS secret access key and session token, and the OAuth `client_secret`;
//! * subject tokens: the values the sources produced, and anything shaped like a JWT or a SigV4
//!   signature (a token minted for a call we did not observe);
//! * federated and service-account access tokens (`emu-federated.<hex>`, `emu-sa.<hex>`);
//! * resumable upload session URIs (they authorize the upload by themselves).
//!
//! The CLI side (`wif token`, `wif demo`, … at `RUST_LOG=trace`) is
//! `crates/wif-cli/tests/leak_sweep.rs`, where the `wif` binary is built for the test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;
use std::sync::Arc;

use secrecy::ExposeSecret;
use serde_json::{Value, json};
use wif::{Credentials, MapEnvironment};
use wif_bigquery::{BigQuery, InsertOptions, QueryRequest};
use wif_core::testing::LogCapture;
use wif_emulator::config::DEFAULT_SERVICE_ACCOUNT;
use wif_emulator::configs::impersonation_url;
use wif_emulator::{EmulatorConfig, ServiceAccount};
use wif_storage::{Storage, UploadOptions, UploadSource};

use support::{World, lambda_env, world_of};

const CLIENT_ID: &str = "leak-sweep-client";
const CLIENT_SECRET: &str = "CLIENT-SECRET-3f9a1c7e";
/// A service account that exists but trusts nobody: impersonating it is a 403.
const LOCKED_SERVICE_ACCOUNT: &str = "locked@wif-demo.iam.gserviceaccount.com";

/// Everything that must stay secret, and everything shown that could betray one.
#[derive(Default)]
struct Sweep {
    secrets: Vec<String>,
    shown: Vec<(String, String)>,
}

impl Sweep {
    fn secret(&mut self, value: impl Into<String>) {
        let value = value.into();
        assert!(value.len() >= 8, "too short to search for: {value:?}");
        self.secrets.push(value);
    }

    fn show(&mut self, what: impl Into<String>, text: impl Into<String>) {
        self.shown.push((what.into(), text.into()));
    }

    fn error(&mut self, what: &str, err: &wif::Error) {
        self.show(format!("{what}: error"), format!("{err}\n{err:?}"));
    }

    fn assert_clean(&self) {
        for (what, text) in &self.shown {
            for secret in &self.secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "{what} shows the secret {secret:?}:\n{text}"
                );
            }
            let shaped = wif_emulator::leaks::secret_shapes(text);
            assert!(shaped.is_empty(), "{what} shows {shaped:?}:\n{text}");
        }
    }
}

/// The configurations of one world as JSON values, so variants can be derived.
fn config(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn without_impersonation(mut config: Value) -> Value {
    config
        .as_object_mut()
        .unwrap()
        .remove("service_account_impersonation_url");
    config
}

fn credentials(config: &Value, env: MapEnvironment) -> Credentials {
    Credentials::builder()
        .environment(Arc::new(env))
        .config_json(&config.to_string())
        .unwrap()
        .retry_policy(support::quick_retries())
        .build()
        .unwrap()
}

/// Gets a token (and the subject token the source produces) through `creds`, recording both as
/// secrets and everything shown about them.
async fn chain(sweep: &mut Sweep, what: &str, creds: &Credentials) -> wif::AccessToken {
    let token = creds
        .token()
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let subject = creds
        .subject_token()
        .await
        .unwrap_or_else(|e| panic!("{what}: subject token: {e}"));
    sweep.secret(token.secret().expose_secret());
    sweep.secret(subject.secret().expose_secret());
    sweep.show(
        format!("{what}: Debug of credentials, token and subject token"),
        format!("{creds:?}\n{token:?}\n{subject:?}\n{:?}", creds.info()),
    );
    token
}

async fn sources(sweep: &mut Sweep, world: &World) -> Credentials {
    let configs = &world.configs;
    let executable_env =
        || MapEnvironment::new().with(wif::layers::source_exec::ALLOW_EXECUTABLES_ENV, "1");
    let scenarios: [(&str, &Path, MapEnvironment); 5] = [
        ("file", &configs.file, MapEnvironment::new()),
        ("url", &configs.url, MapEnvironment::new()),
        ("aws env", &configs.aws_lambda, lambda_env(configs)),
        ("aws imdsv2", &configs.aws_ec2_imdsv2, MapEnvironment::new()),
        ("executable", &configs.executable, executable_env()),
    ];
    let mut impersonated = None;
    for (name, path, env) in scenarios {
        let with = config(path);
        let creds = credentials(&with, env.clone());
        let token = chain(sweep, &format!("{name}, impersonated"), &creds).await;
        assert!(
            token.secret().expose_secret().starts_with("emu-sa."),
            "{name}"
        );
        let creds_direct = credentials(&without_impersonation(with), env);
        let token = chain(sweep, &format!("{name}, federated"), &creds_direct).await;
        assert!(
            token.secret().expose_secret().starts_with("emu-federated."),
            "{name}"
        );
        impersonated.get_or_insert(creds);
    }
    impersonated.unwrap()
}

/// AWS outbound identity federation (a plugged-in source, no credential file): the AWS-signed JWT
/// is a subject token like any other, with and without impersonation; then the account switched
/// off, so AWS's refusal passes through the error path too.
async fn aws_jwt(sweep: &mut Sweep, world: &World) {
    let emulator = &world.emulator;
    let source = || {
        support::aws_jwt_source(
            emulator,
            lambda_env(&world.configs),
            emulator.config().aws_jwt_allowed_audience(),
        )
    };
    let creds = support::aws_jwt_credentials(emulator, source(), true);
    sweep.show("aws jwt source: Debug", format!("{:?}", source()));
    chain(sweep, "aws jwt, impersonated", &creds).await;
    let creds = support::aws_jwt_credentials(emulator, source(), false);
    chain(sweep, "aws jwt, federated", &creds).await;

    emulator.set_outbound_web_identity_federation(false);
    let err = support::aws_jwt_credentials(emulator, source(), true)
        .token()
        .await
        .unwrap_err();
    emulator.set_outbound_web_identity_federation(true);
    sweep.error("AWS outbound federation disabled", &err);
}

async fn failures(sweep: &mut Sweep, world: &World) {
    let emulator = &world.emulator;
    let file = config(&world.configs.file);

    // STS 400: an audience of a provider that does not exist, with client authentication.
    let mut bad_audience = file.clone();
    bad_audience["audience"] = json!(emulator.config().audience("no-such-provider"));
    bad_audience["client_id"] = json!(CLIENT_ID);
    bad_audience["client_secret"] = json!(CLIENT_SECRET);
    let creds = credentials(&bad_audience, MapEnvironment::new());
    sweep.show("client-auth credentials: Debug", format!("{creds:?}"));
    let err = creds.token().await.unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    sweep.error("STS 400", &err);

    // The same client authentication succeeding, so it is sent (and logged about) for real.
    let mut client_auth = file.clone();
    client_auth["client_id"] = json!(CLIENT_ID);
    client_auth["client_secret"] = json!(CLIENT_SECRET);
    let creds = credentials(&client_auth, MapEnvironment::new());
    chain(sweep, "file with client auth", &creds).await;

    // IAM 403: a service account the federated principal may not impersonate.
    let mut locked = file.clone();
    locked["service_account_impersonation_url"] =
        json!(impersonation_url(emulator, LOCKED_SERVICE_ACCOUNT));
    let err = credentials(&locked, MapEnvironment::new())
        .token()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    sweep.error("IAM 403", &err);

    // AWS credentials the emulator's STS does not know: the signed request is refused.
    let env = lambda_env(&world.configs).with(
        "AWS_SECRET_ACCESS_KEY",
        "wrong/secret/key/00000000000000000000000",
    );
    sweep.secret("wrong/secret/key/00000000000000000000000");
    let err = credentials(&config(&world.configs.aws_lambda), env)
        .token()
        .await
        .unwrap_err();
    sweep.error("AWS signature refused", &err);

    // The executable source without the opt-in: refused before running anything.
    let err = credentials(&config(&world.configs.executable), MapEnvironment::new())
        .token()
        .await
        .unwrap_err();
    sweep.error("executables not allowed", &err);
}

async fn apis(sweep: &mut Sweep, world: &World, creds: &Credentials) {
    let emulator = &world.emulator;
    let project = emulator.config().project_id.clone();
    wif_emulator::bigquery::create_table(
        emulator.state(),
        &project,
        "sweep",
        "events",
        &[
            wif_emulator::bigquery::TableField::new("id", "INT64").required(),
            wif_emulator::bigquery::TableField::new("message", "STRING"),
        ],
    )
    .unwrap();
    let bq = BigQuery::builder()
        .provider(creds.clone())
        .project(project.clone())
        .base_url(emulator.bigquery_base_url())
        .build()
        .unwrap();
    let table = bq.table("sweep", "events");
    let rows = [
        json!({"id": 1, "message": "hello"}),
        json!({"id": 2, "message": "world"}),
    ];
    let report = bq
        .insert_rows(&table, &rows, InsertOptions::default())
        .await
        .unwrap();
    sweep.show("BigQuery insert report", format!("{report:?}"));
    let results = bq
        .query(QueryRequest::new(format!(
            "SELECT id, message FROM `{project}.sweep.events`"
        )))
        .await
        .unwrap();
    sweep.show("BigQuery results", format!("{results:?}"));
    let collected = results.collect_rows().await.unwrap();
    assert_eq!(collected.len(), 2);
    let err = bq
        .query(QueryRequest::new("SELEC nonsense"))
        .await
        .unwrap_err();
    sweep.error("BigQuery invalid query", &err);
    sweep.show("BigQuery client", format!("{bq:?}"));

    // An expired token: the adapter's 401 path (invalidate, refresh, replay).
    emulator.state().expire_all_tokens();
    bq.insert_rows(&table, &rows[..1], InsertOptions::default())
        .await
        .unwrap();

    emulator.state().create_bucket("sweep-bucket");
    let storage = Storage::builder()
        .provider(creds.clone())
        .base_url(emulator.base_url())
        .environment(MapEnvironment::new())
        .resumable_threshold(1024)
        .build()
        .unwrap();
    sweep.show("Storage client", format!("{storage:?}"));
    let small = storage
        .upload(
            "sweep-bucket",
            "small.txt",
            UploadSource::bytes(b"small object".to_vec()),
            UploadOptions::new().content_type("text/plain"),
        )
        .await
        .unwrap();
    sweep.show("Storage object", format!("{small:?}"));
    let large = vec![7u8; 300 * 1024];
    let session = storage
        .start_resumable(
            "sweep-bucket",
            "large.bin",
            &UploadOptions::new(),
            Some(large.len() as u64),
        )
        .await
        .unwrap();
    sweep.secret(session.session_uri().expose_secret());
    sweep.show("resumable session", format!("{session:?}"));
    session
        .upload(UploadSource::bytes(large.clone()))
        .await
        .unwrap();
    let back = storage
        .download("sweep-bucket", "large.bin", None)
        .await
        .unwrap()
        .into_bytes()
        .await
        .unwrap();
    assert_eq!(back.len(), large.len());
    let err = storage
        .download("sweep-bucket", "missing.bin", None)
        .await
        .unwrap_err();
    sweep.error("Storage 404", &err);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_trace_logs_debug_or_errors_in_any_scenario() {
    let logs = LogCapture::global();
    let mut config = EmulatorConfig::default();
    config.service_accounts.push(ServiceAccount::new(
        LOCKED_SERVICE_ACCOUNT,
        Vec::<String>::new(),
    ));
    let world = world_of(config).await;
    let aws = &world.emulator.config().aws;
    let mut sweep = Sweep::default();
    sweep.secret(aws.secret_access_key.clone());
    sweep.secret(aws.session_token.clone());
    sweep.secret(CLIENT_SECRET);
    sweep.secret(
        std::fs::read_to_string(&world.configs.oidc_token)
            .unwrap()
            .trim(),
    );

    let creds = sources(&mut sweep, &world).await;
    aws_jwt(&mut sweep, &world).await;
    failures(&mut sweep, &world).await;
    apis(&mut sweep, &world, &creds).await;
    assert!(
        creds.info().impersonated_service_account.as_deref() == Some(DEFAULT_SERVICE_ACCOUNT),
        "the APIs ran as the impersonated service account"
    );

    let captured = logs.contents();
    for span in ["sts_exchange", "generate_access_token", "bigquery", "gcs"] {
        assert!(
            captured.contains(span),
            "TRACE logs were captured (no `{span}`):\n{captured}"
        );
    }
    sweep.show("TRACE logs", captured);
    sweep.assert_clean();
}
