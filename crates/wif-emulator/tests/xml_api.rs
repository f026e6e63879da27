//! The Cloud Storage XML API (`/{bucket}/{object}`), its multipart uploads, IAM `signBlob`, and
//! V4 signed URLs: accepted as signed, refused when anything signed is changed or expired.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod support;

use base64::Engine as _;
use reqwest::{Method, RequestBuilder};
use sha2::{Digest, Sha256};
use support::{http, send, service_account_token, start_default, text_of, xml_element};
use wif_emulator::RunningEmulator;
use wif_emulator::config::DEFAULT_SERVICE_ACCOUNT;

/// Requests to one bucket of the XML API, bearing a service account's token.
struct XmlBucket {
    http: reqwest::Client,
    /// `{base}/{bucket}`.
    url: String,
    token: String,
}

impl XmlBucket {
    /// Creates `bucket` and a token for the default service account.
    fn create(emulator: &RunningEmulator, bucket: &str) -> Self {
        emulator.create_bucket(bucket);
        XmlBucket {
            http: http(),
            url: format!("{}/{bucket}", emulator.base_url()),
            token: service_account_token(emulator, DEFAULT_SERVICE_ACCOUNT),
        }
    }

    /// `method` of `{bucket}{path}` (`path` is `/object`, `?query` or empty), with the token.
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token)
    }

    fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    fn put(&self, path: &str) -> RequestBuilder {
        self.request(Method::PUT, path)
    }

    fn post(&self, path: &str) -> RequestBuilder {
        self.request(Method::POST, path)
    }

    fn delete(&self, path: &str) -> RequestBuilder {
        self.request(Method::DELETE, path)
    }
}

#[tokio::test]
async fn objects_round_trip_with_ranges_listing_and_deletes() {
    let emulator = start_default().await;
    let xb = XmlBucket::create(&emulator, "xb");

    let anonymous = http().put(format!("{}/a.txt", xb.url)).body("x");
    assert_eq!(send(anonymous).await.status(), 401, "a token is required");

    for name in ["dir%2Fa.txt", "dir%2Fsub%2Fb.txt", "top.txt"] {
        let put = xb
            .put(&format!("/{name}"))
            .header("content-type", "text/plain")
            .header("x-goog-meta-owner", "tests")
            .body("0123456789");
        let put = send(put).await;
        assert_eq!(put.status(), 200);
        assert!(put.headers().contains_key("etag"));
        assert!(put.headers().contains_key("x-goog-generation"));
    }
    // The JSON API sees what the XML API wrote.
    assert_eq!(
        emulator
            .state()
            .storage_object("xb", "dir/a.txt")
            .map(|o| o.1),
        Some(b"0123456789".to_vec())
    );
    let create_only = xb
        .put("/top.txt")
        .header("x-goog-if-generation-match", "0")
        .body("again");
    assert_eq!(send(create_only).await.status(), 412);

    let ranged = send(xb.get("/dir%2Fa.txt").header("range", "bytes=2-5")).await;
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.headers()["content-range"], "bytes 2-5/10");
    assert_eq!(ranged.headers()["x-goog-meta-owner"], "tests");
    assert!(ranged.headers().contains_key("last-modified"));
    assert_eq!(ranged.text().await.unwrap(), "2345");
    let head = send(xb.request(Method::HEAD, "/top.txt")).await;
    assert_eq!(head.headers()["content-length"], "10");

    let list = text_of(xb.get("?list-type=2&prefix=dir%2F&delimiter=%2F")).await;
    assert!(list.contains("<Key>dir/a.txt</Key>"), "{list}");
    assert!(list.contains("<Prefix>dir/sub/</Prefix>"), "{list}");
    assert!(!list.contains("top.txt"), "{list}");
    let paged = text_of(xb.get("?list-type=2&max-keys=2")).await;
    let next = xml_element(&paged, "NextContinuationToken").to_owned();
    let rest = text_of(
        xb.get("?list-type=2")
            .query(&[("continuation-token", &next)]),
    )
    .await;
    assert!(
        rest.contains("<Key>top.txt</Key>") && !rest.contains("dir/a.txt"),
        "{rest}"
    );

    assert_eq!(send(xb.delete("/top.txt")).await.status(), 204);
    let gone = send(xb.get("/top.txt")).await;
    assert_eq!(gone.status(), 404);
    assert!(
        gone.text()
            .await
            .unwrap()
            .contains("<Code>NoSuchKey</Code>")
    );
    let no_bucket = xb.http.get(format!("{}/nope/x", emulator.base_url()));
    let no_bucket = text_of(no_bucket.bearer_auth(&xb.token)).await;
    assert!(no_bucket.contains("NoSuchBucket"), "{no_bucket}");
}

#[tokio::test]
async fn multipart_uploads_assemble_their_parts_as_gcs_checks_them() {
    let emulator = start_default().await;
    let xb = XmlBucket::create(&emulator, "xb");
    let initiate = || async {
        let xml = text_of(xb.post("/big.bin?uploads")).await;
        xml_element(&xml, "UploadId").to_owned()
    };
    let part = |id: &str, n: u32, data: Vec<u8>| {
        let request = xb.put(&format!("/big.bin?partNumber={n}&uploadId={id}"));
        async move {
            let response = send(request.body(data)).await;
            assert_eq!(response.status(), 200);
            response.headers()["etag"].to_str().unwrap().to_owned()
        }
    };
    let complete = |id: &str, parts: Vec<(u32, String)>| {
        let body: String = parts
            .iter()
            .map(|(n, e)| format!("<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"))
            .collect();
        let body = format!("<CompleteMultipartUpload>{body}</CompleteMultipartUpload>");
        send(xb.post(&format!("/big.bin?uploadId={id}")).body(body))
    };

    let first = vec![1u8; 5 * 1024 * 1024];
    let id = initiate().await;
    let e1 = part(&id, 1, first.clone()).await;
    let e2 = part(&id, 2, b"tail".to_vec()).await;
    let wrong = complete(&id, vec![(1, e1.clone()), (2, "\"bogus\"".into())]).await;
    assert_eq!(wrong.status(), 400);
    assert!(wrong.text().await.unwrap().contains("InvalidPart"));
    let done = complete(&id, vec![(1, e1), (2, e2)]).await;
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("<ETag>"));
    let mut expected = first;
    expected.extend_from_slice(b"tail");
    assert_eq!(
        emulator.state().storage_object("xb", "big.bin").unwrap().1,
        expected
    );

    // Every part but the last must hold 5 MiB.
    let id = initiate().await;
    let e1 = part(&id, 1, b"small".to_vec()).await;
    let e2 = part(&id, 2, b"tail".to_vec()).await;
    let small = complete(&id, vec![(1, e1), (2, e2)]).await;
    assert!(small.text().await.unwrap().contains("EntityTooSmall"));
    // Aborted: the upload is gone.
    let aborted = send(xb.delete(&format!("/big.bin?uploadId={id}"))).await;
    assert_eq!(aborted.status(), 204);
    let after = xb.put(&format!("/big.bin?partNumber=3&uploadId={id}"));
    assert_eq!(send(after.body("x")).await.status(), 404);
}

/// `signBlob` as the service account itself.
async fn sign_blob(emulator: &RunningEmulator, token: &str, payload: &[u8]) -> reqwest::Response {
    let b64 = base64::engine::general_purpose::STANDARD;
    let url = format!(
        "{}/v1/projects/-/serviceAccounts/{DEFAULT_SERVICE_ACCOUNT}:signBlob",
        emulator.base_url()
    );
    let body = serde_json::json!({"payload": b64.encode(payload)});
    send(http().post(url).bearer_auth(token).json(&body)).await
}

/// A V4 signed GET URL for `bucket/object`, made here by hand (independently of any client),
/// dated `date`, signed through the emulator's `signBlob`.
async fn signed_get(
    emulator: &RunningEmulator,
    token: &str,
    path: &str,
    date: &str,
    expires: u32,
) -> String {
    let credential = format!(
        "{DEFAULT_SERVICE_ACCOUNT}/{}/auto/storage/goog4_request",
        &date[..8]
    );
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let query = format!(
        "X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential={}&X-Goog-Date={date}&X-Goog-Expires={expires}&X-Goog-SignedHeaders=host",
        enc(&credential)
    );
    let canonical =
        format!("GET\n{path}\n{query}\nhost:storage.googleapis.com\n\nhost\nUNSIGNED-PAYLOAD");
    let hash: String = Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let to_sign = format!(
        "GOOG4-RSA-SHA256\n{date}\n{}/auto/storage/goog4_request\n{hash}",
        &date[..8]
    );
    let answer: serde_json::Value = sign_blob(emulator, token, to_sign.as_bytes())
        .await
        .json()
        .await
        .unwrap();
    let signature = base64::engine::general_purpose::STANDARD
        .decode(answer["signedBlob"].as_str().unwrap())
        .unwrap();
    let hex: String = signature.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}{path}?{query}&X-Goog-Signature={hex}",
        emulator.base_url()
    )
}

fn now_goog() -> String {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::OffsetDateTime::now_utc().format(format).unwrap()
}

#[tokio::test]
async fn sign_blob_signs_as_the_service_account_only() {
    let emulator = start_default().await;
    let own = service_account_token(&emulator, DEFAULT_SERVICE_ACCOUNT);
    let signed = sign_blob(&emulator, &own, b"payload").await;
    assert_eq!(signed.status(), 200);
    let body: serde_json::Value = signed.json().await.unwrap();
    assert!(body["keyId"].is_string());
    let other = service_account_token(&emulator, "someone-else@wif-demo.iam.gserviceaccount.com");
    let refused = sign_blob(&emulator, &other, b"payload").await;
    assert_eq!(refused.status(), 403);
    emulator.expire_tokens();
    assert_eq!(sign_blob(&emulator, &own, b"payload").await.status(), 401);
}

#[tokio::test]
async fn a_signed_url_is_served_and_a_tampered_or_expired_one_refused() {
    let emulator = start_default().await;
    let xb = XmlBucket::create(&emulator, "xb");
    for name in ["report.csv", "secret.csv"] {
        send(
            xb.put(&format!("/{name}"))
                .body(format!("contents of {name}")),
        )
        .await;
    }
    let token = &xb.token;
    let url = signed_get(&emulator, token, "/xb/report.csv", &now_goog(), 600).await;
    let served = send(http().get(&url)).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.text().await.unwrap(), "contents of report.csv");

    // The same signature for another object, another lifetime, or a bent signature.
    for tampered in [
        url.replace("/xb/report.csv", "/xb/secret.csv"),
        url.replace("X-Goog-Expires=600", "X-Goog-Expires=6000"),
        {
            let at = url.len() - 3;
            let flip = if &url[at..at + 1] == "0" { "1" } else { "0" };
            format!("{}{flip}{}", &url[..at], &url[at + 1..])
        },
    ] {
        let refused = send(http().get(&tampered)).await;
        assert_eq!(refused.status(), 403, "{tampered}");
        assert!(
            refused
                .text()
                .await
                .unwrap()
                .contains("SignatureDoesNotMatch")
        );
    }
    // Signed two hours ago for ten minutes.
    let past = time::OffsetDateTime::now_utc() - time::Duration::hours(2);
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let expired = signed_get(
        &emulator,
        token,
        "/xb/report.csv",
        &past.format(format).unwrap(),
        600,
    )
    .await;
    let refused = send(http().get(&expired)).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("ExpiredToken"));
}
