//! AWS STS, the instance metadata service, or a proxy in front of them, quoting the request in its
//! error: the SigV4 signature, the session token and the IMDSv2 session token never come back
//! through an error or a log line, in any spelling.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::time::SystemTime;

use wif_core::testing::{EchoRequest, LogCapture, Quote, assert_no_secrets};
use wif_core::{MapEnvironment, RetryPolicy, Step, SubjectTokenSource};
use wif_source_aws::{
    AwsCredentials, AwsJwtSource, DEFAULT_REGIONAL_CRED_VERIFICATION_URL, JWT_SUBJECT_TOKEN_TYPE,
    TargetResource, get_caller_identity, sign_get_caller_identity,
};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use support::imds::{IMDS_TOKEN, TOKEN_PATH, ZONE_PATH, answer_text, ctx, env_keys};

const SECRET: &str = "echo-test-SECRET-access-key";
const SESSION: &str = "echo-test-SESSION+token/with=base64";
const POOL: &str =
    "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/aws";

/// AWS's XML `ErrorResponse`, its `Message` quoting the request.
#[derive(Clone, Debug)]
struct XmlEcho(EchoRequest);

impl Respond for XmlEcho {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let quoted = self
            .0
            .quote(request)
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        ResponseTemplate::new(403).set_body_string(format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>\
             <Message>{quoted}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"
        ))
    }
}

/// The SigV4 signature of the first request `server` received.
async fn signature_sent(server: &MockServer) -> String {
    let requests = server.received_requests().await.unwrap_or_default();
    let auth = requests[0].headers["authorization"].to_str().unwrap();
    let (_, signature) = auth.split_once("Signature=").expect("a SigV4 header");
    signature.to_owned()
}

/// An echoing answer: what it is, whether it quotes the headers (where the secrets of an AWS
/// request are), and the mock.
type Echo = (String, bool, Box<dyn Fn() -> Mock>);

/// The echoing answers every test here runs against: each part of the request alone (a server
/// message is clipped at 1 KiB), as AWS XML and as a JSON error.
fn echoes() -> Vec<Echo> {
    let mut all: Vec<Echo> = Vec::new();
    for part in Quote::ALL {
        let headers = matches!(part, Quote::Headers | Quote::Json);
        all.push((
            format!("XML {part:?}"),
            headers,
            Box::new(move || {
                Mock::given(method("POST"))
                    .respond_with(XmlEcho(EchoRequest::oauth(403).quoting(part)))
            }),
        ));
        all.push((
            format!("JSON {part:?}"),
            headers,
            Box::new(move || {
                Mock::given(method("POST")).respond_with(EchoRequest::rpc(400).quoting(part))
            }),
        ));
    }
    all
}

#[tokio::test]
async fn get_web_identity_token_errors_show_no_signature_or_session_token() {
    let logs = LogCapture::global();
    for (what, headers, mock) in echoes() {
        let server = MockServer::start().await;
        mock().mount(&server).await;
        let env = MapEnvironment::new()
            .with("AWS_ACCESS_KEY_ID", "ASIAECHO")
            .with("AWS_SECRET_ACCESS_KEY", SECRET)
            .with("AWS_SESSION_TOKEN", SESSION)
            .with("AWS_REGION", "eu-west-1");
        let source = AwsJwtSource::builder()
            .audience("https://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/aws")
            .endpoint(format!("{}/aws/sts", server.uri()))
            .environment(Arc::new(env))
            .retry(RetryPolicy::never())
            .build()
            .expect("valid configuration");
        let err = source
            .subject_token(&wif_core::SourceContext::new(POOL, JWT_SUBJECT_TOKEN_TYPE))
            .await
            .expect_err("AWS refuses");
        assert_eq!(err.step(), Step::Source, "{what}: {err}");
        let shown = format!("{err}\n{err:?}");
        assert_eq!(shown.contains("[REDACTED]"), headers, "{what}: {shown}");
        let signature = signature_sent(&server).await;
        assert_no_secrets(&what, &shown, &[SESSION, &signature, SECRET]);
    }
    assert_no_secrets("the logs", &logs.contents(), &[SESSION, SECRET]);
}

#[tokio::test]
async fn get_caller_identity_errors_show_no_signature_or_session_token() {
    let creds = AwsCredentials::new("ASIAECHO", SECRET, Some(SESSION.to_owned()));
    let signed = sign_get_caller_identity(
        &creds,
        "eu-west-1",
        DEFAULT_REGIONAL_CRED_VERIFICATION_URL,
        POOL,
        SystemTime::now(),
        TargetResource::Signed,
    )
    .expect("signs");
    for (what, headers, mock) in echoes() {
        let server = MockServer::start().await;
        mock().mount(&server).await;
        let err = get_caller_identity(
            &wif_core::http::default_client().unwrap(),
            &signed,
            Some(&format!("{}/aws/sts", server.uri())),
        )
        .await
        .expect_err("AWS refuses");
        let shown = format!("{err}\n{err:?}");
        assert_eq!(shown.contains("[REDACTED]"), headers, "{what}: {shown}");
        let signature = signature_sent(&server).await;
        assert_no_secrets(&what, &shown, &[SESSION, &signature, SECRET]);
    }
}

#[tokio::test]
async fn metadata_errors_show_no_imdsv2_session_token() {
    for (what, status) in [
        ("a 403 quoting the headers", 403),
        ("a 500 quoting the headers", 500),
        ("a zone that is the token", 200),
    ] {
        let server = MockServer::start().await;
        answer_text(&server, "PUT", TOKEN_PATH, IMDS_TOKEN).await;
        Mock::given(method("GET"))
            .and(wiremock::matchers::path(ZONE_PATH))
            .respond_with(move |request: &Request| {
                let body = if status == 200 {
                    let token = request.headers["x-aws-ec2-metadata-token"]
                        .to_str()
                        .unwrap_or("");
                    format!("zone-{token}")
                } else {
                    let echoed = EchoRequest::oauth(status)
                        .quoting(Quote::Headers)
                        .quote(request);
                    serde_json::json!({"error": "refused", "error_description": echoed}).to_string()
                };
                ResponseTemplate::new(status).set_body_string(body)
            })
            .mount(&server)
            .await;
        let source = support::imds::builder(&server, true, env_keys())
            .build()
            .expect("builds");
        let err = source
            .subject_token(&ctx())
            .await
            .expect_err("the region lookup fails");
        let shown = format!("{err}\n{err:?}");
        assert!(shown.contains("[REDACTED]"), "{what}: {shown}");
        assert_no_secrets(what, &shown, &[IMDS_TOKEN]);
    }
}
