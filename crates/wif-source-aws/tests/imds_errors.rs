//! The AWS source's failures against wiremock fakes of the metadata service: each error names the
//! step, the likely cause and the fix, happens before any request when it can, and leaks nothing.

// Test helpers outside #[test] functions may panic too.
#![allow(clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use wif_core::testing::assert_no_secrets;
use wif_core::{ErrorKind, MapEnvironment, SourceContext, Step, SubjectTokenSource};
use wif_source_aws::{AWS_SUBJECT_TOKEN_TYPE, AwsSource, AwsSourceBuilder, causes};
use wiremock::{MockServer, ResponseTemplate};

use support::imds::*;

#[tokio::test]
async fn tokenless_get_on_an_imdsv2_only_instance_names_the_fix() {
    let server = imds_server(true, "us-east-2b", &creds_json("A", "s", "t")).await;
    let source = build(&server, false);
    let err = source
        .subject_token(&ctx())
        .await
        .expect_err("401 without token");
    assert_eq!(err.step(), Step::Source);
    assert_eq!(err.status(), Some(401));
    assert!(!err.is_retryable(), "{err:?}");
    let hint = err.hint().expect("hint");
    assert!(hint.contains("IMDSv2 is required"), "{hint}");
    assert!(hint.contains("imdsv2_session_token_url"), "{hint}");
    assert!(hint.contains("--enable-imdsv2"), "{hint}");
    assert_eq!(err.known_cause(), Some(&causes::IMDSV2_REQUIRED));
}

/// The error of an IMDSv1 source (region from the environment) whose role-name request gets
/// `response`.
async fn error_when_the_role_listing_answers(response: ResponseTemplate) -> wif_core::Error {
    let server = MockServer::start().await;
    answer(&server, "GET", ROLE_PATH, response).await;
    let env = MapEnvironment::new().with("AWS_REGION", "us-east-1");
    let source = builder(&server, false, env).build().expect("builds");
    source
        .subject_token(&ctx())
        .await
        .expect_err("the role listing fails")
}

#[tokio::test]
async fn missing_role_is_named() {
    let err = error_when_the_role_listing_answers(
        ResponseTemplate::new(404).set_body_string("<html>Not Found</html>"),
    )
    .await;
    assert_eq!(err.status(), Some(404));
    assert!(
        err.hint()
            .is_some_and(|h| h.contains("no IAM role attached")),
        "{err}"
    );
    assert_eq!(err.known_cause(), Some(&causes::NO_INSTANCE_ROLE));
    assert!(
        !err.to_string().contains("<html>"),
        "bodies are not echoed: {err}"
    );
}

#[tokio::test]
async fn server_errors_are_retried_then_reported() {
    let server = MockServer::start().await;
    answer(&server, "GET", ZONE_PATH, ResponseTemplate::new(500)).await;
    let source = builder(&server, false, env_keys()).build().expect("builds");
    let err = source.resolve().await.expect_err("500");
    assert_eq!(err.status(), Some(500));
    assert!(
        err.is_retryable(),
        "a 5xx stays retryable for the caller: {err:?}"
    );
    assert!(
        err.to_string().contains("AWS instance metadata (region)"),
        "{err}"
    );
    assert_requested(&server, "GET", ZONE_PATH, 3, "three attempts").await;
}

#[tokio::test]
async fn metadata_timeouts_fail_fast_with_the_likely_causes() {
    let server = MockServer::start().await;
    answer(
        &server,
        "PUT",
        TOKEN_PATH,
        ResponseTemplate::new(200)
            .set_body_string(IMDS_TOKEN)
            .set_delay(Duration::from_secs(5)),
    )
    .await;
    let source = builder(&server, true, MapEnvironment::new())
        .metadata_timeout(Duration::from_millis(200))
        .build()
        .expect("builds");
    let started = Instant::now();
    let err = source.resolve().await.expect_err("times out");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    assert!(!err.is_retryable());
    let hint = err.hint().expect("hint");
    assert!(
        hint.contains("no instance metadata service reachable"),
        "{hint}"
    );
    assert!(hint.contains("HttpPutResponseHopLimit=2"), "{hint}");
    assert_eq!(err.known_cause(), Some(&causes::NO_METADATA_SERVICE));
    assert_requested(&server, "PUT", TOKEN_PATH, 1, "not retried").await;
}

#[tokio::test]
async fn unreachable_metadata_service_is_explained() {
    let port = closed_port();
    let source = env_builder(MapEnvironment::new().with("AWS_REGION", "us-east-1"))
        .credentials_url(format!("http://127.0.0.1:{port}{ROLE_PATH}"))
        .build()
        .expect("builds");
    let err = source.resolve().await.expect_err("connection refused");
    assert_eq!(err.kind(), ErrorKind::Transport, "{err:?}");
    assert!(
        err.hint().is_some_and(|h| h.contains("not on EC2")),
        "{err}"
    );
}

#[tokio::test]
async fn garbage_region_answer_is_a_clear_error() {
    let server = imds_server(false, "<html>oops</html>", &creds_json("A", "s", "t")).await;
    let source = build(&server, false);
    let err = source.resolve().await.expect_err("garbage");
    assert_eq!(err.kind(), ErrorKind::InvalidResponse);
    assert!(
        err.to_string().contains("could not derive an AWS region"),
        "{err}"
    );
}

/// The configuration error `builder` builds into and resolving it then fails with.
async fn resolve_config_error(builder: AwsSourceBuilder, why: &str) -> wif_core::Error {
    let err = builder
        .build()
        .expect("builds")
        .resolve()
        .await
        .expect_err(why);
    assert!(err.is_config(), "{why}: {err:?}");
    err
}

/// A port on 127.0.0.1 nobody listens on (the listener that found it is gone).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A plain builder (no metadata service unless set) reading `env`.
fn env_builder(env: MapEnvironment) -> AwsSourceBuilder {
    AwsSource::builder().environment(Arc::new(env))
}

#[tokio::test]
async fn missing_region_or_credentials_fail_before_any_request() {
    let server = MockServer::start().await;
    // No region anywhere.
    let err = resolve_config_error(
        env_builder(MapEnvironment::new()).credentials_url(format!("{}{ROLE_PATH}", server.uri())),
        "no region",
    )
    .await;
    assert!(
        err.to_string()
            .contains("unable to determine the AWS region"),
        "{err}"
    );
    assert_eq!(err.known_cause(), Some(&causes::NO_REGION));

    // A region, but no credentials anywhere.
    let err = resolve_config_error(
        env_builder(MapEnvironment::new().with("AWS_REGION", "us-east-1")),
        "no credentials",
    )
    .await;
    assert_eq!(err.known_cause(), Some(&causes::NO_AWS_CREDENTIALS));

    // Half an env key pair and no metadata url.
    let env = MapEnvironment::new()
        .with("AWS_REGION", "us-east-1")
        .with("AWS_ACCESS_KEY_ID", "AKIAHALF");
    let err = resolve_config_error(env_builder(env), "no credentials").await;
    assert!(
        err.to_string().contains("AWS_SECRET_ACCESS_KEY is not"),
        "{err}"
    );
    assert_untouched(&server, "no request").await;
}

/// Half an env key pair with a metadata URL: the metadata service is asked, and when it fails
/// too, the error gives each provider's reason, not only the metadata service's.
#[tokio::test]
async fn half_a_key_pair_is_named_when_the_metadata_service_fails_too() {
    let port = closed_port();
    for (imdsv2, env) in [
        (
            false,
            MapEnvironment::new().with("AWS_ACCESS_KEY_ID", "AKIAHALF"),
        ),
        (
            true,
            MapEnvironment::new().with("AWS_SECRET_ACCESS_KEY", "half-secret"),
        ),
    ] {
        let mut b = env_builder(env.with("AWS_REGION", "us-east-1"))
            .credentials_url(format!("http://127.0.0.1:{port}{ROLE_PATH}"));
        if imdsv2 {
            b = b.imdsv2_session_token_url(format!("http://127.0.0.1:{port}{TOKEN_PATH}"));
        }
        let err = b
            .build()
            .expect("builds")
            .resolve()
            .await
            .expect_err("nothing answers");
        let shown = err.to_string();
        let half = if imdsv2 {
            "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"
        } else {
            "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"
        };
        wif_core::testing::assert_says(
            &shown,
            &[
                &format!("no AWS credentials from the environment ({half})"),
                "nor from the instance metadata service",
                "AWS instance metadata",
            ],
        );
        assert!(!shown.contains("half-secret"), "{shown}");
    }
}

#[tokio::test]
async fn bad_configuration_fails_in_build_before_any_request() {
    let server = imds_server(true, "us-east-2b", &creds_json("A", "s", "t")).await;
    let cases: Vec<(AwsSourceBuilder, &str)> = vec![
        (
            builder(&server, true, MapEnvironment::new()).environment_id("aws2"),
            "credential_source.environment_id",
        ),
        (
            builder(&server, true, MapEnvironment::new()).environment_id("AWS1"),
            "credential_source.environment_id",
        ),
        (
            builder(&server, true, MapEnvironment::new()).regional_cred_verification_url(
                "http://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
            ),
            "credential_source.regional_cred_verification_url",
        ),
        (
            builder(&server, true, MapEnvironment::new()).region_url("not a url"),
            "credential_source.region_url",
        ),
        (
            builder(&server, true, MapEnvironment::new()).region("us east 1"),
            "region",
        ),
        (
            builder(&server, true, MapEnvironment::new())
                .subject_token_type("urn:ietf:params:oauth:token-type:jwt"),
            "subject_token_type",
        ),
    ];
    for (b, field) in cases {
        let err = b.build().expect_err(field);
        assert!(err.is_config(), "{field}: {err:?}");
        assert_eq!(err.step(), Step::Config);
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
    assert_untouched(&server, "no request before a valid build").await;
}

#[tokio::test]
async fn wrong_subject_token_type_fails_before_any_request() {
    let server = MockServer::start().await;
    let source = build(&server, true);
    let ctx = SourceContext::new(AUDIENCE, "urn:ietf:params:oauth:token-type:jwt");
    let err = source.subject_token(&ctx).await.expect_err("wrong type");
    assert!(err.to_string().contains("subject_token_type"), "{err}");
    let err = source
        .subject_token(&SourceContext::new("", AWS_SUBJECT_TOKEN_TYPE))
        .await
        .expect_err("empty audience");
    assert!(err.to_string().contains("audience"), "{err}");
    assert_untouched(&server, "no request").await;
    assert_eq!(source.kind(), "aws");
}

#[tokio::test]
async fn secrets_never_appear_in_debug_display_or_errors() {
    let server = MockServer::start().await;
    answer_text(&server, "GET", ROLE_PATH, ROLE).await;
    answer_text(
        &server,
        "GET",
        CREDS_PATH,
        r#"{"Code":"Success","AccessKeyId":"ASIALEAK","SecretAccessKey":"imds-secret-value","Token":["imds-session-value"]}"#,
    )
    .await;
    let env = MapEnvironment::new()
        .with("AWS_REGION", "us-east-1")
        .with("AWS_SECRET_ACCESS_KEY", "env-secret-value");
    let source = builder(&server, false, env.clone())
        .build()
        .expect("builds");
    let err = source
        .resolve()
        .await
        .expect_err("malformed credentials JSON");

    let ok_env = env
        .with("AWS_ACCESS_KEY_ID", "ASIAOK")
        .with("AWS_SESSION_TOKEN", "env-session-value");
    let ok = builder(&server, false, ok_env).build().expect("builds");
    let resolved = ok.resolve().await.expect("resolves");
    let signed = ok.signed_request(AUDIENCE).await.expect("signs");
    let token = ok.subject_token(&ctx()).await.expect("token");

    let shown = format!(
        "{source:?} {ok:?} {err} {err:?} {resolved:?} {} {signed:?} {token:?} {:?}",
        resolved.provenance,
        builder(&server, false, MapEnvironment::new()),
    );
    assert_no_secrets(
        "Debug, errors and the signed request",
        &shown,
        &[
            "env-secret-value",
            "env-session-value",
            "imds-secret-value",
            "imds-session-value",
            "Signature=",
        ],
    );
    assert!(
        shown.contains("ASIAOK"),
        "access key ids are identifiers and may show"
    );
}

#[tokio::test]
async fn a_metadata_service_that_refuses_is_named() {
    let err = error_when_the_role_listing_answers(ResponseTemplate::new(403)).await;
    assert_eq!(err.status(), Some(403));
    assert_eq!(err.known_cause(), Some(&causes::METADATA_REFUSED));
    assert!(
        err.hint()
            .is_some_and(|h| h.contains("metadata service refused the request")),
        "{err}"
    );
}
