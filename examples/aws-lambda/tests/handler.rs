//! The Lambda handler called directly, the way the runtime calls it, against loopback fakes:
//! `wif::testing::FakeGoogle` plays Google STS and IAM Credentials, another wiremock server plays
//! Cloud Storage, and the credentials are built exactly as on Lambda — from an AWS
//! `external_account` configuration, with the execution role's `AWS_*` variables.

#![allow(clippy::panic)]

mod support;

use support::*;

#[tokio::test]
async fn warm_invocations_reuse_the_token_of_the_cold_start() {
    let google = FakeGoogle::start().await;
    let metadata = MockServer::start().await;
    let gcs = fake_gcs(&["reports/a.csv", "reports/b.csv"]).await;
    let creds = lambda_credentials_with_metadata(&google, &metadata.uri(), None, None);
    let handler = handler(creds, &gcs);

    let mut expiries = Vec::new();
    for _ in 0..4 {
        let response = invoke_ok(&handler, json!({"bucket": BUCKET, "prefix": "reports/"})).await;
        assert_eq!(response.objects, ["reports/a.csv", "reports/b.csv"]);
        assert!(!response.truncated);
        expiries.push(response.token_expires_in_s);
    }

    assert_eq!(
        google.sts_calls().await,
        1,
        "one exchange for four invocations"
    );
    assert_eq!(google.iam_calls().await, 0, "no impersonation configured");
    let requests = gcs_requests(&gcs).await;
    assert_eq!(requests.len(), 4);
    for r in &requests {
        assert_eq!(r.method.as_str(), "GET");
        assert_eq!(r.url.path(), OBJECTS_PATH);
        assert_eq!(query(r, "prefix").as_deref(), Some("reports/"));
        assert_eq!(
            bearer(r),
            Some("Bearer federated-1"),
            "the cached STS token is the bearer"
        );
        assert!(
            r.headers.get("x-goog-user-project").is_none(),
            "no quota project configured"
        );
    }
    let metadata_calls = metadata.received_requests().await.unwrap_or_default();
    assert!(
        metadata_calls.is_empty(),
        "Lambda has no metadata service: env credentials and region must suffice, got {:?}",
        metadata_calls
            .iter()
            .map(|r| r.url.path().to_owned())
            .collect::<Vec<_>>()
    );
    for e in &expiries {
        assert!(
            e.is_some_and(|s| (3000..=3600).contains(&s)),
            "{expiries:?}"
        );
    }
}

#[tokio::test]
async fn the_subject_token_is_a_signed_get_caller_identity_for_the_lambda_role() {
    let (google, _gcs, handler) = lambda_world(&[]).await;
    let response = invoke_ok(&handler, json!({"bucket": BUCKET})).await;
    assert!(response.objects.is_empty(), "{response:?}");

    let forms = sts_forms(&google).await;
    assert_eq!(forms.len(), 1);
    let get = |k: &str| {
        forms[0]
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        get("subject_token_type").as_deref(),
        Some("urn:ietf:params:aws:token-type:aws4_request")
    );
    assert_eq!(get("audience").as_deref(), Some(FAKE_AUDIENCE));
    // The form value is itself a percent-encoded JSON document: the serialized signed request.
    let subject_token = get("subject_token").unwrap_or_default();
    let decoded = percent_encoding::percent_decode_str(&subject_token)
        .decode_utf8()
        .unwrap_or_else(|e| panic!("subject token is not percent-encoded UTF-8: {e}"));
    let signed: Value = serde_json::from_str(&decoded)
        .unwrap_or_else(|e| panic!("subject token is not JSON after decoding: {e}"));
    assert_eq!(signed["method"], "POST");
    assert_eq!(signed["url"], CALLER_IDENTITY_URL);
    let headers: Vec<(String, String)> = signed["headers"]
        .as_array()
        .map(|hs| {
            hs.iter()
                .map(|h| {
                    let s = |k: &str| h[k].as_str().unwrap_or_default().to_owned();
                    (s("key"), s("value"))
                })
                .collect()
        })
        .unwrap_or_default();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let authorization = header("Authorization").unwrap_or_default();
    assert!(
        authorization.starts_with(&format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/")),
        "{authorization}"
    );
    assert!(
        authorization.contains("/us-east-1/sts/aws4_request"),
        "{authorization}"
    );
    assert!(
        authorization.contains("x-amz-security-token"),
        "signed: {authorization}"
    );
    assert!(
        !authorization.contains(SECRET_ACCESS_KEY),
        "the secret key is never sent"
    );
    assert_eq!(header("x-amz-security-token"), Some(SESSION_TOKEN));
    assert_eq!(header("host"), Some("sts.us-east-1.amazonaws.com"));
    assert!(
        header("x-amz-date").is_some_and(|d| d.len() == 16 && d.ends_with('Z')),
        "{headers:?}"
    );
    assert_eq!(header("x-goog-cloud-target-resource"), Some(FAKE_AUDIENCE));
}

#[tokio::test]
async fn impersonated_tokens_and_the_quota_project_reach_cloud_storage() {
    let sa = "lister@my-project.iam.gserviceaccount.com";
    let google = FakeGoogle::start().await;
    let gcs = fake_gcs(&["x"]).await;
    let handler = handler(
        lambda_credentials(&google, Some(sa), Some("billing-project")),
        &gcs,
    );

    for _ in 0..3 {
        invoke_ok(&handler, json!({"bucket": BUCKET})).await;
    }

    assert_eq!(google.sts_calls().await, 1);
    assert_eq!(
        google.iam_calls().await,
        1,
        "one impersonation for three invocations"
    );
    for r in gcs_requests(&gcs).await {
        assert_eq!(bearer(&r), Some("Bearer impersonated-1"));
        assert_eq!(
            r.headers
                .get("x-goog-user-project")
                .and_then(|v| v.to_str().ok()),
            Some("billing-project")
        );
    }
}

#[tokio::test]
async fn concurrent_cold_invocations_share_one_exchange() {
    let (google, gcs, handler) = lambda_world(&["x"]).await;
    let calls = (0..8).map(|_| handler.invoke(event(json!({"bucket": BUCKET}))));
    for result in futures::future::join_all(calls).await {
        assert!(result.is_ok(), "{result:?}");
    }
    assert_eq!(google.sts_calls().await, 1, "single-flight refresh");
    assert_eq!(gcs_requests(&gcs).await.len(), 8);
}

#[tokio::test]
async fn a_401_re_exchanges_once_and_retries() {
    let google = FakeGoogle::start().await;
    // Google revoked the first token early; the second one works.
    let gcs = gcs_preferring(
        Mock::given(method("GET"))
            .and(path(OBJECTS_PATH))
            .and(header("authorization", "Bearer federated-1"))
            .respond_with(unauthenticated()),
        objects_page(&["a"], None),
    )
    .await;
    let handler = handler(lambda_credentials(&google, None, None), &gcs);

    let response = invoke_ok(&handler, json!({"bucket": BUCKET})).await;
    assert_eq!(response.objects, ["a"]);
    assert_eq!(
        google.sts_calls().await,
        2,
        "the refused token was replaced"
    );
    let bearers: Vec<_> = gcs_requests(&gcs)
        .await
        .iter()
        .map(|r| bearer(r).map(str::to_owned))
        .collect();
    assert_eq!(
        bearers,
        [
            Some("Bearer federated-1".to_owned()),
            Some("Bearer federated-2".to_owned())
        ]
    );

    // The new token is cached for the next invocation.
    invoke_ok(&handler, json!({"bucket": BUCKET})).await;
    assert_eq!(google.sts_calls().await, 2);
}

#[tokio::test]
async fn a_401_with_impersonation_re_impersonates_without_a_new_exchange() {
    let sa = "lister@my-project.iam.gserviceaccount.com";
    let google = FakeGoogle::start().await;
    let gcs = gcs_preferring(
        Mock::given(method("GET"))
            .and(header("authorization", "Bearer impersonated-1"))
            .respond_with(unauthenticated()),
        objects_page(&["a"], None),
    )
    .await;
    let handler = handler(lambda_credentials(&google, Some(sa), None), &gcs);

    invoke_ok(&handler, json!({"bucket": BUCKET})).await;
    assert_eq!(google.iam_calls().await, 2, "one re-impersonation");
    assert_eq!(
        google.sts_calls().await,
        1,
        "the federated token stays cached"
    );
    let last = gcs_requests(&gcs).await.pop();
    assert_eq!(
        last.as_ref().and_then(bearer),
        Some("Bearer impersonated-2")
    );
}

#[tokio::test]
async fn transient_storage_errors_are_retried_with_the_same_token() {
    let google = FakeGoogle::start().await;
    let gcs = gcs_preferring(
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(1),
        objects_page(&["a"], None),
    )
    .await;
    let handler = handler(lambda_credentials(&google, None, None), &gcs);

    let response = invoke_ok(&handler, json!({"bucket": BUCKET})).await;
    assert_eq!(response.objects, ["a"]);
    let requests = gcs_requests(&gcs).await;
    assert_eq!(requests.len(), 2, "one retry after 503");
    assert!(
        requests
            .iter()
            .all(|r| bearer(r) == Some("Bearer federated-1"))
    );
    assert_eq!(
        google.sts_calls().await,
        1,
        "a 503 is not a reason for a new token"
    );
}

#[tokio::test]
async fn pages_are_followed_up_to_the_limit() {
    let google = FakeGoogle::start().await;
    let gcs = gcs_preferring(
        Mock::given(method("GET"))
            .and(path(OBJECTS_PATH))
            .and(query_param("pageToken", "page/2+"))
            .respond_with(objects_page(&["c", "d"], Some("page-3"))),
        objects_page(&["a", "b"], Some("page/2+")),
    )
    .await;
    let handler = handler(lambda_credentials(&google, None, None), &gcs);

    let response = invoke_ok(
        &handler,
        json!({"bucket": BUCKET, "prefix": "", "limit": 3}),
    )
    .await;
    assert_eq!(response.objects, ["a", "b", "c"]);
    assert!(response.truncated);
    let requests = gcs_requests(&gcs).await;
    assert_eq!(requests.len(), 2, "stops once the limit is reached");
    assert_eq!(query(&requests[0], "maxResults").as_deref(), Some("3"));
    assert_eq!(
        query(&requests[0], "prefix"),
        None,
        "an empty prefix is not sent"
    );
    assert_eq!(query(&requests[1], "maxResults").as_deref(), Some("1"));
    assert_eq!(query(&requests[1], "pageToken").as_deref(), Some("page/2+"));
}

#[tokio::test]
async fn prefixes_are_url_encoded() {
    let (_google, gcs, handler) = lambda_world(&[]).await;
    invoke_ok(
        &handler,
        json!({"bucket": BUCKET, "prefix": "a b/c&d=e?#ü"}),
    )
    .await;
    let requests = gcs_requests(&gcs).await;
    assert_eq!(requests[0].url.path(), OBJECTS_PATH);
    assert_eq!(
        query(&requests[0], "prefix").as_deref(),
        Some("a b/c&d=e?#ü")
    );
}

#[tokio::test]
async fn from_environment_builds_the_container_handler_from_adc() {
    let google = FakeGoogle::start().await;
    let gcs = fake_gcs(&["from-adc"]).await;
    let (_dir, env) = adc_environment(&google);
    let env = env.with("GCS_BASE_URL", gcs.uri());

    let handler = Handler::from_environment(Arc::new(env))
        .unwrap_or_else(|e| panic!("handler from the environment: {e}"));
    assert_eq!(handler.credentials().info().source_kind, "aws");
    let response = invoke_ok(&handler, json!({"bucket": BUCKET})).await;
    assert_eq!(response.objects, ["from-adc"]);
    let token = handler.credentials().token().await;
    assert!(token.is_ok(), "{token:?}");
    assert_eq!(google.sts_calls().await, 1);
}

#[tokio::test]
async fn from_environment_follows_wif_endpoint_base_url_to_one_fake() {
    // The configuration names Google's hosts, as gcloud writes it; one variable moves STS and
    // Cloud Storage to the fake (GCS_BASE_URL unset).
    let google = FakeGoogle::start().await;
    Mock::given(method("GET"))
        .and(path(OBJECTS_PATH))
        .respond_with(objects_page(&["moved"], None))
        .mount(google.server())
        .await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let config = aws_config(&google, NO_METADATA, None, None)
        .replace(&google.token_url(), "https://sts.googleapis.com/v1/token");
    let config_path = dir.path().join("wif.json");
    std::fs::write(&config_path, config).unwrap_or_else(|e| panic!("write: {e}"));
    let env = lambda_environment()
        .with(
            "GOOGLE_APPLICATION_CREDENTIALS",
            config_path.to_string_lossy(),
        )
        .with(wif::ENDPOINT_BASE_URL_VAR, google.base_url());

    let handler = Handler::from_environment(Arc::new(env))
        .unwrap_or_else(|e| panic!("handler from the environment: {e}"));
    assert_eq!(
        handler.gcs_base().as_str(),
        format!("{}/", google.base_url())
    );
    let response = invoke_ok(&handler, json!({"bucket": BUCKET})).await;
    assert_eq!(response.objects, ["moved"]);
    assert_eq!(google.sts_calls().await, 1);
}
