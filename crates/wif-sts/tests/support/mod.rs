//! Shared pieces of the wif-sts integration tests: a scripted subject-token source, a form-body
//! matcher for wiremock (it has none), and a builder pointed at a mock server.

#![allow(dead_code)] // each test binary uses a different subset

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wif_core::{
    Error, ErrorKind, SourceContext, Step, SubjectToken, SubjectTokenSource, async_trait,
};
use wif_sts::{StsExchange, StsExchangeBuilder};

pub use wif_core::testing::quick_retries;
use wiremock::matchers::method;
use wiremock::{Match, Mock, MockBuilder, MockServer, Request, ResponseTemplate};

pub const SUBJECT: &str = "subject-token-SECRET-0123456789";
pub const ACCESS: &str = "ya29.ACCESS-TOKEN-SECRET";
pub const CLIENT_SECRET: &str = "client-SECRET-password";
pub const WORKLOAD_AUDIENCE: &str = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/pool/providers/aws";
pub const WORKFORCE_AUDIENCE: &str =
    "//iam.googleapis.com/locations/global/workforcePools/staff/providers/oidc";
pub const AWS_TYPE: &str = "urn:ietf:params:aws:token-type:aws4_request";
pub const JWT_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
pub const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

/// A source that hands out a fixed token (or a fixed error) and records each context it saw.
pub struct TestSource {
    token: Option<String>,
    kind: &'static str,
    seen: Mutex<Vec<SourceContext>>,
}

impl TestSource {
    pub fn new(token: &str) -> Arc<Self> {
        Self::with_kind(token, "programmatic")
    }

    pub fn with_kind(token: &str, kind: &'static str) -> Arc<Self> {
        Arc::new(TestSource {
            token: Some(token.to_owned()),
            kind,
            seen: Mutex::new(Vec::new()),
        })
    }

    /// A source whose every call fails at the source step.
    pub fn failing() -> Arc<Self> {
        Arc::new(TestSource {
            token: None,
            kind: "file",
            seen: Mutex::new(Vec::new()),
        })
    }

    pub fn seen(&self) -> Vec<SourceContext> {
        self.seen.lock().expect("not poisoned").clone()
    }
}

impl fmt::Debug for TestSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestSource")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SubjectTokenSource for TestSource {
    async fn subject_token(&self, ctx: &SourceContext) -> Result<SubjectToken, Error> {
        self.seen.lock().expect("not poisoned").push(ctx.clone());
        match &self.token {
            Some(t) => Ok(SubjectToken::new(t.clone())),
            None => Err(Error::new(
                Step::Source,
                ErrorKind::Io,
                "could not read /var/run/token",
            )),
        }
    }

    fn kind(&self) -> &'static str {
        self.kind
    }
}

/// wiremock has no form matcher: matches a form body with exactly these fields present (with
/// these values) and the listed fields absent.
pub struct FormMatcher {
    present: Vec<(String, String)>,
    absent: Vec<String>,
}

impl FormMatcher {
    pub fn new() -> Self {
        FormMatcher {
            present: Vec::new(),
            absent: Vec::new(),
        }
    }

    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.present.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn without(mut self, key: &str) -> Self {
        self.absent.push(key.to_owned());
        self
    }
}

impl Match for FormMatcher {
    fn matches(&self, request: &Request) -> bool {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
            .into_owned()
            .collect();
        let single = |key: &str| {
            let values: Vec<&String> = pairs
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v)
                .collect();
            (values.len() == 1).then(|| values[0].clone())
        };
        self.present
            .iter()
            .all(|(k, v)| single(k).as_deref() == Some(v.as_str()))
            && self
                .absent
                .iter()
                .all(|k| pairs.iter().all(|(pk, _)| pk != k))
    }
}

/// The decoded form of a recorded request (duplicate keys would be a bug; they fail here).
pub fn form_of(request: &Request) -> BTreeMap<String, String> {
    let mut form = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(&request.body).into_owned() {
        assert!(
            form.insert(k.clone(), v).is_none(),
            "duplicate form field {k}"
        );
    }
    form
}

pub fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

pub async fn requests(server: &MockServer) -> Vec<Request> {
    server
        .received_requests()
        .await
        .expect("request recording is on")
}

pub fn token_url(server: &MockServer) -> String {
    format!("{}/v1/token", server.uri())
}

/// A workload-pool AWS exchange pointed at `server`, three fast attempts, 5 s per attempt.
pub fn builder(server: &MockServer, source: Arc<TestSource>) -> StsExchangeBuilder {
    StsExchange::builder()
        .source_arc(source)
        .audience(WORKLOAD_AUDIENCE)
        .subject_token_type(AWS_TYPE)
        .token_url(token_url(server))
        .retry_policy(quick_retries(3))
        .timeout(Duration::from_secs(5))
}

/// The default exchange of [`builder`], with a source handing out [`SUBJECT`].
pub fn exchange(server: &MockServer) -> StsExchange {
    builder(server, TestSource::new(SUBJECT))
        .build()
        .expect("valid config")
}

/// One exchange ([`exchange`]) against a mock STS answering every POST with `response`: the
/// server and the error the exchange ends with.
pub async fn refused_exchange(response: ResponseTemplate) -> (MockServer, wif_core::Error) {
    let server = sts_answering(response).await;
    let err = wif_core::TokenProvider::token(&exchange(&server))
        .await
        .expect_err("STS refuses");
    (server, err)
}

/// A mock STS answering every POST with `response`.
pub async fn sts_answering(response: ResponseTemplate) -> MockServer {
    wif_core::testing::server_answering("POST", response).await
}

/// A mock STS answering its first `failures` POSTs with `failure`, then with a one-hour token.
pub async fn sts_failing_first(failures: u64, failure: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(failure)
        .up_to_n_times(failures)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(success_body(serde_json::json!(3600)))
        .with_priority(2)
        .mount(&server)
        .await;
    server
}

/// A mock STS where `mock` answers a one-hour token, expecting exactly one such request.
pub async fn sts_granting_once(mock: MockBuilder) -> MockServer {
    let server = MockServer::start().await;
    mock.respond_with(success_body(serde_json::json!(3600)))
        .expect(1)
        .mount(&server)
        .await;
    server
}

/// An STS (OAuth 2.0) error answer: `{"error": code, "error_description": description}`.
pub fn sts_error(status: u16, code: &str, description: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(serde_json::json!({"error": code, "error_description": description}))
}

pub fn success_body(expires_in: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "access_token": ACCESS,
        "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "token_type": "Bearer",
        "expires_in": expires_in,
    }))
}

/// Asserts none of the test secrets appear in `shown`.
pub fn assert_no_secrets(shown: &str) {
    for secret in [
        SUBJECT,
        ACCESS,
        CLIENT_SECRET,
        "ACCESS-TOKEN-SECRET",
        "SECRET-password",
    ] {
        assert!(
            !shown.contains(secret),
            "secret {secret:?} leaked in:\n{shown}"
        );
    }
}
