//! The second handler, [`OfficialWriter`], against the emulator: Google's official Cloud Storage
//! client on the wif bridge, set up from a Lambda-shaped environment (the role's session, ADC
//! pointing at the emulator's AWS configuration), invoked as the runtime invokes it.

#![cfg(feature = "official-client")]

use std::sync::Arc;

use lambda_runtime::{Context, LambdaEvent};
use wif::MapEnvironment;
use wif_emulator::configs::{read_env_file, write_configs};
use wif_emulator::{Emulator, EmulatorConfig};
use wif_example_aws_lambda::{GCS_BASE_URL_VAR, OfficialWriter, WriteRequest};

fn event(bucket: &str, name: &str, content: &str) -> LambdaEvent<WriteRequest> {
    LambdaEvent::new(
        WriteRequest {
            bucket: bucket.to_owned(),
            name: name.to_owned(),
            content: content.to_owned(),
        },
        Context::default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_client_writes_on_wif_credentials_across_a_token_expiry() {
    let _ = Arc::unwrap_or_clone(wif::layers::core::http::crypto_provider()).install_default();
    let emulator = Emulator::new(EmulatorConfig::default())
        .start_local()
        .await
        .expect("emulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let configs = write_configs(&emulator, dir.path()).expect("configs");
    let env = read_env_file(&configs.aws_lambda_env)
        .expect("lambda env")
        .into_iter()
        .collect::<MapEnvironment>()
        .with(
            "GOOGLE_APPLICATION_CREDENTIALS",
            configs.aws_lambda.to_string_lossy(),
        )
        .with(GCS_BASE_URL_VAR, emulator.storage_base_url());
    assert!(emulator.create_bucket("lambda-out"));

    let writer = OfficialWriter::from_environment(Arc::new(env))
        .await
        .expect("writer");
    let written = writer
        .invoke(event("lambda-out", "reports/a.csv", "id,kind\n1,signup\n"))
        .await
        .expect("first write");
    assert_eq!((written.name.as_str(), written.size), ("reports/a.csv", 17));
    let stored = emulator
        .state()
        .storage_object("lambda-out", "reports/a.csv");
    assert_eq!(
        stored,
        Some((written.generation, b"id,kind\n1,signup\n".to_vec()))
    );
    assert_eq!(emulator.counters()["google-sts"], 1);

    // A warm invocation after the tokens expired: a new exchange, and the write succeeds.
    emulator.expire_tokens();
    writer
        .invoke(event("lambda-out", "reports/b.csv", "id\n2\n"))
        .await
        .expect("write after expiry");
    assert_eq!(emulator.counters()["google-sts"], 2);
    assert!(
        emulator
            .state()
            .storage_object("lambda-out", "reports/b.csv")
            .is_some()
    );

    // A bucket that does not exist: an ApiError naming the call, never a token.
    let diagnostic = writer
        .invoke(event("no-such-bucket", "x", "x"))
        .await
        .expect_err("no bucket");
    assert_eq!(diagnostic.error_type, "ApiError", "{diagnostic:?}");
    assert!(
        diagnostic.error_message.contains("objects.insert"),
        "{diagnostic:?}"
    );
}

#[tokio::test]
async fn a_bad_event_fails_before_any_call() {
    let _ = Arc::unwrap_or_clone(wif::layers::core::http::crypto_provider()).install_default();
    let credentials = wif::testing::static_credentials("ya29.unused");
    let writer = OfficialWriter::new(credentials, Some("http://127.0.0.1:1"))
        .await
        .expect("writer");
    for (bucket, name) in [("gs://b", "x"), ("b", "")] {
        let diagnostic = writer
            .invoke(event(bucket, name, "x"))
            .await
            .expect_err("bad event");
        assert!(
            diagnostic.error_message.contains("invalid event"),
            "{bucket:?} {name:?}: {diagnostic:?}"
        );
    }
}
