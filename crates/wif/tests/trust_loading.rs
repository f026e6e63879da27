//! Loading untrusted configurations: `from_json_untrusted` / the builder's `trust_policy`, what
//! explicit builder settings exempt, the unchanged trusted loaders, and that a refusal comes
//! before any network call (wiremock proves nothing is contacted).

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod support;

use serde_json::json;
use support::{JWT, WORKLOAD, assert_policy_error, file_config, with};
use wif::secrecy::ExposeSecret;
use wif::{Credentials, TrustPolicy};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

// ---------------------------------------------------------------------------------------------
// Builder: explicit settings are the caller's and exempt what they replace.

#[test]
fn explicit_builder_settings_replace_what_they_exempt() {
    let hostile = with(
        file_config(),
        &[
            ("token_url", json!("https://collector.example/v1/token")),
            (
                "service_account_impersonation_url",
                json!("https://collector.example/v1/projects/-/serviceAccounts/a@p.iam.gserviceaccount.com:generateAccessToken"),
            ),
        ],
    )
    .to_string();
    let err = Credentials::builder()
        .trust_policy(TrustPolicy::strict())
        .config_json(&hostile)
        .unwrap()
        .token_url("https://sts.googleapis.com/v1/token")
        .build()
        .unwrap_err();
    assert_policy_error(&err, "service_account_impersonation_url", "google-endpoint");

    let creds = Credentials::builder()
        .trust_policy(TrustPolicy::strict())
        .config_json(&hostile)
        .unwrap()
        .token_url("https://sts.googleapis.com/v1/token")
        .impersonate("writer@proj.iam.gserviceaccount.com")
        .build()
        .unwrap();
    assert_eq!(
        creds.info().impersonation_url.as_deref(),
        Some(
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/writer@proj.iam.gserviceaccount.com:generateAccessToken"
        )
    );

    let exe = with(
        file_config(),
        &[(
            "credential_source",
            json!({"executable": {"command": "/bin/true"}}),
        )],
    )
    .to_string();
    let creds = Credentials::builder()
        .trust_policy(TrustPolicy::strict())
        .config_json(&exe)
        .unwrap()
        .source(wif::layers::source_file::FileSource::new(
            "/var/run/secrets/t",
            wif::TokenFormat::Text,
        ))
        .build()
        .unwrap();
    assert_eq!(creds.info().source_kind, "file");
}

#[test]
fn trusted_loaders_are_unchanged() {
    // The same hostile file loads with `from_json`: that loader is for your own files.
    let hostile = with(
        file_config(),
        &[
            ("token_url", json!("https://collector.example/v1/token")),
            ("credential_source.file", json!("/etc/hostname")),
        ],
    );
    let creds = Credentials::from_json(&hostile.to_string()).unwrap();
    assert_eq!(
        creds.info().token_url.as_deref(),
        Some("https://collector.example/v1/token")
    );
    let err = Credentials::from_json_untrusted(&hostile.to_string()).unwrap_err();
    assert_policy_error(&err, "token_url", "google-endpoint");
}

// ---------------------------------------------------------------------------------------------
// No network call before the policy has spoken.

fn url_source_config(server: &MockServer, token_url: &str) -> String {
    json!({
        "type": "external_account",
        "audience": WORKLOAD,
        "subject_token_type": JWT,
        "token_url": token_url,
        "credential_source": {
            "url": format!("{}/token", server.uri()),
            "headers": { "Metadata": "True" }
        }
    })
    .to_string()
}

/// The URL source's endpoint: `GET /token` answers `subject-jwt`.
fn subject_source() -> Mock {
    Mock::given(method("GET"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_string("subject-jwt"))
}

/// Credentials from `json` under the strict policy with the loopback opt-in.
fn build_allowing_loopback(json: &str) -> Result<Credentials, wif::Error> {
    Credentials::builder()
        .trust_policy(TrustPolicy::strict().allow_loopback())
        .config_json(json)
        .unwrap()
        .build()
}

/// Google STS at `/v1/token`, exchanging the source's `subject-jwt` for `ya29.federated`.
fn sts_exchange() -> Mock {
    Mock::given(method("POST"))
        .and(path("/v1/token"))
        .and(body_string_contains("subject_token=subject-jwt"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "ya29.federated",
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer",
            "expires_in": 3600
        })))
}

#[tokio::test]
async fn a_hostile_token_url_is_refused_before_the_source_is_contacted() {
    let server = MockServer::start().await;
    subject_source().mount(&server).await;
    let json = url_source_config(&server, "https://collector.example/v1/token");

    let err = build_allowing_loopback(&json).unwrap_err();
    assert_policy_error(&err, "token_url", "google-endpoint");
    assert!(server.received_requests().await.unwrap().is_empty());

    // Control: trusted, the same configuration would fetch the subject token from the source.
    let trusted = Credentials::from_json(&json).unwrap();
    let token = trusted.subject_token().await.unwrap();
    assert_eq!(token.secret().expose_secret(), "subject-jwt");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn loopback_endpoints_work_only_after_the_opt_in() {
    let server = MockServer::start().await;
    subject_source().expect(1).mount(&server).await;
    sts_exchange().expect(1).mount(&server).await;
    let json = url_source_config(&server, &format!("{}/v1/token", server.uri()));

    let err = Credentials::from_json_untrusted(&json).unwrap_err();
    assert_policy_error(&err, "token_url", "loopback");
    assert!(server.received_requests().await.unwrap().is_empty());

    let creds = build_allowing_loopback(&json).unwrap();
    let token = creds.token().await.unwrap();
    assert_eq!(token.secret().expose_secret(), "ya29.federated");
}

// ---------------------------------------------------------------------------------------------
// The text of an untrusted configuration: its size and duplicate keys, whatever the order of
// the builder calls.

/// A refusal by rule `size-limit` (a whole-document rule: no field is named).
fn assert_too_large(err: &wif::Error) {
    let shown = err.to_string();
    assert!(err.is_config(), "{shown}");
    assert!(
        shown.contains("refused by the trust policy (rule `size-limit`)")
            && shown.contains("larger than 1048576 bytes"),
        "{shown}"
    );
    assert!(err.hint().is_some(), "{shown}");
}

/// `file_config()` padded with trailing spaces to exactly `len` bytes.
fn padded_config(len: usize) -> String {
    let json = file_config().to_string();
    format!("{json}{}", " ".repeat(len - json.len()))
}

#[test]
fn untrusted_text_is_capped_at_one_mebibyte_before_parsing() {
    let max = wif::trust::MAX_UNTRUSTED_CONFIG_BYTES;
    assert_eq!(max, 1024 * 1024);
    assert!(Credentials::from_json_untrusted(&padded_config(max)).is_ok());
    assert_too_large(&Credentials::from_json_untrusted(&padded_config(max + 1)).unwrap_err());
    // Refused before parsing: not even the syntax is looked at.
    let garbage = "x".repeat(max + 1);
    assert_too_large(&Credentials::from_json_untrusted(&garbage).unwrap_err());
    assert_too_large(&TrustPolicy::strict().check_json(&garbage).unwrap_err());
    // Your own configurations are not capped.
    assert!(Credentials::from_json(&padded_config(max + 1)).is_ok());
}

#[test]
fn text_problems_are_refused_whenever_the_policy_is_set() {
    let duplicate = format!(
        r#"{{"token_url": "https://collector.example/v1/token", {}"#,
        &file_config().to_string()[1..]
    );
    for (what, json, field) in [
        ("duplicate", duplicate, Some("token_url")),
        ("too large", padded_config(2 * 1024 * 1024), None),
    ] {
        // Policy first, then the text; and the text first, then the policy.
        let before = Credentials::builder()
            .trust_policy(TrustPolicy::strict())
            .config_json(&json)
            .map(|_| ())
            .expect_err(what);
        let after = Credentials::builder()
            .config_json(&json)
            .unwrap()
            .trust_policy(TrustPolicy::strict())
            .build()
            .expect_err(what);
        for err in [before, after] {
            match field {
                Some(field) => assert_policy_error(&err, field, "unique-keys"),
                None => assert_too_large(&err),
            }
        }
        // A parsed configuration replacing the text carries no text problem.
        let replaced = Credentials::builder()
            .config_json(&json)
            .unwrap()
            .config(
                wif::config::ExternalAccountConfig::from_json(&file_config().to_string()).unwrap(),
            )
            .trust_policy(TrustPolicy::strict())
            .build();
        assert!(replaced.is_ok(), "{what}: {replaced:?}");
    }
}

#[test]
fn untrusted_files_are_read_bounded_and_regular_only() {
    let dir = tempfile::tempdir().unwrap();
    let max = wif::trust::MAX_UNTRUSTED_CONFIG_BYTES;
    let path = dir.path().join("cred.json");
    std::fs::write(&path, padded_config(max)).unwrap();
    assert!(Credentials::from_file_untrusted(&path).is_ok());
    std::fs::write(&path, padded_config(max + 1)).unwrap();
    let err = Credentials::from_file_untrusted(&path).unwrap_err();
    assert_too_large(&err);
    assert!(err.to_string().contains("cred.json"), "{err}");

    let err = Credentials::from_file_untrusted(dir.path()).unwrap_err();
    assert!(err.is_config(), "{err}");
    assert!(err.to_string().contains("not a regular file"), "{err}");

    std::fs::write(&path, b"{\"audience\": \"\xff\"}").unwrap();
    let err = Credentials::from_file_untrusted(&path).unwrap_err();
    assert!(err.to_string().contains("not UTF-8"), "{err}");
}

#[cfg(unix)]
#[test]
fn untrusted_fifos_are_refused_without_blocking() {
    use std::io::{Read as _, Write as _};

    let dir = tempfile::tempdir().unwrap();
    let fifo = wif::layers::core::testing::fifo_at(dir.path().join("cred.json"));
    // A writer ready to feed a valid configuration to whoever opens the FIFO for reading: were
    // the loader to open it, it would read this and succeed (instead of blocking forever).
    let writer = {
        let fifo = fifo.clone();
        let json = file_config().to_string();
        std::thread::spawn(move || {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&fifo)?
                .write_all(json.as_bytes())
        })
    };
    let loaded = Credentials::from_file_untrusted(&fifo);
    if loaded.is_err() {
        // The loader never opened it: release the writer.
        let mut drained = String::new();
        std::fs::File::open(&fifo)
            .unwrap()
            .read_to_string(&mut drained)
            .unwrap();
    }
    writer.join().unwrap().unwrap();
    let err = loaded.map(|_| ()).expect_err("a FIFO is refused");
    assert!(err.is_config(), "{err}");
    assert!(err.to_string().contains("not a regular file"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// What `Credentials::info` reports is what is contacted.

#[tokio::test]
async fn info_shows_the_urls_as_contacted() {
    let server = MockServer::start().await;
    subject_source().mount(&server).await;
    sts_exchange().expect(1).mount(&server).await;
    let port = server.address().port();
    // Written oddly (a trusted configuration may be): upper case, a dot segment.
    let json = url_source_config(&server, &format!("http://LOCALHOST:{port}/v1/x/../token"));
    let creds = Credentials::from_json(&json).unwrap();
    let contacted = format!("http://localhost:{port}/v1/token");
    assert_eq!(creds.info().token_url.as_deref(), Some(contacted.as_str()));
    creds.token().await.unwrap();

    let odd = with(
        file_config(),
        &[
            (
                "token_url",
                json!("https://STS.googleapis.com:443/v1/token"),
            ),
            (
                "service_account_impersonation_url",
                json!(
                    "https://IAMCredentials.googleapis.com:443/v1/projects/-/serviceAccounts/a@p.iam.gserviceaccount.com:generateAccessToken"
                ),
            ),
        ],
    );
    let info = Credentials::from_json(&odd.to_string())
        .unwrap()
        .info()
        .clone();
    assert_eq!(
        info.token_url.as_deref(),
        Some("https://sts.googleapis.com/v1/token")
    );
    assert_eq!(
        info.impersonation_url.as_deref(),
        Some(
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@p.iam.gserviceaccount.com:generateAccessToken"
        )
    );
}
