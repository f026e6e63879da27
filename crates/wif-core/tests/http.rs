//! Tests of `wif_core::http` against local servers (wiremock, or a raw socket on 127.0.0.1 where
//! wiremock cannot misbehave enough): bounded body reading, status and transport-error mapping,
//! the default client's settings, and `RetryPolicy::run` driving `send` end to end.

// Test helpers outside #[test] fns: panicking with a message is how they report.
#![allow(clippy::expect_used)]

use std::error::Error as _;
use std::io::{Read as _, Write as _};
use std::time::Duration;

use wif_core::http::{
    MAX_RESPONSE_BYTES, Response, USER_AGENT, client_builder, default_client, describe_url,
    is_loopback, send,
};
use wif_core::testing::{assert_hint_says, server_with};
use wif_core::{Error, ErrorKind, RetryPolicy, Step};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Everything a caller could print about an error: `Display`, `Debug` and the whole source chain.
fn everything_shown(err: &Error) -> String {
    let mut shown = format!("{err}\n{err:?}");
    let mut source = err.source();
    while let Some(s) = source {
        shown.push_str(&format!("\n{s}\n{s:?}"));
        source = s.source();
    }
    shown
}

/// The code and message of the server's words `err` carries (panics if it carries none).
fn code_and_message(err: &Error) -> (Option<&str>, Option<&str>) {
    let words = err.server_error().expect("the error body was parsed");
    (words.code.as_deref(), words.message.as_deref())
}

/// Accepts one connection on a raw socket and reads the request head, so the response we then
/// write cannot race the client's request (hyper rejects a response that arrives first).
fn accept_request(listener: &std::net::TcpListener) -> std::io::Result<std::net::TcpStream> {
    let (mut socket, _) = listener.accept()?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if socket.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    Ok(socket)
}

/// A raw server on 127.0.0.1 that hands its one request's socket to `respond`, on a thread of
/// its own; returns the address to call and the thread.
fn raw_server<T: Send + 'static>(
    respond: impl FnOnce(std::net::TcpStream) -> T + Send + 'static,
) -> (std::net::SocketAddr, std::thread::JoinHandle<T>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let thread =
        std::thread::spawn(move || respond(accept_request(&listener).expect("accept a request")));
    (addr, thread)
}

/// Waits (at most 10 s) for a [`raw_server`] thread to end, which it does once the client has
/// hung up, and returns what it returned.
async fn after_hang_up<T: Send + 'static>(server: std::thread::JoinHandle<T>) -> T {
    tokio::time::timeout(
        Duration::from_secs(10),
        tokio::task::spawn_blocking(move || server.join()),
    )
    .await
    .expect("the server sees the client hang up")
    .expect("join task")
    .expect("server thread")
}

/// `GET url` through `client`, as wif's crates send a request.
async fn get_with(client: &reqwest::Client, step: Step, url: &str) -> Result<Response, Error> {
    send(step, &format!("GET {url}"), client.get(url)).await
}

async fn get(server: &MockServer, step: Step, route: &str) -> Result<Response, Error> {
    get_with(
        &default_client()?,
        step,
        &format!("{}{route}", server.uri()),
    )
    .await
}

/// A mock server answering each `(path, response)` route, whatever the method.
async fn serving<const N: usize>(routes: [(&str, ResponseTemplate); N]) -> MockServer {
    server_with(routes.map(|(route, response)| Mock::given(path(route)).respond_with(response)))
        .await
}

/// A mock server answering `/v1/token` (any method) with `response`, expecting exactly one call.
async fn token_endpoint_once(response: ResponseTemplate) -> MockServer {
    server_with([Mock::given(path("/v1/token"))
        .respond_with(response)
        .expect(1)])
    .await
}

/// `POST {server}/v1/token` under `policy`, each attempt through `send` then `error_for_status`
/// as wif's crates do it; also returns the attempt numbers `run` handed out.
async fn post_token_with_retries(
    server: &MockServer,
    policy: RetryPolicy,
) -> (Result<Response, Error>, Vec<u32>) {
    let client = default_client().expect("default client builds");
    let url = format!("{}/v1/token", server.uri());
    let mut attempts = Vec::new();
    let result = policy
        .run(Step::Exchange, "POST /v1/token", |attempt| {
            attempts.push(attempt);
            let request = client.post(&url).body("grant_type=x");
            async move {
                send(Step::Exchange, "POST /v1/token", request)
                    .await?
                    .error_for_status(Step::Exchange)
            }
        })
        .await;
    (result, attempts)
}

#[tokio::test]
async fn send_returns_status_headers_and_body() {
    let created = ResponseTemplate::new(201)
        .insert_header("x-goog-request-id", "abc123")
        .set_body_string(r#"{"access_token":"ya29.x"}"#);
    let form_post = Mock::given(method("POST"))
        .and(path("/v1/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"));
    let server = server_with([form_post.respond_with(created).expect(1)]).await;

    let client = default_client().expect("default client builds");
    let response = send(
        Step::Exchange,
        "POST /v1/token",
        client
            .post(format!("{}/v1/token", server.uri()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=x"),
    )
    .await
    .expect("send succeeds");

    assert_eq!(response.status, 201);
    assert!(response.is_success());
    assert_eq!(
        response
            .headers
            .get("x-goog-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("abc123")
    );
    assert_eq!(response.body, br#"{"access_token":"ya29.x"}"#);
    let received = server.received_requests().await.expect("recording is on");
    assert_eq!(
        received[0].body, b"grant_type=x",
        "the request body arrives"
    );
}

#[test]
fn debug_of_a_response_shows_neither_body_nor_header_values() {
    let body = br#"{"access_token":"ya29.SECRET-TOKEN"}"#;
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::SET_COOKIE,
        http::HeaderValue::from_static("session=SECRET-COOKIE"),
    );
    let response = Response {
        status: 200,
        headers,
        body: body.to_vec(),
    };
    let shown = format!("{response:?}");
    // The derived Debug printed the body as a list of byte values, so look for those too.
    let as_bytes = format!("{:?}", &body[..8]);
    let as_bytes = as_bytes.trim_end_matches(']');
    assert!(
        !shown.contains("SECRET") && !shown.contains(as_bytes),
        "secret leaked: {shown}"
    );
    assert!(shown.contains("200"), "{shown}");
    assert!(
        shown.contains("set-cookie"),
        "header names are shown: {shown}"
    );
    assert!(
        shown.contains(&format!("<{} bytes>", body.len())),
        "{shown}"
    );
}

#[tokio::test]
async fn a_body_of_exactly_the_limit_is_read() {
    let server = serving([(
        "/exact",
        ResponseTemplate::new(200).set_body_bytes(vec![b'a'; MAX_RESPONSE_BYTES]),
    )])
    .await;

    let response = get(&server, Step::Exchange, "/exact")
        .await
        .expect("a body of exactly MAX_RESPONSE_BYTES is accepted");
    assert_eq!(response.body.len(), MAX_RESPONSE_BYTES);
}

#[tokio::test]
async fn a_declared_content_length_over_the_limit_is_refused() {
    let server = serving([(
        "/big",
        ResponseTemplate::new(200).set_body_bytes(vec![b'a'; MAX_RESPONSE_BYTES + 1]),
    )])
    .await;

    let err = get(&server, Step::Impersonation, "/big")
        .await
        .expect_err("an oversized body is refused");
    assert_eq!(err.kind(), ErrorKind::InvalidResponse, "{err:?}");
    assert_eq!(err.step(), Step::Impersonation, "{err:?}");
    assert!(
        !err.is_retryable(),
        "the same server will send the same body: {err:?}"
    );
    assert!(
        err.message()
            .contains(&format!("larger than {MAX_RESPONSE_BYTES} bytes")),
        "{err:?}"
    );
    assert!(err.message().contains("/big"), "names the call: {err:?}");
}

#[tokio::test]
async fn a_declared_content_length_over_the_limit_is_refused_before_reading() {
    // A raw server that announces an oversized body and then sends nothing: only the
    // Content-Length check can refuse it (reading would wait for the client timeout).
    let (addr, server) = raw_server(|mut socket| {
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
            MAX_RESPONSE_BYTES + 1
        );
        socket.write_all(head.as_bytes()).expect("write head");
        // Hold the connection until the client hangs up.
        let _ = std::io::copy(&mut socket, &mut std::io::sink());
    });

    let client = client_builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client builds");
    let err = get_with(&client, Step::Exchange, &format!("http://{addr}/"))
        .await
        .expect_err("an oversized body is refused");
    assert_eq!(
        err.kind(),
        ErrorKind::InvalidResponse,
        "refused at once, not timed out: {err:?}"
    );
    drop(client);
    after_hang_up(server).await;
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_refused() {
    // wiremock cannot stream, but a `transfer-encoding: chunked` header makes hyper send the
    // body chunked without a Content-Length, so only the read loop can enforce the limit.
    let server = serving([
        (
            "/small",
            ResponseTemplate::new(200)
                .insert_header("transfer-encoding", "chunked")
                .set_body_bytes(b"tiny".to_vec()),
        ),
        (
            "/big",
            ResponseTemplate::new(200)
                .insert_header("transfer-encoding", "chunked")
                .set_body_bytes(vec![b'a'; MAX_RESPONSE_BYTES + 1]),
        ),
    ])
    .await;

    let small = get(&server, Step::Source, "/small")
        .await
        .expect("a small chunked body is read");
    assert_eq!(small.body, b"tiny");
    assert!(
        small.headers.get("content-length").is_none()
            && small.headers.get("transfer-encoding").is_some(),
        "the response really is chunked: {:?}",
        small.headers
    );

    let err = get(&server, Step::Source, "/big")
        .await
        .expect_err("an oversized chunked body is refused");
    assert_eq!(err.kind(), ErrorKind::InvalidResponse, "{err:?}");
    assert_eq!(err.step(), Step::Source, "{err:?}");
}

#[tokio::test]
async fn an_endless_stream_is_cut_off_at_the_limit() {
    // A raw server that streams chunks forever: `send` must give up at the limit instead of
    // buffering until memory runs out. The writer thread ends once the client hangs up.
    let (addr, writer) = raw_server(|mut socket| {
        let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
        socket.write_all(head.as_bytes()).expect("write head");
        let chunk = [b'a'; 64 * 1024];
        let mut sent = 0usize;
        loop {
            let framed = socket
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .and_then(|()| socket.write_all(&chunk))
                .and_then(|()| socket.write_all(b"\r\n"));
            if framed.is_err() {
                return sent;
            }
            sent += chunk.len();
        }
    });

    let client = default_client().expect("default client builds");
    let err = get_with(&client, Step::Source, &format!("http://{addr}/"))
        .await
        .expect_err("an endless body is refused");
    assert_eq!(err.kind(), ErrorKind::InvalidResponse, "{err:?}");
    drop(client);

    let sent = after_hang_up(writer).await;
    assert!(sent > MAX_RESPONSE_BYTES, "the limit was reached: {sent}");
}

#[tokio::test]
async fn error_for_status_parses_oauth_bodies_and_drops_the_body() {
    let body = r#"{"error":"invalid_grant","error_description":"The audience does not match.","debug":"BODY-ONLY-MARKER"}"#;
    let server = serving([("/token", ResponseTemplate::new(400).set_body_string(body))]).await;

    let response = get(&server, Step::Exchange, "/token").await.expect("sent");
    assert_eq!(response.status, 400);
    let err = response
        .error_for_status(Step::Exchange)
        .expect_err("400 is an error");
    assert_eq!(err.kind(), ErrorKind::Http);
    assert_eq!(err.step(), Step::Exchange);
    assert_eq!(err.status(), Some(400));
    assert_eq!(
        code_and_message(&err),
        (Some("invalid_grant"), Some("The audience does not match."))
    );
    assert!(!err.is_retryable(), "invalid_grant is permanent: {err:?}");
    assert_eq!(err.retry_after(), None);
    let shown = everything_shown(&err);
    assert!(!shown.contains("BODY-ONLY-MARKER"), "body kept: {shown}");
    assert!(shown.contains("invalid_grant"), "{shown}");
}

#[tokio::test]
async fn error_for_status_parses_google_rpc_bodies() {
    let body = r#"{"error":{"code":403,"message":"Permission 'iam.serviceAccounts.getAccessToken' denied","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"IAM_PERMISSION_DENIED","metadata":{"x":"BODY-ONLY-MARKER"}}]}}"#;
    let route = (
        "/generateAccessToken",
        ResponseTemplate::new(403).set_body_string(body),
    );
    let server = serving([route]).await;

    let err = get(&server, Step::Impersonation, "/generateAccessToken")
        .await
        .expect("sent")
        .error_for_status(Step::Impersonation)
        .expect_err("403 is an error");
    assert_eq!(err.step(), Step::Impersonation);
    assert_eq!(err.status(), Some(403));
    assert_eq!(
        code_and_message(&err),
        (
            Some("PERMISSION_DENIED"),
            Some("Permission 'iam.serviceAccounts.getAccessToken' denied")
        )
    );
    let reason = err.server_error().and_then(|s| s.reason.as_deref());
    assert_eq!(reason, Some("IAM_PERMISSION_DENIED"));
    assert!(!err.is_retryable());
    let shown = everything_shown(&err);
    assert!(!shown.contains("BODY-ONLY-MARKER"), "body kept: {shown}");
}

#[tokio::test]
async fn error_for_status_keeps_retry_after() {
    let server = serving([(
        "/token",
        ResponseTemplate::new(429)
            .insert_header("retry-after", "7")
            .set_body_string(r#"{"error":"rate_limited","error_description":"slow down"}"#),
    )])
    .await;

    let response = get(&server, Step::Exchange, "/token").await.expect("sent");
    assert_eq!(response.retry_after(), Some(Duration::from_secs(7)));
    let err = response
        .error_for_status(Step::Exchange)
        .expect_err("429 is an error");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    assert!(err.is_retryable(), "429 is retryable: {err:?}");
}

#[test]
fn retry_after_parses_delta_seconds_only() {
    let table: &[(&str, Option<u64>)] = &[
        ("0", Some(0)),
        ("120", Some(120)),
        (" 12 ", Some(12)),
        ("-1", None),
        ("1.5", None),
        ("", None),
        // The HTTP-date form is not supported (Google sends seconds); it is ignored, not misread.
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),
    ];
    for (value, want) in table {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_str(value).expect("valid header value"),
        );
        let response = Response {
            status: 503,
            headers,
            body: Vec::new(),
        };
        assert_eq!(
            response.retry_after(),
            want.map(Duration::from_secs),
            "Retry-After: {value:?}"
        );
    }
}

#[tokio::test]
async fn error_for_status_passes_success_through_and_hides_non_json_bodies() {
    let server = serving([
        ("/ok", ResponseTemplate::new(200).set_body_string("fine")),
        (
            "/html",
            ResponseTemplate::new(502).set_body_string("<html>BODY-ONLY-MARKER ya29.x</html>"),
        ),
    ])
    .await;

    let ok = get(&server, Step::Api, "/ok")
        .await
        .expect("sent")
        .error_for_status(Step::Api)
        .expect("2xx passes through");
    assert_eq!(ok.body, b"fine");

    let err = get(&server, Step::Api, "/html")
        .await
        .expect("sent")
        .error_for_status(Step::Api)
        .expect_err("502 is an error");
    assert_eq!(err.status(), Some(502));
    assert!(err.server_error().is_none());
    assert!(err.is_retryable(), "5xx is retryable: {err:?}");
    let shown = everything_shown(&err);
    assert!(
        !shown.contains("BODY-ONLY-MARKER") && !shown.contains("ya29"),
        "body kept: {shown}"
    );
}

#[tokio::test]
async fn connection_refused_is_a_retryable_transport_error_without_the_query() {
    // A port nobody listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind")
        .port();
    let url =
        url::Url::parse(&format!("http://127.0.0.1:{port}/token?sig=SECRET")).expect("valid url");

    let client = default_client().expect("default client builds");
    let what = format!("POST {}", describe_url(&url));
    let err = send(Step::Source, &what, client.post(url.clone()))
        .await
        .expect_err("nobody listens");

    assert_eq!(err.kind(), ErrorKind::Transport, "{err:?}");
    assert_eq!(err.step(), Step::Source);
    assert!(err.is_retryable(), "{err:?}");
    assert!(err.message().contains("could not connect"), "{err:?}");
    let shown = everything_shown(&err);
    assert!(
        !shown.contains("SECRET") && !shown.contains("sig="),
        "query string leaked: {shown}"
    );
    assert!(
        shown.contains(&format!("127.0.0.1:{port}/token")),
        "{shown}"
    );
}

#[tokio::test]
async fn a_request_that_cannot_be_built_is_not_retryable_and_hides_the_query() {
    // reqwest refuses non-HTTP schemes only when sending; retrying cannot change that.
    let client = default_client().expect("default client builds");
    let err = send(
        Step::Source,
        "GET ftp://127.0.0.1/token",
        client.get("ftp://127.0.0.1/token?sig=SECRET"),
    )
    .await
    .expect_err("ftp is not HTTP");
    assert!(!err.is_retryable(), "{err:?}");
    let shown = everything_shown(&err);
    assert!(!shown.contains("SECRET"), "query string leaked: {shown}");
}

#[tokio::test]
async fn a_slow_server_is_a_retryable_timeout() {
    let server = serving([(
        "/slow",
        ResponseTemplate::new(200).set_delay(Duration::from_secs(10)),
    )])
    .await;

    let client = client_builder()
        .timeout(Duration::from_millis(100))
        .build()
        .expect("client builds");
    let started = std::time::Instant::now();
    let err = send(
        Step::Exchange,
        "GET /slow",
        client.get(format!("{}/slow?sig=SECRET", server.uri())),
    )
    .await
    .expect_err("times out");

    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    assert!(err.is_timeout());
    assert!(err.is_retryable(), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "gave up at the client timeout, not the server's delay"
    );
    let shown = everything_shown(&err);
    assert!(!shown.contains("SECRET"), "query string leaked: {shown}");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    // A relative location, on the same server: a client that followed redirects would go there.
    let redirect = ResponseTemplate::new(302).insert_header("location", "/elsewhere");
    let server = server_with([
        Mock::given(path("/token")).respond_with(redirect).expect(1),
        Mock::given(path("/elsewhere"))
            .respond_with(ResponseTemplate::new(200))
            .expect(0),
    ])
    .await;

    let response = get(&server, Step::Exchange, "/token").await.expect("sent");
    assert_eq!(response.status, 302, "the redirect comes back as is");
    assert!(response.headers.contains_key("location"));
    let err = response
        .error_for_status(Step::Exchange)
        .expect_err("a redirect is not success");
    assert_eq!(err.status(), Some(302));
    assert!(!err.is_retryable());
    server.verify().await;
}

#[tokio::test]
async fn the_default_client_sends_the_wif_user_agent() {
    assert_eq!(
        USER_AGENT,
        format!("wif-rs/{}", env!("CARGO_PKG_VERSION")),
        "User-Agent is wif-rs/<version>"
    );
    let from_wif = Mock::given(method("GET"))
        .and(path("/ua"))
        .and(header("user-agent", USER_AGENT));
    let server = server_with([from_wif.respond_with(ResponseTemplate::new(204)).expect(1)]).await;

    let response = get(&server, Step::Api, "/ua").await.expect("sent");
    assert_eq!(response.status, 204, "the User-Agent matcher matched");
}

#[test]
fn loopback_is_localhost_127_8_and_ipv6_1_only() {
    for (raw, loopback) in [
        ("http://127.0.0.1:8080/v1/token", true),
        ("http://127.9.9.9/", true),
        ("http://[::1]:1/", true),
        ("http://localhost/x", true),
        ("http://LOCALHOST./x", false),
        ("https://sts.googleapis.com/v1/token", false),
        ("http://10.0.0.1/", false),
        ("http://[::2]/", false),
        ("http://localhost.example.com/", false),
        ("unix:/run/sts", false),
        // Resolved through DNS by some resolvers: not loopback (only `localhost` is mapped
        // without a lookup, see `localhost_is_never_looked_up`).
        ("http://a.localhost/", false),
        ("http://LOCALHOST.localhost/", false),
        // IPv4-mapped and unspecified addresses: whether they reach this machine depends on the
        // host's network stack.
        ("http://[::ffff:127.0.0.1]:8080/", false),
        ("http://[::ffff:7f00:1]/", false),
        ("http://0.0.0.0:8080/", false),
        ("http://[::]/", false),
    ] {
        let url = url::Url::parse(raw).unwrap();
        assert_eq!(is_loopback(&url), loopback, "{raw}");
    }
}

/// A resolver that answers nothing and remembers what it was asked.
#[derive(Default)]
struct NoDns(std::sync::Mutex<Vec<String>>);

impl reqwest::dns::Resolve for NoDns {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let name = name.as_str().to_owned();
        self.0.lock().expect("not poisoned").push(name.clone());
        Box::pin(async move { Err(format!("no DNS in this test ({name})").into()) })
    }
}

#[tokio::test]
async fn localhost_is_never_looked_up() {
    // `is_loopback` lets credentials go over plain http to `localhost`: the default client must
    // connect it to this machine itself, whatever a resolver would answer.
    let server = serving([("/here", ResponseTemplate::new(204))]).await;
    let port = server.address().port();
    let dns = std::sync::Arc::new(NoDns::default());
    let client = client_builder()
        .dns_resolver(dns.clone())
        .build()
        .expect("client");

    let here_at = |host: &str| format!("http://{host}:{port}/here");
    let response = get_with(&client, Step::Source, &here_at("localhost"))
        .await
        .expect("localhost connects without a lookup");
    assert_eq!(response.status, 204);

    // Other names, `*.localhost` included, still go to the resolver.
    let err = get_with(&client, Step::Source, &here_at("a.localhost"))
        .await
        .expect_err("a.localhost is not mapped");
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
    assert_eq!(*dns.0.lock().expect("not poisoned"), ["a.localhost"]);
}

#[test]
fn describe_url_drops_query_fragment_and_userinfo() {
    let table = [
        (
            "https://sts.googleapis.com/v1/token",
            "https://sts.googleapis.com/v1/token",
        ),
        (
            "https://sts.googleapis.com:443/v1/token?key=SECRET",
            "https://sts.googleapis.com/v1/token",
        ),
        (
            "http://user:SECRET@169.254.169.254/latest/api/token",
            "http://169.254.169.254/latest/api/token",
        ),
        (
            "http://127.0.0.1:8080/token?sig=SECRET&x=1#frag",
            "http://127.0.0.1:8080/token",
        ),
        (
            "http://[fd00:ec2::254]/latest",
            "http://[fd00:ec2::254]/latest",
        ),
        ("https://example.com", "https://example.com/"),
        (
            "https://SECRET@example.com:8443/",
            "https://example.com:8443/",
        ),
    ];
    for (input, want) in table {
        let url = url::Url::parse(input).expect("valid url");
        assert_eq!(describe_url(&url), want, "describe_url({input})");
    }
}

#[tokio::test]
async fn retry_policy_and_send_recover_from_two_503s() {
    let token_post = || Mock::given(method("POST")).and(path("/v1/token"));
    let server = server_with([
        token_post()
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(2)
            .expect(2),
        token_post()
            .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"ok":true}"#))
            .expect(1),
    ])
    .await;

    let policy = RetryPolicy::default()
        .with_max_attempts(3)
        .with_backoff(Duration::from_millis(1), Duration::from_millis(10))
        .without_jitter();
    let (result, attempts) = post_token_with_retries(&server, policy).await;
    let response = result.expect("third attempt succeeds");

    assert_eq!(response.body, br#"{"ok":true}"#);
    assert_eq!(attempts, [1, 2, 3]);
    let received = server.received_requests().await.expect("recording is on");
    assert_eq!(received.len(), 3, "two 503s and one 200");
    server.verify().await;
}

#[tokio::test]
async fn retry_policy_and_send_stop_at_a_permanent_error() {
    let server = token_endpoint_once(
        ResponseTemplate::new(400).set_body_string(r#"{"error":"invalid_request"}"#),
    )
    .await;

    let policy =
        RetryPolicy::default().with_backoff(Duration::from_millis(1), Duration::from_millis(10));
    let (result, _) = post_token_with_retries(&server, policy).await;
    let err = result.expect_err("400 is permanent");
    assert_eq!(err.status(), Some(400));
    server.verify().await;
}

#[tokio::test]
async fn an_absurd_retry_after_does_not_panic_the_retry_loop() {
    // Retry-After comes from the server; u64::MAX seconds must not overflow `Instant + wait`.
    let server = token_endpoint_once(
        ResponseTemplate::new(503).insert_header("retry-after", u64::MAX.to_string().as_str()),
    )
    .await;

    let (result, _) = post_token_with_retries(&server, RetryPolicy::default()).await;
    let err = result.expect_err("gives up: the wait would pass the deadline");
    assert_eq!(err.status(), Some(503));
    server.verify().await;
}

#[tokio::test]
async fn a_failed_tls_handshake_is_not_retryable_and_says_why() {
    let server = MockServer::start().await;
    // https to a plain-HTTP server: the handshake fails the same way every time.
    let url = server.uri().replace("http://", "https://");
    let client = wif_core::http::default_client().unwrap();
    let err = wif_core::http::send(Step::Exchange, "POST sts", client.post(url))
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");
    let shown = err.to_string();
    assert!(shown.contains("TLS handshake failed"), "{shown}");
    assert_hint_says(&err, "plain HTTP");
}
