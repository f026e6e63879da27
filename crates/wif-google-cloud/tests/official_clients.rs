//! Google's official clients, unmodified, on wif credentials, against the emulator.
//!
//! The credentials come from the emulator's AWS Lambda configuration (`aws-lambda.json` and the
//! role session of `aws-lambda.env`): AWS SigV4 → Google STS → IAM Credentials, all emulated.
//! The clients are pointed at the emulator with their documented `with_endpoint`. Each test
//! expires every token through the emulator's control API halfway, and the next call must
//! succeed with a new token from a new exchange.
//!
//! One test binary for all of them: the official crates are heavy to compile and link.

use std::sync::Arc;
use std::time::Duration;

use google_cloud_auth::credentials::Credentials;
use google_cloud_bigquery_v2::client::{DatasetService, JobService, TableService};
use google_cloud_bigquery_v2::model::{
    Job, JobConfiguration, JobConfigurationQuery, QueryParameter, QueryParameterType,
    QueryParameterValue, QueryRequest, TableReference,
};
use google_cloud_gax::retry_policy::{Aip194Strict, RetryPolicyExt as _};
use google_cloud_storage::client::{Storage, StorageControl};
use google_cloud_storage::retry_policy::RetryableErrors;
use serde_json::{Value, json};
use wif::testing::credentials_in;
use wif_emulator::configs::{read_env_file, write_configs};
use wif_emulator::{Emulator, EmulatorConfig, RunningEmulator, TableField};
use wif_google_cloud::WifCredentialsProvider;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const BUCKET: &str = "lambda-out";

/// The emulator, and wif credentials from its Lambda configuration.
struct World {
    emulator: RunningEmulator,
    wif: wif::Credentials,
    _configs: tempfile::TempDir,
}

impl World {
    async fn start() -> Result<World, Box<dyn std::error::Error>> {
        // The clients' reqwest is built without a TLS provider of its own (no aws-lc-rs);
        // plain-http loopback never handshakes, but the client still needs one installed:
        // wif's (ring, or aws-lc-rs with wif-core's feature).
        let _ = Arc::unwrap_or_clone(wif_core::http::crypto_provider()).install_default();
        let emulator = Emulator::new(EmulatorConfig::default())
            .start_local()
            .await?;
        let dir = tempfile::tempdir()?;
        let configs = write_configs(&emulator, dir.path())?;
        let wif = credentials_in(read_env_file(&configs.aws_lambda_env)?, &configs.aws_lambda)?;
        Ok(World {
            emulator,
            wif,
            _configs: dir,
        })
    }

    fn provider(&self) -> WifCredentialsProvider {
        WifCredentialsProvider::new(self.wif.clone())
    }

    fn exchanges(&self) -> u64 {
        self.emulator.counters()["google-sts"]
    }

    /// Expires every token at the emulator; the clients' next call gets a 401 with the old
    /// one. Returns the number of exchanges so far.
    fn expire_tokens(&self) -> u64 {
        self.emulator.expire_tokens();
        self.exchanges()
    }
}

/// A deterministic payload of `len` bytes that no shifted copy of itself matches.
fn payload(len: usize) -> bytes::Bytes {
    (0..len)
        .map(|i| (i % 251) as u8 ^ (i / 251 % 256) as u8)
        .collect::<Vec<u8>>()
        .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_writes_reads_lists_and_deletes_through_the_bridge() -> TestResult {
    let world = World::start().await?;
    assert!(world.emulator.create_bucket(BUCKET));
    let bucket = format!("projects/_/buckets/{BUCKET}");
    let provider = world.provider();
    let storage = Storage::builder()
        .with_endpoint(world.emulator.base_url())
        .with_credentials(Credentials::from(provider.clone()))
        .with_retry_policy(
            provider
                .refresh_on_unauthorized(RetryableErrors.with_time_limit(Duration::from_secs(60))),
        )
        .build()
        .await?;
    let control = StorageControl::builder()
        .with_endpoint(world.emulator.base_url())
        .with_credentials(Credentials::from(provider.clone()))
        .with_retry_policy(
            provider
                .refresh_on_unauthorized(RetryableErrors.with_time_limit(Duration::from_secs(60))),
        )
        .build()
        .await?;

    // Several MiB, written and read back whole.
    let data = payload(6 * 1024 * 1024 + 12_345);
    let written = storage
        .write_object(&bucket, "reports/big.bin", data.clone())
        .send_buffered()
        .await?;
    assert_eq!(written.size, data.len() as i64);
    let mut read = storage
        .read_object(&bucket, "reports/big.bin")
        .send()
        .await?;
    let mut back = Vec::with_capacity(data.len());
    while let Some(chunk) = read.next().await.transpose()? {
        back.extend_from_slice(&chunk);
    }
    assert!(
        back == data,
        "read {} bytes, not what was written",
        back.len()
    );
    assert_eq!(
        world
            .emulator
            .state()
            .storage_object(BUCKET, "reports/big.bin")
            .map(|(_, d)| d.len()),
        Some(data.len())
    );
    let exchanges = world.exchanges();
    assert_eq!(exchanges, 1, "one exchange for every call so far");

    // Tokens expire mid-test: the next call (a write) still succeeds, with a new token.
    let before = world.expire_tokens();
    storage
        .write_object(&bucket, "reports/small.txt", "after expiry")
        .send_buffered()
        .await?;
    assert_eq!(
        world.exchanges(),
        before + 1,
        "a new exchange after the expiry"
    );

    // List (the gRPC API) with a prefix, then delete, then list again.
    let listed = control
        .list_objects()
        .set_parent(&bucket)
        .set_prefix("reports/")
        .send()
        .await?;
    let mut names: Vec<(String, i64)> = listed
        .objects
        .iter()
        .map(|o| (o.name.clone(), o.size))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ("reports/big.bin".to_owned(), data.len() as i64),
            ("reports/small.txt".to_owned(), 12),
        ]
    );

    // Expire again between gRPC calls: the delete refreshes too.
    let before = world.expire_tokens();
    control
        .delete_object()
        .set_bucket(&bucket)
        .set_object("reports/big.bin")
        .send()
        .await?;
    assert_eq!(world.exchanges(), before + 1);
    let listed = control.list_objects().set_parent(&bucket).send().await?;
    let names: Vec<&str> = listed.objects.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["reports/small.txt"]);
    assert!(
        world
            .emulator
            .state()
            .storage_object(BUCKET, "reports/big.bin")
            .is_none()
    );

    // A missing object is an error from the API, not from the credentials.
    let err = control
        .delete_object()
        .set_bucket(&bucket)
        .set_object("reports/big.bin")
        .send()
        .await
        .expect_err("deleted already");
    assert!(!err.is_authentication(), "{err:?}");
    Ok(())
}

fn string_parameter(name: &str, value: &str) -> QueryParameter {
    QueryParameter::new()
        .set_name(name)
        .set_parameter_type(QueryParameterType::new().set_type("STRING"))
        .set_parameter_value(QueryParameterValue::new().set_value(value))
}

fn int_parameter(name: &str, value: i64) -> QueryParameter {
    QueryParameter::new()
        .set_name(name)
        .set_parameter_type(QueryParameterType::new().set_type("INT64"))
        .set_parameter_value(QueryParameterValue::new().set_value(value.to_string()))
}

/// The `f[].v` cells of a query result's rows.
fn cells(rows: &[serde_json::Map<String, Value>]) -> Vec<Vec<Value>> {
    rows.iter()
        .map(|row| {
            row.get("f")
                .and_then(Value::as_array)
                .map(|f| f.iter().map(|c| c["v"].clone()).collect())
                .unwrap_or_default()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bigquery_inserts_rows_and_runs_a_parameterized_query_through_the_bridge() -> TestResult {
    let world = World::start().await?;
    let project = world.emulator.config().project_id.clone();
    world.emulator.create_dataset("analytics", "US");
    world.emulator.create_table(
        "analytics",
        "events",
        &[
            TableField::new("id", "INT64").required(),
            TableField::new("kind", "STRING"),
        ],
    )?;
    let provider = world.provider();
    let retry =
        || provider.refresh_on_unauthorized(Aip194Strict.with_time_limit(Duration::from_secs(60)));
    let jobs = JobService::builder()
        .with_endpoint(world.emulator.base_url())
        .with_credentials(Credentials::from(provider.clone()))
        .with_retry_policy(retry())
        .build()
        .await?;
    let datasets = DatasetService::builder()
        .with_endpoint(world.emulator.base_url())
        .with_credentials(Credentials::from(provider.clone()))
        .with_retry_policy(retry())
        .build()
        .await?;
    let tables = TableService::builder()
        .with_endpoint(world.emulator.base_url())
        .with_credentials(Credentials::from(provider.clone()))
        .with_retry_policy(retry())
        .build()
        .await?;

    // The client has no tabledata.insertAll: rows go in as query jobs appending to the table.
    let insert = async |id: i64, kind: &str| {
        let query = JobConfigurationQuery::new()
            .set_query("SELECT @id AS id, @kind AS kind")
            .set_use_legacy_sql(false)
            .set_parameter_mode("NAMED")
            .set_query_parameters([int_parameter("id", id), string_parameter("kind", kind)])
            .set_destination_table(
                TableReference::new()
                    .set_project_id(&project)
                    .set_dataset_id("analytics")
                    .set_table_id("events"),
            )
            .set_write_disposition("WRITE_APPEND");
        jobs.insert_job()
            .set_project_id(&project)
            .set_job(Job::new().set_configuration(JobConfiguration::new().set_query(query)))
            .send()
            .await
    };
    let job = insert(1, "signup").await?;
    let state = job.status.as_ref().map(|s| s.state.as_str());
    assert_eq!(state, Some("DONE"), "{job:?}");
    insert(2, "login").await?;

    // Tokens expire mid-test: the next insert succeeds with a new token.
    let before = world.expire_tokens();
    insert(3, "signup").await?;
    assert_eq!(
        world.exchanges(),
        before + 1,
        "a new exchange after the expiry"
    );
    assert_eq!(
        world
            .emulator
            .table_rows("analytics", "events")
            .map(|r| r.len()),
        Some(3)
    );

    // A parameterized query over what was inserted.
    let result = jobs
        .query()
        .set_project_id(&project)
        .set_query_request(
            QueryRequest::new()
                .set_query(
                    "SELECT id, kind FROM analytics.events WHERE kind = @kind AND id >= @min ORDER BY id DESC",
                )
                .set_use_legacy_sql(false)
                .set_parameter_mode("NAMED")
                .set_query_parameters([string_parameter("kind", "signup"), int_parameter("min", 1)]),
        )
        .send()
        .await?;
    assert_eq!(
        cells(&result.rows),
        [
            vec![json!("3"), json!("signup")],
            vec![json!("1"), json!("signup")],
        ]
    );

    // Expire again: listing datasets and tables, and paging through results, refresh too.
    let before = world.expire_tokens();
    let listed = datasets
        .list_datasets()
        .set_project_id(&project)
        .send()
        .await?;
    assert_eq!(world.exchanges(), before + 1);
    let names: Vec<String> = listed
        .datasets
        .iter()
        .filter_map(|d| d.dataset_reference.as_ref().map(|r| r.dataset_id.clone()))
        .collect();
    assert!(names.contains(&"analytics".to_owned()), "{names:?}");
    let listed = tables
        .list_tables()
        .set_project_id(&project)
        .set_dataset_id("analytics")
        .send()
        .await?;
    let names: Vec<String> = listed
        .tables
        .iter()
        .filter_map(|t| t.table_reference.as_ref().map(|r| r.table_id.clone()))
        .collect();
    assert_eq!(names, ["events"]);

    // Results one row per page, through jobs.getQueryResults' page tokens.
    let first = jobs
        .query()
        .set_project_id(&project)
        .set_query_request(
            QueryRequest::new()
                .set_query("SELECT id FROM analytics.events ORDER BY id")
                .set_use_legacy_sql(false)
                .set_max_results(1u32),
        )
        .send()
        .await?;
    let job_id = first
        .job_reference
        .as_ref()
        .map(|r| r.job_id.clone())
        .ok_or("no job reference")?;
    let mut ids = cells(&first.rows);
    let mut token = first.page_token.clone();
    while !token.is_empty() {
        let page = jobs
            .get_query_results()
            .set_project_id(&project)
            .set_job_id(&job_id)
            .set_page_token(&token)
            .set_max_results(1u32)
            .send()
            .await?;
        ids.extend(cells(&page.rows));
        token = page.page_token.clone();
    }
    assert_eq!(ids, [vec![json!("1")], vec![json!("2")], vec![json!("3")]]);
    Ok(())
}
