//! The Cloud Storage XML API (`/{bucket}/{object}`), its multipart uploads, IAM `signBlob`, and
//! V4 signed URLs: accepted as signed, refused when anything signed is changed or expired.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

mod support;

use std::time::Duration;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use support::{CLOUD_PLATFORM, start_default};
use wif_emulator::config::DEFAULT_SERVICE_ACCOUNT;
use wif_emulator::{RunningEmulator, TokenKind};

/// wif's HTTP client (reqwest 0.13 with wif's rustls configuration).
fn client() -> reqwest::Client {
    wif::layers::core::http::default_client().expect("HTTP client")
}

fn token_of(emulator: &RunningEmulator, email: &str) -> String {
    emulator
        .state()
        .issue(
            TokenKind::ServiceAccount,
            email.into(),
            vec![],
            vec![CLOUD_PLATFORM.into()],
            Duration::from_secs(3600),
        )
        .0
}

fn element<'a>(xml: &'a str, name: &str) -> &'a str {
    let open = format!("<{name}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{name}> in {xml}"))
        + open.len();
    let end = xml[start..].find(&format!("</{name}>")).unwrap() + start;
    &xml[start..end]
}

#[tokio::test]
async fn objects_round_trip_with_ranges_listing_and_deletes() {
    let emulator = start_default().await;
    emulator.create_bucket("xb");
    let token = token_of(&emulator, DEFAULT_SERVICE_ACCOUNT);
    let http = client();
    let url = |path: &str| format!("{}/xb/{path}", emulator.base_url());

    let refused = http.put(url("a.txt")).body("x").send().await.unwrap();
    assert_eq!(refused.status(), 401, "a token is required");

    for name in ["dir%2Fa.txt", "dir%2Fsub%2Fb.txt", "top.txt"] {
        let put = http
            .put(url(name))
            .bearer_auth(&token)
            .header("content-type", "text/plain")
            .header("x-goog-meta-owner", "tests")
            .body("0123456789")
            .send()
            .await
            .unwrap();
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
    let create_only = http
        .put(url("top.txt"))
        .bearer_auth(&token)
        .header("x-goog-if-generation-match", "0")
        .body("again")
        .send()
        .await
        .unwrap();
    assert_eq!(create_only.status(), 412);

    let ranged = http
        .get(url("dir%2Fa.txt"))
        .bearer_auth(&token)
        .header("range", "bytes=2-5")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.headers()["content-range"], "bytes 2-5/10");
    assert_eq!(ranged.headers()["x-goog-meta-owner"], "tests");
    assert!(ranged.headers().contains_key("last-modified"));
    assert_eq!(ranged.text().await.unwrap(), "2345");
    let head = http
        .head(url("top.txt"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(head.headers()["content-length"], "10");

    let list = http
        .get(format!(
            "{}/xb?list-type=2&prefix=dir%2F&delimiter=%2F",
            emulator.base_url()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains("<Key>dir/a.txt</Key>"), "{list}");
    assert!(list.contains("<Prefix>dir/sub/</Prefix>"), "{list}");
    assert!(!list.contains("top.txt"), "{list}");
    let paged = http
        .get(format!("{}/xb?list-type=2&max-keys=2", emulator.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let next = element(&paged, "NextContinuationToken").to_owned();
    let rest = http
        .get(format!("{}/xb?list-type=2", emulator.base_url()))
        .query(&[("continuation-token", &next)])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        rest.contains("<Key>top.txt</Key>") && !rest.contains("dir/a.txt"),
        "{rest}"
    );

    let deleted = http
        .delete(url("top.txt"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = http
        .get(url("top.txt"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    assert!(
        gone.text()
            .await
            .unwrap()
            .contains("<Code>NoSuchKey</Code>")
    );
    let no_bucket = http
        .get(format!("{}/nope/x", emulator.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(no_bucket.text().await.unwrap().contains("NoSuchBucket"));
}

#[tokio::test]
async fn multipart_uploads_assemble_their_parts_as_gcs_checks_them() {
    let emulator = start_default().await;
    emulator.create_bucket("xb");
    let token = token_of(&emulator, DEFAULT_SERVICE_ACCOUNT);
    let http = client();
    let url = format!("{}/xb/big.bin", emulator.base_url());
    let initiate = || async {
        let xml = http
            .post(format!("{url}?uploads"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        element(&xml, "UploadId").to_owned()
    };
    let part = |id: String, n: u32, data: Vec<u8>| {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        async move {
            let response = http
                .put(format!("{url}?partNumber={n}&uploadId={id}"))
                .bearer_auth(token)
                .body(data)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.headers()["etag"].to_str().unwrap().to_owned()
        }
    };
    let complete = |id: String, parts: Vec<(u32, String)>| {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        async move {
            let body: String = parts
                .iter()
                .map(|(n, e)| format!("<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"))
                .collect();
            http.post(format!("{url}?uploadId={id}"))
                .bearer_auth(token)
                .body(format!(
                    "<CompleteMultipartUpload>{body}</CompleteMultipartUpload>"
                ))
                .send()
                .await
                .unwrap()
        }
    };

    let first = vec![1u8; 5 * 1024 * 1024];
    let id = initiate().await;
    let e1 = part(id.clone(), 1, first.clone()).await;
    let e2 = part(id.clone(), 2, b"tail".to_vec()).await;
    let wrong = complete(id.clone(), vec![(1, e1.clone()), (2, "\"bogus\"".into())]).await;
    assert_eq!(wrong.status(), 400);
    assert!(wrong.text().await.unwrap().contains("InvalidPart"));
    let done = complete(id.clone(), vec![(1, e1), (2, e2)]).await;
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
    let e1 = part(id.clone(), 1, b"small".to_vec()).await;
    let e2 = part(id.clone(), 2, b"tail".to_vec()).await;
    let small = complete(id.clone(), vec![(1, e1), (2, e2)]).await;
    assert!(small.text().await.unwrap().contains("EntityTooSmall"));
    // Aborted: the upload is gone.
    let aborted = http
        .delete(format!("{url}?uploadId={id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(aborted.status(), 204);
    let after = http
        .put(format!("{url}?partNumber=3&uploadId={id}"))
        .bearer_auth(&token)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 404);
}

/// `signBlob` as the service account itself.
async fn sign_blob(emulator: &RunningEmulator, token: &str, payload: &[u8]) -> reqwest::Response {
    let b64 = base64::engine::general_purpose::STANDARD;
    client()
        .post(format!(
            "{}/v1/projects/-/serviceAccounts/{DEFAULT_SERVICE_ACCOUNT}:signBlob",
            emulator.base_url()
        ))
        .bearer_auth(token)
        .json(&serde_json::json!({"payload": b64.encode(payload)}))
        .send()
        .await
        .unwrap()
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
    let own = token_of(&emulator, DEFAULT_SERVICE_ACCOUNT);
    let signed = sign_blob(&emulator, &own, b"payload").await;
    assert_eq!(signed.status(), 200);
    let body: serde_json::Value = signed.json().await.unwrap();
    assert!(body["keyId"].is_string());
    let other = token_of(&emulator, "someone-else@wif-demo.iam.gserviceaccount.com");
    let refused = sign_blob(&emulator, &other, b"payload").await;
    assert_eq!(refused.status(), 403);
    emulator.expire_tokens();
    assert_eq!(sign_blob(&emulator, &own, b"payload").await.status(), 401);
}

#[tokio::test]
async fn a_signed_url_is_served_and_a_tampered_or_expired_one_refused() {
    let emulator = start_default().await;
    emulator.create_bucket("xb");
    let token = token_of(&emulator, DEFAULT_SERVICE_ACCOUNT);
    let http = client();
    for name in ["report.csv", "secret.csv"] {
        http.put(format!("{}/xb/{name}", emulator.base_url()))
            .bearer_auth(&token)
            .body(format!("contents of {name}"))
            .send()
            .await
            .unwrap();
    }
    let url = signed_get(&emulator, &token, "/xb/report.csv", &now_goog(), 600).await;
    let served = client().get(&url).send().await.unwrap();
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
        let refused = client().get(&tampered).send().await.unwrap();
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
        &token,
        "/xb/report.csv",
        &past.format(format).unwrap(),
        600,
    )
    .await;
    let refused = client().get(&expired).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("ExpiredToken"));
}
