//! `AwsJwtSource` against a wiremock stand-in for AWS STS `GetWebIdentityToken`: the exact
//! signed request, the token and its expiry, AWS's errors (hints, causes, retry), validation
//! before any request, where credentials come from (environment, IMDSv2), and no secret in
//! `Debug`, errors or traces.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secrecy::ExposeSecret;
use wif_core::testing::{Scripted, assert_no_secrets};
use wif_core::{ErrorKind, FixedClock, MapEnvironment, SourceContext, Step, SubjectTokenSource};
use wif_source_aws::{
    AWS_SUBJECT_TOKEN_TYPE, AwsJwtSource, AwsJwtSourceBuilder, JWT_SUBJECT_TOKEN_TYPE, causes,
};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

use support::imds::{
    CREDS_PATH, TOKEN_PATH, ZONE_PATH, count, credential_source, creds_json, mount_imds, summarize,
};

const STS_PATH: &str = "/aws/sts";
const AUDIENCE: &str = "https://iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/aws-jwt";
const POOL: &str = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/aws-jwt";
const KEY_ID: &str = "ASIAJWTTEST";
const SECRET: &str = "jwt-test-SECRET-access-key";
const SESSION: &str = "jwt-test-SESSION-token";
/// {"alg":"RS256","kid":"k1","typ":"JWT"} . {"iss":"https://x.tokens.sts.global.api.aws","exp":1795896300} . "sig"
const JWT: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJpc3MiOiJodHRwczovL3gudG9rZW5zLnN0cy5nbG9iYWwuYXBpLmF3cyIsImV4cCI6MTc5NTg5NjMwMH0.c2ln";
/// 2020-08-11T06:55:22Z, the clock every request here is signed at.
const SIGNED_AT: u64 = 1_597_128_922;

fn ctx() -> SourceContext {
    SourceContext::new(POOL, JWT_SUBJECT_TOKEN_TYPE)
}

fn env(session: bool) -> MapEnvironment {
    let env = MapEnvironment::new()
        .with("AWS_ACCESS_KEY_ID", KEY_ID)
        .with("AWS_SECRET_ACCESS_KEY", SECRET)
        .with("AWS_REGION", "eu-west-1");
    if session {
        env.with("AWS_SESSION_TOKEN", SESSION)
    } else {
        env
    }
}

/// A builder pointed at `server`'s `/aws/sts`, with a fixed clock and `env`.
fn builder(server: &MockServer, env: MapEnvironment) -> AwsJwtSourceBuilder {
    AwsJwtSource::builder()
        .audience(AUDIENCE)
        .endpoint(format!("{}{STS_PATH}", server.uri()))
        .environment(Arc::new(env))
        .clock(Arc::new(FixedClock(
            UNIX_EPOCH + Duration::from_secs(SIGNED_AT),
        )))
        .retry(wif_core::testing::quick_retries(3))
}

fn success() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "text/xml")
        .set_body_string(format!(
            "<GetWebIdentityTokenResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n\
             <GetWebIdentityTokenResult>\n<WebIdentityToken>{JWT}</WebIdentityToken>\n\
             <Expiration>2026-11-28T20:05:00Z</Expiration>\n</GetWebIdentityTokenResult>\n\
             <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>\n\
             </GetWebIdentityTokenResponse>"
        ))
}

fn aws_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_string(format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
         <Code>{code}</Code><Message>{message}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"
    ))
}

async fn sts_answers(server: &MockServer, response: impl Respond + 'static) {
    Mock::given(method("POST"))
        .and(path(STS_PATH))
        .respond_with(response)
        .mount(server)
        .await;
}

async fn sent(server: &MockServer) -> Vec<wiremock::Request> {
    server.received_requests().await.unwrap_or_default()
}

/// Asserts AWS was asked exactly `calls` times; `why` names the case.
async fn assert_calls(server: &MockServer, calls: usize, why: &str) {
    assert_eq!(sent(server).await.len(), calls, "{why}");
}

fn header<'a>(request: &'a wiremock::Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn sends_the_exact_signed_request_and_returns_the_token() {
    let server = MockServer::start().await;
    sts_answers(&server, success()).await;
    let source = builder(&server, env(true))
        .audience("second-audience")
        .duration(Duration::from_secs(900))
        .tag("team", "data eng")
        .build()
        .expect("builds");

    let token = source.subject_token(&ctx()).await.expect("token");
    assert_eq!(token.secret().expose_secret(), JWT);
    assert_eq!(
        token.expires_at(),
        Some(UNIX_EPOCH + Duration::from_secs(1_795_896_300)),
        "the answer's Expiration, 2026-11-28T20:05:00Z"
    );

    let requests = sent(&server).await;
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.url.path(), STS_PATH);
    assert_eq!(request.url.query(), None);
    assert_eq!(
        header(request, "content-type"),
        Some("application/x-www-form-urlencoded; charset=utf-8")
    );
    assert_eq!(
        String::from_utf8_lossy(&request.body),
        "Action=GetWebIdentityToken&Version=2011-06-15\
         &Audience.member.1=https%3A%2F%2Fiam.googleapis.com%2Fprojects%2F123456%2Flocations%2Fglobal%2FworkloadIdentityPools%2Fpool%2Fproviders%2Faws-jwt\
         &Audience.member.2=second-audience\
         &SigningAlgorithm=RS256&DurationSeconds=900\
         &Tags.member.1.Key=team&Tags.member.1.Value=data+eng"
    );
    assert_eq!(header(request, "x-amz-date"), Some("20200811T065522Z"));
    assert_eq!(header(request, "x-amz-security-token"), Some(SESSION));
    let auth = header(request, "authorization").expect("Authorization");
    assert!(
        auth.starts_with(&format!(
            "AWS4-HMAC-SHA256 Credential={KEY_ID}/20200811/eu-west-1/sts/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="
        )),
        "{auth}"
    );
    // Signed for the stand-in's own address (host with port, path /aws/sts).
    let scope = support::verify_sent(request, SECRET).expect("signature verifies");
    assert_eq!(scope, "20200811/eu-west-1/sts/aws4_request");
}

#[tokio::test]
async fn long_term_keys_send_no_session_token_and_the_defaults() {
    let server = MockServer::start().await;
    sts_answers(&server, success()).await;
    let source = builder(&server, env(false)).build().expect("builds");
    source.web_identity_token().await.expect("token");

    let requests = sent(&server).await;
    let request = &requests[0];
    assert!(header(request, "x-amz-security-token").is_none());
    assert_eq!(
        String::from_utf8_lossy(&request.body),
        format!(
            "Action=GetWebIdentityToken&Version=2011-06-15&Audience.member.1={}\
             &SigningAlgorithm=RS256&DurationSeconds=300",
            url::form_urlencoded::byte_serialize(AUDIENCE.as_bytes()).collect::<String>()
        )
    );
    let auth = header(request, "authorization").expect("Authorization");
    assert!(
        auth.contains("/eu-west-1/sts/aws4_request, SignedHeaders=content-type;host;x-amz-date, "),
        "{auth}"
    );
    support::verify_sent(request, SECRET).expect("signature verifies");
}

#[tokio::test]
async fn aws_errors_carry_hints_causes_and_the_retry_flag() {
    let table = [
        (
            400,
            "OutboundWebIdentityFederationDisabledException",
            "Outbound web identity federation is not enabled for this account",
            Some(&causes::OUTBOUND_FEDERATION_DISABLED),
            "aws iam enable-outbound-web-identity-federation",
        ),
        (
            403,
            "AccessDenied",
            "User: arn:aws:sts::123456789012:assumed-role/app/fn is not authorized to perform: sts:GetWebIdentityToken",
            Some(&causes::AWS_ACCESS_DENIED),
            "sts:GetWebIdentityToken",
        ),
        (
            400,
            "AccessDeniedException",
            "denied",
            Some(&causes::AWS_ACCESS_DENIED),
            "sts:GetWebIdentityToken",
        ),
        (
            400,
            "SessionDurationEscalationException",
            "The requested DurationSeconds exceeds the session",
            Some(&causes::DURATION_EXCEEDS_SESSION),
            "duration_seconds",
        ),
        (
            400,
            "JWTPayloadSizeExceededException",
            "The JWT payload is too large",
            Some(&causes::JWT_PAYLOAD_TOO_LARGE),
            "fewer",
        ),
        (
            403,
            "ExpiredToken",
            "The security token included in the request is expired",
            Some(&causes::AWS_CREDENTIALS_EXPIRED),
            "expired",
        ),
        (
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
            Some(&causes::AWS_CREDENTIALS_INVALID),
            "AWS_SESSION_TOKEN",
        ),
        (
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
            Some(&causes::AWS_SIGNATURE_MISMATCH),
            "clock",
        ),
        (
            403,
            "SignatureDoesNotMatch",
            "Signature expired: 20200811T065522Z is now earlier than 20260101T000000Z",
            Some(&causes::CLOCK_SKEW),
            "NTP",
        ),
        (400, "ValidationError", "1 validation error", None, ""),
    ];
    for (status, code, message, cause, hint) in table {
        let server = MockServer::start().await;
        sts_answers(&server, aws_error(status, code, message)).await;
        let source = builder(&server, env(true)).build().expect("builds");
        let err = source.subject_token(&ctx()).await.expect_err(code);
        assert_eq!(err.step(), Step::Source, "{code}");
        assert_eq!(err.kind(), ErrorKind::Http, "{code}");
        assert_eq!(err.status(), Some(status), "{code}");
        assert_eq!(err.known_cause(), cause, "{code}: {err}");
        let words = err.server_error().expect("AWS's words");
        assert_eq!(words.code.as_deref(), Some(code));
        assert_eq!(words.message.as_deref(), Some(message));
        if !hint.is_empty() {
            assert!(
                err.hint().is_some_and(|h| h.contains(hint)),
                "{code}: {err}"
            );
        }
        assert!(!err.is_retryable(), "{code} is not retryable");
        assert!(
            err.to_string().contains("GetWebIdentityToken"),
            "names the call: {err}"
        );
        assert_calls(&server, 1, &format!("{code}: not retried")).await;
    }

    for (status, code) in [
        (400, "Throttling"),
        (503, "ServiceUnavailable"),
        (500, "InternalFailure"),
    ] {
        let server = MockServer::start().await;
        sts_answers(&server, aws_error(status, code, "try later")).await;
        let source = builder(&server, env(true))
            .retry(wif_core::testing::quick_retries(2))
            .build()
            .expect("builds");
        let err = source.web_identity_token().await.expect_err(code);
        assert!(err.is_retryable(), "{code} is retryable");
        assert_calls(&server, 2, &format!("{code}: retried up to the policy")).await;
    }
}

#[tokio::test]
async fn a_503_is_retried_once_then_the_token_is_returned() {
    let server = MockServer::start().await;
    let unavailable = aws_error(503, "ServiceUnavailable", "Service is unavailable");
    sts_answers(&server, Scripted::new(success()).first(1, unavailable)).await;
    let source = builder(&server, env(true))
        .clock(Arc::new(TickingClock::default()))
        .build()
        .expect("builds");
    let token = source
        .subject_token(&ctx())
        .await
        .expect("token after a retry");
    assert_eq!(token.secret().expose_secret(), JWT);
    let requests = sent(&server).await;
    assert_eq!(requests.len(), 2);
    for request in &requests {
        support::verify_sent(request, SECRET).expect("each attempt is signed");
    }
    // Signed afresh, not replayed: the clock moved between the attempts, so must the signature.
    let dates: Vec<_> = requests
        .iter()
        .map(|r| r.headers.get("x-amz-date"))
        .collect();
    assert_ne!(dates[0], dates[1], "the retry reused the first signature");
}

/// A clock one second later at every reading, from [`SIGNED_AT`].
#[derive(Debug, Default)]
struct TickingClock(std::sync::atomic::AtomicU64);

impl wif_core::Clock for TickingClock {
    fn now(&self) -> SystemTime {
        let ticks = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        UNIX_EPOCH + Duration::from_secs(SIGNED_AT + ticks)
    }
}

#[tokio::test]
async fn a_garbled_success_is_an_invalid_response_that_quotes_nothing() {
    let server = MockServer::start().await;
    sts_answers(
        &server,
        ResponseTemplate::new(200).set_body_string(format!(
            "<GetWebIdentityTokenResponse><GetWebIdentityTokenResult><WebIdentityToken>{JWT}</WebIdentityToken>\
             <WebIdentityToken>{JWT}</WebIdentityToken></GetWebIdentityTokenResult></GetWebIdentityTokenResponse>"
        )),
    )
    .await;
    let source = builder(&server, env(true)).build().expect("builds");
    let err = source.web_identity_token().await.expect_err("two tokens");
    assert_eq!(err.kind(), ErrorKind::InvalidResponse);
    assert!(!err.is_retryable());
    assert!(
        err.to_string().contains("2 <WebIdentityToken> elements"),
        "{err}"
    );
    assert!(!format!("{err} {err:?}").contains(JWT), "{err:?}");
    assert_calls(&server, 1, "not retried").await;
}

#[tokio::test]
async fn bad_configuration_fails_before_any_request() {
    let server = MockServer::start().await;
    sts_answers(&server, success()).await;
    let global = builder(&server, env(true))
        .endpoint("https://sts.amazonaws.com")
        .build()
        .expect_err("global endpoint");
    assert!(global.is_config(), "{global:?}");
    assert!(global.to_string().contains("`endpoint`"), "{global}");
    assert_eq!(global.known_cause(), Some(&causes::GLOBAL_STS_ENDPOINT));
    assert!(
        global
            .hint()
            .is_some_and(|h| h.contains("https://sts.{region}.amazonaws.com/"))
    );

    let no_audience = AwsJwtSource::builder()
        .endpoint(format!("{}{STS_PATH}", server.uri()))
        .environment(Arc::new(env(true)))
        .build()
        .expect_err("no audience");
    assert!(
        no_audience.to_string().contains("`audience`"),
        "{no_audience}"
    );

    let cases: [(AwsJwtSourceBuilder, &str); 7] = [
        (builder(&server, env(true)).audience(""), "`audience`"),
        (
            builder(&server, env(true)).audience("x".repeat(1001)),
            "`audience`",
        ),
        (
            builder(&server, env(true)).audiences(vec!["a"; 10]),
            "`audience`",
        ),
        (
            builder(&server, env(true)).duration(Duration::from_secs(59)),
            "`duration`",
        ),
        (
            builder(&server, env(true)).duration(Duration::from_secs(3601)),
            "`duration`",
        ),
        (
            builder(&server, env(true)).endpoint("http://sts.example.com/"),
            "`endpoint`",
        ),
        (
            builder(&server, env(true)).tag("k", "1").tag("k", "2"),
            "`tags`",
        ),
    ];
    for (bad, field) in cases {
        let err = bad.build().expect_err(field);
        assert!(err.is_config(), "{err:?}");
        assert!(err.to_string().contains(field), "{field}: {err}");
    }

    // The wrong token type for this source is refused at the call, before AWS is asked.
    let source = builder(&server, env(true)).build().expect("builds");
    let err = source
        .subject_token(&SourceContext::new(POOL, AWS_SUBJECT_TOKEN_TYPE))
        .await
        .expect_err("aws4_request");
    assert!(err.is_config(), "{err:?}");
    assert!(
        err.hint().is_some_and(|h| h.contains("OIDC provider")),
        "{err}"
    );
    // The ID token type is an OIDC token too.
    let id_token = SourceContext::new(POOL, "urn:ietf:params:oauth:token-type:id_token");
    assert!(source.subject_token(&id_token).await.is_ok());

    assert_calls(&server, 1, "only the id_token call reached AWS").await;
}

#[tokio::test]
async fn environment_credentials_never_touch_the_metadata_service() {
    let server = MockServer::start().await;
    mount_imds(
        &server,
        true,
        "us-east-2b",
        &creds_json("ASIAIMDS", "imds-secret", "imds-session"),
    )
    .await;
    sts_answers(&server, success()).await;
    let source = builder(&server, env(true))
        .credential_source(&credential_source(&server, true))
        .build()
        .expect("builds");
    source.web_identity_token().await.expect("token");
    let requests = sent(&server).await;
    assert_eq!(
        summarize(&requests),
        [("POST".to_owned(), STS_PATH.to_owned(), false)],
        "only the STS call"
    );
}

#[tokio::test]
async fn imdsv2_credentials_and_region_sign_the_call() {
    let server = MockServer::start().await;
    mount_imds(
        &server,
        true,
        "us-east-2b",
        &creds_json("ASIAIMDSV2", "imds-secret", "imds-session"),
    )
    .await;
    sts_answers(&server, success()).await;
    let source = builder(&server, MapEnvironment::new())
        .credential_source(&credential_source(&server, true))
        .metadata_retry(wif_core::testing::quick_retries(1))
        .build()
        .expect("builds");
    let token = source.subject_token(&ctx()).await.expect("token");
    assert_eq!(token.secret().expose_secret(), JWT);

    let requests = sent(&server).await;
    let seen = summarize(&requests);
    assert_eq!(count(&seen, "PUT", TOKEN_PATH), 1, "{seen:?}");
    assert_eq!(count(&seen, "GET", ZONE_PATH), 1, "{seen:?}");
    assert_eq!(count(&seen, "GET", CREDS_PATH), 1, "{seen:?}");
    assert_eq!(count(&seen, "POST", STS_PATH), 1, "{seen:?}");
    let call = requests
        .iter()
        .find(|r| r.url.path() == STS_PATH)
        .expect("the STS call");
    assert!(
        !call.headers.contains_key("x-aws-ec2-metadata-token"),
        "IMDS token stays home"
    );
    assert_eq!(header(call, "x-amz-security-token"), Some("imds-session"));
    let scope = support::verify_sent(call, "imds-secret").expect("signed with the role's key");
    assert_eq!(scope, "20200811/us-east-2/sts/aws4_request");
}

#[tokio::test]
async fn no_secret_in_debug_errors_or_traces() {
    let captured = wif_core::testing::LogCapture::global();
    let server = MockServer::start().await;
    sts_answers(&server, success()).await;
    let builder_shown = format!("{:?}", builder(&server, env(true)).tag("team", "t"));
    let source = builder(&server, env(true)).build().expect("builds");
    let token = source.subject_token(&ctx()).await.expect("token");
    let signature = header(&sent(&server).await[0], "authorization")
        .and_then(|a| a.split("Signature=").nth(1))
        .expect("signature")
        .to_owned();

    // AWS echoes the canonical request (with the session token) in SignatureDoesNotMatch.
    let refusing = MockServer::start().await;
    sts_answers(
        &refusing,
        aws_error(
            403,
            "SignatureDoesNotMatch",
            &format!(
                "The request signature we calculated does not match the signature you provided.\n\n\
                 The Canonical String for this request should have been\n'POST\n/aws/sts\n\n\
                 x-amz-security-token:{SESSION}\n'"
            ),
        ),
    )
    .await;
    let err = builder(&refusing, env(true))
        .build()
        .expect("builds")
        .web_identity_token()
        .await
        .expect_err("refused");

    let shown = format!(
        "{builder_shown} {source:?} {token:?} {err} {err:?} {}",
        err.hint().unwrap_or_default()
    );
    assert!(
        shown.contains(AUDIENCE),
        "Debug shows the configuration: {shown}"
    );
    let logs = captured.contents();
    wif_core::testing::assert_says(
        &logs,
        &["got an AWS web identity token", "canonical_request"],
    );
    let secrets = [SECRET, SESSION, JWT, "c2ln", signature.as_str()];
    assert_no_secrets("Debug and errors", &shown, &secrets);
    assert_no_secrets("traces", &logs, &secrets);
}

#[tokio::test]
async fn every_call_asks_aws_again() {
    // The source hands the expiry on; it never caches (each call asks AWS again).
    let server = MockServer::start().await;
    sts_answers(&server, success()).await;
    let source = builder(&server, env(true)).build().expect("builds");
    let first = source.web_identity_token().await.expect("token");
    let second = source.web_identity_token().await.expect("token");
    assert_eq!(first.expires_at(), second.expires_at());
    assert!(first.expires_at() > Some(SystemTime::UNIX_EPOCH));
    assert_calls(&server, 2, "not cached").await;
}

#[cfg(feature = "aws-config")]
#[tokio::test]
async fn an_sdk_config_supplies_credentials_and_region() {
    let server = MockServer::start().await;
    sts_answers(&server, success()).await;
    let config = support::sdk_config(
        "ap-south-1",
        ["ASIASDKJWT", "sdk-jwt-secret", "sdk-jwt-session"],
    )
    .await;
    let source = builder(&server, MapEnvironment::new())
        .sdk_config(&config)
        .build()
        .expect("builds");
    source.web_identity_token().await.expect("token");
    let requests = sent(&server).await;
    assert_eq!(
        header(&requests[0], "x-amz-security-token"),
        Some("sdk-jwt-session")
    );
    let scope = support::verify_sent(&requests[0], "sdk-jwt-secret").expect("verifies");
    assert_eq!(scope, "20200811/ap-south-1/sts/aws4_request");
}
