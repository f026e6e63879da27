//! IAM Credentials `generateAccessToken` at the emulator: who may impersonate whom, the bearer
//! checks, the body rules, and the real service's error shapes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use support::{
    CLOUD_PLATFORM, authorize, error_status_and_message, generate_access_token, http, send, start,
    status_and_json, tokeninfo,
};
use wif_emulator::config::DEFAULT_SERVICE_ACCOUNT;
use wif_emulator::{EmulatorConfig, Endpoint, RunningEmulator, ServiceAccount, TokenKind};

/// A federated token as Google STS would issue it for the default AWS role.
fn federated(emulator: &RunningEmulator, lifetime: Duration) -> String {
    let config = emulator.config();
    let principal = config.principal_for_subject(&config.aws.assumed_role_arn());
    let sets = vec![config.principal_set_for_role(), config.principal_set_all()];
    emulator
        .state()
        .issue(
            TokenKind::Federated,
            principal,
            sets,
            vec![CLOUD_PLATFORM.into()],
            lifetime,
        )
        .0
}

async fn call(
    emulator: &RunningEmulator,
    email: &str,
    bearer: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut request = generate_access_token(emulator, email, &body);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    status_and_json(send(request).await).await
}

fn standard_body() -> Value {
    json!({"scope": [CLOUD_PLATFORM], "lifetime": "3600s"})
}

/// `generateAccessToken` for `email` with the standard body (an hour of cloud-platform).
async fn generate(emulator: &RunningEmulator, email: &str, bearer: Option<&str>) -> (u16, Value) {
    call(emulator, email, bearer, standard_body()).await
}

fn parse_rfc3339(text: &str) -> SystemTime {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .into()
}

/// `generateAccessToken` for `email` with the standard body, bearing an hour's federated token of
/// the default AWS role.
async fn generate_as_role(emulator: &RunningEmulator, email: &str) -> (u16, Value) {
    let bearer = federated(emulator, Duration::from_secs(3600));
    generate(emulator, email, Some(&bearer)).await
}

#[tokio::test]
async fn an_allowed_principal_gets_a_service_account_token() {
    let emulator = start(EmulatorConfig::default()).await;
    let bearer = federated(&emulator, Duration::from_secs(3600));
    let before = SystemTime::now();
    let (status, body) = call(
        &emulator,
        DEFAULT_SERVICE_ACCOUNT,
        Some(&bearer),
        json!({"scope": [CLOUD_PLATFORM, "https://www.googleapis.com/auth/bigquery"], "lifetime": "1200s"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["accessToken"].as_str().unwrap();
    let expire_time = body["expireTime"].as_str().unwrap();
    // Whole seconds, `Z`: what Python's strptime("%Y-%m-%dT%H:%M:%SZ") needs.
    assert_eq!(
        expire_time.len(),
        "2026-01-01T01:00:00Z".len(),
        "{expire_time}"
    );
    assert!(expire_time.ends_with('Z'), "{expire_time}");
    let expiry = parse_rfc3339(expire_time);
    let lifetime = expiry.duration_since(before).unwrap();
    assert!(
        (Duration::from_secs(1198)..=Duration::from_secs(1201)).contains(&lifetime),
        "lifetime {lifetime:?}"
    );

    // The token is a service-account token of that account with those scopes.
    let issued = authorize(&emulator, token, TokenKind::ServiceAccount);
    assert_eq!(issued.principal, DEFAULT_SERVICE_ACCOUNT);
    assert_eq!(
        issued.scopes,
        [CLOUD_PLATFORM, "https://www.googleapis.com/auth/bigquery"]
    );
    assert_eq!(emulator.requests(Endpoint::IamCredentials), 1);

    // The emulator's tokeninfo says the same over HTTP.
    let info = tokeninfo(&emulator, token).await;
    assert_eq!(info["kind"], "service_account");
    assert_eq!(info["principal"], DEFAULT_SERVICE_ACCOUNT);
    let left = info["expires_in"].as_u64().unwrap();
    assert!((1190..=1200).contains(&left), "{left}");
}

#[tokio::test]
async fn python_google_auths_body_is_accepted() {
    // google-auth sends `"delegates": null` with spaced separators.
    let emulator = start(EmulatorConfig::default()).await;
    let bearer = federated(&emulator, Duration::from_secs(3600));
    let url = format!(
        "{}/v1/projects/-/serviceAccounts/{DEFAULT_SERVICE_ACCOUNT}:generateAccessToken",
        emulator.base_url()
    );
    let body = r#"{"delegates": null, "scope": ["https://www.googleapis.com/auth/cloud-platform"], "lifetime": "3600s"}"#;
    let request = http()
        .post(url)
        .header("authorization", format!("Bearer {bearer}"))
        .header("content-type", "application/json")
        .body(body);
    assert_eq!(send(request).await.status(), 200);
}

#[tokio::test]
async fn a_direct_principal_binding_is_honoured() {
    let mut config = EmulatorConfig::default();
    let principal = config.principal_for_subject("alice");
    config.service_accounts = vec![ServiceAccount::new(
        "direct@p.iam.gserviceaccount.com",
        [principal.clone()],
    )];
    let emulator = start(config).await;
    let (alice, _) = emulator.state().issue(
        TokenKind::Federated,
        principal,
        vec![],
        vec![],
        Duration::from_secs(60),
    );
    let (status, body) =
        generate(&emulator, "direct@p.iam.gserviceaccount.com", Some(&alice)).await;
    assert_eq!(status, 200, "{body}");

    // Someone else of the same pool is not alice.
    let bob = emulator.config().principal_for_subject("bob");
    let (bob, _) = emulator.state().issue(
        TokenKind::Federated,
        bob,
        vec![emulator.config().principal_set_all()],
        vec![],
        Duration::from_secs(60),
    );
    let (status, _) = generate(&emulator, "direct@p.iam.gserviceaccount.com", Some(&bob)).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_principal_without_the_binding_is_denied_with_iams_words() {
    let mut config = EmulatorConfig::default();
    config.service_accounts.push(ServiceAccount::new(
        "locked@wif-demo.iam.gserviceaccount.com",
        Vec::<String>::new(),
    ));
    let emulator = start(config).await;
    let (status, body) =
        generate_as_role(&emulator, "locked@wif-demo.iam.gserviceaccount.com").await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        json!({"error": {
            "code": 403,
            "message": "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
            "status": "PERMISSION_DENIED",
            "details": [{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "IAM_PERMISSION_DENIED",
                "domain": "iam.googleapis.com",
                "metadata": {"permission": "iam.serviceAccounts.getAccessToken"},
            }],
        }})
    );
}

#[tokio::test]
async fn an_unknown_service_account_is_not_found() {
    let emulator = start(EmulatorConfig::default()).await;
    let (status, body) =
        generate_as_role(&emulator, "nobody@nowhere.iam.gserviceaccount.com").await;
    assert_eq!(status, 404);
    let message = "Not found; Gaia id not found for email nobody@nowhere.iam.gserviceaccount.com";
    assert_eq!(error_status_and_message(&body), ("NOT_FOUND", message));
}

#[tokio::test]
async fn missing_foreign_and_expired_bearers_are_unauthenticated() {
    let emulator = start(EmulatorConfig::default()).await;
    let (status, body) = generate(&emulator, DEFAULT_SERVICE_ACCOUNT, None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");

    let (status, body) = generate(
        &emulator,
        DEFAULT_SERVICE_ACCOUNT,
        Some("ya29.from-somewhere-else"),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");

    // A token from another emulator is foreign too.
    let other = start(EmulatorConfig::default()).await;
    let theirs = federated(&other, Duration::from_secs(3600));
    let (status, _) = generate(&emulator, DEFAULT_SERVICE_ACCOUNT, Some(&theirs)).await;
    assert_eq!(status, 401);

    let expired = federated(&emulator, Duration::ZERO);
    let (status, body) = generate(&emulator, DEFAULT_SERVICE_ACCOUNT, Some(&expired)).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        body["error"]["details"][0]["reason"],
        "ACCESS_TOKEN_EXPIRED"
    );

    // Expiring every token through the control API takes a good token out too.
    let good = federated(&emulator, Duration::from_secs(3600));
    let expire = http().post(format!("{}/_emulator/tokens/expire", emulator.base_url()));
    assert_eq!(send(expire).await.status(), 204);
    let (status, _) = generate(&emulator, DEFAULT_SERVICE_ACCOUNT, Some(&good)).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_service_account_token_cannot_impersonate() {
    let emulator = start(EmulatorConfig::default()).await;
    let bearer = federated(&emulator, Duration::from_secs(3600));
    let (_, body) = generate(&emulator, DEFAULT_SERVICE_ACCOUNT, Some(&bearer)).await;
    let sa_token = body["accessToken"].as_str().unwrap();
    let (status, body) = generate(&emulator, DEFAULT_SERVICE_ACCOUNT, Some(sa_token)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["status"], "PERMISSION_DENIED");
}

#[tokio::test]
async fn lifetimes_and_scopes_are_validated() {
    let emulator = start(EmulatorConfig::default()).await;
    let bearer = federated(&emulator, Duration::from_secs(3600));
    for (body, field) in [
        (
            json!({"scope": [CLOUD_PLATFORM], "lifetime": "0s"}),
            "lifetime",
        ),
        (
            json!({"scope": [CLOUD_PLATFORM], "lifetime": "3601s"}),
            "lifetime",
        ),
        (
            json!({"scope": [CLOUD_PLATFORM], "lifetime": "one hour"}),
            "lifetime",
        ),
        (
            json!({"scope": [CLOUD_PLATFORM], "lifetime": "3600"}),
            "lifetime",
        ),
        (json!({"lifetime": "3600s"}), "scope"),
        (json!({"scope": [], "lifetime": "3600s"}), "scope"),
        (json!({"scope": null}), "scope"),
        (json!({"scope": [CLOUD_PLATFORM], "unknown": 1}), ""),
    ] {
        let (status, answer) = call(
            &emulator,
            DEFAULT_SERVICE_ACCOUNT,
            Some(&bearer),
            body.clone(),
        )
        .await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert_eq!(answer["error"]["status"], "INVALID_ARGUMENT", "{body}");
        assert_eq!(
            answer["error"]["details"][0]["fieldViolations"][0]["field"], field,
            "{body} -> {answer}"
        );
    }
    // No lifetime means an hour.
    let (status, answer) = call(
        &emulator,
        DEFAULT_SERVICE_ACCOUNT,
        Some(&bearer),
        json!({"scope": [CLOUD_PLATFORM]}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let left = parse_rfc3339(answer["expireTime"].as_str().unwrap())
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(left > Duration::from_secs(3590), "{left:?}");
}

#[tokio::test]
async fn longer_lifetimes_need_the_org_policy() {
    let mut config = EmulatorConfig::default();
    config.max_token_lifetime = Duration::from_secs(12 * 3600);
    let emulator = start(config).await;
    let bearer = federated(&emulator, Duration::from_secs(3600));
    let body = json!({"scope": [CLOUD_PLATFORM], "lifetime": "43200s"});
    let (status, answer) = call(&emulator, DEFAULT_SERVICE_ACCOUNT, Some(&bearer), body).await;
    assert_eq!(status, 200, "{answer}");
    let body = json!({"scope": [CLOUD_PLATFORM], "lifetime": "43201s"});
    let (status, _) = call(&emulator, DEFAULT_SERVICE_ACCOUNT, Some(&bearer), body).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn delegates_must_exist_and_other_methods_are_not_served() {
    let emulator = start(EmulatorConfig::default()).await;
    let bearer = federated(&emulator, Duration::from_secs(3600));
    let body = json!({"scope": [CLOUD_PLATFORM], "delegates": ["projects/-/serviceAccounts/ghost@p.iam.gserviceaccount.com"]});
    let (status, answer) = call(&emulator, DEFAULT_SERVICE_ACCOUNT, Some(&bearer), body).await;
    assert_eq!(status, 404, "{answer}");
    let body = json!({"scope": [CLOUD_PLATFORM], "delegates": [format!("projects/-/serviceAccounts/{DEFAULT_SERVICE_ACCOUNT}")]});
    let (status, answer) = call(&emulator, DEFAULT_SERVICE_ACCOUNT, Some(&bearer), body).await;
    assert_eq!(status, 200, "{answer}");

    let id_token = format!(
        "{}/v1/projects/-/serviceAccounts/{DEFAULT_SERVICE_ACCOUNT}:generateIdToken",
        emulator.base_url()
    );
    let request = http().post(id_token).bearer_auth(&bearer);
    let response = send(request.json(&json!({"audience": "x"}))).await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn a_set_issued_lifetime_replaces_the_one_asked_for() {
    let mut config = EmulatorConfig::default();
    config.issued_token_lifetime = Some(Duration::from_secs(30));
    let emulator = start(config).await;
    let bearer = federated(&emulator, Duration::from_secs(3600));
    let (status, answer) = generate(&emulator, DEFAULT_SERVICE_ACCOUNT, Some(&bearer)).await;
    assert_eq!(status, 200, "{answer}");
    let left = parse_rfc3339(answer["expireTime"].as_str().unwrap())
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(
        left <= Duration::from_secs(30),
        "asked for an hour, got {left:?}"
    );
    // The request is still checked: a lifetime IAM refuses is refused.
    let body = json!({"scope": [CLOUD_PLATFORM], "lifetime": "3601s"});
    let (status, _) = call(&emulator, DEFAULT_SERVICE_ACCOUNT, Some(&bearer), body).await;
    assert_eq!(status, 400);
}
