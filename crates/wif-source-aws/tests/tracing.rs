//! Secrets never reach tracing output, at any level, including aws-sigv4's own TRACE events.

// Test helpers outside #[test] functions may panic too.
#![allow(clippy::expect_used)]

use std::sync::Arc;

use secrecy::ExposeSecret;
use wif_core::{MapEnvironment, SourceContext, SubjectTokenSource};
use wif_source_aws::{AWS_SUBJECT_TOKEN_TYPE, AwsSource};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn trace_output_holds_no_secrets() {
    let captured = wif_core::testing::LogCapture::global();

    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_string("imds-session-token-value"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/creds"))
        .respond_with(ResponseTemplate::new(200).set_body_string("role"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/creds/role"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"AccessKeyId":"ASIATRACE","SecretAccessKey":"trace-secret-value","Token":"trace-session-value"}"#,
        ))
        .mount(&server)
        .await;
    let source = AwsSource::builder()
        .environment(Arc::new(
            MapEnvironment::new().with("AWS_REGION", "us-east-1"),
        ))
        .credentials_url(format!("{}/creds", server.uri()))
        .imdsv2_session_token_url(format!("{}/token", server.uri()))
        .build()
        .expect("builds");
    let token = source
        .subject_token(&SourceContext::new(
            "//iam.googleapis.com/aud",
            AWS_SUBJECT_TOKEN_TYPE,
        ))
        .await
        .expect("token");
    let signature = token
        .secret()
        .expose_secret()
        .split("Signature%3D")
        .nth(1)
        .map(|s| s[..64].to_owned())
        .expect("signature in token");

    let logs = captured.contents();
    assert!(
        logs.contains("signed AWS GetCallerIdentity"),
        "tracing was captured: {logs}"
    );
    assert!(
        logs.contains("canonical_request"),
        "aws-sigv4's TRACE events were captured: {logs}"
    );
    for secret in [
        "trace-secret-value",
        "trace-session-value",
        "imds-session-token-value",
        signature.as_str(),
    ] {
        assert!(
            !logs.contains(secret),
            "{secret} leaked into traces:\n{logs}"
        );
    }
}
