//! AWS outbound identity federation against the emulator: a SigV4-signed `GetWebIdentityToken`
//! at `/aws/sts` buys a JWT with AWS's claims (or AWS's errors), and Google STS exchanges that
//! JWT for the AWS JWT provider, up to an impersonated service-account token.
//!
//! The requests are signed by a small SigV4 signer written here, independent of both the
//! emulator's verifier and the client crates.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::{
    CLOUD_PLATFORM, generate_access_token, get_json, http, send, start_default, start_with,
    status_and_json, status_and_text, tokeninfo, unix_now, xml_element,
};
use time::OffsetDateTime;
use time::macros::format_description;
use wif_emulator::config::DEFAULT_SERVICE_ACCOUNT;
use wif_emulator::{Endpoint, RunningEmulator};

const STS_HOST: &str = "sts.us-east-1.amazonaws.com";
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Who signs: an access key, its secret, its session token.
struct Signer {
    access_key_id: String,
    secret: String,
    session_token: String,
}

impl Signer {
    fn role(emulator: &RunningEmulator) -> Self {
        let aws = &emulator.config().aws;
        Signer {
            access_key_id: aws.access_key_id.clone(),
            secret: aws.secret_access_key.clone(),
            session_token: aws.session_token.clone(),
        }
    }

    /// The headers of `POST https://sts.us-east-1.amazonaws.com/` with `body`, signed now.
    fn sign(&self, body: &str) -> Vec<(&'static str, String)> {
        let amz_date = OffsetDateTime::from(SystemTime::now())
            .format(format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .unwrap();
        let date = &amz_date[..8];
        let signed_headers = "content-type;host;x-amz-date;x-amz-security-token";
        let canonical = format!(
            "POST\n/\n\ncontent-type:{FORM}\nhost:{STS_HOST}\nx-amz-date:{amz_date}\nx-amz-security-token:{}\n\n{signed_headers}\n{}",
            self.session_token,
            hex(&Sha256::digest(body.as_bytes()))
        );
        let scope = format!("{date}/us-east-1/sts/aws4_request");
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        let mut key = format!("AWS4{}", self.secret).into_bytes();
        for part in [date, "us-east-1", "sts", "aws4_request"] {
            key = hmac(&key, part);
        }
        let signature = hex(&hmac(&key, &to_sign));
        vec![
            (
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
                    self.access_key_id
                ),
            ),
            ("x-amz-date", amz_date),
            ("x-amz-security-token", self.session_token.clone()),
            ("content-type", FORM.to_owned()),
            ("x-wif-signed-host", STS_HOST.to_owned()),
        ]
    }
}

/// `Action=GetWebIdentityToken&Version=2011-06-15` followed by `params`, form-encoded.
fn body(params: &[(&str, &str)]) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("Action", "GetWebIdentityToken");
    form.append_pair("Version", "2011-06-15");
    for (k, v) in params {
        form.append_pair(k, v);
    }
    form.finish()
}

/// POSTs `sent` to `/aws/sts` with the headers of a signature over `signed`.
async fn post(
    emulator: &RunningEmulator,
    signer: &Signer,
    signed: &str,
    sent: &str,
) -> (u16, String) {
    let mut request = http().post(format!("{}/aws/sts", emulator.base_url()));
    for (name, value) in signer.sign(signed) {
        request = request.header(name, value);
    }
    status_and_text(request.body(sent.to_owned())).await
}

/// A signed `GetWebIdentityToken` with `params`, as the emulated role.
async fn get_token(emulator: &RunningEmulator, params: &[(&str, &str)]) -> (u16, String) {
    let body = body(params);
    post(emulator, &Signer::role(emulator), &body, &body).await
}

fn assert_aws_error(status: u16, xml: &str, want_status: u16, code: &str) {
    assert_eq!(status, want_status, "{xml}");
    assert!(
        xml.starts_with("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"),
        "{xml}"
    );
    assert_eq!(xml_element(xml, "Code"), code, "{xml}");
    assert_eq!(xml_element(xml, "Type"), "Sender", "{xml}");
}

fn decode_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// A token for the AWS JWT provider's default allowed audience, from `/aws/sts`.
async fn provider_token(emulator: &RunningEmulator) -> String {
    let aud = emulator.config().aws_jwt_allowed_audience();
    let (status, xml) = get_token(
        emulator,
        &[("Audience.member.1", &aud), ("SigningAlgorithm", "RS256")],
    )
    .await;
    assert_eq!(status, 200, "{xml}");
    xml_element(&xml, "WebIdentityToken").to_owned()
}

/// The `error_description` of an OAuth error body (`""` when there is none).
fn description(body: &Value) -> &str {
    body["error_description"].as_str().unwrap_or("")
}

/// Google STS's answer to exchanging the JWT `token` for `audience`.
async fn exchange(emulator: &RunningEmulator, token: &str, audience: &str) -> (u16, Value) {
    let request = http()
        .post(format!("{}/v1/token", emulator.base_url()))
        .form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            (
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
            ("subject_token", token),
            ("audience", audience),
            ("scope", CLOUD_PLATFORM),
        ]);
    status_and_json(send(request).await).await
}

#[tokio::test]
async fn a_signed_request_gets_a_jwt_with_awss_claims() {
    let emulator = start_default().await;
    let config = emulator.config();
    let before = unix_now();
    let (status, xml) = get_token(
        &emulator,
        &[
            ("Audience.member.1", "https://one.example"),
            ("Audience.member.2", "https://two.example"),
            ("SigningAlgorithm", "ES384"),
            ("DurationSeconds", "900"),
            ("Tags.member.1.Key", "job-id"),
            ("Tags.member.1.Value", "job-42"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{xml}");
    assert!(
        xml.starts_with("<GetWebIdentityTokenResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <GetWebIdentityTokenResult>\n    <WebIdentityToken>"),
        "{xml}"
    );
    assert_eq!(xml_element(&xml, "RequestId").len(), 36);
    let token = xml_element(&xml, "WebIdentityToken");
    let claims = decode_claims(token);
    assert_eq!(claims["iss"], config.aws_jwt_issuer().as_str());
    assert_eq!(
        claims["iss"],
        "https://123456789012.tokens.sts.global.api.aws.invalid"
    );
    assert_eq!(
        claims["aud"],
        json!(["https://one.example", "https://two.example"])
    );
    assert_eq!(
        claims["sub"],
        "arn:aws:iam::123456789012:role/wif-demo-lambda-role"
    );
    let iat = claims["iat"].as_u64().unwrap();
    assert!((before..=unix_now()).contains(&iat));
    assert_eq!(claims["exp"].as_u64().unwrap(), iat + 900);
    assert!(!claims["jti"].as_str().unwrap().is_empty());
    assert_eq!(
        claims["https://sts.amazonaws.com/"],
        json!({
            "aws_account": "123456789012",
            "principal_id": config.aws.assumed_role_arn(),
            "source_region": "us-east-1",
            "request_tags": {"job-id": "job-42"},
        })
    );
    let expiration = OffsetDateTime::from_unix_timestamp(iat as i64 + 900)
        .unwrap()
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap();
    assert_eq!(xml_element(&xml, "Expiration"), expiration);
    assert_eq!(emulator.requests(Endpoint::AwsSts), 1);

    // One audience is a string; the default duration is 300 s.
    let (status, xml) = get_token(
        &emulator,
        &[("Audience.member.1", "solo"), ("SigningAlgorithm", "RS256")],
    )
    .await;
    assert_eq!(status, 200, "{xml}");
    let claims = decode_claims(xml_element(&xml, "WebIdentityToken"));
    assert_eq!(claims["aud"], "solo");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        300
    );
    assert!(
        claims["https://sts.amazonaws.com/"]
            .get("request_tags")
            .is_none()
    );
}

#[tokio::test]
async fn bad_signatures_and_unknown_keys_are_refused_as_for_get_caller_identity() {
    let emulator = start_default().await;
    let good = body(&[("Audience.member.1", "a"), ("SigningAlgorithm", "RS256")]);

    let wrong_secret = Signer {
        secret: "wrong".into(),
        ..Signer::role(&emulator)
    };
    let (status, xml) = post(&emulator, &wrong_secret, &good, &good).await;
    assert_aws_error(status, &xml, 403, "SignatureDoesNotMatch");

    let unknown_key = Signer {
        access_key_id: "ASIAUNKNOWN000000000".into(),
        ..Signer::role(&emulator)
    };
    let (status, xml) = post(&emulator, &unknown_key, &good, &good).await;
    assert_aws_error(status, &xml, 403, "InvalidClientTokenId");

    // The body is signed: another audience than the signed one is a mismatch.
    let tampered = body(&[("Audience.member.1", "b"), ("SigningAlgorithm", "RS256")]);
    let (status, xml) = post(&emulator, &Signer::role(&emulator), &good, &tampered).await;
    assert_aws_error(status, &xml, 403, "SignatureDoesNotMatch");

    let unsigned = http()
        .post(format!("{}/aws/sts", emulator.base_url()))
        .header("content-type", FORM)
        .body(good);
    let (status, xml) = status_and_text(unsigned).await;
    assert_aws_error(status, &xml, 403, "MissingAuthenticationToken");
}

#[tokio::test]
async fn invalid_parameters_are_validation_errors() {
    let emulator = start_default().await;
    for (params, expected) in [
        (
            vec![("SigningAlgorithm", "RS256")],
            "Value null at 'audience'",
        ),
        (
            vec![("Audience.member.1", "a"), ("SigningAlgorithm", "HS256")],
            "Value 'HS256' at 'signingAlgorithm'",
        ),
        (
            vec![
                ("Audience.member.1", "a"),
                ("SigningAlgorithm", "RS256"),
                ("DurationSeconds", "30"),
            ],
            "Value '30' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60",
        ),
        (
            vec![
                ("Audience.member.1", "a"),
                ("SigningAlgorithm", "RS256"),
                ("DurationSeconds", "7200"),
            ],
            "Member must have value less than or equal to 3600",
        ),
    ] {
        let (status, xml) = get_token(&emulator, &params).await;
        assert_aws_error(status, &xml, 400, "ValidationError");
        let message = xml_element(&xml, "Message").replace("&apos;", "'");
        assert!(message.contains(expected), "{expected} not in {xml}");
    }
}

#[tokio::test]
async fn disabled_outbound_federation_is_a_403() {
    let params = [("Audience.member.1", "a"), ("SigningAlgorithm", "RS256")];
    let code = "OutboundWebIdentityFederationDisabledException";

    let emulator = start_with(|c| c.outbound_web_identity_federation = false).await;
    let (status, xml) = get_token(&emulator, &params).await;
    assert_aws_error(status, &xml, 403, code);
    emulator.set_outbound_web_identity_federation(true);
    assert_eq!(get_token(&emulator, &params).await.0, 200);

    // Through the control API.
    let control = format!("{}/_emulator/aws/outbound-federation", emulator.base_url());
    let set = send(http().post(&control).json(&json!({"enabled": false}))).await;
    assert_eq!(set.status(), 204);
    assert_eq!(get_json(&control).await, json!({"enabled": false}));
    let (status, xml) = get_token(&emulator, &params).await;
    assert_aws_error(status, &xml, 403, code);
    let typo = send(http().post(&control).json(&json!({"enable": true}))).await;
    assert!(typo.status().is_client_error());
}

#[tokio::test]
async fn a_role_without_the_permission_is_access_denied() {
    let emulator = start_with(|c| c.web_identity_token_allowed = false).await;
    let (status, xml) = get_token(
        &emulator,
        &[("Audience.member.1", "a"), ("SigningAlgorithm", "RS256")],
    )
    .await;
    assert_aws_error(status, &xml, 403, "AccessDenied");
    assert!(
        xml.contains("is not authorized to perform: sts:GetWebIdentityToken"),
        "{xml}"
    );
}

#[tokio::test]
async fn a_token_may_not_outlive_the_session_credentials() {
    let emulator = start_with(|c| {
        c.aws.session_expires_at = Some(SystemTime::now() + Duration::from_secs(600));
    })
    .await;
    let params = |duration| {
        vec![
            ("Audience.member.1", "a"),
            ("SigningAlgorithm", "RS256"),
            ("DurationSeconds", duration),
        ]
    };
    let (status, xml) = get_token(&emulator, &params("3600")).await;
    assert_aws_error(status, &xml, 400, "SessionDurationEscalationException");
    assert_eq!(get_token(&emulator, &params("300")).await.0, 200);

    // Credentials already expired: AWS's ExpiredToken, before anything else.
    let emulator = start_with(|c| {
        c.aws.session_expires_at = Some(SystemTime::now() - Duration::from_secs(1));
    })
    .await;
    let (status, xml) = get_token(&emulator, &params("300")).await;
    assert_aws_error(status, &xml, 400, "ExpiredToken");
}

#[tokio::test]
async fn google_sts_exchanges_the_jwt_for_the_aws_jwt_provider_only() {
    let emulator = start_default().await;
    let config = emulator.config();
    let token = provider_token(&emulator).await;

    let (status, body) = exchange(&emulator, &token, &config.aws_jwt_audience()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    let info = tokeninfo(&emulator, body["access_token"].as_str().unwrap()).await;
    assert_eq!(info["kind"], "federated");
    assert_eq!(
        info["principal"],
        config
            .principal_for_subject("arn:aws:iam::123456789012:role/wif-demo-lambda-role")
            .as_str()
    );

    // Presented to the OIDC provider: another issuer.
    let (status, body) = exchange(&emulator, &token, &config.oidc_audience()).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        body["error_description"],
        format!(
            "The issuer in ID Token {} does not match the expected ISSUER https://oidc.wif-emulator.invalid.",
            config.aws_jwt_issuer()
        )
    );

    // Minted for another audience.
    let other =
        emulator.mint_aws_web_identity_token(&["https://example.com"], Duration::from_secs(60));
    let (status, body) = exchange(&emulator, &other, &config.aws_jwt_audience()).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        body["error_description"],
        "The audience in ID Token does not match the expected audience."
    );

    // Expired.
    let expired =
        emulator.mint_aws_web_identity_token(&[&config.aws_jwt_allowed_audience()], Duration::ZERO);
    let (status, body) = exchange(&emulator, &expired, &config.aws_jwt_audience()).await;
    assert_eq!(status, 400);
    assert!(
        description(&body).ends_with("is stale to sign-in."),
        "{body}"
    );

    // The emulator's own OIDC token is not the AWS account's.
    let oidc = emulator.mint_oidc_token("alice");
    let (status, body) = exchange(&emulator, &oidc, &config.aws_jwt_audience()).await;
    assert_eq!(status, 400);
    let oidc_issuer = "The issuer in ID Token https://oidc.wif-emulator.invalid";
    assert!(description(&body).starts_with(oidc_issuer), "{body}");
}

#[tokio::test]
async fn the_whole_chain_ends_with_an_impersonated_service_account_token() {
    let emulator = start_default().await;
    let token = provider_token(&emulator).await;
    let (status, body) = exchange(&emulator, &token, &emulator.config().aws_jwt_audience()).await;
    assert_eq!(status, 200, "{body}");
    let federated = body["access_token"].as_str().unwrap();

    let body = json!({"scope": [CLOUD_PLATFORM], "lifetime": "600s"});
    let request = generate_access_token(&emulator, DEFAULT_SERVICE_ACCOUNT, &body);
    let response = send(request.bearer_auth(federated)).await;
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, 200, "{body}");
    let info = tokeninfo(&emulator, body["accessToken"].as_str().unwrap()).await;
    assert_eq!(info["kind"], "service_account");
    assert_eq!(info["principal"], DEFAULT_SERVICE_ACCOUNT);
    assert_eq!(emulator.requests(Endpoint::AwsSts), 1);
    assert_eq!(emulator.requests(Endpoint::GoogleSts), 1);
    assert_eq!(emulator.requests(Endpoint::IamCredentials), 1);
}

#[tokio::test]
async fn the_world_names_the_aws_jwt_provider() {
    let emulator = start_default().await;
    let world = get_json(&format!("{}/_emulator/world", emulator.base_url())).await;
    let config = emulator.config();
    assert_eq!(
        world["aws_jwt_audience"],
        "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/wif-demo-pool/providers/aws-jwt"
    );
    assert_eq!(
        world["aws_jwt_allowed_audience"],
        config.aws_jwt_allowed_audience().as_str()
    );
    assert!(
        config
            .aws_jwt_allowed_audience()
            .starts_with("https://iam.googleapis.com/projects/")
    );
    assert_eq!(world["aws_jwt_issuer"], config.aws_jwt_issuer().as_str());
}
