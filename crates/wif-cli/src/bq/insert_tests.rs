use std::io::{BufReader, Read};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wif::layers::core::StaticTokenProvider;
use wif::{AccessToken, MapEnvironment};
use wif_core::testing::assert_says;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::*;

fn bq(server: &MockServer) -> BigQuery {
    let env = MapEnvironment::new().with(
        "BIGQUERY_EMULATOR_HOST",
        server.uri().trim_start_matches("http://"),
    );
    let provider = StaticTokenProvider::new(AccessToken::new("ya29.insert-test"));
    BigQuery::builder()
        .provider(provider)
        .project("p")
        .environment(env)
        .build()
        .expect("client")
}

fn table() -> TableRef {
    "p.d.t".parse().expect("table")
}

/// A rows file generated on the fly, `rows` lines of about 100 bytes, counting the bytes it
/// has handed out (`read`) since it was last opened.
struct GeneratedRows {
    rows: usize,
    next: usize,
    pending: Vec<u8>,
    read: Arc<AtomicU64>,
}

impl Read for GeneratedRows {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pending.is_empty() && self.next < self.rows {
            self.pending = format!(
                "{{\"id\": {}, \"padding\": \"{}\"}}\n",
                self.next,
                "x".repeat(80)
            )
            .into_bytes();
            self.next += 1;
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        self.read.fetch_add(n as u64, Ordering::SeqCst);
        Ok(n)
    }
}

/// Answers insertAll with no errors, noting how far the rows file had been read when each
/// request arrived.
struct NoteProgress {
    read: Arc<AtomicU64>,
    seen: Arc<Mutex<Vec<(u64, usize)>>>,
}

impl Respond for NoteProgress {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let rows = body["rows"].as_array().map_or(0, Vec::len);
        if let Ok(mut seen) = self.seen.lock() {
            seen.push((self.read.load(Ordering::SeqCst), rows));
        }
        ResponseTemplate::new(200).set_body_json(json!({}))
    }
}

/// The 193 MB file that peaked at 831 MB: the rows were all read and held before the first
/// request. Now each batch is sent when it is full, so when the first request arrives the
/// file has been read only about one batch in, and memory holds that batch alone.
#[tokio::test]
async fn rows_are_sent_in_batches_while_the_file_is_read() {
    let server = MockServer::start().await;
    let read = Arc::new(AtomicU64::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    Mock::given(method("POST"))
        .and(path(
            "/bigquery/v2/projects/p/datasets/d/tables/t/insertAll",
        ))
        .respond_with(NoteProgress {
            read: read.clone(),
            seen: seen.clone(),
        })
        .mount(&server)
        .await;
    const ROWS: usize = 1_600;
    let opened = Arc::new(AtomicUsize::new(0));
    let open = || {
        opened.fetch_add(1, Ordering::SeqCst);
        read.store(0, Ordering::SeqCst);
        Ok(BufReader::new(GeneratedRows {
            rows: ROWS,
            next: 0,
            pending: Vec::new(),
            read: read.clone(),
        }))
    };
    let done = insert_file(&bq(&server), &table(), "rows.jsonl", open)
        .await
        .expect("inserted");
    assert_eq!(
        done,
        Inserted {
            rows: ROWS,
            requests: 4
        }
    );
    assert_eq!(
        opened.load(Ordering::SeqCst),
        2,
        "one pass to check, one to send"
    );
    let total = read.load(Ordering::SeqCst);
    let seen = seen.lock().expect("lock").clone();
    let batches: Vec<usize> = seen.iter().map(|(_, rows)| *rows).collect();
    assert_eq!(batches, [500, 500, 500, 100], "{seen:?}");
    let (first_at, _) = seen[0];
    assert!(
        first_at < total / 2,
        "the first batch went out after {first_at} of {total} bytes were read: {seen:?}"
    );
}

#[tokio::test]
async fn a_bad_line_anywhere_fails_before_any_row_is_sent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(0)
        .mount(&server)
        .await;
    let mut text = String::new();
    for i in 0..1_000 {
        text.push_str(&format!("{{\"id\": {i}}}\n"));
    }
    text.push_str("{\"id\": oops}\n");
    let open = || Ok(text.as_bytes());
    let err = insert_file(&bq(&server), &table(), "rows.jsonl", open)
        .await
        .expect_err("line 1001");
    assert!(err.is_config(), "{err}");
    assert!(
        err.to_string().contains("rows.jsonl line 1001 is not JSON"),
        "{err}"
    );
}

/// Thousands of rejected rows: the first ten are named by line, the rest counted, on one line.
#[tokio::test]
async fn many_rejected_rows_are_counted_not_listed() {
    let server = MockServer::start().await;
    let errors: Vec<Value> = (0..500)
        .map(|i| json!({"index": i, "errors": [{"reason": "invalid", "message": "bad\u{1b}[2J"}]}))
        .collect();
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "insertErrors": errors })))
        .mount(&server)
        .await;
    let text: String = (0..1_000).map(|i| format!("{{\"id\": {i}}}\n")).collect();
    let err = insert_file(&bq(&server), &table(), "f", || Ok(text.as_bytes()))
        .await
        .expect_err("rejected");
    let message = err.to_string();
    assert!(
        message.starts_with("Google Cloud API call failed: 1000 of 1000 rows were not inserted into p.d.t: line 1: invalid: bad"),
        "{message}"
    );
    assert_says(
        &message,
        &["line 10: invalid", "… and 990 more rejected lines"],
    );
    assert!(!message.contains("line 11:"), "{message}");
    let shown = crate::terminal::error_text(&err);
    assert_eq!(shown.lines().count(), 2, "one line, then the hint: {shown}");
    assert!(!shown.contains('\u{1b}'), "{shown}");
}

#[cfg(unix)]
#[test]
fn devices_and_fifos_are_not_rows_files() {
    let err = open_rows_file(std::path::Path::new("/dev/zero")).expect_err("a device");
    assert!(err.to_string().contains("a character device"), "{err}");
    let dir = tempfile::tempdir().expect("dir");
    let fifo = wif_core::testing::fifo_at(dir.path().join("rows.jsonl"));
    let err = open_rows_file(&fifo).expect_err("a FIFO");
    assert!(err.to_string().contains("a FIFO"), "{err}");
}
