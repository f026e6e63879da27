//! What goes over the wire: form fields, headers, client authentication, the metrics header,
//! and how success responses become tokens. Also `build()` validation.

// Test helpers outside #[test] fns: panicking with a message is how they report.
#![allow(clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use support::*;
use wif_core::{ErrorKind, Step, SubjectToken, TokenProvider};
use wif_sts::StsExchange;
use wiremock::matchers::{header as header_is, method, path};
use wiremock::{Mock, MockServer};

#[tokio::test]
async fn sends_the_exact_form_and_headers_and_returns_the_token() {
    let server = sts_granting_once(
        Mock::given(method("POST"))
            .and(path("/v1/token"))
            .and(header_is(
                "content-type",
                "application/x-www-form-urlencoded",
            ))
            .and(
                FormMatcher::new()
                    .with(
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:token-exchange",
                    )
                    .with("audience", WORKLOAD_AUDIENCE)
                    .with(
                        "scope",
                        &format!("{CLOUD_PLATFORM} https://www.googleapis.com/auth/iam"),
                    )
                    .with(
                        "requested_token_type",
                        "urn:ietf:params:oauth:token-type:access_token",
                    )
                    .with("subject_token", SUBJECT)
                    .with("subject_token_type", AWS_TYPE)
                    .without("options"),
            ),
    )
    .await;

    let source = TestSource::with_kind(SUBJECT, "aws");
    let sts = builder(&server, source.clone())
        .scopes([CLOUD_PLATFORM, "", "https://www.googleapis.com/auth/iam"])
        .impersonated_email("sa@proj.iam.gserviceaccount.com")
        .build()
        .expect("valid config");
    let token = sts.token().await.expect("exchange succeeds");

    assert_eq!(token.secret().expose_secret(), ACCESS);
    assert_eq!(token.token_type(), "Bearer");
    let remaining = token.remaining().expect("has an expiry");
    assert!(
        remaining <= Duration::from_secs(3600) && remaining > Duration::from_secs(3590),
        "{remaining:?}"
    );

    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 1);
    let form = form_of(&reqs[0]);
    assert_eq!(form.len(), 6, "exactly the six fields: {:?}", form.keys());
    assert_eq!(
        header(&reqs[0], "authorization"),
        None,
        "no client auth configured"
    );

    let seen = source.seen();
    assert_eq!(seen.len(), 1, "the source is asked once per token()");
    assert_eq!(seen[0].audience, WORKLOAD_AUDIENCE);
    assert_eq!(seen[0].subject_token_type, AWS_TYPE);
    assert_eq!(
        seen[0].impersonated_email.as_deref(),
        Some("sa@proj.iam.gserviceaccount.com")
    );
    assert_eq!(sts.source_context(), &seen[0]);
}

#[tokio::test]
async fn scope_is_omitted_when_there_are_no_scopes() {
    let server = sts_granting_once(Mock::given(
        FormMatcher::new().without("scope").without("options"),
    ))
    .await;
    let sts = builder(&server, TestSource::new(SUBJECT))
        .scopes(["", "  "])
        .build()
        .expect("valid config");
    sts.token().await.expect("exchange succeeds");
    let form = form_of(&requests(&server).await[0]);
    assert!(!form.contains_key("scope"), "{form:?}");
}

#[tokio::test]
async fn workforce_user_project_is_sent_as_options_encoded_once() {
    let server = sts_granting_once(Mock::given(
        FormMatcher::new().with("options", r#"{"userProject":"my-billing-project"}"#),
    ))
    .await;
    let sts = builder(&server, TestSource::new(SUBJECT))
        .audience(WORKFORCE_AUDIENCE)
        .subject_token_type(JWT_TYPE)
        .workforce_pool_user_project("my-billing-project")
        .build()
        .expect("valid config");
    sts.token().await.expect("exchange succeeds");

    let reqs = requests(&server).await;
    let raw = String::from_utf8_lossy(&reqs[0].body);
    // Go's wire form; Python would send %257B%2522userProject%2522...
    assert!(
        raw.contains("options=%7B%22userProject%22%3A%22my-billing-project%22%7D"),
        "{raw}"
    );
    assert_eq!(header(&reqs[0], "authorization"), None);
}

#[tokio::test]
async fn client_auth_sends_basic_and_suppresses_options() {
    let server = sts_granting_once(
        Mock::given(header_is("authorization", "Basic dXNlcm5hbWU6cGFzc3dvcmQ="))
            .and(FormMatcher::new().without("options").without("client_id")),
    )
    .await;
    let sts = builder(&server, TestSource::new(SUBJECT))
        .audience(WORKFORCE_AUDIENCE)
        .workforce_pool_user_project("my-billing-project")
        .client_auth("username", Some(SecretString::from("password")))
        .build()
        .expect("valid config");
    sts.token().await.expect("exchange succeeds");
    let form = form_of(&requests(&server).await[0]);
    assert!(!form.contains_key("client_secret"), "{form:?}");
}

#[tokio::test]
async fn empty_client_id_means_no_client_auth() {
    let server = sts_granting_once(Mock::given(
        FormMatcher::new().with("options", r#"{"userProject":"p"}"#),
    ))
    .await;
    let sts = builder(&server, TestSource::new(SUBJECT))
        .audience(WORKFORCE_AUDIENCE)
        .workforce_pool_user_project("p")
        .client_auth("", None)
        .build()
        .expect("valid config");
    sts.token().await.expect("exchange succeeds");
    assert_eq!(header(&requests(&server).await[0], "authorization"), None);
}

#[tokio::test]
async fn metrics_header_names_source_impersonation_and_lifetime() {
    let server = sts_answering(success_body(json!(3600))).await;
    for (kind, imp, life) in [
        ("aws", true, true),
        ("file", false, false),
        ("url", true, false),
    ] {
        let sts = builder(&server, TestSource::with_kind(SUBJECT, kind))
            .metrics(imp, life)
            .build()
            .expect("valid config");
        sts.token().await.expect("exchange succeeds");
        let reqs = requests(&server).await;
        let value = header(reqs.last().expect("a request"), "x-goog-api-client")
            .expect("metrics header sent")
            .to_owned();
        let tokens: Vec<&str> = value.split(' ').collect();
        assert_eq!(tokens.len(), 6, "{value}");
        let rustc = tokens[0].strip_prefix("gl-rust/").expect("gl-rust/ first");
        assert!(!rustc.is_empty(), "{value}");
        assert_eq!(
            tokens[1..],
            [
                format!("auth/{}", env!("CARGO_PKG_VERSION")),
                "google-byoid-sdk".to_owned(),
                format!("source/{kind}"),
                format!("sa-impersonation/{imp}"),
                format!("config-lifetime/{life}"),
            ],
            "{value}"
        );
    }
}

#[tokio::test]
async fn expires_in_may_be_a_number_or_a_string() {
    for expires_in in [json!(1800), json!("1800")] {
        let server = sts_answering(success_body(expires_in.clone())).await;
        let sts = exchange(&server);
        let token = sts
            .exchange(&SubjectToken::new(SUBJECT))
            .await
            .unwrap_or_else(|e| panic!("expires_in {expires_in}: {e}"));
        let remaining = token.remaining().expect("expiry known");
        assert!(
            remaining <= Duration::from_secs(1800) && remaining > Duration::from_secs(1790),
            "expires_in {expires_in}: {remaining:?}"
        );
        assert!(token.expires_at_utc().is_some());
    }
}

#[tokio::test]
async fn bad_success_bodies_are_invalid_response_errors_and_not_retried() {
    let cases = [
        (
            json!({"expires_in": 3600, "token_type": "Bearer"}),
            "no `access_token`",
        ),
        (
            json!({"access_token": "", "expires_in": 3600}),
            "no `access_token`",
        ),
        (
            json!({"access_token": ACCESS, "token_type": "Bearer"}),
            "no `expires_in`",
        ),
        (
            json!({"access_token": ACCESS, "expires_in": 0}),
            "invalid `expires_in`",
        ),
        (
            json!({"access_token": ACCESS, "expires_in": "-1"}),
            "invalid `expires_in`",
        ),
    ];
    for (body, want) in cases {
        let server = sts_answering(wiremock::ResponseTemplate::new(200).set_body_json(&body)).await;
        let sts = exchange(&server);
        let err = sts.token().await.expect_err("must fail");
        assert_eq!(err.step(), Step::Exchange, "{body}");
        assert_eq!(err.kind(), ErrorKind::InvalidResponse, "{body}");
        assert!(!err.is_retryable(), "{body}");
        let shown = format!("{err}\n{err:?}");
        assert!(shown.contains(want), "{body}: {shown}");
        assert!(shown.contains("/v1/token"), "names the call: {shown}");
        assert_no_secrets(&shown);
        assert_eq!(requests(&server).await.len(), 1, "{body}: not retried");
    }
}

#[tokio::test]
async fn build_rejects_bad_configuration_naming_the_field() {
    let server = MockServer::start().await;
    let valid = || builder(&server, TestSource::new(SUBJECT));
    let cases: Vec<(wif_sts::StsExchangeBuilder, &str)> = vec![
        (
            StsExchange::builder()
                .audience(WORKLOAD_AUDIENCE)
                .subject_token_type(AWS_TYPE),
            "`source`",
        ),
        (
            StsExchange::builder()
                .source_arc(TestSource::new(SUBJECT))
                .subject_token_type(AWS_TYPE),
            "`audience`",
        ),
        (valid().audience("  "), "`audience`"),
        (valid().subject_token_type(""), "`subject_token_type`"),
        (
            StsExchange::builder()
                .source_arc(TestSource::new(SUBJECT))
                .audience(WORKLOAD_AUDIENCE),
            "`subject_token_type`",
        ),
        (valid().token_url("not a url"), "`token_url`"),
        (
            valid().token_url("http://sts.googleapis.com/v1/token"),
            "`token_url`",
        ),
        (
            valid().token_url_parsed(
                url::Url::parse("http://sts.googleapis.com/v1/token").expect("a URL"),
            ),
            "`token_url`",
        ),
        (valid().timeout(Duration::ZERO), "`timeout`"),
        (
            valid().workforce_pool_user_project("p"),
            "`workforce_pool_user_project`",
        ),
        (
            valid().client_auth("a:b", Some(SecretString::from(CLIENT_SECRET))),
            "`client_id`",
        ),
    ];
    for (b, field) in cases {
        let shown_builder = format!("{b:?}");
        assert_no_secrets(&shown_builder);
        let err = b.build().expect_err(field);
        assert_eq!(err.step(), Step::Config, "{field}: {err}");
        assert!(err.is_config(), "{field}: {err}");
        assert!(err.to_string().contains(field), "{field}: {err}");
        assert_no_secrets(&err.to_string());
    }
    assert!(
        requests(&server).await.is_empty(),
        "no network call for bad config"
    );
}

#[tokio::test]
async fn default_token_url_is_google_sts() {
    let sts = StsExchange::builder()
        .source_arc(TestSource::new(SUBJECT))
        .audience(WORKLOAD_AUDIENCE)
        .subject_token_type(AWS_TYPE)
        .build()
        .expect("valid config");
    assert!(
        format!("{sts:?}").contains("https://sts.googleapis.com/v1/token"),
        "{sts:?}"
    );
}

#[tokio::test]
async fn a_parsed_token_url_is_used_as_given() {
    let server = MockServer::start().await;
    let url = url::Url::parse(&token_url(&server)).expect("a URL");
    let sts = builder(&server, TestSource::new(SUBJECT))
        .token_url("https://sts.googleapis.com/v1/token")
        .token_url_parsed(url.clone())
        .build()
        .expect("valid config");
    assert_eq!(sts.token_url(), &url, "the last setting wins");
    // And the text form is reported as parsed: what is contacted.
    let sts = builder(&server, TestSource::new(SUBJECT))
        .token_url(" https://STS.googleapis.com:443/v1/token")
        .build()
        .expect("valid config");
    assert_eq!(
        sts.token_url().as_str(),
        "https://sts.googleapis.com/v1/token"
    );
}
