//! The Lambda example's cold start: its release binary in a child process with a Lambda-shaped
//! environment, a loopback Lambda Runtime API (wiremock) that hands it one invocation, and the
//! emulator as Google (STS, IAM Credentials, Cloud Storage). Measured from spawn to the moment
//! the function posts its first answer: process start, runtime client, first token (exchange +
//! impersonation) and one Cloud Storage list on loopback.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The bucket the invocation lists (created in the emulator by the caller).
pub const BUCKET: &str = "wif-bench-lambda";

/// Hands out one invocation, then holds the next poll open, as Lambda does with no traffic.
struct NextInvocation {
    served: Mutex<bool>,
}

impl Respond for NextInvocation {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let mut served = self.served.lock().unwrap_or_else(PoisonError::into_inner);
        if *served {
            return ResponseTemplate::new(200).set_delay(Duration::from_secs(120));
        }
        *served = true;
        let deadline = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() + 30_000)
            .unwrap_or_default();
        ResponseTemplate::new(200)
            .insert_header("lambda-runtime-aws-request-id", "bench-1")
            .insert_header("lambda-runtime-deadline-ms", deadline.to_string().as_str())
            .insert_header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:111122223333:function:wif-bench",
            )
            .set_body_json(json!({"bucket": BUCKET}))
    }
}

/// Notes when, and how, the function answered.
struct Answer {
    at: Arc<Mutex<Option<(Instant, bool)>>>,
}

impl Respond for Answer {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let ok = request.url.path().ends_with("/response");
        let mut at = self.at.lock().unwrap_or_else(PoisonError::into_inner);
        at.get_or_insert((Instant::now(), ok));
        ResponseTemplate::new(202)
    }
}

/// One cold start of `binary`: spawn to first answer. `env` is the execution role's variables.
pub async fn cold_start(
    binary: &Path,
    config: &Path,
    gcs_base: &str,
    env: &[(String, String)],
) -> Result<Duration, String> {
    let mut vars = env.to_vec();
    vars.push((
        "GOOGLE_APPLICATION_CREDENTIALS".to_owned(),
        config.to_string_lossy().into_owned(),
    ));
    vars.push(("GCS_BASE_URL".to_owned(), gcs_base.to_owned()));
    let start = run_once(binary, &vars).await?;
    Ok(start.answered.saturating_duration_since(start.spawned))
}

/// What one cold start of a Lambda function showed.
#[derive(Debug, Clone, Copy)]
pub struct ColdStart {
    /// When the process was spawned.
    pub spawned: Instant,
    /// When it answered its first invocation.
    pub answered: Instant,
    /// Its peak resident set by then (`VmHWM`), KiB.
    pub peak_rss_kib: Option<u64>,
}

/// Spawns `binary` under a loopback Lambda Runtime API with `env` (credentials, configuration,
/// endpoints) added to a function's usual variables, hands it one invocation, and kills it once
/// it answered.
pub async fn run_once(binary: &Path, env: &[(String, String)]) -> Result<ColdStart, String> {
    let runtime = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/2018-06-01/runtime/invocation/next"))
        .respond_with(NextInvocation {
            served: Mutex::new(false),
        })
        .mount(&runtime)
        .await;
    let answered = Arc::new(Mutex::new(None));
    Mock::given(method("POST"))
        .and(path_regex(
            r"^/2018-06-01/runtime/invocation/[^/]+/(response|error)$",
        ))
        .respond_with(Answer {
            at: answered.clone(),
        })
        .mount(&runtime)
        .await;

    let mut vars = env.to_vec();
    for (k, v) in [
        ("AWS_LAMBDA_RUNTIME_API", runtime.address().to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", "wif-bench".to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ] {
        vars.push((k.to_owned(), v));
    }
    let spawned = Instant::now();
    let mut child = crate::process::command(binary, &[], &vars)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("start {}: {e}", binary.display()))?;
    let result = loop {
        let seen = *answered.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, ok)) = seen {
            break if ok {
                Ok(ColdStart {
                    spawned,
                    answered: at,
                    peak_rss_kib: peak_rss_kib(child.id()),
                })
            } else {
                Err("the function answered with an error".to_owned())
            };
        }
        if let Ok(Some(status)) = child.try_wait() {
            break Err(format!("the function exited before answering ({status})"));
        }
        if spawned.elapsed() > Duration::from_secs(20) {
            break Err("no answer within 20 s".to_owned());
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    };
    // Our own child, by its handle: it would otherwise wait on the held-open poll.
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// The peak resident set of a live process of ours, from `/proc` (Linux).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}
