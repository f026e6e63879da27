//! Secrets never reach tracing output, at any level, including aws-sigv4's own TRACE events.

// Test helpers outside #[test] functions may panic too.
#![allow(clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use secrecy::ExposeSecret;
use wif_core::{MapEnvironment, SourceContext, SubjectTokenSource};
use wif_source_aws::{AWS_SUBJECT_TOKEN_TYPE, AwsSource};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn trace_output_holds_no_secrets() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

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

    let logs = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
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
