use tokio::time::Instant;
use wif_core::ErrorKind;
use wif_core::secrecy::ExposeSecret;
use wif_core::testing::{Scripted, header_text};
use wiremock::{MockServer, Respond, ResponseTemplate};

use super::*;

const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.url-subject-token.sig";
/// A query parameter value standing in for a secret (Azure puts none there, others might).
const QUERY_SECRET: &str = "q-secret-sig";
const HEADER_SECRET: &str = "Bearer header-secret-value";

fn ctx() -> SourceContext {
    SourceContext::new(
        "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/u",
        "urn:ietf:params:oauth:token-type:jwt",
    )
}

fn json(field: &str) -> TokenFormat {
    TokenFormat::Json {
        subject_token_field_name: field.into(),
    }
}

/// Fast backoff so retry tests take milliseconds of real time (wiremock needs real sockets).
fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .with_backoff(Duration::from_millis(1), Duration::from_millis(5))
        .without_jitter()
}

fn token_url(server: &MockServer) -> String {
    format!(
        "{}/token?api-version=2018-02-01&sig={QUERY_SECRET}",
        server.uri()
    )
}

fn source(server: &MockServer, format: TokenFormat) -> UrlSource {
    UrlSource::new(&token_url(server), format)
        .expect("valid url")
        .with_retry_policy(fast_retries())
}

async fn fetch(source: &UrlSource) -> Result<String, Error> {
    source
        .subject_token(&ctx())
        .await
        .map(|t| t.secret().expose_secret().to_owned())
}

/// The source with an `Authorization` header carrying [`HEADER_SECRET`].
fn with_secret_header(source: UrlSource) -> UrlSource {
    source
        .with_headers([("Authorization".to_owned(), HEADER_SECRET.to_owned())])
        .expect("header")
}

/// Starts a server that answers every GET with `response`.
async fn server_answering(response: impl Respond + 'static) -> MockServer {
    wif_core::testing::server_answering("GET", response).await
}

/// Starts a server that answers the first GET with `first` and every later one with [`TOKEN`].
async fn server_answering_after(first: ResponseTemplate) -> MockServer {
    server_answering(
        Scripted::new(ResponseTemplate::new(200).set_body_string(TOKEN)).first(1, first),
    )
    .await
}

/// Asserts none of the test's secrets (nor `extra`) shows in `shown`.
fn assert_secrets_absent(shown: &str, extra: &[&str]) {
    for needle in [QUERY_SECRET, HEADER_SECRET, "url-subject-token"]
        .iter()
        .chain(extra)
    {
        assert!(!shown.contains(needle), "{needle} leaked: {shown}");
    }
}

/// Asserts nothing secret shows in an error's Display or Debug.
fn assert_no_leak(err: &Error, extra: &[&str]) {
    assert_secrets_absent(&format!("{err} {err:?}"), extra);
}

#[tokio::test]
async fn sends_the_configured_headers_and_query_and_reads_a_text_token() {
    let server =
        server_answering(ResponseTemplate::new(200).set_body_string(format!("{TOKEN}\n"))).await;
    let source = source(&server, TokenFormat::Text)
        .with_headers([
            ("Metadata".to_owned(), "True".to_owned()),
            ("Authorization".to_owned(), HEADER_SECRET.to_owned()),
        ])
        .expect("valid headers");

    assert_eq!(fetch(&source).await.expect("token"), TOKEN, "trimmed");
    assert_eq!(source.kind(), "url");

    let requests = server.received_requests().await.expect("recording on");
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method.as_str(), "GET");
    assert_eq!(request.url.path(), "/token");
    assert_eq!(
        request.url.query(),
        Some(format!("api-version=2018-02-01&sig={QUERY_SECRET}").as_str()),
        "the query is sent verbatim"
    );
    let sent = |name: &str| header_text(request, name);
    assert_eq!(sent("metadata").as_deref(), Some("True"));
    assert_eq!(sent("authorization").as_deref(), Some(HEADER_SECRET));
    assert!(request.body.is_empty(), "a GET has no body");
}

#[tokio::test]
async fn reads_a_json_field_and_reports_a_missing_one_by_url_without_query() {
    let server = server_answering(ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "access_token": TOKEN,
        "expires_in": "3599",
        "token_type": "Bearer",
    })))
    .await;
    let got = fetch(&source(&server, json("access_token")))
        .await
        .expect("json token");
    assert_eq!(got, TOKEN);

    let err = fetch(&source(&server, json("id_token")))
        .await
        .expect_err("missing field");
    assert_eq!(err.step(), Step::Source);
    assert_eq!(err.kind(), ErrorKind::InvalidToken);
    let shown = err.to_string();
    assert!(shown.contains("no field `id_token`"), "{shown}");
    assert!(
        shown.contains(&format!("{}/token", server.uri())),
        "URL named: {shown}"
    );
    assert!(!shown.contains("api-version"), "query shown: {shown}");
    assert_no_leak(&err, &[]);
}

#[tokio::test]
async fn not_found_is_reported_once_with_a_path_hint() {
    let server =
        server_answering(ResponseTemplate::new(404).set_body_string("no such token, body-secret"))
            .await;
    let err = fetch(&source(&server, TokenFormat::Text))
        .await
        .expect_err("404");

    let requests = server.received_requests().await.expect("recording on");
    assert_eq!(requests.len(), 1, "a 404 is not retried");
    assert_eq!(err.step(), Step::Source);
    assert_eq!(err.kind(), ErrorKind::Http);
    assert_eq!(err.status(), Some(404));
    assert!(!err.is_retryable());
    let shown = err.to_string();
    assert!(
        shown.contains(&format!("GET {}/token: HTTP 404", server.uri())),
        "{shown}"
    );
    assert!(
        err.hint()
            .is_some_and(|h| h.contains("path of `credential_source.url`")),
        "{shown}"
    );
    assert_no_leak(&err, &["body-secret", "api-version"]);
}

#[tokio::test]
async fn refused_requests_hint_at_the_headers() {
    for status in [401, 403] {
        let server = server_answering(ResponseTemplate::new(status)).await;
        let err = fetch(&source(&server, TokenFormat::Text))
            .await
            .expect_err("refused");
        assert_eq!(err.status(), Some(status));
        assert!(!err.is_retryable(), "{err}");
        let hint = err.hint().unwrap_or_default();
        assert!(
            hint.contains("credential_source.headers") && hint.contains("Metadata: True"),
            "{status}: {hint}"
        );
        assert_eq!(server.received_requests().await.map(|r| r.len()), Some(1));
    }
}

#[tokio::test]
async fn server_errors_are_retried_then_reported_without_the_body() {
    let server = server_answering(
        ResponseTemplate::new(500)
            .set_body_string(r#"{"access_token":"body-secret-token","note":"misrouted"}"#),
    )
    .await;
    let err = fetch(&source(&server, TokenFormat::Text))
        .await
        .expect_err("500");

    let requests = server.received_requests().await.expect("recording on");
    assert_eq!(
        requests.len(),
        3,
        "the default policy makes 3 attempts on a 5xx"
    );
    assert_eq!(err.status(), Some(500));
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains("not shown"), "{err}");
    assert_no_leak(&err, &["body-secret", "misrouted", "api-version"]);
}

#[tokio::test]
async fn a_500_then_a_200_succeeds() {
    let server = server_answering_after(ResponseTemplate::new(503)).await;
    let got = fetch(&source(&server, TokenFormat::Text))
        .await
        .expect("second attempt");
    assert_eq!(got, TOKEN);
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(2));
}

#[tokio::test]
async fn a_hanging_server_times_out_within_the_timeout() {
    let server = server_answering(
        ResponseTemplate::new(200)
            .set_body_string(TOKEN)
            .set_delay(Duration::from_secs(30)),
    )
    .await;
    let source = source(&server, TokenFormat::Text)
        .with_timeout(Duration::from_millis(200))
        .with_retry_policy(RetryPolicy::never());

    let started = Instant::now();
    let err = fetch(&source).await.expect_err("timeout");
    let elapsed = started.elapsed();

    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.step(), Step::Source);
    assert!(
        elapsed >= Duration::from_millis(200) && elapsed < Duration::from_secs(5),
        "gave up after {elapsed:?}"
    );
    assert!(
        err.to_string()
            .contains(&format!("GET {}/token: timed out", server.uri())),
        "{err}"
    );
    assert_no_leak(&err, &["api-version"]);
}

#[tokio::test]
async fn timeouts_are_retried_like_transport_failures() {
    let server =
        server_answering_after(ResponseTemplate::new(200).set_delay(Duration::from_secs(30))).await;
    let source = source(&server, TokenFormat::Text).with_timeout(Duration::from_millis(200));
    assert_eq!(fetch(&source).await.expect("retried"), TOKEN);
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(2));
}

#[tokio::test]
async fn uses_the_injected_client() {
    let server = server_answering(ResponseTemplate::new(200).set_body_string(TOKEN)).await;
    let mut defaults = HeaderMap::new();
    defaults.insert("x-injected", HeaderValue::from_static("yes"));
    let client = http::client_builder()
        .default_headers(defaults)
        .build()
        .expect("client");
    let source = source(&server, TokenFormat::Text).with_http_client(client);
    assert_eq!(fetch(&source).await.expect("token"), TOKEN);
    let requests = server.received_requests().await.expect("recording on");
    assert_eq!(requests.len(), 1);
    assert_eq!(
        header_text(&requests[0], "x-injected").as_deref(),
        Some("yes"),
        "the injected client's default header"
    );
}

#[test]
fn bad_urls_are_config_errors_naming_the_field() {
    let cases = [
        ("not a url?sig=q-secret-sig", "not a valid URL"),
        ("/relative/token?sig=q-secret-sig", "not a valid URL"),
        ("ftp://host/token", "scheme `ftp` is not supported"),
        ("file:///var/run/token", "scheme `file` is not supported"),
        ("http://", "not a valid URL"),
    ];
    for (url, needle) in cases {
        let err = UrlSource::new(url, TokenFormat::Text).expect_err(url);
        let shown = err.to_string();
        assert!(err.is_config(), "{url}: {shown}");
        assert_eq!(err.step(), Step::Config);
        assert!(shown.contains("`credential_source.url`"), "{url}: {shown}");
        assert!(shown.contains(needle), "{url}: {shown}");
        assert!(!shown.contains(QUERY_SECRET), "{url}: {shown}");
    }
    assert!(UrlSource::new(" https://token.example/t ", TokenFormat::Text).is_ok());
}

#[tokio::test]
async fn a_parsed_url_is_fetched_as_given() {
    let server = server_answering(ResponseTemplate::new(200).set_body_string(TOKEN)).await;
    let url = url::Url::parse(&token_url(&server)).expect("a URL");
    let source = UrlSource::from_url(url, TokenFormat::Text)
        .expect("valid url")
        .with_retry_policy(fast_retries());
    assert_eq!(fetch(&source).await.expect("token"), TOKEN);
    let requests = server.received_requests().await.expect("recording on");
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].url.path(), "/token");

    let ftp = url::Url::parse("ftp://host/token").expect("a URL");
    let err = UrlSource::from_url(ftp, TokenFormat::Text).expect_err("ftp");
    assert!(err.to_string().contains("`credential_source.url`"), "{err}");
}

#[test]
fn bad_headers_are_config_errors_that_never_show_the_value() {
    let base = || UrlSource::new("http://127.0.0.1:1/token", TokenFormat::Text).expect("url");
    let cases = [
        ("bad header", "ok", "not a valid HTTP header name"),
        ("", "ok", "not a valid HTTP header name"),
        (
            "Authorization",
            "Bearer top-secret\n",
            "value of header `authorization`",
        ),
    ];
    for (name, value, needle) in cases {
        let err = base()
            .with_headers([(name.to_owned(), value.to_owned())])
            .expect_err(needle);
        let shown = format!("{err} {err:?}");
        assert!(err.is_config(), "{shown}");
        assert!(shown.contains("`credential_source.headers`"), "{shown}");
        assert!(shown.contains(needle), "{shown}");
        assert!(!shown.contains("top-secret"), "value leaked: {shown}");
    }
}

#[tokio::test]
async fn debug_never_shows_header_values_the_query_or_the_token() {
    let server = server_answering(ResponseTemplate::new(200).set_body_string(TOKEN)).await;
    let source = with_secret_header(source(&server, TokenFormat::Text));
    let token = source.subject_token(&ctx()).await.expect("token");

    let shown = format!("{source:?} {token:?} {:?}", source.clone());
    assert!(
        shown.contains(&format!("{}/token", server.uri())),
        "{shown}"
    );
    assert!(shown.contains("authorization"), "names shown: {shown}");
    assert_secrets_absent(&shown, &[]);
}

#[tokio::test]
async fn tracing_shows_the_url_and_size_but_no_secret() {
    let server = server_answering_after(ResponseTemplate::new(503)).await;
    let source = with_secret_header(source(&server, TokenFormat::Text));

    let captured = wif_core::testing::LogCapture::global();
    fetch(&source).await.expect("token");

    let logs = captured.contents();
    assert!(logs.contains(&format!("{}/token", server.uri())), "{logs}");
    assert!(logs.contains(&format!("bytes={}", TOKEN.len())), "{logs}");
    assert!(logs.contains("retrying"), "the retry is visible: {logs}");
    assert_secrets_absent(&logs, &[]);
}

#[tokio::test]
async fn an_echoing_endpoint_gets_no_header_or_query_secret_through() {
    use wif_core::testing::{EchoRequest, LogCapture, Quote, assert_no_secrets};
    let logs = LogCapture::global();
    let secrets = ["header-secret-value", QUERY_SECRET];
    for status in [403, 503] {
        for part in [Quote::Headers, Quote::Json] {
            let server = server_answering(EchoRequest::rpc(status).quoting(part)).await;
            let err = fetch(&with_secret_header(source(&server, TokenFormat::Text)))
                .await
                .expect_err("the endpoint refuses");
            assert_eq!(err.status(), Some(status), "{err}");
            let shown = format!("{err}\n{err:?}");
            assert!(
                shown.contains("[REDACTED]"),
                "{part:?}: the echo reached the error, scrubbed: {shown}"
            );
            assert_no_secrets(&format!("{part:?} {status}"), &shown, &secrets);
        }
    }
    let contents = logs.contents();
    assert!(
        contents.contains("retrying after a retryable failure"),
        "nothing captured: {contents}"
    );
    assert_no_secrets("the logs", &contents, &secrets);
}
