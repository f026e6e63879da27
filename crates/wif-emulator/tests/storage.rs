//! The Cloud Storage emulator on the wire: raw HTTP requests shaped like Google's clients send
//! them, checked against the JSON API's documented answers.

// Test helpers outside #[test] fns: panicking with a message is how they report.
#![allow(clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use support::{http, reason, start_default, writer_token};
use wif_emulator::{Endpoint, Fault, RunningEmulator, TokenKind};

const UNIT: usize = 256 * 1024;

struct World {
    emulator: RunningEmulator,
    http: reqwest::Client,
    token: String,
}

impl World {
    async fn start() -> World {
        let emulator = start_default().await;
        let token = writer_token(&emulator);
        assert!(emulator.state().create_bucket("bkt"));
        World {
            emulator,
            http: http(),
            token,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emulator.base_url())
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path)).bearer_auth(&self.token)
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).bearer_auth(&self.token)
    }

    fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.delete(self.url(path)).bearer_auth(&self.token)
    }

    /// A GET of `path` with `bearer` (or none) instead of the writer's token.
    fn get_as(&self, path: &str, bearer: Option<&str>) -> reqwest::RequestBuilder {
        let request = self.http.get(self.url(path));
        match bearer {
            Some(bearer) => request.bearer_auth(bearer),
            None => request,
        }
    }

    /// `buckets.insert` in the demo project with `body`, sent.
    async fn create_bucket(&self, body: Value) -> reqwest::Response {
        send(self.post("/storage/v1/b?project=wif-demo").json(&body)).await
    }

    /// `method` on an absolute `url` (a session URI, a mediaLink) with the writer's token.
    fn at(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.http.request(method, url).bearer_auth(&self.token)
    }

    /// A GET of `path` with the writer's token, sent.
    async fn fetch(&self, path: &str) -> reqwest::Response {
        send(self.get(path)).await
    }

    /// A GET of `path` asking for the byte `range` (`bytes=…`), sent.
    async fn fetch_range(&self, path: &str, range: &str) -> reqwest::Response {
        send(self.get(path).header("range", range)).await
    }

    /// Initiates a resumable upload with a bare POST of `path`, answering its session URI.
    async fn open_session(&self, path: &str) -> String {
        session_uri(&send(self.post(path)).await)
    }

    async fn media(&self, name: &str, body: &'static [u8], extra: &str) -> reqwest::Response {
        let path = format!(
            "/upload/storage/v1/b/bkt/o?uploadType=media&name={}{extra}",
            encode(name)
        );
        send(
            self.post(&path)
                .header("content-type", "text/plain")
                .body(body),
        )
        .await
    }
}

async fn send(request: reqwest::RequestBuilder) -> reqwest::Response {
    request.send().await.expect("sent")
}

/// The session URI a resumable upload's initiation answers with.
fn session_uri(r: &reqwest::Response) -> String {
    r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned()
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn json(r: reqwest::Response) -> Value {
    r.json().await.expect("json body")
}

#[tokio::test]
async fn every_request_needs_a_token_the_chain_issued() {
    let w = World::start().await;
    let r = send(w.get_as("/storage/v1/b/bkt/o", None)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = send(w.get_as("/storage/v1/b/bkt/o", Some("ya29.forged"))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    w.emulator.state().expire_all_tokens();
    let r = w.fetch("/storage/v1/b/bkt/o").await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "expired tokens are refused"
    );
}

#[tokio::test]
async fn buckets_are_created_with_the_real_request() {
    let w = World::start().await;
    let r = w
        .create_bucket(serde_json::json!({"name": "made-over-http", "iamConfiguration": {"uniformBucketLevelAccess": {"enabled": true}}}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let b = json(r).await;
    assert_eq!(b["name"], "made-over-http");
    assert_eq!(
        b["iamConfiguration"]["uniformBucketLevelAccess"]["enabled"],
        true
    );
    let again = w
        .create_bucket(serde_json::json!({"name": "made-over-http"}))
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let r = w.fetch("/storage/v1/b/nope/o").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(reason(&json(r).await), "notFound");
}

#[tokio::test]
async fn media_uploads_read_back_whole_ranged_and_through_the_download_alias() {
    let w = World::start().await;
    let name = "dir/a b+ü.txt";
    let r = w.media(name, b"0123456789", "").await;
    assert_eq!(r.status(), StatusCode::OK);
    let o = json(r).await;
    assert_eq!(o["name"], name);
    assert_eq!(o["size"], "10");
    assert_eq!(o["contentType"], "text/plain");
    assert_eq!(o["metageneration"], "1");
    let generation = o["generation"]
        .as_str()
        .expect("string generation")
        .to_owned();
    assert!(generation.parse::<i64>().is_ok_and(|g| g > 0));

    let path = "/storage/v1/b/bkt/o/dir%2Fa%20b%2B%C3%BC.txt";
    let meta = json(w.fetch(path).await).await;
    assert_eq!(meta["generation"], generation.as_str());
    let r = w.fetch(&format!("{path}?alt=media")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-goog-generation"], generation.as_str());
    assert!(
        r.headers()["x-goog-hash"]
            .to_str()
            .is_ok_and(|h| h.starts_with("crc32c="))
    );
    assert_eq!(r.bytes().await.expect("body").as_ref(), b"0123456789");

    let r = w
        .fetch_range(&format!("{path}?alt=media"), "bytes=2-5")
        .await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers()["content-range"], "bytes 2-5/10");
    assert_eq!(r.bytes().await.expect("body").as_ref(), b"2345");
    let r = w
        .fetch_range(&format!("{path}?alt=media"), "bytes=-3")
        .await;
    assert_eq!(r.bytes().await.expect("body").as_ref(), b"789");
    let r = w
        .fetch_range(&format!("{path}?alt=media"), "bytes=10-")
        .await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    // The mediaLink is served by the download alias.
    let link = meta["mediaLink"].as_str().expect("mediaLink");
    assert!(
        link.contains("/download/storage/v1/b/bkt/o/dir%2Fa%20b%2B%C3%BC.txt?generation="),
        "{link}"
    );
    let r = send(w.at(reqwest::Method::GET, link)).await;
    assert_eq!(r.bytes().await.expect("body").as_ref(), b"0123456789");
    // A generation that is not the live one does not exist.
    let r = w.fetch(&format!("{path}?alt=media&generation=1")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn multipart_uploads_keep_their_metadata() {
    let w = World::start().await;
    let body = "--b0undary\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{\"name\":\"m.csv\",\"contentType\":\"text/csv\",\"metadata\":{\"origin\":\"lambda\"}}\r\n--b0undary\r\nContent-Type: text/csv\r\n\r\na,b\r\n1,2\r\n--b0undary--\r\n";
    let r = send(
        w.post("/upload/storage/v1/b/bkt/o?uploadType=multipart")
            .header("content-type", "multipart/related; boundary=b0undary")
            .body(body),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let o = json(r).await;
    assert_eq!(o["contentType"], "text/csv");
    assert_eq!(o["metadata"]["origin"], "lambda");
    let (_, data) = w
        .emulator
        .state()
        .storage_object("bkt", "m.csv")
        .expect("stored");
    assert_eq!(data, b"a,b\r\n1,2");
}

#[tokio::test]
async fn resumable_sessions_follow_the_308_protocol() {
    let w = World::start().await;
    let r = send(
        w.post("/upload/storage/v1/b/bkt/o?uploadType=resumable&name=big.bin&ifGenerationMatch=0")
            .header("content-type", "application/json; charset=UTF-8")
            .header("x-upload-content-type", "application/x-big")
            .body("{\"name\":\"big.bin\"}"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let session = session_uri(&r);
    assert!(session.starts_with(w.emulator.base_url()), "{session}");
    assert!(session.contains("upload_id="), "{session}");
    let put = |range: String, body: Vec<u8>| {
        send(
            w.at(reqwest::Method::PUT, &session)
                .header("content-range", range)
                .body(body),
        )
    };
    let total = 2 * UNIT + 10;
    let data: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();

    // Nothing yet: 308 without Range.
    let r = put("bytes */*".into(), vec![]).await;
    assert_eq!(r.status().as_u16(), 308);
    assert!(r.headers().get("range").is_none());
    // A non-final chunk of 1.5 units: only one whole unit is persisted.
    let first = UNIT + UNIT / 2;
    let r = put(format!("bytes 0-{}/*", first - 1), data[..first].to_vec()).await;
    assert_eq!(r.status().as_u16(), 308);
    assert_eq!(
        r.headers()["range"],
        format!("bytes=0-{}", UNIT - 1).as_str()
    );
    // A gap is refused.
    let r = put(format!("bytes {}-{}/*", 2 * UNIT, 2 * UNIT), vec![0]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // The status query reports the same.
    let r = put(format!("bytes */{total}"), vec![]).await;
    assert_eq!(
        r.headers()["range"],
        format!("bytes=0-{}", UNIT - 1).as_str()
    );
    // The rest, from where the server stands, completes it.
    let r = put(
        format!("bytes {UNIT}-{}/{total}", total - 1),
        data[UNIT..].to_vec(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let o = json(r).await;
    assert_eq!(o["size"], total.to_string());
    assert_eq!(o["contentType"], "application/x-big");
    // A client that lost the answer asks again and gets the object, not an error.
    let r = put(format!("bytes */{total}"), vec![]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json(r).await["generation"], o["generation"]);
    let (_, stored) = w
        .emulator
        .state()
        .storage_object("bkt", "big.bin")
        .expect("stored");
    assert!(stored == data);

    // The create-only precondition is checked when a second session completes.
    let second = w
        .open_session(
            "/upload/storage/v1/b/bkt/o?uploadType=resumable&name=big.bin&ifGenerationMatch=0",
        )
        .await;
    let r = send(
        w.at(reqwest::Method::PUT, &second)
            .header("content-range", "bytes 0-2/3")
            .body("abc"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    // Cancelling answers 499.
    let third = w
        .open_session("/upload/storage/v1/b/bkt/o?uploadType=resumable&name=c")
        .await;
    let r = send(w.at(reqwest::Method::DELETE, &third)).await;
    assert_eq!(r.status().as_u16(), 499);
}

#[tokio::test]
async fn resumable_chunks_of_any_multiple_of_256_kib_are_taken() {
    let w = World::start().await;
    let session = w
        .open_session("/upload/storage/v1/b/bkt/o?uploadType=resumable&name=huge.bin")
        .await;
    // One chunk past 256 MiB (the framework limit the emulator used to keep): 1028 units.
    let chunk = 1028 * UNIT;
    let r = send(
        w.at(reqwest::Method::PUT, &session)
            .header("content-range", format!("bytes 0-{}/*", chunk - 1))
            .body(vec![7u8; chunk]),
    )
    .await;
    assert_eq!(
        r.status().as_u16(),
        308,
        "a whole-unit chunk of any size is persisted"
    );
    assert_eq!(
        r.headers()["range"],
        format!("bytes=0-{}", chunk - 1).as_str()
    );
    let r = send(
        w.at(reqwest::Method::PUT, &session)
            .header(
                "content-range",
                format!("bytes {chunk}-{chunk}/{}", chunk + 1),
            )
            .body(vec![8u8]),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json(r).await["size"], (chunk + 1).to_string());
}

#[tokio::test]
async fn lists_page_through_prefixes_and_objects() {
    let w = World::start().await;
    for name in [
        "a.txt",
        "logs/1.txt",
        "logs/2.txt",
        "logs/sub/3.txt",
        "m.txt",
        "z/1",
    ] {
        assert_eq!(w.media(name, b"x", "").await.status(), StatusCode::OK);
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = "/storage/v1/b/bkt/o?delimiter=%2F&maxResults=2".to_owned();
        if let Some(t) = &token {
            path.push_str(&format!("&pageToken={}", encode(t)));
        }
        let page = json(w.fetch(&path).await).await;
        pages += 1;
        for p in page["prefixes"].as_array().into_iter().flatten() {
            seen.push(p.as_str().unwrap_or("").to_owned());
        }
        for o in page["items"].as_array().into_iter().flatten() {
            seen.push(o["name"].as_str().unwrap_or("").to_owned());
        }
        match page["nextPageToken"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, ["a.txt", "logs/", "m.txt", "z/"]);
    assert_eq!(pages, 2);
    let page = json(
        w.fetch("/storage/v1/b/bkt/o?prefix=logs%2F&delimiter=%2F")
            .await,
    )
    .await;
    assert_eq!(page["prefixes"], serde_json::json!(["logs/sub/"]));
    let names: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert_eq!(names, ["logs/1.txt", "logs/2.txt"]);
    let empty = json(w.fetch("/storage/v1/b/bkt/o?prefix=none%2F").await).await;
    assert!(
        empty.get("items").is_none() && empty.get("prefixes").is_none(),
        "{empty}"
    );
}

#[tokio::test]
async fn preconditions_and_deletes() {
    let w = World::start().await;
    let first = json(w.media("p.txt", b"1", "&ifGenerationMatch=0").await).await;
    let generation = first["generation"].as_str().expect("generation").to_owned();
    let r = w.media("p.txt", b"2", "&ifGenerationMatch=0").await;
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(reason(&json(r).await), "conditionNotMet");
    let r = w
        .media("p.txt", b"3", &format!("&ifGenerationMatch={generation}"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = w.media("p.txt", b"4", "&ifMetagenerationMatch=9").await;
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);

    let r = send(w.delete(&format!(
        "/storage/v1/b/bkt/o/p.txt?ifGenerationMatch={generation}"
    )))
    .await;
    assert_eq!(
        r.status(),
        StatusCode::PRECONDITION_FAILED,
        "the old generation is gone"
    );
    let r = send(w.delete("/storage/v1/b/bkt/o/p.txt")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.bytes().await.expect("body").is_empty());
    let r = w.fetch("/storage/v1/b/bkt/o/p.txt").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body = json(r).await;
    assert_eq!(body["error"]["code"], 404);
    assert_eq!(body["error"]["message"], "No such object: bkt/p.txt");
}

#[tokio::test]
async fn federated_principals_need_uniform_bucket_level_access() {
    let w = World::start().await;
    assert!(w.emulator.state().create_fine_grained_bucket("acl-bkt"));
    let principal = w
        .emulator
        .config()
        .principal_for_subject("arn:aws:sts::123456789012:assumed-role/r");
    let (federated, _) = w.emulator.state().issue(
        TokenKind::Federated,
        principal.clone(),
        vec![],
        vec![],
        Duration::from_secs(3600),
    );
    let r = send(w.get_as("/storage/v1/b/acl-bkt/o", Some(&federated))).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let message = json(r).await["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(message.starts_with(&principal), "{message}");
    assert!(message.contains("storage.objects.list"), "{message}");
    // On a uniform bucket, and for a service account anywhere, it works.
    let r = send(w.get_as("/storage/v1/b/bkt/o", Some(&federated))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = w.fetch("/storage/v1/b/acl-bkt/o").await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn faults_apply_to_storage_requests() {
    let w = World::start().await;
    w.emulator
        .set_fault(Endpoint::Storage, Fault::fail_next(1, 503));
    let before = w.emulator.requests(Endpoint::Storage);
    let r = w.fetch("/storage/v1/b/bkt/o").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let r = w.fetch("/storage/v1/b/bkt/o").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(w.emulator.requests(Endpoint::Storage) - before, 2);
}
