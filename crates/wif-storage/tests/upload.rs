//! Upload wire shapes and rules against wiremock: media, multipart, resumable (truncated chunks,
//! status queries, unknown lengths, resuming a session), and retry eligibility.

// Test helpers outside #[test] fns: panicking with a message is how they report.
#![allow(clippy::expect_used, clippy::panic)]

mod common;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use common::{
    CountingProvider, FakeSession, Step, answers_first, assert_condition_not_met, gcs_error,
    ok_json, pattern, server_with, storage, upload_bytes,
};
use secrecy::ExposeSecret as _;
use tokio::io::{AsyncRead, ReadBuf};
use wif_core::Error;
use wif_core::testing::assert_hint_says;
use wif_storage::{Object, Storage, UploadOptions, UploadSource, UploadStatus};
use wiremock::matchers::{body_bytes, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

fn object_json(name: &str, size: usize) -> serde_json::Value {
    serde_json::json!({"name": name, "bucket": "bkt", "generation": "7", "metageneration": "1", "size": size.to_string()})
}

/// A client with small chunks and threshold so tests move little data.
fn small_chunks(server: &MockServer) -> Storage {
    Storage::builder()
        .provider(CountingProvider::new())
        .base_url(server.uri())
        .environment(wif_core::MapEnvironment::new())
        .retry_policy(common::fast_retries())
        .chunk_size(256 * KIB)
        .resumable_threshold(300 * KIB as u64)
        .quota_project("billing-proj")
        .build()
        .expect("builds")
}

/// A server answering with `mocks` (the first mounted wins where several match) and a
/// [`small_chunks`] client of it.
async fn small_chunks_serving(mocks: impl IntoIterator<Item = Mock>) -> (MockServer, Storage) {
    let server = server_with(mocks).await;
    let storage = small_chunks(&server);
    (server, storage)
}

/// A wiremock server whose resumable session `big.bin` is the scripted fake.
async fn resumable_server(script: impl IntoIterator<Item = Step>) -> (MockServer, FakeSession) {
    let server = MockServer::start().await;
    let session = FakeSession::new(script);
    mock_session_start(&server, &session).await;
    (server, session)
}

/// Uploads `source` as `bkt/big.bin` with default options (resumable once over the threshold).
async fn upload_big(s: &Storage, source: UploadSource) -> Result<Object, Error> {
    s.upload("bkt", "big.bin", source, UploadOptions::new())
        .await
}

async fn mock_session_start(server: &MockServer, session: &FakeSession) {
    let location = format!(
        "{}/upload/storage/v1/b/bkt/o?uploadType=resumable&name=big.bin&upload_id=SECRET-UPLOAD-ID",
        server.uri()
    );
    Mock::given(method("POST"))
        .and(path("/upload/storage/v1/b/bkt/o"))
        .and(query_param("uploadType", "resumable"))
        .respond_with(ResponseTemplate::new(200).insert_header("location", location.as_str()))
        .mount(server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/upload/storage/v1/b/bkt/o"))
        .and(query_param("upload_id", "SECRET-UPLOAD-ID"))
        .respond_with(session.clone())
        .mount(server)
        .await;
}

#[tokio::test]
async fn small_uploads_are_one_media_request() {
    let media_upload = Mock::given(method("POST"))
        .and(path("/upload/storage/v1/b/bkt/o"))
        .and(query_param("uploadType", "media"))
        .and(query_param("name", "dir/a b+ü.txt"))
        .and(header("content-type", "text/plain"))
        .and(header("authorization", "Bearer tok-1"))
        .and(header("x-goog-user-project", "billing-proj"))
        .and(body_bytes(b"hello".to_vec()));
    let answer = ok_json(object_json("dir/a b+ü.txt", 5));
    let (server, s) = small_chunks_serving([media_upload.respond_with(answer).expect(1)]).await;
    let o = s
        .upload(
            "bkt",
            "dir/a b+ü.txt",
            UploadSource::bytes(&b"hello"[..]),
            UploadOptions::new().content_type("text/plain"),
        )
        .await
        .expect("uploads");
    assert_eq!(
        (o.name.as_str(), o.size, o.generation),
        ("dir/a b+ü.txt", 5, 7)
    );
    let requests = server.received_requests().await.expect("recorded");
    // The name travels percent-encoded in the query, never raw.
    let query = requests[0].url.query().expect("query");
    assert!(query.contains("name=dir%2Fa+b%2B%C3%BC.txt"), "{query}");
    let api_client = requests[0].headers["x-goog-api-client"]
        .to_str()
        .expect("ascii");
    assert!(api_client.contains("gccl-attempt-count/1"), "{api_client}");
}

#[tokio::test]
async fn custom_metadata_uses_a_multipart_request() {
    let multipart_upload = Mock::given(method("POST"))
        .and(path("/upload/storage/v1/b/bkt/o"))
        .and(query_param("uploadType", "multipart"))
        .and(query_param("ifGenerationMatch", "0"))
        .and(query_param_is_missing("name"));
    let answer = ok_json(object_json("m.json", 2));
    let (server, s) = small_chunks_serving([multipart_upload.respond_with(answer).expect(1)]).await;
    s.upload(
        "bkt",
        "m.json",
        UploadSource::bytes(&b"{}"[..]),
        UploadOptions::new()
            .content_type("application/json")
            .metadata("origin", "lambda")
            .create_only(),
    )
    .await
    .expect("uploads");
    let request = &server.received_requests().await.expect("recorded")[0];
    let content_type = request.headers["content-type"].to_str().expect("ascii");
    let boundary = content_type
        .strip_prefix("multipart/related; boundary=")
        .expect("multipart/related with a boundary");
    let body = String::from_utf8(request.body.clone()).expect("utf8");
    let parts: Vec<&str> = body.split(&format!("--{boundary}")).collect();
    assert_eq!(
        parts.len(),
        4,
        "preamble, metadata, media, epilogue: {body}"
    );
    let (meta_head, meta) = parts[1].split_once("\r\n\r\n").expect("metadata part");
    assert!(meta_head.contains("Content-Type: application/json; charset=UTF-8"));
    let meta: serde_json::Value = serde_json::from_str(meta.trim_end()).expect("json");
    assert_eq!(
        meta,
        serde_json::json!({"name": "m.json", "contentType": "application/json", "metadata": {"origin": "lambda"}})
    );
    assert_eq!(parts[2], "\r\nContent-Type: application/json\r\n\r\n{}\r\n");
    assert_eq!(parts[3], "--\r\n");
}

#[tokio::test]
async fn a_truncated_chunk_is_resent_from_the_servers_range() {
    // The server keeps only 100 KiB of the first 256 KiB chunk.
    let (server, session) = resumable_server([Step::Truncate(100 * KIB)]).await;
    let data = pattern(600 * KIB);
    let s = small_chunks(&server);
    let o = upload_big(&s, UploadSource::bytes(data.clone()))
        .await
        .expect("uploads");
    assert_eq!(o.size, 600 * KIB as u64);
    assert_eq!(session.data(), data, "the server holds exactly the source");
    let total = 600 * KIB;
    assert_eq!(
        session.content_ranges(),
        [
            format!("bytes 0-{}/{total}", 256 * KIB - 1),
            // Resent from byte 100 KiB, a full chunk again.
            format!("bytes {}-{}/{total}", 100 * KIB, 356 * KIB - 1),
            format!("bytes {}-{}/{total}", 356 * KIB, total - 1),
        ]
    );
    // The initiation carried the resource and the upload's headers.
    let start = &server.received_requests().await.expect("recorded")[0];
    assert_eq!(start.headers["x-upload-content-length"], "614400");
    assert_eq!(
        start.headers["x-upload-content-type"],
        "application/octet-stream"
    );
    let resource: serde_json::Value = serde_json::from_slice(&start.body).expect("json");
    assert_eq!(resource["name"], "big.bin");
}

#[tokio::test]
async fn a_failed_chunk_is_followed_by_a_status_query() {
    // Chunk 2 fails with 503; the status query then says what the server holds.
    let (server, session) = resumable_server([Step::Normal, Step::Fail(503)]).await;
    let data = pattern(600 * KIB);
    let s = small_chunks(&server);
    upload_big(&s, UploadSource::bytes(data.clone()))
        .await
        .expect("uploads despite the 503");
    assert_eq!(session.data(), data);
    let total = 600 * KIB;
    assert_eq!(
        session.content_ranges(),
        [
            format!("bytes 0-{}/{total}", 256 * KIB - 1),
            format!("bytes {}-{}/{total}", 256 * KIB, 512 * KIB - 1),
            format!("bytes */{total}"),
            format!("bytes {}-{}/{total}", 256 * KIB, 512 * KIB - 1),
            format!("bytes {}-{}/{total}", 512 * KIB, total - 1),
        ]
    );
    assert_eq!(
        session.puts()[2].len,
        0,
        "the status query has an empty body"
    );
}

#[tokio::test]
async fn a_stream_of_unknown_length_ends_with_its_total() {
    let (server, session) = resumable_server([]).await;
    // Exactly two chunks: the end is only known after a read returns nothing.
    let data = pattern(512 * KIB);
    let s = small_chunks(&server);
    let reader = std::io::Cursor::new(data.clone());
    upload_big(&s, UploadSource::reader(reader, None))
        .await
        .expect("uploads");
    assert_eq!(
        session.content_ranges(),
        [
            format!("bytes 0-{}/*", 256 * KIB - 1),
            format!("bytes {}-{}/*", 256 * KIB, 512 * KIB - 1),
            format!("bytes */{}", 512 * KIB),
        ]
    );
    assert_eq!(session.data(), data);
    let start = &server.received_requests().await.expect("recorded")[0];
    assert!(start.headers.get("x-upload-content-length").is_none());
}

#[tokio::test]
async fn a_short_stream_of_unknown_length_is_one_request() {
    let (_server, s) = small_chunks_serving([Mock::given(method("POST"))
        .and(query_param("uploadType", "media"))
        .and(body_bytes(b"tiny".to_vec()))
        .respond_with(ok_json(object_json("t", 4)))
        .expect(1)])
    .await;
    s.upload(
        "bkt",
        "t",
        UploadSource::reader(&b"tiny"[..], None),
        UploadOptions::new(),
    )
    .await
    .expect("uploads");
}

#[tokio::test]
async fn a_session_can_be_resumed_from_its_uri() {
    // The first try's status query and chunk succeed; its second chunk fails.
    let (server, session) = resumable_server([Step::Normal, Step::Normal, Step::Fail(503)]).await;
    let data = pattern(600 * KIB);
    // One attempt per streak: the first upload gives up after its chunk fails.
    let one_try = Storage::builder()
        .provider(CountingProvider::new())
        .base_url(server.uri())
        .environment(wif_core::MapEnvironment::new())
        .retry_policy(wif_core::RetryPolicy::never())
        .chunk_size(256 * KIB)
        .build()
        .expect("builds");
    let started = one_try
        .start_resumable(
            "bkt",
            "big.bin",
            &UploadOptions::new(),
            Some(data.len() as u64),
        )
        .await
        .expect("session");
    let uri = started.session_uri().expose_secret().to_owned();
    assert!(uri.contains("upload_id=SECRET-UPLOAD-ID"));
    assert!(
        !format!("{started:?}").contains("SECRET-UPLOAD-ID"),
        "Debug hides the URI"
    );
    let err = started
        .upload(UploadSource::bytes(data.clone()))
        .await
        .expect_err("the 503 ends the first try");
    assert_eq!(err.status(), Some(503));
    // Later, maybe in another process: the session continues where the server stands.
    let s = small_chunks(&server);
    let resumed = s.resume(uri, Some(data.len() as u64)).expect("same origin");
    assert_eq!(
        resumed.status().await.expect("status"),
        UploadStatus::Incomplete {
            persisted: 256 * KIB as u64
        }
    );
    resumed
        .upload(UploadSource::bytes(data.clone()))
        .await
        .expect("completes");
    assert_eq!(session.data(), data);
    assert_eq!(
        resumed.status().await.expect("status"),
        UploadStatus::Complete(Box::new(
            serde_json::from_value(serde_json::json!({
                "name": "big.bin", "bucket": "bkt", "generation": "42",
                "metageneration": "1", "size": "614400"
            }))
            .expect("object")
        ))
    );
}

#[tokio::test]
async fn a_session_uri_on_another_host_is_refused() {
    let s = storage("https://storage.googleapis.com", CountingProvider::new());
    let err = s
        .resume("https://attacker.example/upload?upload_id=x", None)
        .expect_err("foreign host");
    assert!(err.is_config(), "{err}");
    assert!(!err.to_string().contains("upload_id"), "{err}");
}

#[tokio::test]
async fn an_expired_session_is_explained() {
    let (server, session) = resumable_server([Step::Fail(410)]).await;
    let s = small_chunks(&server);
    let err = upload_big(&s, UploadSource::bytes(pattern(600 * KIB)))
        .await
        .expect_err("410");
    assert_eq!(err.status(), Some(410));
    assert_hint_says(&err, "start a new upload");
    assert_eq!(session.puts().len(), 1, "a gone session is not retried");
}

#[tokio::test]
async fn uploads_without_a_generation_precondition_are_not_retried() {
    let (_server, s) = small_chunks_serving([Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)])
    .await;
    let err = upload_bytes(&s, "bkt", "o", b"x", UploadOptions::new())
        .await
        .expect_err("503");
    assert_eq!(err.status(), Some(503));
    assert!(err.is_retryable(), "the caller may still decide to retry");
}

#[tokio::test]
async fn uploads_with_a_generation_precondition_are_retried() {
    let (server, s) = small_chunks_serving([
        answers_first(2, "POST", ResponseTemplate::new(503)),
        Mock::given(method("POST"))
            .and(query_param("ifGenerationMatch", "0"))
            .respond_with(ok_json(object_json("o", 1))),
    ])
    .await;
    upload_bytes(&s, "bkt", "o", b"x", UploadOptions::new().create_only())
        .await
        .expect("third attempt succeeds");
    let requests = server.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 3);
    assert_eq!(
        requests[2].headers["x-goog-api-client"]
            .to_str()
            .ok()
            .map(|v| v.contains("gccl-attempt-count/3")),
        Some(true)
    );
}

#[tokio::test]
async fn a_failed_precondition_is_not_retried() {
    let refusal = gcs_error(
        412,
        "At least one of the pre-conditions you specified did not hold.",
        "conditionNotMet",
    );
    let (_server, s) =
        small_chunks_serving([Mock::given(method("POST")).respond_with(refusal).expect(1)]).await;
    let err = upload_bytes(&s, "bkt", "o", b"x", UploadOptions::new().create_only())
        .await
        .expect_err("412");
    assert_condition_not_met(&err);
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn bad_names_fail_before_any_request() {
    let (server, s) = small_chunks_serving([]).await;
    for (bucket, name) in [("BAD", "o"), ("bkt", ""), ("bkt", "a\nb"), ("bkt", "..")] {
        let err = upload_bytes(&s, bucket, name, b"x", UploadOptions::new())
            .await
            .expect_err("invalid");
        assert!(err.is_config(), "{bucket}/{name:?}: {err}");
    }
    assert!(
        server
            .received_requests()
            .await
            .expect("recorded")
            .is_empty()
    );
}

/// Counts the bytes each read may hand out, to prove the upload reads in bounded pieces.
struct CountingReader<R> {
    inner: R,
    largest_read: Arc<AtomicUsize>,
    total: Arc<AtomicUsize>,
}

impl<R: AsyncRead + Unpin> AsyncRead for CountingReader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.largest_read
            .fetch_max(buf.remaining(), Ordering::SeqCst);
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.total
            .fetch_add(buf.filled().len() - before, Ordering::SeqCst);
        poll
    }
}

/// Writes the 50 MiB test pattern to a temporary file, 1 MiB at a time.
async fn fifty_mib_file() -> tempfile::TempPath {
    use tokio::io::AsyncWriteExt as _;
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let path = file.into_temp_path();
    let mut out = tokio::fs::File::create(&path).await.expect("create");
    for i in 0..50u64 {
        let chunk: Vec<u8> = (i * MIB as u64..(i + 1) * MIB as u64)
            .map(common::pattern_byte)
            .collect();
        out.write_all(&chunk).await.expect("write");
    }
    out.flush().await.expect("flush");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50_mib_file_streams_in_chunks_without_loading_it() {
    let server = MockServer::builder()
        .disable_request_recording()
        .start()
        .await;
    // Verify-only: the fake checks every byte against the pattern instead of keeping it.
    let session = FakeSession::verifying([Step::Normal, Step::Truncate(3 * MIB)]);
    mock_session_start(&server, &session).await;
    let path = fifty_mib_file().await;
    let s = storage(&server.uri(), CountingProvider::new());
    assert_eq!(s.chunk_size(), 16 * MIB, "the default chunk size is used");

    // From a path.
    let o = upload_big(&s, UploadSource::file(path.to_path_buf()))
        .await
        .expect("uploads");
    assert_eq!(o.size, 50 * MIB as u64);
    {
        let state = session.state.lock().expect("lock");
        assert_eq!(state.mismatches, 0, "every byte arrived where it belongs");
        assert_eq!(state.len, 50 * MIB as u64);
        let largest = state.puts.iter().map(|p| p.len).max().unwrap_or(0);
        assert_eq!(
            largest,
            16 * MIB,
            "no request body is larger than one chunk"
        );
    }
    // 0..16, 16..32 of which 3 MiB are kept, resent from 19..35, then the last 35..50.
    let total = 50 * MIB;
    assert_eq!(
        session.content_ranges(),
        [
            format!("bytes 0-{}/{total}", 16 * MIB - 1),
            format!("bytes {}-{}/{total}", 16 * MIB, 32 * MIB - 1),
            format!("bytes {}-{}/{total}", 19 * MIB, 35 * MIB - 1),
            format!("bytes {}-{}/{total}", 35 * MIB, total - 1),
        ]
    );

    // From a reader: no single read may ask for more than a chunk.
    let session2 = FakeSession::verifying([]);
    let server2 = MockServer::builder()
        .disable_request_recording()
        .start()
        .await;
    mock_session_start(&server2, &session2).await;
    let s2 = storage(&server2.uri(), CountingProvider::new());
    let largest_read = Arc::new(AtomicUsize::new(0));
    let total = Arc::new(AtomicUsize::new(0));
    let reader = CountingReader {
        inner: tokio::fs::File::open(&path).await.expect("open"),
        largest_read: largest_read.clone(),
        total: total.clone(),
    };
    upload_big(&s2, UploadSource::reader(reader, Some(50 * MIB as u64)))
        .await
        .expect("uploads");
    assert!(
        largest_read.load(Ordering::SeqCst) <= 16 * MIB,
        "largest read {}",
        largest_read.load(Ordering::SeqCst)
    );
    assert_eq!(
        total.load(Ordering::SeqCst),
        50 * MIB,
        "every byte read exactly once"
    );
    assert_eq!(session2.state.lock().expect("lock").mismatches, 0);
}
