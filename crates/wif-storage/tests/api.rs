//! Reads, lists, deletes and downloads against wiremock (and one raw TCP server that breaks a
//! download mid-body): request shapes, retry eligibility, token refresh, errors, logs.

// Test helpers outside #[test] fns: panicking with a message is how they report.
#![allow(clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};

use common::{
    CountingProvider, answers_first, gcs_error, ok_json, pattern, server_with, storage,
    storage_serving,
};
use futures::TryStreamExt as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use wif_core::testing::{assert_hint_says, assert_no_secrets, assert_refused_with, assert_says};
use wif_core::{AccessToken, MapEnvironment, StaticTokenProvider, Step};
use wif_storage::{ByteRange, ListEntry, ListOptions, Preconditions, Storage};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, ResponseTemplate};

fn object_json(name: &str) -> serde_json::Value {
    serde_json::json!({"name": name, "bucket": "bkt", "generation": "1700000000000001", "metageneration": "3", "size": "10"})
}

#[tokio::test]
async fn metadata_puts_the_name_in_one_encoded_segment() {
    let (_server, s) = storage_serving([Mock::given(method("GET"))
        .and(path("/storage/v1/b/bkt/o/dir%2Fa%20b%2B%C3%BC.txt"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(object_json("dir/a b+ü.txt")))
        .expect(1)])
    .await;
    let o = s.metadata("bkt", "dir/a b+ü.txt").await.expect("found");
    assert_eq!(o.name, "dir/a b+ü.txt");
    assert_eq!(
        (o.generation, o.metageneration, o.size),
        (1_700_000_000_000_001, 3, 10)
    );
}

#[tokio::test]
async fn list_streams_every_page_with_prefixes() {
    let first_page = Mock::given(method("GET"))
        .and(path("/storage/v1/b/bkt/o"))
        .and(query_param("prefix", "logs/"))
        .and(query_param("delimiter", "/"))
        .and(query_param("maxResults", "2"))
        .and(query_param_is_missing("pageToken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "kind": "storage#objects",
            "prefixes": ["logs/2026/"],
            "items": [object_json("logs/a.txt")],
            "nextPageToken": "next/+= page",
        })));
    let second_page = Mock::given(method("GET"))
        .and(path("/storage/v1/b/bkt/o"))
        .and(query_param("pageToken", "next/+= page"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "items": [object_json("logs/b.txt")],
        })));
    let (server, s) = storage_serving([first_page.expect(1), second_page.expect(1)]).await;
    let entries: Vec<ListEntry> = s
        .list(
            "bkt",
            ListOptions::new()
                .prefix("logs/")
                .delimiter("/")
                .page_size(2),
        )
        .try_collect()
        .await
        .expect("lists");
    let names: Vec<&str> = entries.iter().map(ListEntry::name).collect();
    assert_eq!(names, ["logs/2026/", "logs/a.txt", "logs/b.txt"]);
    assert!(matches!(&entries[0], ListEntry::Prefix(_)));
    // The token went out encoded, and came back intact.
    let second = &server.received_requests().await.expect("recorded")[1];
    assert!(
        second
            .url
            .query()
            .is_some_and(|q| q.contains("pageToken=next%2F%2B%3D+page")),
        "{:?}",
        second.url.query()
    );
}

#[tokio::test]
async fn reads_are_retried_on_5xx() {
    let gateway_error = ResponseTemplate::new(502).set_body_string("<html>bad gateway</html>");
    let (server, s) = storage_serving([
        answers_first(2, "GET", gateway_error),
        Mock::given(method("GET")).respond_with(ok_json(object_json("o"))),
    ])
    .await;
    s.metadata("bkt", "o").await.expect("third attempt");
    assert_eq!(server.received_requests().await.expect("recorded").len(), 3);
}

#[tokio::test]
async fn deletes_are_retried_only_when_pinned_to_a_generation() {
    let (server, s) = storage_serving([
        answers_first(2, "DELETE", ResponseTemplate::new(503)),
        Mock::given(method("DELETE"))
            .and(path("/storage/v1/b/bkt/o/a%2Fb"))
            .respond_with(ResponseTemplate::new(204)),
    ])
    .await;
    let err = s
        .delete("bkt", "a/b", Preconditions::none())
        .await
        .expect_err("unpinned delete: one attempt");
    assert_eq!(err.status(), Some(503));
    assert_eq!(server.received_requests().await.expect("recorded").len(), 1);
    s.delete("bkt", "a/b", Preconditions::none().if_generation_match(5))
        .await
        .expect("pinned delete is retried");
    let requests = server.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[2].url.query(), Some("ifGenerationMatch=5"));
}

#[tokio::test]
async fn a_401_refreshes_the_token_once_and_retries() {
    let server = server_with([
        Mock::given(method("GET"))
            .and(header("authorization", "Bearer tok-1"))
            .respond_with(ResponseTemplate::new(401)),
        Mock::given(method("GET"))
            .and(header("authorization", "Bearer tok-2"))
            .respond_with(ok_json(object_json("o"))),
    ])
    .await;
    let provider = CountingProvider::new();
    let s = storage(&server.uri(), provider.clone());
    s.metadata("bkt", "o")
        .await
        .expect("the refreshed token works");
    assert_eq!(provider.invalidations(), 1);
    assert_eq!(server.received_requests().await.expect("recorded").len(), 2);
}

#[tokio::test]
async fn a_second_401_is_final() {
    let server = server_with([Mock::given(method("GET")).respond_with(gcs_error(
        401,
        "Invalid Credentials",
        "authError",
    ))])
    .await;
    let provider = CountingProvider::new();
    let s = storage(&server.uri(), provider.clone());
    let err = s.metadata("bkt", "o").await.expect_err("401");
    assert_eq!(provider.invalidations(), 1, "one refresh, not a loop");
    assert_eq!(server.received_requests().await.expect("recorded").len(), 2);
    assert_eq!(err.step(), Step::Api);
    assert_refused_with(&err, 401, "authError");
    assert_hint_says(&err, "scopes");
}

#[tokio::test]
async fn a_federated_principal_on_a_fine_grained_bucket_gets_the_hint() {
    let refusal = gcs_error(
        403,
        "principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/subject/arn does not have storage.objects.get access to the Google Cloud Storage object.",
        "forbidden",
    );
    let (_server, s) = storage_serving([Mock::given(method("GET")).respond_with(refusal)]).await;
    let err = s.metadata("bkt", "o").await.expect_err("403");
    assert!(!err.is_retryable());
    assert_says(
        &err.to_string(),
        &[
            "does not have storage.objects.get access",
            "uniform bucket-level access",
        ],
    );
}

#[tokio::test]
async fn the_emulator_host_without_credentials_is_unauthenticated() {
    let server =
        server_with([Mock::given(method("GET")).respond_with(ok_json(object_json("o")))]).await;
    let host = server.uri().trim_start_matches("http://").to_owned();
    let s = Storage::builder()
        .environment(MapEnvironment::new().with("STORAGE_EMULATOR_HOST", host))
        .build()
        .expect("no credentials needed");
    s.metadata("bkt", "o").await.expect("works");
    let request = &server.received_requests().await.expect("recorded")[0];
    assert!(request.headers.get("authorization").is_none());
}

#[tokio::test]
async fn ranged_downloads_report_what_they_yield() {
    let data = pattern(1000);
    let partial = ResponseTemplate::new(206)
        .set_body_bytes(data[100..200].to_vec())
        .insert_header("content-range", "bytes 100-199/1000")
        .insert_header("x-goog-generation", "77")
        .insert_header("content-type", "application/x-test");
    let (_server, s) = storage_serving([Mock::given(method("GET"))
        .and(path("/storage/v1/b/bkt/o/o"))
        .and(query_param("alt", "media"))
        .and(header("range", "bytes=100-199"))
        .respond_with(partial)
        .expect(1)])
    .await;
    let d = s
        .download("bkt", "o", Some(ByteRange::from(100..200)))
        .await
        .expect("206");
    assert_eq!(
        (
            d.start(),
            d.len(),
            d.object_size(),
            d.generation(),
            d.content_type()
        ),
        (
            100,
            Some(100),
            Some(1000),
            Some(77),
            Some("application/x-test")
        )
    );
    assert_eq!(d.into_bytes().await.expect("body"), data[100..200]);
}

#[tokio::test]
async fn a_missing_object_fails_at_download_with_the_servers_words() {
    let not_found = gcs_error(404, "No such object: bkt/nope", "notFound");
    let (_server, s) =
        storage_serving([Mock::given(method("GET")).respond_with(not_found).expect(1)]).await;
    let err = s.download("bkt", "nope", None).await.expect_err("404");
    assert_eq!(err.status(), Some(404));
    assert!(
        err.to_string().contains("No such object: bkt/nope"),
        "{err}"
    );
}

/// Reads one request head from `sock`.
async fn read_head(sock: &mut tokio::net::TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if sock.read(&mut byte).await.expect("read") == 0 {
            break;
        }
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).to_lowercase()
}

#[tokio::test]
async fn a_broken_download_resumes_pinned_to_its_generation() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let data = pattern(100_000);
    let heads = Arc::new(Mutex::new(Vec::new()));
    let (server_data, server_heads) = (data.clone(), heads.clone());
    let server = tokio::spawn(async move {
        // First answer: the whole object announced, 40,000 bytes sent, connection closed.
        let (mut sock, _) = listener.accept().await.expect("accept");
        let head = read_head(&mut sock).await;
        server_heads.lock().expect("lock").push(head);
        let head = "HTTP/1.1 200 OK\r\ncontent-length: 100000\r\nx-goog-generation: 1234\r\ncontent-type: application/octet-stream\r\n\r\n";
        sock.write_all(head.as_bytes()).await.expect("write");
        sock.write_all(&server_data[..40_000]).await.expect("write");
        sock.flush().await.expect("flush");
        drop(sock);
        // Second: the rest, as asked.
        let (mut sock, _) = listener.accept().await.expect("accept");
        let head = read_head(&mut sock).await;
        server_heads.lock().expect("lock").push(head);
        let head = "HTTP/1.1 206 Partial Content\r\ncontent-length: 60000\r\ncontent-range: bytes 40000-99999/100000\r\nx-goog-generation: 1234\r\n\r\n";
        sock.write_all(head.as_bytes()).await.expect("write");
        sock.write_all(&server_data[40_000..]).await.expect("write");
        sock.flush().await.expect("flush");
    });
    let s = storage(&base, CountingProvider::new());
    let got = s
        .download("bkt", "big", None)
        .await
        .expect("headers")
        .into_bytes()
        .await
        .expect("resumed to the end");
    assert_eq!(got.len(), data.len());
    assert!(
        got == data,
        "the resumed bytes continue exactly where the first stopped"
    );
    server.await.expect("server task");
    let heads = heads.lock().expect("lock");
    let request_lines: Vec<&str> = heads.iter().filter_map(|h| h.lines().next()).collect();
    assert_eq!(
        request_lines,
        [
            "get /storage/v1/b/bkt/o/big?alt=media http/1.1",
            "get /storage/v1/b/bkt/o/big?alt=media&generation=1234 http/1.1"
        ]
    );
    assert!(
        heads[1].contains("\r\nrange: bytes=40000-99999\r\n"),
        "{}",
        heads[1]
    );
}

#[tokio::test]
async fn download_to_file_writes_atomically() {
    let (_server, s) = storage_serving([
        Mock::given(method("GET"))
            .and(path("/storage/v1/b/bkt/o/f"))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(b"file body".to_vec())),
        Mock::given(method("GET"))
            .and(path("/storage/v1/b/bkt/o/missing"))
            .respond_with(ResponseTemplate::new(404)),
    ])
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let target = dir.path().join("out.txt");
    assert_eq!(
        s.download_to_file("bkt", "f", &target)
            .await
            .expect("written"),
        9
    );
    assert_eq!(std::fs::read(&target).expect("read"), b"file body");
    s.download_to_file("bkt", "missing", dir.path().join("other.txt"))
        .await
        .expect_err("404");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["out.txt"], "no partial files are left behind");
}

#[tokio::test]
async fn logs_name_the_calls_but_never_tokens_or_session_uris() {
    let logs = wif_core::testing::LogCapture::global();
    let server = server_with([
        answers_first(1, "PUT", ResponseTemplate::new(503)),
        Mock::given(method("PUT")).respond_with(ok_json(object_json("logged.bin"))),
    ])
    .await;
    let location = format!(
        "{}/upload/storage/v1/b/bkt/o?uploadType=resumable&upload_id=SESSION-CAPABILITY-123",
        server.uri()
    );
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).insert_header("location", location.as_str()))
        .mount(&server)
        .await;
    let s = Storage::builder()
        .provider(StaticTokenProvider::new(AccessToken::new(
            "ya29.NEVER-LOG-ME",
        )))
        .base_url(server.uri())
        .environment(MapEnvironment::new())
        .retry_policy(common::fast_retries())
        .resumable_threshold(0)
        .build()
        .expect("builds");
    s.upload(
        "bkt",
        "logged.bin",
        wif_storage::UploadSource::bytes(&b"data"[..]),
        wif_storage::UploadOptions::new(),
    )
    .await
    .expect("uploads");
    let text = logs.contents();
    assert_says(&text, &["gcs.upload", "logged.bin"]);
    assert_no_secrets(
        "the log",
        &text,
        &["NEVER-LOG-ME", "SESSION-CAPABILITY-123"],
    );
}
