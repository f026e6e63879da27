//! `get_caller_identity`: the signed request goes out exactly as signed (to a stand-in for AWS STS
//! here, with the signed host named in `x-wif-signed-host`), AWS's XML answer is read, and AWS's
//! XML errors become errors with AWS's words and no secret.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::SystemTime;

use wif_core::testing::{header_text, server_answering};
use wif_source_aws::{
    AwsCredentials, DEFAULT_REGIONAL_CRED_VERIFICATION_URL, SIGNED_HOST_HEADER, TargetResource,
    get_caller_identity, sign_get_caller_identity,
};
use wiremock::ResponseTemplate;

const SECRET: &str = "caller-identity-SECRET-key";
const SESSION: &str = "caller-identity-SESSION-token";
const AUDIENCE: &str =
    "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/aws";

fn signed() -> wif_source_aws::SignedRequest {
    let creds = AwsCredentials::new("ASIACALLER", SECRET, Some(SESSION.to_owned()));
    sign_get_caller_identity(
        &creds,
        "eu-west-1",
        DEFAULT_REGIONAL_CRED_VERIFICATION_URL,
        AUDIENCE,
        SystemTime::now(),
        TargetResource::Signed,
    )
    .expect("signs")
}

#[tokio::test]
async fn sends_the_signed_request_and_reads_the_arn() {
    let server = server_answering(
        "POST",
        ResponseTemplate::new(200).set_body_string(
            "<GetCallerIdentityResponse><GetCallerIdentityResult>\
             <Arn>arn:aws:sts::210987654321:assumed-role/app/fn</Arn>\
             <UserId>AROAX:fn</UserId><Account>210987654321</Account>\
             </GetCallerIdentityResult></GetCallerIdentityResponse>",
        ),
    )
    .await;
    let who = get_caller_identity(
        &wif_core::http::default_client().unwrap(),
        &signed(),
        Some(&format!("{}/aws/sts", server.uri())),
    )
    .await
    .expect("AWS answers");
    assert_eq!(who.arn, "arn:aws:sts::210987654321:assumed-role/app/fn");
    assert_eq!(who.account, "210987654321");

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "one call");
    let sent = &requests[0];
    assert_eq!(sent.url.path(), "/aws/sts");
    let query: Vec<(String, String)> = sent.url.query_pairs().into_owned().collect();
    for pair in [("Action", "GetCallerIdentity"), ("Version", "2011-06-15")] {
        assert!(
            query.contains(&(pair.0.to_owned(), pair.1.to_owned())),
            "{pair:?} in {query:?}"
        );
    }
    for (name, value) in [
        (SIGNED_HOST_HEADER, "sts.eu-west-1.amazonaws.com"),
        ("x-amz-security-token", SESSION),
        ("x-goog-cloud-target-resource", AUDIENCE),
    ] {
        assert_eq!(header_text(sent, name).as_deref(), Some(value), "{name}");
    }
    assert!(header_text(sent, "x-amz-date").is_some(), "x-amz-date sent");
    let auth = header_text(sent, "authorization").expect("Authorization sent");
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=ASIACALLER/"),
        "{auth}"
    );
    assert!(sent.body.is_empty(), "GetCallerIdentity has no body");
}

#[tokio::test]
async fn aws_errors_name_the_cause_without_secrets() {
    let server = server_answering(
        "POST",
        ResponseTemplate::new(403)
            .insert_header("date", "Sun, 06 Nov 1994 08:49:37 GMT")
            .set_body_string(
                "<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code>\
                 <Message>Signature expired: 20260101T000000Z is now earlier than 20260101T001500Z</Message>\
                 </Error></ErrorResponse>",
            ),
    )
    .await;
    let err = get_caller_identity(
        &wif_core::http::default_client().unwrap(),
        &signed(),
        Some(&server.uri()),
    )
    .await
    .expect_err("AWS refuses");
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("SignatureDoesNotMatch"), "{shown}");
    assert!(err.hint().is_some_and(|h| h.contains("clock")), "{shown}");
    assert!(err.server_date().is_some(), "{shown}");
    assert!(
        shown.contains("GetCallerIdentity"),
        "names the call: {shown}"
    );
    for secret in [SECRET, SESSION, "Signature="] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
}

/// The signed request is a live subject token: an override that would send it in the clear is
/// a configuration error before anything is sent (plain http only to loopback, as the emulator
/// is; that case is the test above).
#[tokio::test]
async fn the_signed_request_never_travels_over_plain_http() {
    for endpoint in [
        "http://sts.example.com/",
        "http://10.1.2.3/",
        "ftp://sts.example/",
    ] {
        let err = get_caller_identity(
            &wif_core::http::default_client().unwrap(),
            &signed(),
            Some(endpoint),
        )
        .await
        .expect_err(endpoint);
        assert!(err.is_config(), "{endpoint}: {err}");
        assert!(err.to_string().contains("https"), "{endpoint}: {err}");
    }
}
