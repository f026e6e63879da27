//! An STS (or a proxy in front of it) that quotes the request in its error: nothing the request
//! carried — the subject token in any spelling, the SigV4 signature and session token inside an
//! AWS subject token, the client secret — may come back through the error or the logs.

// Test helpers outside #[test] functions may panic too.
#![allow(clippy::expect_used)]

mod support;

use secrecy::SecretString;
use wif_core::testing::{EchoRequest, LogCapture, Quote, assert_no_secrets};
use wif_core::{ErrorKind, Step, TokenProvider};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer};

use support::*;

const SIGNATURE: &str = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
const SESSION: &str = "IQoJb3JpZ2luX2VjEAcaCXVzLWVhc3QtMSJIMEYCIQD/session+token==";

/// The serialized, signed GetCallerIdentity request of an AWS subject token (before
/// percent-encoding), as the AWS source writes it.
fn aws_request_json() -> String {
    format!(
        r#"{{"headers":[{{"key":"Authorization","value":"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token;x-goog-cloud-target-resource, Signature={SIGNATURE}"}},{{"key":"host","value":"sts.us-east-1.amazonaws.com"}},{{"key":"x-amz-date","value":"20260101T000000Z"}},{{"key":"x-amz-security-token","value":"{SESSION}"}},{{"key":"x-goog-cloud-target-resource","value":"{WORKLOAD_AUDIENCE}"}}],"method":"POST","url":"https://sts.us-east-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"}}"#
    )
}

/// The subject token: the JSON percent-encoded like Python's `quote(safe="/")`.
fn aws_subject_token() -> String {
    let mut out = String::new();
    for b in aws_request_json().bytes() {
        if b.is_ascii_alphanumeric() || b"_.-~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[tokio::test]
async fn an_echoing_sts_gets_no_aws_secret_or_client_secret_through() {
    let logs = LogCapture::global();
    let subject = aws_subject_token();
    let json = aws_request_json();
    // Basic base64("client-id:client-SECRET-password"), what the request's Authorization carries.
    let basic = "Y2xpZW50LWlkOmNsaWVudC1TRUNSRVQtcGFzc3dvcmQ=";
    let secrets = [
        subject.as_str(),
        json.as_str(),
        SIGNATURE,
        SESSION,
        CLIENT_SECRET,
        basic,
    ];
    // Each part on its own (a server message is clipped at 1 KiB), in both error families;
    // the 503s are retried, and the retry loop logs each failure at INFO before the next attempt.
    let echoes = Quote::ALL.into_iter().flat_map(|part| {
        [
            (EchoRequest::oauth(400).quoting(part), 400),
            (EchoRequest::rpc(403).quoting(part), 403),
            (EchoRequest::oauth(503).quoting(part), 503),
        ]
    });
    for (echo, status) in echoes {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(echo.clone())
            .mount(&server)
            .await;
        let sts = builder(&server, TestSource::new(&subject))
            .client_auth("client-id", Some(SecretString::from(CLIENT_SECRET)))
            .build()
            .expect("valid config");
        let err = sts.token().await.expect_err("the server refuses");
        assert_eq!(err.step(), Step::Exchange);
        assert_eq!(err.status(), Some(status), "{err}");
        let shown = format!("{err}\n{err:?}");
        // The echo did reach us, scrubbed: the request's harmless parts are still there.
        assert!(shown.contains("[REDACTED]"), "{echo:?}: {shown}");
        assert_no_secrets(&format!("{echo:?}"), &shown, &secrets);
        // And the request really carried them.
        let reqs = requests(&server).await;
        assert_eq!(
            form_of(&reqs[0]).get("subject_token"),
            Some(&subject),
            "{status}"
        );
    }
    let contents = logs.contents();
    assert!(
        contents.contains("retrying after a retryable failure"),
        "nothing captured: {contents}"
    );
    assert_no_secrets("the logs", &contents, &secrets);
}

#[tokio::test]
async fn a_subject_token_echoed_in_any_json_spelling_is_scrubbed() {
    // A SAML assertion (base64) echoed by encoders that escape `/`, or letters.
    let saml = "PHNhbWw+/assertion+0123==";
    for description in [
        r#"bad PHNhbWw+\/assertion+0123=="#,
        r#"bad \u0050HNhbWw+/assertion+0123=="#,
        r#"bad PHNhbWw%2B%2Fassertion%2B0123%3D%3D"#,
        r#"bad PHNhbWw%2b%2fassertion%2b0123%3d%3d"#,
        r#"bad {\"subject_token\": \"PHNhbWw+\/assertion+0123==\"}"#,
    ] {
        let body = format!(r#"{{"error":"invalid_grant","error_description":"{description}"}}"#);
        let server = sts_answering(
            wiremock::ResponseTemplate::new(400).set_body_raw(body, "application/json"),
        )
        .await;
        let err = builder(&server, TestSource::new(saml))
            .build()
            .expect("valid config")
            .token()
            .await
            .expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::Http);
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("assertion"), "{description}: {shown}");
        assert!(shown.contains("bad "), "{description}: {shown}");
    }
}
