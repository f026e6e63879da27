//! Shared test support: a token provider that counts refreshes, a client pointed at a test
//! server, and a scripted fake of GCS's resumable-upload protocol for wiremock.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wif_core::{Error, MapEnvironment, RetryPolicy};
use wif_storage::{Object, Storage, UploadOptions, UploadSource};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub use wif_core::testing::{CountingProvider, server_with};

/// Fast retries for tests: 4 attempts, 5–20 ms backoff.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(4)
        .with_backoff(Duration::from_millis(5), Duration::from_millis(20))
        .with_deadline(Duration::from_secs(20))
}

/// A client of `base` authenticated by `provider`, with fast retries and an empty environment.
pub fn storage(base: &str, provider: Arc<CountingProvider>) -> Storage {
    wif_storage::Storage::builder()
        .provider(provider)
        .base_url(base)
        .environment(MapEnvironment::new())
        .retry_policy(fast_retries())
        .build()
        .expect("storage builds")
}

/// A server answering with `mocks` (as [`server_with`]) and a client of it with a fresh
/// [`CountingProvider`].
pub async fn storage_serving(mocks: impl IntoIterator<Item = Mock>) -> (MockServer, Storage) {
    let server = server_with(mocks).await;
    let storage = storage(&server.uri(), CountingProvider::new());
    (server, storage)
}

/// Cloud Storage's JSON error answer: `status`, the server's `message`, and one `errors[]`
/// entry with `reason`.
pub fn gcs_error(status: u16, message: &str, reason: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(serde_json::json!({"error": {
        "code": status,
        "message": message,
        "errors": [{"reason": reason, "domain": "global"}],
    }}))
}

/// Uploads the small in-memory `body` as `bucket/name`.
pub async fn upload_bytes(
    storage: &Storage,
    bucket: &str,
    name: &str,
    body: &'static [u8],
    options: UploadOptions,
) -> Result<Object, Error> {
    storage
        .upload(bucket, name, UploadSource::bytes(body), options)
        .await
}

/// Answers the first `times` requests of `http_method` with `response` (a failure, typically);
/// mocks mounted after it answer the rest.
pub fn answers_first(times: u64, http_method: &str, response: ResponseTemplate) -> Mock {
    Mock::given(method(http_method))
        .respond_with(response)
        .up_to_n_times(times)
}

/// A 200 answer with the JSON `body`.
pub fn ok_json(body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

/// Asserts that `err` is GCS's 412 `conditionNotMet`.
pub fn assert_condition_not_met(err: &Error) {
    wif_core::testing::assert_refused_with(err, 412, "conditionNotMet");
}

/// The bytes of the test pattern at `offset` (not periodic at any power of two, so a chunk sent
/// from the wrong offset never matches by accident).
pub fn pattern_byte(offset: u64) -> u8 {
    ((offset.wrapping_mul(31) ^ (offset / 7919)) % 251) as u8
}

pub fn pattern(len: usize) -> Vec<u8> {
    (0..len as u64).map(pattern_byte).collect()
}

/// What the fake does with the next PUT.
#[derive(Clone, Copy, Debug)]
pub enum Step {
    /// Follow the protocol.
    Normal,
    /// Answer this status without persisting anything.
    Fail(u16),
    /// Persist only the first `n` bytes of the chunk, answer 308.
    Truncate(usize),
}

/// One PUT the fake received.
#[derive(Clone, Debug)]
pub struct Put {
    pub content_range: String,
    pub len: usize,
    pub authorization: String,
}

#[derive(Debug, Default)]
pub struct SessionState {
    /// The object so far (`None` in verify-only mode, where only its length is kept).
    pub data: Option<Vec<u8>>,
    pub len: u64,
    pub total: Option<u64>,
    pub script: VecDeque<Step>,
    pub puts: Vec<Put>,
    /// Offsets where a received byte differed from the pattern (verify-only mode).
    pub mismatches: u64,
    pub complete: bool,
}

/// A scripted resumable-upload session. In verify-only mode it checks each byte against
/// [`pattern_byte`] instead of storing the data.
#[derive(Clone, Debug)]
pub struct FakeSession {
    pub state: Arc<Mutex<SessionState>>,
}

impl FakeSession {
    pub fn new(script: impl IntoIterator<Item = Step>) -> Self {
        let state = SessionState {
            data: Some(Vec::new()),
            script: script.into_iter().collect(),
            ..SessionState::default()
        };
        FakeSession {
            state: Arc::new(Mutex::new(state)),
        }
    }

    pub fn verifying(script: impl IntoIterator<Item = Step>) -> Self {
        let s = Self::new(script);
        s.state.lock().expect("lock").data = None;
        s
    }

    pub fn puts(&self) -> Vec<Put> {
        self.state.lock().expect("lock").puts.clone()
    }

    /// The `Content-Range` of every PUT so far, in order.
    pub fn content_ranges(&self) -> Vec<String> {
        self.puts().into_iter().map(|p| p.content_range).collect()
    }

    pub fn data(&self) -> Vec<u8> {
        self.state
            .lock()
            .expect("lock")
            .data
            .clone()
            .unwrap_or_default()
    }

    fn object(len: u64) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "name": "big.bin", "bucket": "bkt", "generation": "42",
            "metageneration": "1", "size": len.to_string(),
        }))
    }

    fn incomplete(len: u64) -> ResponseTemplate {
        let r = ResponseTemplate::new(308);
        if len == 0 {
            r
        } else {
            r.insert_header("range", format!("bytes=0-{}", len - 1).as_str())
        }
    }
}

impl Respond for FakeSession {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut s = self.state.lock().expect("lock");
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let content_range = header("content-range");
        s.puts.push(Put {
            content_range: content_range.clone(),
            len: request.body.len(),
            authorization: header("authorization"),
        });
        let step = s.script.pop_front().unwrap_or(Step::Normal);
        if let Step::Fail(code) = step {
            return ResponseTemplate::new(code);
        }
        let Some((span, total)) = content_range
            .strip_prefix("bytes ")
            .and_then(|r| r.split_once('/'))
        else {
            return ResponseTemplate::new(400);
        };
        if let Ok(t) = total.parse::<u64>() {
            s.total = Some(t);
        }
        if span == "*" {
            if s.total == Some(s.len) {
                s.complete = true;
                return Self::object(s.len);
            }
            return Self::incomplete(s.len);
        }
        let Some((first, last)) = span.split_once('-') else {
            return ResponseTemplate::new(400);
        };
        let (first, last): (u64, u64) =
            (first.parse().expect("first"), last.parse().expect("last"));
        assert_eq!(
            last - first + 1,
            request.body.len() as u64,
            "Content-Range matches the body"
        );
        assert!(
            first <= s.len,
            "chunk at {first} leaves a gap after {}",
            s.len
        );
        let skip = (s.len - first) as usize;
        let mut fresh = &request.body[skip.min(request.body.len())..];
        if let Step::Truncate(n) = step {
            fresh = &fresh[..n.min(fresh.len())];
        }
        let start = s.len;
        match &mut s.data {
            Some(data) => data.extend_from_slice(fresh),
            None => {
                let bad = fresh
                    .iter()
                    .enumerate()
                    .filter(|(i, b)| **b != pattern_byte(start + *i as u64))
                    .count();
                s.mismatches += bad as u64;
            }
        }
        s.len += fresh.len() as u64;
        if s.total == Some(s.len) {
            s.complete = true;
            return Self::object(s.len);
        }
        Self::incomplete(s.len)
    }
}
