//! Fault injection: fail-next-N, Retry-After, latency, slow bodies and connection resets, set
//! from Rust and through the control API. IAM Credentials is the guinea pig endpoint.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{CLOUD_PLATFORM, generate_access_token, http, start_default};
use wif_emulator::config::DEFAULT_SERVICE_ACCOUNT;
use wif_emulator::{Endpoint, Fault, RunningEmulator, TokenKind};

struct Iam {
    emulator: RunningEmulator,
    bearer: String,
}

impl Iam {
    async fn start() -> Self {
        let emulator = start_default().await;
        let sets = vec![emulator.config().principal_set_all()];
        let (bearer, _) = emulator.state().issue(
            TokenKind::Federated,
            emulator.config().principal_for_subject("faulty"),
            sets,
            vec![],
            Duration::from_secs(3600),
        );
        Iam { emulator, bearer }
    }

    fn request(&self) -> reqwest::RequestBuilder {
        let body = json!({"scope": [CLOUD_PLATFORM]});
        generate_access_token(&self.emulator, DEFAULT_SERVICE_ACCOUNT, &body)
            .bearer_auth(&self.bearer)
    }

    /// Sets `fault` on IAM Credentials, from Rust.
    fn inject(&self, fault: Fault) {
        self.emulator.set_fault(Endpoint::IamCredentials, fault);
    }

    /// The whole answer to one request: head and body, or the transport error cutting it.
    async fn whole_answer(&self) -> reqwest::Result<axum::body::Bytes> {
        self.request().send().await?.bytes().await
    }

    async fn status(&self) -> u16 {
        self.request().send().await.unwrap().status().as_u16()
    }

    async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let url = format!("{}/_emulator/{path}", self.emulator.base_url());
        let mut request = http().request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// Sets a fault through the control API (`POST /_emulator/faults`).
    async fn set_fault(&self, fault: Value) -> reqwest::Response {
        self.control(reqwest::Method::POST, "faults", Some(fault))
            .await
    }

    /// The JSON a control API GET answers.
    async fn control_json(&self, path: &str) -> Value {
        self.control(reqwest::Method::GET, path, None)
            .await
            .json()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn fail_next_n_fails_n_times_then_serves() {
    let iam = Iam::start().await;
    iam.inject(Fault::fail_next(2, 503).with_retry_after(7));
    let first = iam.request().send().await.unwrap();
    assert_eq!(first.status(), 503);
    assert_eq!(first.headers()["retry-after"], "7");
    let body: Value = first.json().await.unwrap();
    assert_eq!(body["error"]["code"], 503);
    assert_eq!(iam.status().await, 503);
    assert_eq!(iam.status().await, 200);
    assert_eq!(iam.status().await, 200);
    // Failed requests are counted too: the client really made them.
    assert_eq!(iam.emulator.requests(Endpoint::IamCredentials), 4);
}

#[tokio::test]
async fn other_endpoints_are_unaffected() {
    let iam = Iam::start().await;
    iam.emulator
        .set_fault(Endpoint::GoogleSts, Fault::fail_next(5, 500));
    assert_eq!(iam.status().await, 200);
    // The control API is never faulted.
    iam.emulator
        .set_fault(Endpoint::Control, Fault::fail_next(5, 500));
    let health = iam.control(reqwest::Method::GET, "health", None).await;
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn latency_delays_every_response() {
    let iam = Iam::start().await;
    iam.inject(Fault::latency(Duration::from_millis(300)));
    for _ in 0..2 {
        let started = Instant::now();
        assert_eq!(iam.status().await, 200);
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "{:?}",
            started.elapsed()
        );
    }
    iam.emulator.faults().clear();
    let started = Instant::now();
    assert_eq!(iam.status().await, 200);
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_slow_body_arrives_late_after_a_prompt_head() {
    let iam = Iam::start().await;
    let fault = iam
        .set_fault(json!({"endpoint": "iam", "slow_body": 400}))
        .await;
    assert_eq!(fault.status(), 204);
    let started = Instant::now();
    let response = iam.request().send().await.unwrap();
    let head = started.elapsed();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["accessToken"].is_string());
    assert!(head < Duration::from_millis(400), "head after {head:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    // A client with a short overall timeout gives up on it.
    let request = iam.request().timeout(Duration::from_millis(150));
    let outcome = async { request.send().await?.bytes().await }.await;
    assert!(outcome.unwrap_err().is_timeout());
}

#[tokio::test]
async fn a_connection_reset_is_a_transport_error_then_service_resumes() {
    let iam = Iam::start().await;
    iam.inject(Fault::reset_next(1));
    // Whether the failure surfaces at the head or the body, the client never gets a usable
    // answer and no HTTP status error: it is a transport failure.
    let outcome = iam.whole_answer().await;
    let err = outcome.unwrap_err();
    assert!(!err.is_status(), "{err:?}");
    assert!(
        err.is_body() || err.is_request() || err.is_connect(),
        "{err:?}"
    );
    assert_eq!(iam.status().await, 200);
}

#[tokio::test]
async fn the_control_api_sets_counts_and_clears_faults() {
    let iam = Iam::start().await;
    let set = iam
        .set_fault(json!({"endpoint": "iam", "fail_next": 1, "status": 429, "retry_after": 2}))
        .await;
    assert_eq!(set.status(), 204);
    let failed = iam.request().send().await.unwrap();
    assert_eq!(failed.status(), 429);
    assert_eq!(failed.headers()["retry-after"], "2");
    assert_eq!(iam.status().await, 200);

    let counters: Value = iam.control_json("counters").await;
    assert_eq!(counters["iam"], 2);
    assert_eq!(counters["google-sts"], 0);

    // Clearing one endpoint, then all.
    iam.set_fault(json!({"endpoint": "iam", "fail_next": 9}))
        .await;
    let cleared = iam
        .control(reqwest::Method::DELETE, "faults/iam", None)
        .await;
    assert_eq!(cleared.status(), 204);
    assert_eq!(iam.status().await, 200);
    iam.set_fault(json!({"endpoint": "iam", "fail_next": 9}))
        .await;
    let cleared = iam.control(reqwest::Method::DELETE, "faults", None).await;
    assert_eq!(cleared.status(), 204);
    assert_eq!(iam.status().await, 200);

    // Bad requests are refused, not guessed at.
    let unknown = iam
        .set_fault(json!({"endpoint": "dynamodb", "fail_next": 1}))
        .await;
    assert_eq!(unknown.status(), 400);
    let typo = iam
        .set_fault(json!({"endpoint": "iam", "fail_nxt": 1}))
        .await;
    assert!(typo.status().is_client_error(), "{}", typo.status());
    assert_eq!(iam.status().await, 200);
}

#[tokio::test]
async fn the_world_is_described_without_secrets() {
    let iam = Iam::start().await;
    let world: Value = iam.control_json("world").await;
    let config = iam.emulator.config();
    assert_eq!(world["aws_audience"], config.aws_audience().as_str());
    assert_eq!(world["oidc_audience"], config.oidc_audience().as_str());
    assert_eq!(world["x509_audience"], config.x509_audience().as_str());
    assert_eq!(world["service_accounts"], json!([DEFAULT_SERVICE_ACCOUNT]));
    let text = world.to_string();
    assert!(!text.contains(&config.aws.secret_access_key));
    assert!(!text.contains(&config.aws.session_token));
}

#[tokio::test]
async fn a_truncated_body_is_cut_mid_way_then_service_resumes() {
    let iam = Iam::start().await;
    iam.inject(Fault::truncate_next(1));
    // The head arrives, promising the whole body; the body stops half way.
    let response = iam.request().send().await.unwrap();
    assert_eq!(response.status(), 200);
    let promised = response.content_length().unwrap();
    assert!(promised > 20, "{promised}");
    let err = response.bytes().await.unwrap_err();
    assert!(err.is_body() || err.is_decode(), "{err:?}");
    assert_eq!(iam.status().await, 200);

    // Also settable over the control API.
    let set = iam
        .set_fault(json!({"endpoint": "iam", "truncate_next": 1}))
        .await;
    assert_eq!(set.status(), 204);
    let outcome = iam.whole_answer().await;
    assert!(outcome.is_err());
    assert_eq!(iam.status().await, 200);
}
