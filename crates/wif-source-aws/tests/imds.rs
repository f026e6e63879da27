//! The AWS source against wiremock fakes of the EC2 instance metadata service: which requests are
//! made (and which are not), IMDSv1 vs v2, env vs metadata precedence, rotation, providers.

// Test helpers outside #[test] functions may panic too.
#![allow(clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, future};
use wif_core::testing::Scripted;
use wif_core::{Environment, ErrorKind, MapEnvironment};
use wif_source_aws::{CredentialsFrom, RegionFrom};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use support::imds::*;

#[tokio::test]
async fn imdsv1_reads_region_role_and_credentials_without_tokens() {
    let server = imds_server(
        false,
        "us-east-2b",
        &creds_json("ASIAV1", "v1-secret", "v1-session"),
    )
    .await;
    let source = build(&server, false);

    let decoded = decoded_token(&source).await;
    support::verify(&decoded, "v1-secret").expect("signature verifies");
    assert_eq!(decoded.access_key_id(), "ASIAV1");
    assert_eq!(decoded.header("x-amz-security-token"), Some("v1-session"));
    assert!(
        decoded
            .url
            .starts_with("https://sts.us-east-2.amazonaws.com?"),
        "{}",
        decoded.url
    );
    assert_eq!(
        decoded.signed_headers(),
        [
            "host",
            "x-amz-date",
            "x-amz-security-token",
            "x-goog-cloud-target-resource"
        ]
    );

    let reqs = requests(&server).await;
    assert_eq!(count(&reqs, "PUT", TOKEN_PATH), 0, "{reqs:?}");
    assert_eq!(count(&reqs, "GET", ZONE_PATH), 1, "{reqs:?}");
    assert_eq!(count(&reqs, "GET", ROLE_PATH), 1, "{reqs:?}");
    assert_eq!(count(&reqs, "GET", CREDS_PATH), 1, "{reqs:?}");
    assert!(
        reqs.iter().all(|(_, _, token)| !token),
        "no token headers in v1: {reqs:?}"
    );
}

#[tokio::test]
async fn imdsv2_keeps_its_session_token_and_role_name_across_refreshes() {
    let server = imds_server(
        true,
        "us-east-2b",
        &creds_json("ASIAV2", "v2-secret", "v2-session"),
    )
    .await;
    let source = build(&server, true);

    let first = source.resolve().await.expect("first refresh");
    assert_eq!(first.region, "us-east-2");
    assert_eq!(
        first.provenance.region_from,
        RegionFrom::Metadata { imdsv2: true }
    );
    assert_eq!(
        first.provenance.credentials_from,
        CredentialsFrom::Metadata {
            imdsv2: true,
            role: ROLE.into()
        }
    );
    let reqs = requests(&server).await;
    assert_eq!(count(&reqs, "PUT", TOKEN_PATH), 1, "{reqs:?}");
    assert_eq!(reqs.len(), 4, "PUT, region, role, creds: {reqs:?}");
    assert!(
        reqs.iter()
            .filter(|(m, _, _)| m == "GET")
            .all(|(_, _, token)| *token),
        "every GET carries the token: {reqs:?}"
    );

    // The next refreshes read the credentials, and nothing else.
    for _ in 0..2 {
        let decoded = decoded_token(&source).await;
        support::verify(&decoded, "v2-secret").expect("signature verifies");
    }
    let reqs = requests(&server).await;
    assert_eq!(
        count(&reqs, "PUT", TOKEN_PATH),
        1,
        "the session token is reused within its TTL: {reqs:?}"
    );
    assert_eq!(
        count(&reqs, "GET", ZONE_PATH),
        1,
        "region is cached: {reqs:?}"
    );
    assert_eq!(
        count(&reqs, "GET", ROLE_PATH),
        1,
        "role name is cached: {reqs:?}"
    );
    assert_eq!(
        count(&reqs, "GET", CREDS_PATH),
        3,
        "credentials re-read: {reqs:?}"
    );
}

#[tokio::test]
async fn a_session_token_near_the_end_of_its_ttl_is_replaced() {
    let server = imds_server(
        true,
        "us-east-2b",
        &creds_json("ASIAV2", "v2-secret", "v2-session"),
    )
    .await;
    let source = build(&server, true);
    source.resolve().await.expect("first refresh");
    // Four minutes later (the token was asked for five): a new one, before the old one expires.
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(241)).await;
    tokio::time::resume();
    source.resolve().await.expect("second refresh");
    let reqs = requests(&server).await;
    assert_eq!(count(&reqs, "PUT", TOKEN_PATH), 2, "{reqs:?}");
    assert_eq!(count(&reqs, "GET", ROLE_PATH), 1, "{reqs:?}");
}

/// A metadata service whose session tokens are numbered, and which can be told to refuse all
/// but the newest (as after a restart), or every one.
struct NumberedSessions {
    issued: AtomicUsize,
    only_newest: AtomicBool,
    refuse_all: AtomicBool,
}

impl NumberedSessions {
    fn token(n: usize) -> String {
        format!("session-{n}")
    }
}

impl Respond for NumberedSessions {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if request.method.as_str() == "PUT" {
            let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
            return ResponseTemplate::new(200).set_body_string(Self::token(n));
        }
        let newest = Self::token(self.issued.load(Ordering::SeqCst));
        let sent = request
            .headers
            .get("x-aws-ec2-metadata-token")
            .and_then(|v| v.to_str().ok());
        let accepted = match sent {
            _ if self.refuse_all.load(Ordering::SeqCst) => false,
            Some(token) if self.only_newest.load(Ordering::SeqCst) => token == newest,
            Some(token) => token.starts_with("session-"),
            None => false,
        };
        if !accepted {
            return ResponseTemplate::new(401);
        }
        let body = match request.url.path() {
            ZONE_PATH => "us-east-2b".to_owned(),
            ROLE_PATH => ROLE.to_owned(),
            CREDS_PATH => creds_json("ASIAV2", "v2-secret", "v2-session"),
            _ => return ResponseTemplate::new(404),
        };
        ResponseTemplate::new(200).set_body_string(body)
    }
}

#[tokio::test]
async fn a_kept_session_token_the_service_refuses_is_replaced_once() {
    let server = MockServer::start().await;
    let sessions = Arc::new(NumberedSessions {
        issued: AtomicUsize::new(0),
        only_newest: AtomicBool::new(false),
        refuse_all: AtomicBool::new(false),
    });
    Mock::given(wiremock::matchers::any())
        .respond_with(SharedResponder(sessions.clone()))
        .mount(&server)
        .await;
    let source = build(&server, true);
    source.resolve().await.expect("first refresh");
    // The service forgets the token it gave (a new one is asked for, then accepted).
    sessions.issued.fetch_add(1, Ordering::SeqCst);
    sessions.only_newest.store(true, Ordering::SeqCst);
    let resolved = source.resolve().await.expect("second refresh recovers");
    assert_eq!(resolved.region, "us-east-2");
    let reqs = requests(&server).await;
    assert_eq!(
        count(&reqs, "PUT", TOKEN_PATH),
        2,
        "one new token, not one per call: {reqs:?}"
    );
    // A service that refuses even a new token is an error after one new token, not a loop.
    sessions.refuse_all.store(true, Ordering::SeqCst);
    let err = source.resolve().await.expect_err("refused");
    assert_eq!(err.status(), Some(401), "{err}");
    let reqs = requests(&server).await;
    assert_eq!(count(&reqs, "PUT", TOKEN_PATH), 3, "{reqs:?}");
}

/// Shares one responder between the mock and the test.
struct SharedResponder<R>(Arc<R>);

impl<R: Respond> Respond for SharedResponder<R> {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0.respond(request)
    }
}

#[tokio::test]
async fn a_replaced_instance_role_is_listed_again() {
    const NEW_ROLE: &str = "gcp-aws-role-2";
    let server = MockServer::start().await;
    // The old role's credentials once, then gone (the instance profile was replaced).
    let old = creds_json("ASIAOLD", "old-secret", "old-session");
    answer(
        &server,
        "GET",
        CREDS_PATH,
        Scripted::new(ResponseTemplate::new(404))
            .first(1, ResponseTemplate::new(200).set_body_string(old)),
    )
    .await;
    answer(
        &server,
        "GET",
        ROLE_PATH,
        Scripted::new(ResponseTemplate::new(200).set_body_string(NEW_ROLE))
            .first(1, ResponseTemplate::new(200).set_body_string(ROLE)),
    )
    .await;
    answer_text(
        &server,
        "GET",
        &format!("{ROLE_PATH}/{NEW_ROLE}"),
        creds_json("ASIANEW", "new-secret", "new-session"),
    )
    .await;
    answer_text(&server, "GET", ZONE_PATH, "us-east-2b").await;
    let source = build(&server, false);

    let first = source.resolve().await.expect("first refresh");
    assert_eq!(
        first.provenance.credentials_from,
        CredentialsFrom::Metadata {
            imdsv2: false,
            role: ROLE.into()
        }
    );
    let second = source.resolve().await.expect("second refresh");
    assert_eq!(
        second.provenance.credentials_from,
        CredentialsFrom::Metadata {
            imdsv2: false,
            role: NEW_ROLE.into()
        }
    );
    let decoded = decoded_token(&source).await;
    assert_eq!(decoded.access_key_id(), "ASIANEW");
    assert_requested(
        &server,
        "GET",
        ROLE_PATH,
        2,
        "listed once, then again when the role's credentials were gone",
    )
    .await;
}

#[tokio::test]
async fn lambda_env_credentials_and_region_make_zero_metadata_requests() {
    let server = MockServer::start().await;
    let env = MapEnvironment::new()
        .with("AWS_ACCESS_KEY_ID", "ASIALAMBDA")
        .with("AWS_SECRET_ACCESS_KEY", "lambda-secret")
        .with("AWS_SESSION_TOKEN", "lambda-session")
        .with("AWS_REGION", "eu-west-1");
    let source = builder(&server, true, env).build().expect("builds");

    for _ in 0..2 {
        let decoded = decoded_token(&source).await;
        support::verify(&decoded, "lambda-secret").expect("signature verifies");
        assert_eq!(decoded.access_key_id(), "ASIALAMBDA");
        assert!(
            decoded
                .url
                .starts_with("https://sts.eu-west-1.amazonaws.com?")
        );
    }
    let resolved = source.resolve().await.expect("resolves");
    assert_eq!(
        resolved.provenance.region_from,
        RegionFrom::Environment("AWS_REGION")
    );
    assert_eq!(
        resolved.provenance.credentials_from,
        CredentialsFrom::Environment {
            session_token: true
        }
    );
    assert_untouched(&server, "metadata service was contacted").await;
}

#[tokio::test]
async fn permanent_env_keys_sign_without_a_session_token() {
    let server = MockServer::start().await;
    let env = MapEnvironment::new()
        .with("AWS_ACCESS_KEY_ID", "AKIAPERMANENT")
        .with("AWS_SECRET_ACCESS_KEY", "perm-secret")
        .with("AWS_DEFAULT_REGION", "ap-southeast-2");
    let source = builder(&server, false, env).build().expect("builds");
    let decoded = decoded_token(&source).await;
    support::verify(&decoded, "perm-secret").expect("signature verifies");
    assert_eq!(decoded.header("x-amz-security-token"), None);
    assert_eq!(
        decoded.signed_headers(),
        ["host", "x-amz-date", "x-goog-cloud-target-resource"]
    );
    assert!(
        decoded
            .url
            .starts_with("https://sts.ap-southeast-2.amazonaws.com?")
    );
    assert_untouched(&server, "no request").await;
}

#[tokio::test]
async fn env_region_wins_over_metadata_region() {
    let server = imds_server(
        true,
        "us-east-2b",
        &creds_json("ASIAX", "x-secret", "x-session"),
    )
    .await;
    let env = MapEnvironment::new()
        .with("AWS_REGION", "us-west-1")
        .with("AWS_DEFAULT_REGION", "eu-central-1");
    let source = builder(&server, true, env).build().expect("builds");
    let resolved = source.resolve().await.expect("resolves");
    assert_eq!(resolved.region, "us-west-1");
    let reqs = requests(&server).await;
    assert_eq!(count(&reqs, "GET", ZONE_PATH), 0, "{reqs:?}");
    assert_eq!(count(&reqs, "PUT", TOKEN_PATH), 1, "{reqs:?}");
    assert_eq!(count(&reqs, "GET", CREDS_PATH), 1, "{reqs:?}");

    // AWS_DEFAULT_REGION when AWS_REGION is unset or empty.
    let env = MapEnvironment::new()
        .with("AWS_REGION", "")
        .with("AWS_DEFAULT_REGION", "eu-central-1");
    let source = builder(&server, true, env).build().expect("builds");
    let resolved = source.resolve().await.expect("resolves");
    assert_eq!(resolved.region, "eu-central-1");
    assert_eq!(
        resolved.provenance.region_from,
        RegionFrom::Environment("AWS_DEFAULT_REGION")
    );

    // An explicit region wins over both.
    let source = builder(
        &server,
        true,
        MapEnvironment::new().with("AWS_REGION", "us-west-1"),
    )
    .region("sa-east-1")
    .build()
    .expect("builds");
    let resolved = source.resolve().await.expect("resolves");
    assert_eq!(resolved.region, "sa-east-1");
    assert_eq!(resolved.provenance.region_from, RegionFrom::Explicit);
}

#[tokio::test]
async fn env_credentials_without_env_region_only_fetch_the_region() {
    let server = imds_server(true, "us-west-2-lax-1a", &creds_json("ASIAX", "x", "y")).await;
    let source = builder(&server, true, env_keys()).build().expect("builds");
    let resolved = source.resolve().await.expect("resolves");
    assert_eq!(
        resolved.region, "us-west-2",
        "local zone maps to its parent region"
    );
    assert_eq!(resolved.credentials.access_key_id(), "AKIAENV");
    let reqs = requests(&server).await;
    assert_eq!(count(&reqs, "PUT", TOKEN_PATH), 1, "{reqs:?}");
    assert_eq!(count(&reqs, "GET", ZONE_PATH), 1, "{reqs:?}");
    assert_eq!(reqs.len(), 2, "{reqs:?}");

    // The region is now cached: the next refresh needs no metadata at all.
    source.resolve().await.expect("resolves");
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn region_and_role_lookups_run_concurrently() {
    let server = MockServer::start().await;
    let delay = Duration::from_millis(600);
    for (p, body) in [
        (ZONE_PATH, "us-east-2b".to_owned()),
        (ROLE_PATH, ROLE.to_owned()),
    ] {
        answer(
            &server,
            "GET",
            p,
            ResponseTemplate::new(200)
                .set_body_string(body)
                .set_delay(delay),
        )
        .await;
    }
    answer_text(&server, "GET", CREDS_PATH, creds_json("A", "s", "t")).await;
    let source = build(&server, false);
    let started = Instant::now();
    source.resolve().await.expect("resolves");
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(1100),
        "region and role took {elapsed:?}; sequential would be ≥1200 ms"
    );
}

#[tokio::test]
async fn rotated_metadata_credentials_are_picked_up_on_the_next_refresh() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(CREDS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_string(creds_json(
            "ASIAOLD",
            "old-secret",
            "old-session",
        )))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_imds(
        &server,
        false,
        "us-east-2b",
        &creds_json("ASIANEW", "new-secret", "new-session"),
    )
    .await;
    let source = build(&server, false);

    let first = decoded_token(&source).await;
    assert_eq!(first.access_key_id(), "ASIAOLD");
    support::verify(&first, "old-secret").expect("old signature verifies");
    let second = decoded_token(&source).await;
    assert_eq!(second.access_key_id(), "ASIANEW");
    assert_eq!(second.header("x-amz-security-token"), Some("new-session"));
    support::verify(&second, "new-secret").expect("new signature verifies");
}

/// An environment whose variables a test can change between refreshes.
#[derive(Debug, Default)]
struct MutableEnv(Mutex<HashMap<String, String>>);

impl MutableEnv {
    fn set(&self, k: &str, v: &str) {
        self.0.lock().expect("lock").insert(k.into(), v.into());
    }
}

impl Environment for MutableEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0.lock().expect("lock").get(name).cloned()
    }
}

#[tokio::test]
async fn rotated_env_credentials_are_reread_on_each_refresh() {
    let server = MockServer::start().await;
    let env = Arc::new(MutableEnv::default());
    env.set("AWS_REGION", "us-east-1");
    env.set("AWS_ACCESS_KEY_ID", "ASIAONE");
    env.set("AWS_SECRET_ACCESS_KEY", "one-secret");
    let source = builder(&server, true, MapEnvironment::new())
        .environment(env.clone())
        .build()
        .expect("builds");
    assert_eq!(decoded_token(&source).await.access_key_id(), "ASIAONE");
    env.set("AWS_ACCESS_KEY_ID", "ASIATWO");
    env.set("AWS_SECRET_ACCESS_KEY", "two-secret");
    let second = decoded_token(&source).await;
    assert_eq!(second.access_key_id(), "ASIATWO");
    support::verify(&second, "two-secret").expect("verifies");
    assert_untouched(&server, "no request").await;
}

#[derive(Debug)]
struct FailingProvider;

impl ProvideCredentials for FailingProvider {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::ready(Err(CredentialsError::not_loaded(
            "no web identity token file",
        )))
    }
}

#[tokio::test]
async fn a_static_credentials_provider_is_used_instead_of_env_and_metadata() {
    let server = MockServer::start().await;
    let provider =
        support::session_credentials("ASIAPROVIDER", "provider-secret", "provider-session");
    // Env credentials exist too: the provider still wins.
    let source = builder(&server, true, env_keys())
        .credentials_provider(provider)
        .region("us-east-2")
        .build()
        .expect("builds");
    let decoded = decoded_token(&source).await;
    assert_eq!(decoded.access_key_id(), "ASIAPROVIDER");
    assert_eq!(
        decoded.header("x-amz-security-token"),
        Some("provider-session")
    );
    support::verify(&decoded, "provider-secret").expect("verifies");
    let resolved = source.resolve().await.expect("resolves");
    assert_eq!(
        resolved.provenance.credentials_from,
        CredentialsFrom::Provider
    );
    assert_untouched(&server, "no metadata with a provider and a region").await;

    let failing = builder(&server, true, MapEnvironment::new())
        .credentials_provider(FailingProvider)
        .region("us-east-2")
        .build()
        .expect("builds");
    let err = failing.resolve().await.expect_err("provider fails");
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(
        err.to_string().contains("no web identity token file"),
        "{err}"
    );
}

#[tokio::test]
async fn unsigned_target_resource_mode_matches_python() {
    let server = MockServer::start().await;
    let env = MapEnvironment::new()
        .with("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .with(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )
        .with("AWS_REGION", "us-east-2");
    let source = builder(&server, false, env)
        .target_resource(wif_source_aws::TargetResource::Unsigned)
        .build()
        .expect("builds");
    let decoded = decoded_token(&source).await;
    assert!(decoded.header("authorization").is_some_and(|a| {
        a.ends_with("Signature=9e722e5b7bfa163447e2a14df118b45ebd283c5aea72019bdf921d6e7dc01a9a")
    }));
    assert_eq!(
        source.target_resource(),
        wif_source_aws::TargetResource::Unsigned
    );
}

#[tokio::test]
async fn clones_share_the_cached_region() {
    let server = imds_server(false, "us-east-2b", &creds_json("A", "s", "t")).await;
    let source = builder(&server, false, env_keys()).build().expect("builds");
    let clone = source.clone();
    let (a, b) = tokio::join!(source.resolve(), clone.resolve());
    assert_eq!(a.expect("a").region, "us-east-2");
    assert_eq!(b.expect("b").region, "us-east-2");
    assert_requested(
        &server,
        "GET",
        ZONE_PATH,
        1,
        "clones share the cached region",
    )
    .await;
}
