//! Secrets never reach tracing output, at any level, including aws-sigv4's own TRACE events.

// Test helpers outside #[test] functions may panic too.
#![allow(clippy::expect_used)]

mod support;

use std::sync::Arc;

use secrecy::ExposeSecret;
use wif_core::testing::assert_no_secrets;
use wif_core::{MapEnvironment, SubjectTokenSource};
use wif_source_aws::AwsSource;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use support::imds::ctx;

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
    let token = source.subject_token(&ctx()).await.expect("token");
    let signature = token
        .secret()
        .expose_secret()
        .split("Signature%3D")
        .nth(1)
        .map(|s| s[..64].to_owned())
        .expect("signature in token");

    let logs = captured.contents();
    wif_core::testing::assert_says(
        &logs,
        &["signed AWS GetCallerIdentity", "canonical_request"],
    );
    assert_no_secrets(
        "traces",
        &logs,
        &[
            "trace-secret-value",
            "trace-session-value",
            "imds-session-token-value",
            &signature,
        ],
    );
}

/// Web identity (IRSA) and container credentials (Pod Identity), traced at every level: neither
/// the web identity token, nor the authorization token, nor the keys either provider answers
/// with reach the logs, the errors or `Debug` — even when AWS quotes the token back.
#[tokio::test]
async fn web_identity_and_container_secrets_never_reach_traces() {
    const WEB_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzYTphcHAifQ.web-identity-trace-secret";
    const POD_TOKEN: &str = "pod-identity-trace-secret";
    let captured = wif_core::testing::LogCapture::global();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/sts"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>\
             <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/app/s</Arn></AssumedRoleUser>\
             <Credentials><AccessKeyId>ASIAIRSATRACE</AccessKeyId>\
             <SecretAccessKey>irsa-trace-secret-key</SecretAccessKey>\
             <SessionToken>irsa-trace-session-token</SessionToken>\
             <Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>\
             </AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>",
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/pod"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"AccessKeyId":"ASIAPODTRACE","SecretAccessKey":"pod-trace-secret-key","Token":"pod-trace-session-token","Expiration":"2099-01-01T00:00:00Z"}"#,
        ))
        .mount(&server)
        .await;
    // A refusal that quotes what it got, as a proxy or a test double might.
    Mock::given(method("POST"))
        .and(path("/sts-echo"))
        .respond_with(ResponseTemplate::new(400).set_body_string(format!(
            "<ErrorResponse><Error><Code>InvalidIdentityToken</Code>\
             <Message>bad token {WEB_TOKEN}</Message></Error></ErrorResponse>"
        )))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let web_file = dir.path().join("token");
    let pod_file = dir.path().join("pod-token");
    std::fs::write(&web_file, WEB_TOKEN).expect("written");
    std::fs::write(&pod_file, POD_TOKEN).expect("written");
    let irsa = |sts: &str| {
        MapEnvironment::new()
            .with("AWS_REGION", "us-east-1")
            .with("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/app")
            .with(
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                web_file.display().to_string(),
            )
            .with("AWS_ENDPOINT_URL_STS", format!("{}{sts}", server.uri()))
    };
    let pod = support::pod_identity_env("us-east-1", format!("{}/pod", server.uri()), &pod_file);
    let ctx = ctx();
    let mut shown = String::new();
    for env in [irsa("/sts"), pod] {
        let source = AwsSource::builder()
            .environment(Arc::new(env))
            .build()
            .expect("builds");
        source.subject_token(&ctx).await.expect("token");
        let resolved = source.resolve().await.expect("resolved");
        shown.push_str(&format!(
            "{source:?} {resolved:?} {}\n",
            resolved.provenance
        ));
    }
    let echo = AwsSource::builder()
        .environment(Arc::new(irsa("/sts-echo")))
        .build()
        .expect("builds");
    let err = echo.subject_token(&ctx).await.expect_err("refused");
    shown.push_str(&format!("{err} {err:?}\n"));

    let logs = captured.contents();
    wif_core::testing::assert_says(
        &logs,
        &[
            "assumed the role with the web identity token",
            "got container credentials",
        ],
    );
    let secrets = [
        WEB_TOKEN,
        "web-identity-trace-secret",
        POD_TOKEN,
        "irsa-trace-secret-key",
        "irsa-trace-session-token",
        "pod-trace-secret-key",
        "pod-trace-session-token",
    ];
    assert_no_secrets("traces", &logs, &secrets);
    assert_no_secrets("Debug and errors", &shown, &secrets);
}
