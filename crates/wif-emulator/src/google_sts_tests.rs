//! Google STS form validation, AWS subject-token checks, attribute mapping and condition, and
//! JWT subject tokens, called without HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use axum::http::HeaderValue;
use secrecy::ExposeSecret;
use wif_source_aws::{
    AwsCredentials, DEFAULT_REGIONAL_CRED_VERIFICATION_URL, TargetResource,
    sign_get_caller_identity,
};

use super::*;
use crate::Issued;
use crate::config::EmulatorConfig;

fn state_with(edit: impl FnOnce(&mut EmulatorConfig)) -> State {
    let mut config = EmulatorConfig::default();
    edit(&mut config);
    State::new(config)
}

fn aws_token(state: &State, secret: &str, audience: &str, target: TargetResource) -> String {
    aws_token_for(
        state,
        secret,
        audience,
        target,
        DEFAULT_REGIONAL_CRED_VERIFICATION_URL,
    )
}

fn aws_token_for(
    state: &State,
    secret: &str,
    audience: &str,
    target: TargetResource,
    template: &str,
) -> String {
    let aws = &state.config.aws;
    let creds = AwsCredentials::new(
        aws.access_key_id.clone(),
        secret,
        Some(aws.session_token.clone()),
    );
    let signed = sign_get_caller_identity(
        &creds,
        &aws.region,
        template,
        audience,
        SystemTime::now(),
        target,
    )
    .unwrap();
    signed.subject_token().secret().expose_secret().to_owned()
}

fn form(audience: &str, token_type: &str, token: &str) -> Vec<(String, String)> {
    [
        ("grant_type", TOKEN_EXCHANGE),
        ("audience", audience),
        ("scope", "https://www.googleapis.com/auth/cloud-platform"),
        ("requested_token_type", ACCESS_TOKEN),
        ("subject_token", token),
        ("subject_token_type", token_type),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn set(form: &mut Vec<(String, String)>, name: &str, value: &str) {
    form.retain(|(k, _)| k != name);
    form.push((name.to_owned(), value.to_owned()));
}

fn valid_aws_form(state: &State) -> Vec<(String, String)> {
    let audience = state.config.aws_audience();
    let secret = state.config.aws.secret_access_key.clone();
    form(
        &audience,
        AWS4_REQUEST,
        &aws_token(state, &secret, &audience, TargetResource::Signed),
    )
}

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    headers
}

/// What the emulator recorded for the federated token in an exchange answer: presenting it
/// back must be accepted.
fn federated_grant(state: &State, answer: &serde_json::Value) -> Issued {
    state
        .authorize(
            &bearer(answer["access_token"].as_str().unwrap()),
            &[TokenKind::Federated],
        )
        .unwrap()
}

/// A role and session name whose assumed-role ARN is longer than Google's 127-byte subject.
fn long_session_names(config: &mut EmulatorConfig) {
    config.aws.role = "WifDemoStack-IngestFunctionServiceRole3E6A8B2C-1A2B3C4D5E6F".into();
    config.aws.session_name = "WifDemoStack-IngestFunction9F8E7D6C-AbCdEfGhIjKl".into();
}

#[test]
fn a_valid_aws_token_buys_a_federated_token_for_the_assumed_role() {
    let state = state_with(|_| {});
    let answer = exchange(&state, None, &valid_aws_form(&state)).unwrap();
    assert_eq!(answer["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["expires_in"], 3600);
    let issued = federated_grant(&state, &answer);
    let config = &state.config;
    assert_eq!(
        issued.principal,
        config.principal_for_subject(&config.aws.assumed_role_arn())
    );
    assert_eq!(
        issued.principal_sets,
        [config.principal_set_for_role(), config.principal_set_all()]
    );
    assert_eq!(
        issued.scopes,
        ["https://www.googleapis.com/auth/cloud-platform"]
    );
}

#[test]
fn the_aws_role_mapping_uses_the_role_arn() {
    let state = state_with(|c| c.subject_mapping = SubjectMapping::AwsRole);
    let answer = exchange(&state, None, &valid_aws_form(&state)).unwrap();
    let issued = federated_grant(&state, &answer);
    assert_eq!(
        issued.principal,
        state
            .config
            .principal_for_subject(&state.config.aws.role_arn())
    );
}

#[test]
fn the_form_is_validated_like_the_real_service() {
    let state = state_with(|_| {});
    let good = valid_aws_form(&state);
    let cases: [(&str, &str, &str); 7] = [
        ("grant_type", "", "invalid_request"),
        ("grant_type", "client_credentials", "unsupported_grant_type"),
        (
            "requested_token_type",
            "urn:ietf:params:oauth:token-type:id_token",
            "invalid_request",
        ),
        ("subject_token_type", "urn:example:nope", "invalid_request"),
        ("subject_token_type", JWT, "invalid_request"),
        ("subject_token", "", "invalid_request"),
        ("options", "not json", "invalid_request"),
    ];
    for (name, value, error) in cases {
        let mut f = good.clone();
        set(&mut f, name, value);
        let err = exchange(&state, None, &f).unwrap_err();
        assert_eq!(err.error, error, "{name}={value}: {err:?}");
    }
    // The subject token type errors name the parameter (the client's hint keys on it).
    let mut f = good.clone();
    set(&mut f, "subject_token_type", JWT);
    assert!(
        exchange(&state, None, &f)
            .unwrap_err()
            .description
            .contains("subject_token_type")
    );
}

#[test]
fn audiences_get_googles_words() {
    let state = state_with(|_| {});
    let good = valid_aws_form(&state);
    for malformed in [
        "",
        "projects/123/locations/global/workloadIdentityPools/p/providers/aws",
        "https://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/wif-demo-pool/providers/aws",
        "//iam.googleapis.com/projects/my-project/locations/global/workloadIdentityPools/wif-demo-pool/providers/aws",
        "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/wif-demo-pool",
    ] {
        let mut f = good.clone();
        set(&mut f, "audience", malformed);
        assert_eq!(
            exchange(&state, None, &f).unwrap_err(),
            reject("invalid_request", INVALID_AUDIENCE),
            "{malformed}"
        );
    }
    for unknown in [
        state.config.audience("other"),
        state.config.audience("AWS"),
        "//iam.googleapis.com/locations/global/workforcePools/staff/providers/okta".to_owned(),
    ] {
        let mut f = good.clone();
        set(&mut f, "audience", &unknown);
        assert_eq!(
            exchange(&state, None, &f).unwrap_err(),
            reject("invalid_target", INVALID_TARGET),
            "{unknown}"
        );
    }
}

#[test]
fn options_scope_and_json_bodies_are_honoured() {
    let state = state_with(|_| {});
    let mut f = valid_aws_form(&state);
    // Python's double encoding, form-decoded once.
    set(&mut f, "options", "%7B%22userProject%22%3A%20%22123%22%7D");
    set(
        &mut f,
        "scope",
        "https://www.googleapis.com/auth/iam https://www.googleapis.com/auth/bigquery",
    );
    let answer = exchange(&state, None, &f).unwrap();
    let issued = federated_grant(&state, &answer);
    assert_eq!(issued.scopes.len(), 2);
    // Go's single encoding.
    set(&mut f, "options", "{\"userProject\":\"123\"}");
    assert!(exchange(&state, None, &f).is_ok());

    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let body = serde_json::json!({
        "grantType": TOKEN_EXCHANGE,
        "subjectTokenType": AWS4_REQUEST,
        "audience": "a",
    });
    let parsed = parse_form(&headers, body.to_string().as_bytes());
    assert_eq!(param(&parsed, "grant_type"), Some(TOKEN_EXCHANGE));
    assert_eq!(param(&parsed, "subject_token_type"), Some(AWS4_REQUEST));
}

#[test]
fn a_wrong_secret_is_invalid_grant_naming_the_aws_cause() {
    let state = state_with(|_| {});
    let audience = state.config.aws_audience();
    let token = aws_token(&state, "wrong-secret", &audience, TargetResource::Signed);
    let err = exchange(&state, None, &form(&audience, AWS4_REQUEST, &token)).unwrap_err();
    assert_eq!(err.error, "invalid_grant");
    assert!(
        err.description.starts_with(
            "Received invalid AWS response of type SignatureDoesNotMatch with error message: The request signature we calculated"
        ),
        "{}",
        err.description
    );
    assert!(!err.description.contains("wrong-secret"));
}

#[test]
fn the_target_resource_must_be_the_audience() {
    let state = state_with(|_| {});
    let audience = state.config.aws_audience();
    let secret = state.config.aws.secret_access_key.clone();
    let other = state.config.audience("other");
    // Unsigned (Python): the signature holds, the binding does not.
    let token = aws_token(&state, &secret, &other, TargetResource::Unsigned);
    let err = exchange(&state, None, &form(&audience, AWS4_REQUEST, &token)).unwrap_err();
    assert_eq!(err.error, "invalid_grant");
    assert!(
        err.description.contains("x-goog-cloud-target-resource"),
        "{}",
        err.description
    );
    assert!(
        err.description.contains("signed: false"),
        "{}",
        err.description
    );
    // Unsigned and right: accepted (Python clients).
    let token = aws_token(&state, &secret, &audience, TargetResource::Unsigned);
    assert!(exchange(&state, None, &form(&audience, AWS4_REQUEST, &token)).is_ok());
    // Missing altogether.
    let mut request = parse_aws_subject_token(&aws_token(
        &state,
        &secret,
        &audience,
        TargetResource::Unsigned,
    ))
    .unwrap();
    request.headers.retain(|(k, _)| k != TARGET_RESOURCE);
    let json = serde_json::json!({
        "method": request.method,
        "url": request.url,
        "headers": request.headers.iter().map(|(k, v)| serde_json::json!({"key": k, "value": v})).collect::<Vec<_>>(),
    });
    let err = exchange(
        &state,
        None,
        &form(&audience, AWS4_REQUEST, &json.to_string()),
    )
    .unwrap_err();
    assert_eq!(err.error, "invalid_request");
    assert!(
        err.description.starts_with(INVALID_AWS_FORMAT),
        "{}",
        err.description
    );
}

#[test]
fn only_get_caller_identity_on_aws_sts_is_replayed() {
    let state = state_with(|_| {});
    let audience = state.config.aws_audience();
    let secret = state.config.aws.secret_access_key.clone();
    for template in [
        "https://sts.{region}.amazonaws.com?Action=AssumeRole&Version=2011-06-15",
        "https://sts.{region}.amazonaws.com/other?Action=GetCallerIdentity&Version=2011-06-15",
        "https://attacker.example?Action=GetCallerIdentity&Version=2011-06-15",
        "https://sts.{region}.amazonaws.com:8443?Action=GetCallerIdentity&Version=2011-06-15",
    ] {
        let token = aws_token_for(&state, &secret, &audience, TargetResource::Signed, template);
        let err = exchange(&state, None, &form(&audience, AWS4_REQUEST, &token)).unwrap_err();
        assert_eq!(err.error, "invalid_request", "{template}: {err:?}");
        assert!(
            err.description.starts_with(INVALID_AWS_FORMAT),
            "{}",
            err.description
        );
    }
    for garbage in ["%7B", "not a token", "%FF%FE", "[]", "{\"url\":1}"] {
        let err = exchange(&state, None, &form(&audience, AWS4_REQUEST, garbage)).unwrap_err();
        assert_eq!(err.error, "invalid_request", "{garbage}");
    }
}

#[test]
fn long_session_arns_exceed_127_bytes() {
    let state = state_with(long_session_names);
    assert!(state.config.aws.assumed_role_arn().len() > 127);
    let err = exchange(&state, None, &valid_aws_form(&state)).unwrap_err();
    assert_eq!(err, reject("invalid_request", SUBJECT_TOO_LONG));
    // Google's recommended fix: map google.subject to the role.
    let state = state_with(|c| {
        long_session_names(c);
        c.subject_mapping = SubjectMapping::AwsRole;
    });
    assert!(exchange(&state, None, &valid_aws_form(&state)).is_ok());
}

#[test]
fn the_attribute_condition_is_evaluated() {
    let rejected = |edit: fn(&mut EmulatorConfig)| {
        let state = state_with(edit);
        exchange(&state, None, &valid_aws_form(&state)).unwrap_err()
    };
    let want = reject("unauthorized_client", CONDITION_REJECTED);
    assert_eq!(
        rejected(|c| c.condition.account = Some("999999999999".into())),
        want
    );
    assert_eq!(
        rejected(
            |c| c.condition.aws_role = Some("arn:aws:sts::123456789012:assumed-role/other".into())
        ),
        want
    );
    assert_eq!(
        rejected(|c| c.condition.arn_prefix =
            Some("arn:aws:sts::123456789012:assumed-role/other/".into())),
        want
    );
    let state = state_with(|c| {
        c.condition.aws_role = Some(c.aws.role_arn());
        c.condition.arn_prefix = Some(format!("{}/", c.aws.role_arn()));
    });
    assert!(exchange(&state, None, &valid_aws_form(&state)).is_ok());
}

#[test]
fn emulator_minted_jwts_are_accepted_for_the_oidc_provider() {
    let state = state_with(|_| {});
    let audience = state.config.oidc_audience();
    let jwt = crate::oidc::mint(&state, "workload-7", &audience, Duration::from_secs(300));
    let answer = exchange(&state, None, &form(&audience, JWT, &jwt)).unwrap();
    let issued = federated_grant(&state, &answer);
    assert_eq!(
        issued.principal,
        state.config.principal_for_subject("workload-7")
    );
    assert_eq!(issued.principal_sets, [state.config.principal_set_all()]);
    assert!(exchange(&state, None, &form(&audience, ID_TOKEN, &jwt)).is_ok());

    // Minted for another audience, or by another emulator.
    let foreign = crate::oidc::mint(
        &state,
        "w",
        &state.config.aws_audience(),
        Duration::from_secs(300),
    );
    let err = exchange(&state, None, &form(&audience, JWT, &foreign)).unwrap_err();
    assert_eq!(err.error, "invalid_grant");
    let other = State::new(EmulatorConfig::default());
    let forged = crate::oidc::mint(&other, "w", &audience, Duration::from_secs(300));
    assert_eq!(
        exchange(&state, None, &form(&audience, JWT, &forged))
            .unwrap_err()
            .error,
        "invalid_grant"
    );
    // A JWT sent to the AWS provider.
    let err = exchange(&state, None, &form(&state.config.aws_audience(), JWT, &jwt)).unwrap_err();
    assert_eq!(err.error, "invalid_request");
}

#[test]
fn the_parsed_request_never_debugs_its_credentials() {
    let state = state_with(|_| {});
    let audience = state.config.aws_audience();
    let secret = state.config.aws.secret_access_key.clone();
    let request = parse_aws_subject_token(&aws_token(
        &state,
        &secret,
        &audience,
        TargetResource::Signed,
    ))
    .unwrap();
    let debug = format!("{request:?}");
    assert!(!debug.contains(&state.config.aws.session_token), "{debug}");
    assert!(!debug.contains("Signature="), "{debug}");
    assert!(debug.contains("x-amz-security-token"), "{debug}");
}
