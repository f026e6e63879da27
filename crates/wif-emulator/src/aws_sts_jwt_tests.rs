//! `GetWebIdentityToken` validation, the minted claims, and Google STS's verification of them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::*;
use crate::config::EmulatorConfig;

fn state() -> State {
    State::new(EmulatorConfig::default())
}

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The JSON of a JWT segment (0: header, 1: payload), decoded independently of the module.
fn segment(token: &str, n: usize) -> Value {
    let part = token.split('.').nth(n).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[test]
fn a_minimal_request_takes_aws_defaults() {
    let request = parse_request(&form(&[
        ("Action", "GetWebIdentityToken"),
        ("Audience.member.1", "https://example.com"),
        ("SigningAlgorithm", "RS256"),
    ]))
    .unwrap();
    assert_eq!(request.audiences, ["https://example.com"]);
    assert_eq!(request.duration, 300);
    assert!(request.tags.is_empty());
}

#[test]
fn audiences_are_ordered_by_member_number_and_tags_collected() {
    let request = parse_request(&form(&[
        ("Audience.member.2", "b"),
        ("Audience.member.1", "a"),
        ("SigningAlgorithm", "ES384"),
        ("DurationSeconds", "3600"),
        ("Tags.member.1.Key", "team"),
        ("Tags.member.1.Value", "data"),
        ("Tags.member.2.Key", "empty"),
        ("Tags.member.2.Value", ""),
    ]))
    .unwrap();
    assert_eq!(request.audiences, ["a", "b"]);
    assert_eq!(request.duration, 3600);
    assert_eq!(
        request.tags,
        BTreeMap::from([
            ("empty".to_owned(), String::new()),
            ("team".to_owned(), "data".to_owned())
        ])
    );
}

#[test]
fn validation_errors_read_like_aws() {
    let err = |pairs: &[(&str, &str)]| parse_request(&form(pairs)).unwrap_err();
    let ok_alg = ("SigningAlgorithm", "RS256");
    let ok_aud = ("Audience.member.1", "x");

    assert_eq!(
        err(&[ok_alg]),
        "1 validation error detected: Value null at 'audience' failed to satisfy constraint: Member must not be null"
    );
    assert_eq!(
        err(&[ok_aud]),
        "1 validation error detected: Value null at 'signingAlgorithm' failed to satisfy constraint: Member must not be null"
    );
    assert_eq!(
        err(&[ok_aud, ("SigningAlgorithm", "HS256")]),
        "1 validation error detected: Value 'HS256' at 'signingAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [RS256, ES384]"
    );
    assert_eq!(
        err(&[ok_aud, ok_alg, ("DurationSeconds", "59")]),
        "1 validation error detected: Value '59' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60"
    );
    assert!(
        err(&[ok_aud, ok_alg, ("DurationSeconds", "3601")]).contains("less than or equal to 3600")
    );
    assert!(
        err(&[ok_aud, ok_alg, ("DurationSeconds", "5m")]).contains("Member must be an integer")
    );
    assert!(
        err(&[("Audience.member.1", ""), ok_alg])
            .contains("at 'audience.1.member' failed to satisfy constraint: Member must have length greater than or equal to 1")
    );
    let long = "a".repeat(1001);
    let message = err(&[("Audience.member.1", &long), ok_alg]);
    assert!(
        message.contains("length less than or equal to 1000"),
        "{message}"
    );
    assert!(message.len() < 300, "long values are clipped: {message}");

    let eleven: Vec<(String, String)> = (1..=11)
        .map(|n| (format!("Audience.member.{n}"), format!("aud-{n}")))
        .chain([("SigningAlgorithm".to_owned(), "RS256".to_owned())])
        .collect();
    let message = parse_request(&eleven).unwrap_err();
    assert!(message.contains("at 'audience' failed to satisfy constraint: Member must have length less than or equal to 10"), "{message}");

    // Every violation is listed.
    assert_eq!(
        err(&[("DurationSeconds", "1")]),
        "3 validation errors detected: Value null at 'audience' failed to satisfy constraint: Member must not be null; Value null at 'signingAlgorithm' failed to satisfy constraint: Member must not be null; Value '1' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60"
    );
}

#[test]
fn bad_tags_are_validation_errors() {
    let base = [("Audience.member.1", "x"), ("SigningAlgorithm", "RS256")];
    let err = |tags: &[(&str, &str)]| {
        let mut pairs = base.to_vec();
        pairs.extend_from_slice(tags);
        parse_request(&form(&pairs)).unwrap_err()
    };
    assert!(err(&[("Tags.member.1.Key", "k")]).contains("'tags.1.member.value'"));
    assert!(err(&[("Tags.member.1.Value", "v")]).contains("'tags.1.member.key'"));
    assert!(
        err(&[
            ("Tags.member.1.Key", "Team"),
            ("Tags.member.1.Value", "a"),
            ("Tags.member.2.Key", "team"),
            ("Tags.member.2.Value", "b"),
        ])
        .contains("Duplicate tag keys")
    );
    let long_key = "k".repeat(129);
    assert!(
        err(&[
            ("Tags.member.1.Key", &long_key),
            ("Tags.member.1.Value", "v")
        ])
        .contains("length less than or equal to 128")
    );
}

#[test]
fn a_minted_token_has_awss_claims() {
    let state = state();
    let config = &state.config;
    let aud = config.aws_jwt_allowed_audience();
    let tags = BTreeMap::from([("job".to_owned(), "42".to_owned())]);
    let token = mint_at(
        &state,
        std::slice::from_ref(&aud),
        "eu-west-1",
        &tags,
        1_700_000_000,
        1_700_000_300,
    );
    let header = segment(&token, 0);
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["kid"], KEY_ID);
    let claims = segment(&token, 1);
    assert_eq!(
        claims["iss"],
        "https://123456789012.tokens.sts.global.api.aws.invalid"
    );
    assert_eq!(claims["aud"], aud.as_str(), "one audience is a string");
    assert_eq!(
        claims["sub"],
        "arn:aws:iam::123456789012:role/wif-demo-lambda-role"
    );
    assert_eq!(claims["iat"], 1_700_000_000);
    assert_eq!(claims["exp"], 1_700_000_300);
    assert_eq!(claims["jti"].as_str().unwrap().len(), 36);
    assert_eq!(
        claims[CLAIMS_NAMESPACE],
        serde_json::json!({
            "aws_account": "123456789012",
            "principal_id": "arn:aws:sts::123456789012:assumed-role/wif-demo-lambda-role/wif-demo-function",
            "source_region": "eu-west-1",
            "request_tags": {"job": "42"},
        })
    );

    // Several audiences are an array; no tags, no request_tags.
    let token = mint(&state, &["a", "b"], Duration::from_secs(60));
    let claims = segment(&token, 1);
    assert_eq!(claims["aud"], serde_json::json!(["a", "b"]));
    assert!(claims[CLAIMS_NAMESPACE].get("request_tags").is_none());
    assert_eq!(claims[CLAIMS_NAMESPACE]["source_region"], "us-east-1");
}

#[test]
fn google_accepts_either_form_of_the_providers_audience() {
    let state = state();
    let audience = state.config.aws_jwt_audience();
    for aud in [state.config.aws_jwt_allowed_audience(), audience.clone()] {
        let token = mint(
            &state,
            &["https://other.example", &aud],
            Duration::from_secs(60),
        );
        let claims = verify(&state, &token, &audience).unwrap();
        assert_eq!(claims.sub, state.config.aws.iam_role_arn());
        assert_eq!(claims.aws_account, "123456789012");
        assert_eq!(claims.aud, ["https://other.example", aud.as_str()]);
    }
}

#[test]
fn google_refuses_other_audiences_issuers_and_expired_tokens() {
    let state = state();
    let audience = state.config.aws_jwt_audience();
    let token = mint(&state, &["https://example.com"], Duration::from_secs(60));
    assert_eq!(
        verify(&state, &token, &audience).unwrap_err(),
        "The audience in ID Token does not match the expected audience."
    );

    // The emulator's own OIDC token, for this very audience: another issuer.
    let oidc_token = oidc::mint(&state, "alice", &audience, Duration::from_secs(60));
    assert_eq!(
        verify(&state, &oidc_token, &audience).unwrap_err(),
        "The issuer in ID Token https://oidc.wif-emulator.invalid does not match the expected ISSUER https://123456789012.tokens.sts.global.api.aws.invalid."
    );
    // And the other way round: an AWS token at the OIDC provider, even with several audiences.
    let oidc_audience = state.config.oidc_audience();
    let aws_token = mint(&state, &[&oidc_audience, "x"], Duration::from_secs(60));
    assert_eq!(
        oidc::verify(&state, &aws_token, &oidc_audience).unwrap_err(),
        "The issuer in ID Token https://123456789012.tokens.sts.global.api.aws.invalid does not match the expected ISSUER https://oidc.wif-emulator.invalid."
    );

    let iat = oidc::unix_now() - 7200;
    let aud = state.config.aws_jwt_allowed_audience();
    let expired = mint_at(
        &state,
        &[aud],
        "us-east-1",
        &BTreeMap::new(),
        iat,
        iat + 300,
    );
    assert_eq!(
        verify(&state, &expired, &audience).unwrap_err(),
        format!("ID Token issued at {iat} is stale to sign-in.")
    );

    // Another emulator's token: the signature.
    let foreign = mint(
        &State::new(EmulatorConfig::default()),
        &[&state.config.aws_jwt_allowed_audience()],
        Duration::from_secs(60),
    );
    assert!(
        verify(&state, &foreign, &audience)
            .unwrap_err()
            .contains("signature")
    );
}

#[test]
fn expirations_are_rfc3339_utc_whole_seconds() {
    assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
}
