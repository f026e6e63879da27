//! The secret-leak sweep: run whole chains (success and failure) with tracing at TRACE for every
//! crate, capture everything, and assert that no secret value appears in the logs, in `Debug`
//! of any public type, or in any error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use secrecy::ExposeSecret;
use serde_json::json;
use wif::Credentials;
use wif::testing::{FAKE_AUDIENCE, IamCredentialsResponder};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SUBJECT: &str = "SUBJECT-TOKEN-0f3c9";
const FEDERATED: &str = "FEDERATED-TOKEN-77ab1";
const CLIENT_SECRET: &str = "CLIENT-SECRET-5e2d0";
const HEADER_SECRET: &str = "HEADER-SECRET-a9c44";
const URL_QUERY_SECRET: &str = "QUERY-SECRET-31d7";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn assert_clean(what: &str, text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "{what} leaked {s}:\n{text}");
    }
}

#[test]
fn no_secret_reaches_trace_logs_debug_or_errors() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .finish();
    // Everything (client, servers, chain) runs on this thread's runtime, so the thread-local
    // default subscriber sees all of it, including reqwest/hyper internals.
    let _guard = tracing::subscriber::set_default(subscriber);
    // Other tests in this binary may have registered callsites concurrently, caching
    // "not interested" before this subscriber existed; recompute with it in place.
    tracing::callsite::rebuild_interest_cache();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let impersonated_secret = runtime.block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/subject"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id_token": SUBJECT})))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": FEDERATED, "token_type": "Bearer", "expires_in": 3600,
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token"
            })))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path_regex(":generateAccessToken$"))
            .respond_with(IamCredentialsResponder::new("IMPERSONATED-TOKEN-c0ffee"))
            .mount(&server)
            .await;
        // A failing endpoint whose error body echoes the secrets back.
        Mock::given(method("POST"))
            .and(path("/v1/bad-token"))
            .respond_with(ResponseTemplate::new(400).set_body_string(format!(
                "<html>{SUBJECT} {FEDERATED} {CLIENT_SECRET}</html>"
            )))
            .mount(&server)
            .await;

        let config = |token_path: &str| {
            json!({
                "type": "external_account",
                "audience": FAKE_AUDIENCE,
                "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
                "token_url": format!("{}{token_path}", server.uri()),
                "client_id": "client",
                "client_secret": CLIENT_SECRET,
                "service_account_impersonation_url": format!("{}/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken", server.uri()),
                "credential_source": {
                    "url": format!("{}/subject?sig={URL_QUERY_SECRET}", server.uri()),
                    "headers": {"Authorization": format!("Bearer {HEADER_SECRET}")},
                    "format": {"type": "json", "subject_token_field_name": "id_token"}
                }
            })
            .to_string()
        };

        let creds = Credentials::from_json(&config("/v1/token")).unwrap();
        let token = creds.token().await.unwrap();
        let subject = creds.subject_token().await.unwrap();
        assert_eq!(subject.secret().expose_secret(), SUBJECT, "the chain really ran");
        let shown = format!("{creds:?} {token:?} {subject:?}");
        let impersonated = token.secret().expose_secret().to_owned();
        assert!(impersonated.starts_with("IMPERSONATED-TOKEN-c0ffee"));
        assert_clean(
            "Debug of Credentials/tokens",
            &shown,
            &[SUBJECT, FEDERATED, CLIENT_SECRET, HEADER_SECRET, URL_QUERY_SECRET, &impersonated],
        );

        let failing = Credentials::from_json(&config("/v1/bad-token")).unwrap();
        let err = failing.token().await.unwrap_err();
        let shown = format!("{err} {err:?} {failing:?}");
        assert_clean(
            "errors",
            &shown,
            &[SUBJECT, FEDERATED, CLIENT_SECRET, HEADER_SECRET, URL_QUERY_SECRET],
        );
        impersonated
    });

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG"),
        "logs were captured: {logs}"
    );
    assert_clean(
        "TRACE logs",
        &logs,
        &[
            SUBJECT,
            FEDERATED,
            CLIENT_SECRET,
            HEADER_SECRET,
            URL_QUERY_SECRET,
            &impersonated_secret,
        ],
    );
}
