//! The real `wif::Credentials` with AWS configurations against the emulator: IMDSv2 and
//! environment credentials buy a federated token; each misconfiguration produces the wif error
//! (step, server code, hint) a user would see against Google; and `/aws/sts` answers a
//! reqwest-signed `GetCallerIdentity` with the caller's ARN.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::time::SystemTime;

use secrecy::ExposeSecret;
use serde_json::json;
use support::{authorize, http, long_session_names, start_with as start, status_and_text};
use wif::{Credentials, Error, MapEnvironment, Step};
use wif_emulator::{Endpoint, RunningEmulator, TokenKind};
use wif_source_aws::{
    AwsCredentials, DEFAULT_REGIONAL_CRED_VERIFICATION_URL, TargetResource,
    sign_get_caller_identity,
};

/// What `gcloud iam workload-identity-pools create-cred-config --aws [--enable-imdsv2]` writes,
/// with the metadata and token URLs at the emulator: the emulator's own configuration, naming
/// `audience` and without impersonation.
fn aws_config(emulator: &RunningEmulator, audience: &str, imdsv2: bool) -> String {
    let mut config = wif_emulator::configs::aws_config(emulator, imdsv2);
    config["audience"] = json!(audience);
    let fields = config.as_object_mut().expect("a JSON object");
    fields.remove("service_account_impersonation_url");
    config.to_string()
}

/// The Lambda environment: the role's temporary credentials and the region in env vars.
fn lambda_env(emulator: &RunningEmulator, secret: &str) -> MapEnvironment {
    let aws = &emulator.config().aws;
    MapEnvironment::new()
        .with("AWS_ACCESS_KEY_ID", aws.access_key_id.clone())
        .with("AWS_SECRET_ACCESS_KEY", secret)
        .with("AWS_SESSION_TOKEN", aws.session_token.clone())
        .with("AWS_REGION", aws.region.clone())
}

fn credentials(config: &str, env: MapEnvironment) -> Credentials {
    Credentials::builder()
        .environment(Arc::new(env))
        .config_json(config)
        .unwrap()
        .build()
        .unwrap()
}

/// Asserts a federated token the emulator issued to the assumed-role session.
fn assert_federated(emulator: &RunningEmulator, token: &str) {
    let issued = authorize(emulator, token, TokenKind::Federated);
    let config = emulator.config();
    assert_eq!(
        issued.principal,
        config.principal_for_subject(&config.aws.assumed_role_arn())
    );
}

async fn exchange_error(config: &str, env: MapEnvironment) -> Error {
    credentials(config, env).token().await.unwrap_err()
}

/// The error a Lambda function with the role's own credentials gets for a gcloud AWS config
/// naming `audience`.
async fn lambda_exchange_error(emulator: &RunningEmulator, audience: &str) -> Error {
    let config = aws_config(emulator, audience, false);
    let secret = emulator.config().aws.secret_access_key.clone();
    exchange_error(&config, lambda_env(emulator, &secret)).await
}

fn server_code(err: &Error) -> String {
    err.server_error()
        .and_then(|s| s.code.clone())
        .unwrap_or_default()
}

fn server_message(err: &Error) -> String {
    err.server_error()
        .and_then(|s| s.message.clone())
        .unwrap_or_default()
}

/// Asserts that Google STS refused with `code` and `message`, and that wif's hint mentions `hint`.
fn assert_server_refusal(err: &Error, code: &str, message: &str, hint: &str) {
    assert_eq!(server_code(err), code, "{err}");
    assert_eq!(server_message(err), message, "{err}");
    let our_hint = err.hint().unwrap_or_default();
    assert!(our_hint.contains(hint), "{err}");
}

#[tokio::test]
async fn an_ec2_instance_with_imdsv2_gets_a_federated_token() {
    let emulator = start(|c| c.imdsv2_required = true).await;
    let config = aws_config(&emulator, &emulator.config().aws_audience(), true);
    let creds = credentials(&config, MapEnvironment::new());
    let token = creds.token().await.unwrap();
    assert_federated(&emulator, token.secret().expose_secret());
    // Session token, region, role name, role credentials: every lookup went to the metadata
    // service, with the session token (v2 is required, so a tokenless GET would have failed).
    assert!(
        emulator.requests(Endpoint::Imds) >= 4,
        "{}",
        emulator.requests(Endpoint::Imds)
    );
    assert_eq!(emulator.requests(Endpoint::GoogleSts), 1);
    assert_eq!(
        emulator.requests(Endpoint::AwsSts),
        0,
        "Google STS verifies the signature itself"
    );
}

#[tokio::test]
async fn lambda_env_credentials_get_a_token_without_touching_metadata() {
    let emulator = start(|_| {}).await;
    let config = aws_config(&emulator, &emulator.config().aws_audience(), true);
    let secret = emulator.config().aws.secret_access_key.clone();
    let creds = credentials(&config, lambda_env(&emulator, &secret));
    let token = creds.token().await.unwrap();
    assert_federated(&emulator, token.secret().expose_secret());
    assert_eq!(emulator.requests(Endpoint::Imds), 0);
    assert_eq!(emulator.requests(Endpoint::GoogleSts), 1);
}

#[tokio::test]
async fn a_wrong_secret_is_an_invalid_grant_naming_aws_s_signature_check() {
    let emulator = start(|_| {}).await;
    let config = aws_config(&emulator, &emulator.config().aws_audience(), false);
    let err = exchange_error(&config, lambda_env(&emulator, "not-the-role-secret")).await;
    assert_eq!(err.step(), Step::Exchange, "{err}");
    assert_eq!(err.status(), Some(400));
    assert_eq!(server_code(&err), "invalid_grant");
    assert!(
        server_message(&err).contains("SignatureDoesNotMatch"),
        "{err}"
    );
    assert!(
        err.hint()
            .unwrap()
            .contains("AWS rejected the signed GetCallerIdentity"),
        "{err}"
    );
    assert!(!format!("{err} {err:?}").contains("not-the-role-secret"));
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn another_account_in_the_condition_is_unauthorized_client_with_our_hint() {
    let emulator = start(|c| c.condition.account = Some("999999999999".into())).await;
    let err = lambda_exchange_error(&emulator, &emulator.config().aws_audience()).await;
    assert_eq!(err.step(), Step::Exchange);
    assert_server_refusal(
        &err,
        "unauthorized_client",
        "The given credential is rejected by the attribute condition.",
        "attribute condition",
    );
}

#[tokio::test]
async fn a_long_lambda_session_arn_hits_the_127_byte_limit() {
    let emulator = start(long_session_names).await;
    let err = lambda_exchange_error(&emulator, &emulator.config().aws_audience()).await;
    assert_server_refusal(
        &err,
        "invalid_request",
        "The size of mapped attribute google.subject exceeds the 127 bytes limit. Either modify your attribute mapping or the incoming assertion to produce a mapped attribute that is less than 127 bytes.",
        "127 bytes",
    );
}

#[tokio::test]
async fn an_unknown_provider_is_invalid_target() {
    let emulator = start(|_| {}).await;
    let audience = emulator.config().audience("not-a-provider");
    let err = lambda_exchange_error(&emulator, &audience).await;
    assert_eq!(server_code(&err), "invalid_target");
    assert!(err.hint().unwrap().contains(&audience), "{err}");
}

#[tokio::test]
async fn a_v1_config_on_an_imdsv2_only_instance_gets_the_imdsv2_hint() {
    let emulator = start(|c| c.imdsv2_required = true).await;
    let config = aws_config(&emulator, &emulator.config().aws_audience(), false);
    let err = exchange_error(&config, MapEnvironment::new()).await;
    assert_eq!(err.step(), Step::Source, "{err}");
    assert_eq!(err.status(), Some(401));
    assert!(err.hint().unwrap().contains("IMDSv2 is required"), "{err}");
    assert_eq!(emulator.requests(Endpoint::GoogleSts), 0);
}

#[tokio::test]
async fn imds_speaks_ec2s_protocol() {
    let emulator = start(|c| c.imdsv2_required = true).await;
    let base = emulator.base_url();
    let http = http();
    let put = http
        .put(format!("{base}/latest/api/token"))
        .header("X-aws-ec2-metadata-token-ttl-seconds", "300")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(put.headers()["x-aws-ec2-metadata-token-ttl-seconds"], "300");
    let session = put.text().await.unwrap();
    let get = |path: &str, token: Option<&str>| {
        let mut request = http.get(format!("{base}/latest/meta-data/{path}"));
        if let Some(t) = token {
            request = request.header("X-aws-ec2-metadata-token", t);
        }
        async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let aws = &emulator.config().aws;
    assert_eq!(
        get("placement/availability-zone", Some(&session)).await,
        (200, format!("{}a", aws.region))
    );
    assert_eq!(
        get("placement/region", Some(&session)).await,
        (200, aws.region.clone())
    );
    assert_eq!(
        get("iam/security-credentials/", Some(&session)).await,
        (200, aws.role.clone())
    );
    let (status, body) = get(
        &format!("iam/security-credentials/{}", aws.role),
        Some(&session),
    )
    .await;
    assert_eq!(status, 200);
    let creds: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(creds["Code"], "Success");
    assert_eq!(creds["Type"], "AWS-HMAC");
    assert_eq!(creds["AccessKeyId"], aws.access_key_id.as_str());
    assert_eq!(creds["Token"], aws.session_token.as_str());
    assert!(creds["Expiration"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        get("iam/security-credentials/other-role", Some(&session))
            .await
            .0,
        404
    );
    // v2 required: tokenless and forged tokens are 401; a TTL-less PUT is 400.
    assert_eq!(get("placement/region", None).await.0, 401);
    assert_eq!(get("placement/region", Some("forged")).await.0, 401);
    let put = http
        .put(format!("{base}/latest/api/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 400);
}

/// Signs `GetCallerIdentity` with the client code, for the AWS STS host.
fn sign(emulator: &RunningEmulator, secret: &str) -> wif_source_aws::SignedRequest {
    let aws = &emulator.config().aws;
    let creds = AwsCredentials::new(
        aws.access_key_id.clone(),
        secret,
        Some(aws.session_token.clone()),
    );
    sign_get_caller_identity(
        &creds,
        &aws.region,
        DEFAULT_REGIONAL_CRED_VERIFICATION_URL,
        &emulator.config().aws_audience(),
        SystemTime::now(),
        TargetResource::Signed,
    )
    .unwrap()
}

/// Sends a signed request to `/aws/sts`, naming the signed host in `x-wif-signed-host` or, with
/// `host_header`, as `Host` itself.
async fn call_aws_sts(
    emulator: &RunningEmulator,
    signed: &wif_source_aws::SignedRequest,
    host_header: bool,
) -> (u16, String) {
    let mut request = http()
        .post(format!(
            "{}/aws/sts?Action=GetCallerIdentity&Version=2011-06-15",
            emulator.base_url()
        ))
        .header("authorization", signed.authorization().expose_secret())
        .header("x-amz-date", signed.amz_date())
        .header("x-amz-security-token", &emulator.config().aws.session_token)
        .header("x-goog-cloud-target-resource", signed.target_resource());
    request = if host_header {
        request.header("host", signed.host())
    } else {
        request.header("x-wif-signed-host", signed.host())
    };
    status_and_text(request).await
}

#[tokio::test]
async fn aws_sts_answers_the_callers_arn_for_a_validly_signed_request() {
    let emulator = start(|_| {}).await;
    let secret = emulator.config().aws.secret_access_key.clone();
    let signed = sign(&emulator, &secret);
    let arn = emulator.config().aws.assumed_role_arn();
    for host_header in [false, true] {
        let (status, xml) = call_aws_sts(&emulator, &signed, host_header).await;
        assert_eq!(status, 200, "{xml}");
        assert!(
            xml.starts_with(
                "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
            ),
            "{xml}"
        );
        assert!(xml.contains(&format!("<Arn>{arn}</Arn>")), "{xml}");
        assert!(xml.contains("<Account>123456789012</Account>"), "{xml}");
        assert!(xml.contains(":wif-demo-function</UserId>"), "{xml}");
    }
    assert_eq!(emulator.requests(Endpoint::AwsSts), 2);
}

#[tokio::test]
async fn aws_sts_answers_aws_error_xml() {
    let emulator = start(|_| {}).await;
    let (status, xml) = call_aws_sts(&emulator, &sign(&emulator, "wrong"), false).await;
    assert_eq!(status, 403);
    assert!(
        xml.starts_with("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"),
        "{xml}"
    );
    assert!(xml.contains("<Type>Sender</Type>"), "{xml}");
    assert!(xml.contains("<Code>SignatureDoesNotMatch</Code>"), "{xml}");
    assert!(xml.contains("<RequestId>"), "{xml}");

    let base = emulator.base_url();
    let unsigned = http()
        .post(format!("{base}/aws/sts"))
        .form(&[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")]);
    let another_action = http().post(format!(
        "{base}/aws/sts?Action=AssumeRole&Version=2011-06-15"
    ));
    for (case, request, want_status, want_code) in [
        ("unsigned", unsigned, 403, "MissingAuthenticationToken"),
        ("another action", another_action, 400, "InvalidAction"),
    ] {
        let (status, xml) = status_and_text(request).await;
        assert_eq!(status, want_status, "{case}: {xml}");
        let code = format!("<Code>{want_code}</Code>");
        assert!(xml.contains(&code), "{case}: {xml}");
    }
}
