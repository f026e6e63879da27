//! End to end through the facade: gcloud-style configs with file and URL sources, with and
//! without impersonation, workload and workforce pools, against wiremock stand-ins for Google.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::json;
use wif::testing::{FAKE_AUDIENCE, FakeGoogle};
use wif::{Credentials, Step};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn form_of(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn file_source_without_impersonation_yields_the_federated_token() {
    let (google, _dir, token_file) = google_and_token_file("the.oidc.jwt\n").await;
    let creds = Credentials::from_json(&google.config_json(&token_file, None)).unwrap();

    let token = creds.token().await.unwrap();
    assert_eq!(token.secret().expose_secret(), "federated-1");
    assert!(token.remaining().unwrap() > Duration::from_secs(3500));

    let requests = google.server().received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "one STS call, no IAM call");
    let form = form_of(&requests[0].body);
    assert_eq!(
        field(&form, "subject_token"),
        Some("the.oidc.jwt"),
        "trailing newline trimmed"
    );
    assert_eq!(field(&form, "audience"), Some(FAKE_AUDIENCE));
    assert_eq!(
        field(&form, "scope"),
        Some("https://www.googleapis.com/auth/cloud-platform")
    );
    assert_eq!(field(&form, "options"), None);

    // Served from the cache afterwards.
    let again = creds.token().await.unwrap();
    assert_eq!(again.secret().expose_secret(), "federated-1");
    assert_eq!(google.sts_calls().await, 1);
}

#[tokio::test]
async fn impersonation_caches_the_federated_token_separately() {
    let (google, _dir, token_file) = google_and_token_file("jwt").await;
    let config = google.config_json(&token_file, Some("sa@proj.iam.gserviceaccount.com"));
    let creds = Credentials::builder()
        .config_json(&config)
        .unwrap()
        .scopes(["https://www.googleapis.com/auth/bigquery"])
        .build()
        .unwrap();

    let token = creds.token().await.unwrap();
    assert_eq!(token.secret().expose_secret(), "impersonated-1");
    assert_eq!((google.sts_calls().await, google.iam_calls().await), (1, 1));
    assert_eq!(
        creds.info().impersonated_service_account.as_deref(),
        Some("sa@proj.iam.gserviceaccount.com")
    );

    let requests = google.server().received_requests().await.unwrap();
    let iam = requests
        .iter()
        .find(|r| r.url.path().ends_with(":generateAccessToken"))
        .unwrap();
    assert_eq!(
        iam.headers.get("authorization").unwrap().to_str().unwrap(),
        "Bearer federated-1",
        "the federated token authorises the impersonation"
    );
    let body: serde_json::Value = serde_json::from_slice(&iam.body).unwrap();
    assert_eq!(
        body["scope"],
        json!(["https://www.googleapis.com/auth/bigquery"])
    );
    assert_eq!(body["lifetime"], json!("3600s"));
}

#[tokio::test]
async fn a_second_impersonation_within_the_federated_tokens_life_calls_only_iam() {
    let (google, _dir, token_file) = google_and_token_file("jwt").await;
    let creds = Credentials::from_json(
        &google.config_json(&token_file, Some("sa@p.iam.gserviceaccount.com")),
    )
    .unwrap();
    assert_eq!(
        creds.token().await.unwrap().secret().expose_secret(),
        "impersonated-1"
    );
    // What an API adapter does after a 401: drop the impersonated token only.
    creds.invalidate();
    assert_eq!(
        creds.token().await.unwrap().secret().expose_secret(),
        "impersonated-2"
    );
    assert_eq!(
        (google.sts_calls().await, google.iam_calls().await),
        (1, 2),
        "the cached federated token was reused for the second impersonation"
    );
}

#[tokio::test]
async fn url_source_with_headers_and_json_format() {
    let google = FakeGoogle::start().await;
    let idp = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/metadata/identity/oauth2/token"))
        .and(header("Metadata", "True"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "azure-jwt", "other": 1})),
        )
        .expect(1)
        .mount(&idp)
        .await;
    let config = json!({
        "type": "external_account",
        "audience": FAKE_AUDIENCE,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": google.token_url(),
        "credential_source": {
            "url": format!("{}/metadata/identity/oauth2/token?api-version=2018-02-01", idp.uri()),
            "headers": {"Metadata": "True"},
            "format": {"type": "json", "subject_token_field_name": "access_token"}
        }
    });
    let creds = Credentials::from_json(&config.to_string()).unwrap();
    assert_eq!(creds.info().source_kind, "url");
    assert_eq!(
        creds.token().await.unwrap().secret().expose_secret(),
        "federated-1"
    );
    let requests = google.server().received_requests().await.unwrap();
    assert_eq!(
        field(&form_of(&requests[0].body), "subject_token"),
        Some("azure-jwt")
    );
}

#[tokio::test]
async fn workforce_pool_sends_user_project_unless_client_auth_is_used() {
    let (google, _dir, token_file) = google_and_token_file("saml").await;
    let audience = "//iam.googleapis.com/locations/global/workforcePools/pool/providers/prov";
    let mut config = json!({
        "type": "external_account",
        "audience": audience,
        "subject_token_type": "urn:ietf:params:oauth:token-type:saml2",
        "token_url": google.token_url(),
        "workforce_pool_user_project": "123456",
        "credential_source": {"file": token_file},
    });
    // The fake STS only accepts //iam.googleapis.com/ audiences, which this is.
    let creds = Credentials::from_json(&config.to_string()).unwrap();
    creds.token().await.unwrap();
    config["client_id"] = json!("client");
    config["client_secret"] = json!("s3cr3t-client");
    let creds = Credentials::from_json(&config.to_string()).unwrap();
    creds.token().await.unwrap();

    let requests = google.server().received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    let first = form_of(&requests[0].body);
    let options: serde_json::Value =
        serde_json::from_str(field(&first, "options").unwrap()).unwrap();
    assert_eq!(options, json!({"userProject": "123456"}));
    assert!(requests[0].headers.get("authorization").is_none());
    let second = form_of(&requests[1].body);
    assert_eq!(
        field(&second, "options"),
        None,
        "client auth suppresses userProject"
    );
    assert_eq!(
        requests[1]
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap(),
        "Basic Y2xpZW50OnMzY3IzdC1jbGllbnQ="
    );
}

#[tokio::test]
async fn sts_rejection_surfaces_step_server_words_and_hint() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "unauthorized_client",
            "error_description": "The given credential is rejected by the attribute condition."
        })))
        .expect(1)
        .mount(&server)
        .await;
    let (_dir, token_file) = token_file("jwt");
    let config = json!({
        "type": "external_account",
        "audience": FAKE_AUDIENCE,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": format!("{}/v1/token", server.uri()),
        "credential_source": {"file": token_file},
    });
    let err = Credentials::from_json(&config.to_string())
        .unwrap()
        .token()
        .await
        .unwrap_err();
    assert_eq!(err.step(), Step::Exchange);
    assert!(!err.is_retryable());
    assert_eq!(err.status(), Some(400));
    let shown = err.to_string();
    assert!(
        shown.contains("rejected by the attribute condition"),
        "{shown}"
    );
    assert!(
        err.hint()
            .is_some_and(|h| h.contains("attribute condition")),
        "{shown}"
    );
}

#[tokio::test]
async fn bad_configs_fail_before_any_network_call() {
    let server = MockServer::start().await;
    let token_url = format!("{}/v1/token", server.uri());
    let cases = [
        (
            json!({"type": "external_account", "subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "token_url": token_url, "credential_source": {"file": "/t"}}),
            "audience",
        ),
        (
            json!({"type": "external_account", "audience": FAKE_AUDIENCE, "subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "token_url": token_url, "credential_source": {"file": "/t", "url": "http://127.0.0.1:1/"}}),
            "credential_source",
        ),
        (
            json!({"type": "external_account", "audience": FAKE_AUDIENCE, "subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "token_url": token_url, "credential_source": {"file": "/t", "format": {"type": "json"}}}),
            "subject_token_field_name",
        ),
        (
            json!({"type": "external_account", "audience": FAKE_AUDIENCE, "subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "token_url": token_url, "workforce_pool_user_project": "1", "credential_source": {"file": "/t"}}),
            "workforce_pool_user_project",
        ),
        (
            json!({"type": "service_account", "audience": FAKE_AUDIENCE}),
            "type",
        ),
    ];
    for (config, needle) in cases {
        let err = Credentials::from_json(&config.to_string()).unwrap_err();
        assert!(err.is_config(), "{config}: {err:?}");
        assert!(err.to_string().contains(needle), "{config}: {err}");
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

/// A Google fake, and a token file holding `subject` (in a directory kept as long as the guard).
async fn google_and_token_file(
    subject: &str,
) -> (FakeGoogle, tempfile::TempDir, std::path::PathBuf) {
    let google = FakeGoogle::start().await;
    let (dir, token_file) = token_file(subject);
    (google, dir, token_file)
}

/// A token file holding `subject` (in a directory kept as long as the guard).
fn token_file(subject: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, subject).unwrap();
    (dir, token_file)
}

/// `build_chain` hands out the layers `build` wraps in its cache; run one at a time they make
/// exactly the requests the credentials make (what `wif explain` relies on).
#[tokio::test]
async fn the_chain_runs_step_by_step_with_the_same_requests_as_the_credentials() {
    let (google, _dir, token_file) = google_and_token_file("the.oidc.jwt\n").await;
    let email = "runner@proj.iam.gserviceaccount.com";
    let config = google.config_json(&token_file, Some(email));

    let chain = Credentials::builder()
        .config_json(&config)
        .unwrap()
        .build_chain()
        .unwrap();
    assert!(chain.impersonates());
    assert_eq!(chain.info().source_kind, "file");
    assert_eq!(
        chain.info().impersonated_service_account.as_deref(),
        Some(email)
    );
    assert_eq!(google.sts_calls().await, 0, "building does no I/O");

    let subject = chain.subject_token().await.unwrap();
    assert_eq!(subject.secret().expose_secret(), "the.oidc.jwt");
    let federated = chain.exchange(&subject).await.unwrap();
    assert_eq!(federated.secret().expose_secret(), "federated-1");
    let token = chain.impersonate(&federated).await.unwrap();
    assert_eq!(token.secret().expose_secret(), "impersonated-1");
    assert_eq!((google.sts_calls().await, google.iam_calls().await), (1, 1));

    let creds = Credentials::from_json(&config).unwrap();
    creds.token().await.unwrap();
    let requests = google.server().received_requests().await.unwrap();
    assert_eq!(requests.len(), 4);
    // Step by step and all at once: the same STS form and the same IAM request, apart from
    // the federated token each IAM call carries.
    assert_eq!(form_of(&requests[0].body), form_of(&requests[2].body));
    assert_eq!(requests[1].url.path(), requests[3].url.path());
    assert_eq!(requests[1].body, requests[3].body);
    assert_eq!(
        requests[1].headers.get("authorization").unwrap(),
        "Bearer federated-1"
    );
    assert_eq!(
        requests[3].headers.get("authorization").unwrap(),
        "Bearer federated-2"
    );

    // The chain itself becomes credentials too.
    let from_chain = Credentials::builder()
        .config_json(&config)
        .unwrap()
        .build_chain()
        .unwrap()
        .into_credentials();
    assert_eq!(
        from_chain.token().await.unwrap().secret().expose_secret(),
        "impersonated-3"
    );
}

#[tokio::test]
async fn a_chain_without_impersonation_says_so_at_the_impersonation_step() {
    let (google, _dir, token_file) = google_and_token_file("the.oidc.jwt").await;
    let chain = Credentials::builder()
        .config_json(&google.config_json(&token_file, None))
        .unwrap()
        .build_chain()
        .unwrap();
    assert!(!chain.impersonates());
    let federated = chain
        .exchange(&chain.subject_token().await.unwrap())
        .await
        .unwrap();
    let err = chain.impersonate(&federated).await.unwrap_err();
    assert_eq!(err.step(), Step::Impersonation);
    assert_eq!(err.kind(), wif::ErrorKind::NotSupported);
    assert_eq!(google.iam_calls().await, 0);
    let shown = format!("{err} {err:?} {chain:?}");
    assert!(!shown.contains("federated-1"), "{shown}");
    assert!(!shown.contains("the.oidc.jwt"), "{shown}");
}
