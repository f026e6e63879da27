//! The real binary under the real `lambda_runtime`, in a child process with a Lambda-shaped
//! environment: a wiremock Lambda Runtime API hands it several invocations, FakeGoogle plays
//! Google STS and IAM Credentials, and a wiremock Cloud Storage answers. Proves what the unit
//! suites can't: main.rs keeps one token for the whole container.

#![allow(clippy::panic)]

mod support;

use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use support::{ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN, aws_config};
use wif::testing::FakeGoogle;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const SERVICE_ACCOUNT: &str = "lister@my-project.iam.gserviceaccount.com";

/// Plays `GET /2018-06-01/runtime/invocation/next`: hands out `events` in order, then holds the
/// next poll open (as Lambda does while no request arrives) until the test stops the process.
struct NextInvocation {
    events: Vec<Value>,
    served: Arc<AtomicUsize>,
}

impl Respond for NextInvocation {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let n = self.served.fetch_add(1, Ordering::SeqCst);
        let Some(event) = self.events.get(n) else {
            return ResponseTemplate::new(200).set_delay(Duration::from_secs(120));
        };
        let deadline = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() + 30_000)
            .unwrap_or_default();
        ResponseTemplate::new(200)
            .insert_header(
                "lambda-runtime-aws-request-id",
                format!("req-{}", n + 1).as_str(),
            )
            .insert_header("lambda-runtime-deadline-ms", deadline.to_string().as_str())
            .insert_header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:111122223333:function:list-reports",
            )
            .set_body_json(event)
    }
}

/// The function's binary with a cleared environment plus what Lambda sets for every function,
/// its runtime API at `runtime_api`.
fn function(runtime_api: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wif-example-aws-lambda"));
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "list-reports")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
    command
}

/// Everything the function printed, stdout then stderr.
fn logs_of(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn posted(runtime: &MockServer) -> Vec<Request> {
    runtime
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.method.as_str() == "POST")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_container_serves_many_invocations_with_one_token() {
    let google = FakeGoogle::start().await;
    let metadata = MockServer::start().await;
    let gcs = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/storage/v1/b/my-bucket/o"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "kind": "storage#objects", "items": [{"name": "reports/a.csv"}]
        })))
        .mount(&gcs)
        .await;
    let runtime = MockServer::start().await;
    let events = vec![
        json!({"bucket": "my-bucket", "prefix": "reports/"}),
        json!({"bucket": "my-bucket", "prefix": "reports/"}),
        json!({"bucket": "gs://my-bucket"}),
        json!({"bucket": "my-bucket"}),
    ];
    let expected_posts = events.len();
    Mock::given(method("GET"))
        .and(path("/2018-06-01/runtime/invocation/next"))
        .respond_with(NextInvocation {
            events,
            served: Arc::new(AtomicUsize::new(0)),
        })
        .mount(&runtime)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(
            r"^/2018-06-01/runtime/invocation/[^/]+/(response|error)$",
        ))
        .respond_with(ResponseTemplate::new(202))
        .mount(&runtime)
        .await;

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let config = dir.path().join("wif.json");
    // `metadata` stands in for `http://169.254.169.254`: a loopback server that must see nothing.
    let json = aws_config(&google, &metadata.uri(), Some(SERVICE_ACCOUNT), None);
    std::fs::write(&config, json).unwrap_or_else(|e| panic!("config: {e}"));
    let runtime_api = runtime.address().to_string();

    // The environment Lambda gives a function, and nothing else from ours.
    let mut child = function(&runtime_api)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
        .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
        .env("AWS_REGION", "us-east-1")
        .env("GOOGLE_APPLICATION_CREDENTIALS", &config)
        .env("GCS_BASE_URL", gcs.uri())
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start the function: {e}"));

    let started = tokio::time::Instant::now();
    while posted(&runtime).await.len() < expected_posts
        && started.elapsed() < Duration::from_secs(20)
        && matches!(child.try_wait(), Ok(None))
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Our own child, by its handle; it would otherwise wait on the held-open poll.
    let _ = child.kill();
    let output = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("collect the function's output: {e}"));
    let logs = logs_of(&output);

    let posts = posted(&runtime).await;
    assert_eq!(
        posts.len(),
        expected_posts,
        "every invocation answered; logs:\n{logs}"
    );
    let by_id = |id: &str| {
        posts
            .iter()
            .find(|r| r.url.path().contains(&format!("/invocation/{id}/")))
            .unwrap_or_else(|| panic!("no answer for {id}; logs:\n{logs}"))
    };
    for id in ["req-1", "req-2", "req-4"] {
        let answer = by_id(id);
        assert!(
            answer.url.path().ends_with("/response"),
            "{id}: {}",
            answer.url
        );
        let body: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
        assert_eq!(body["objects"], json!(["reports/a.csv"]), "{id}: {body}");
    }
    let failed = by_id("req-3");
    assert!(failed.url.path().ends_with("/error"), "{}", failed.url);
    let body: Value = serde_json::from_slice(&failed.body).unwrap_or_default();
    assert_eq!(body["errorType"], "ApiError", "{body}");
    assert!(
        body["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("invalid event: `bucket`")),
        "{body}"
    );

    assert_eq!(
        google.sts_calls().await,
        1,
        "one exchange per container; logs:\n{logs}"
    );
    assert_eq!(
        google.iam_calls().await,
        1,
        "one impersonation per container"
    );
    for r in gcs.received_requests().await.unwrap_or_default() {
        let auth = r.headers.get("authorization").and_then(|v| v.to_str().ok());
        assert_eq!(auth, Some("Bearer impersonated-1"));
    }
    let metadata_calls = metadata.received_requests().await.unwrap_or_default();
    assert!(
        metadata_calls.is_empty(),
        "no metadata service on Lambda: {metadata_calls:?}"
    );
    for secret in [
        SECRET_ACCESS_KEY,
        SESSION_TOKEN,
        "federated-1",
        "impersonated-1",
    ] {
        assert!(
            !logs.contains(secret),
            "{secret:?} leaked into the logs:\n{logs}"
        );
    }
}

#[test]
fn a_broken_configuration_fails_the_cold_start_with_a_readable_message() {
    // Nothing listens on the runtime API: the process must stop before talking to it.
    let output = function("127.0.0.1:9")
        .env(
            "GOOGLE_APPLICATION_CREDENTIALS",
            "/var/task/missing-wif.json",
        )
        .output()
        .unwrap_or_else(|e| panic!("run the function: {e}"));
    let logs = logs_of(&output);
    assert_eq!(output.status.code(), Some(1), "{logs}");
    assert!(logs.contains("/var/task/missing-wif.json"), "{logs}");
    assert!(logs.contains("hint:"), "Display, not Debug: {logs}");
    assert!(!logs.contains("Error {"), "Display, not Debug: {logs}");
}
