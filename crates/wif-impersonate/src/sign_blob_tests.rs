//! wiremock tests of `signBlob`: the exact request, the decoded signature, retries, hints, and
//! that neither the token nor the signature reaches Debug, Display or errors.

use std::time::Duration;

use base64::Engine as _;
use secrecy::ExposeSecret;
use serde_json::json;
use wif_core::testing::{Scripted, header_text};
use wif_core::{AccessToken, ErrorKind, RetryPolicy};
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

use super::*;

const SA: &str = "signer@proj.iam.gserviceaccount.com";
const TOKEN: &str = "ya29.sign-t0k3n-s3cr3t";
const SIGNATURE: &[u8] = b"\x01\x02signature-bytes-s3cr3t";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn signer(server: &MockServer) -> BlobSigner {
    let url = format!(
        "{}/v1/projects/-/serviceAccounts/{SA}:generateAccessToken",
        server.uri()
    );
    BlobSigner::from_impersonation_url(&url, http_client())
        .expect("a loopback URL is accepted")
        .with_retry_policy(
            RetryPolicy::default()
                .with_max_attempts(3)
                .with_backoff(Duration::from_millis(1), Duration::from_millis(1))
                .without_jitter(),
        )
}

fn sign_path() -> String {
    format!("/v1/projects/-/serviceAccounts/{SA}:signBlob")
}

/// signBlob's answer: key `k1` and [`SIGNATURE`].
fn signed_blob() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"keyId": "k1", "signedBlob": b64(SIGNATURE)}))
}

/// Starts a server answering every POST with `response`.
async fn server_answering(response: impl Respond + 'static) -> MockServer {
    wif_core::testing::server_answering("POST", response).await
}

/// The requests `server` received, after checking each went to the signBlob path.
async fn sign_calls(server: &MockServer) -> Vec<Request> {
    let requests = server.received_requests().await.expect("recording on");
    for request in &requests {
        assert_eq!(request.url.path(), sign_path(), "the signBlob URL");
    }
    requests
}

#[tokio::test]
async fn signs_with_the_exact_request_and_decodes_the_signature() {
    let server = server_answering(signed_blob()).await;
    let signed = signer(&server)
        .sign(&AccessToken::new(TOKEN), b"string to sign")
        .await
        .expect("signBlob answers");
    assert_eq!(signed.key_id(), "k1");
    assert_eq!(signed.signature().expose_secret().as_slice(), SIGNATURE);
    let debug = format!("{signed:?}");
    assert!(!debug.contains("signature-bytes"), "{debug}");
    assert!(debug.contains("signature_len"), "{debug}");

    let calls = sign_calls(&server).await;
    assert_eq!(calls.len(), 1, "one call");
    let call = &calls[0];
    assert_eq!(call.method.as_str(), "POST");
    assert_eq!(
        header_text(call, "authorization"),
        Some(format!("Bearer {TOKEN}"))
    );
    assert_eq!(
        header_text(call, "content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&call.body).expect("a JSON body"),
        json!({"payload": b64(b"string to sign")})
    );
}

#[tokio::test]
async fn retries_a_503_then_succeeds() {
    let server =
        server_answering(Scripted::new(signed_blob()).first(1, ResponseTemplate::new(503))).await;
    let signed = signer(&server)
        .sign(&AccessToken::new(TOKEN), b"x")
        .await
        .expect("the second attempt succeeds");
    assert_eq!(signed.signature().expose_secret().as_slice(), SIGNATURE);
    assert_eq!(
        sign_calls(&server).await.len(),
        2,
        "the 503, then the answer"
    );
}

#[tokio::test]
async fn a_403_names_the_missing_role_is_final_and_never_echoes_the_token() {
    // A server (or proxy) that quotes the request's header back in its error.
    let echo = format!("Permission 'iam.serviceAccounts.signBlob' denied; got Bearer {TOKEN}");
    let server = server_answering(ResponseTemplate::new(403).set_body_json(json!({
        "error": {"code": 403, "message": echo, "status": "PERMISSION_DENIED"}
    })))
    .await;
    let err = signer(&server)
        .sign(&AccessToken::new(TOKEN), b"x")
        .await
        .expect_err("403 is an error");
    assert_eq!(err.status(), Some(403));
    assert!(!err.is_retryable());
    assert!(
        err.hint()
            .is_some_and(|h| h.contains("roles/iam.serviceAccountTokenCreator")),
        "{err}"
    );
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
    assert_eq!(sign_calls(&server).await.len(), 1, "not retried");
}

#[tokio::test]
async fn a_malformed_answer_is_an_error_that_quotes_nothing() {
    let server = server_answering(
        ResponseTemplate::new(200)
            .set_body_json(json!({"keyId": "k1", "signedBlob": "not base64 s3cr3t!!"})),
    )
    .await;
    let err = signer(&server)
        .sign(&AccessToken::new(TOKEN), b"x")
        .await
        .expect_err("not base64");
    assert_eq!(err.kind(), ErrorKind::InvalidResponse);
    assert!(!format!("{err} {err:?}").contains("s3cr3t"));
    assert_eq!(sign_calls(&server).await.len(), 1);
}

#[tokio::test]
async fn bad_input_is_refused_before_any_call() {
    let server = server_answering(ResponseTemplate::new(500)).await;
    let signer = signer(&server);
    let token = AccessToken::new(TOKEN);
    assert!(signer.sign(&token, b"").await.is_err());
    assert!(
        signer
            .sign(&token, &vec![0u8; MAX_PAYLOAD + 1])
            .await
            .is_err()
    );
    assert!(sign_calls(&server).await.is_empty(), "no call was made");
    // Plain http to anything but loopback would send the token in clear.
    let remote =
        format!("http://iam.example.com/v1/projects/-/serviceAccounts/{SA}:generateAccessToken");
    assert!(BlobSigner::from_impersonation_url(&remote, http_client()).is_err());
    // No `:generateAccessToken` suffix: the signBlob URL cannot be derived.
    assert!(
        BlobSigner::from_impersonation_url("https://iam.example.com/x", http_client()).is_err()
    );
}

#[test]
fn the_public_endpoint_is_derived_from_the_email() {
    let signer =
        BlobSigner::for_service_account(SA, "googleapis.com", http_client()).expect("valid email");
    assert_eq!(
        signer.url(),
        format!(
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{SA}:signBlob"
        )
    );
    assert!(BlobSigner::for_service_account("nobody", "googleapis.com", http_client()).is_err());
}

/// wif's HTTP client (reqwest 0.13 with wif's rustls configuration).
fn http_client() -> reqwest::Client {
    wif_core::http::default_client().expect("HTTP client")
}
