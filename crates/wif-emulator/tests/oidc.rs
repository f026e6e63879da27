//! The emulator as an OIDC issuer: minted tokens verify at the emulator that minted them and
//! nowhere else; tampered, expired and wrong-audience tokens are refused with Google's words.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use support::{get_json, http, send, start_default as start, text_of, unix_now as now};
use wif_emulator::oidc::{self, ISSUER};

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn a_minted_token_carries_the_claims_and_verifies() {
    let emulator = start().await;
    let audience = emulator.config().oidc_audience();
    let token = emulator.mint_oidc_token("ci-runner-7");
    let c = claims(&token);
    assert_eq!(c["sub"], "ci-runner-7");
    assert_eq!(c["iss"], ISSUER);
    assert_eq!(c["aud"], audience.as_str());
    let iat = c["iat"].as_u64().unwrap();
    let exp = c["exp"].as_u64().unwrap();
    assert!(iat.abs_diff(now()) <= 2, "iat {iat}");
    assert_eq!(exp - iat, 3600);

    let verified = oidc::verify(emulator.state(), &token, &audience).unwrap();
    assert_eq!(verified.sub, "ci-runner-7");
    assert_eq!(verified.exp, exp);
}

#[tokio::test]
async fn tampered_foreign_expired_and_misaddressed_tokens_are_refused() {
    let emulator = start().await;
    let audience = emulator.config().oidc_audience();
    let token = emulator.mint_oidc_token("alice");

    // Change the first character of the signature (the last one carries unused bits).
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let first = if signature.starts_with('A') { 'B' } else { 'A' };
    let tampered = format!("{signed}.{first}{}", &signature[1..]);
    let err = oidc::verify(emulator.state(), &tampered, &audience).unwrap_err();
    assert!(err.contains("signature"), "{err}");

    // Swap in another subject, keep the signature.
    let parts: Vec<&str> = token.split('.').collect();
    let mut c = claims(&token);
    c["sub"] = "mallory".into();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap()),
        parts[2]
    );
    assert!(oidc::verify(emulator.state(), &forged, &audience).is_err());

    let other = start().await;
    let err = oidc::verify(other.state(), &token, &audience).unwrap_err();
    assert!(err.contains("signature"), "{err}");

    let expired = oidc::mint(emulator.state(), "alice", &audience, Duration::ZERO);
    let err = oidc::verify(emulator.state(), &expired, &audience).unwrap_err();
    assert!(err.ends_with("is stale to sign-in."), "{err}");

    let err =
        oidc::verify(emulator.state(), &token, &emulator.config().aws_audience()).unwrap_err();
    assert_eq!(
        err,
        "The audience in ID Token does not match the expected audience."
    );
}

#[tokio::test]
async fn the_control_route_mints_on_request() {
    let emulator = start().await;
    let url = format!("{}/_emulator/oidc-token", emulator.base_url());
    let response = send(http().get(format!("{url}?sub=bob&aud=my-aud&lifetime=120"))).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let token = response.text().await.unwrap();
    let verified = oidc::verify(emulator.state(), &token, "my-aud").unwrap();
    assert_eq!(verified.sub, "bob");
    assert!(verified.exp.abs_diff(now() + 120) <= 2);

    // Defaults: the OIDC provider's audience and the default subject.
    let token = text_of(http().get(url)).await;
    let verified =
        oidc::verify(emulator.state(), &token, &emulator.config().oidc_audience()).unwrap();
    assert_eq!(verified.sub, oidc::DEFAULT_SUBJECT);
}

#[tokio::test]
async fn the_url_source_route_answers_json_for_the_oidc_provider() {
    let emulator = start().await;
    // `aud` is ignored here: a URL source always gets a token for the OIDC provider.
    let body = get_json(&format!(
        "{}/oidc/token?sub=svc&aud=elsewhere",
        emulator.base_url()
    ))
    .await;
    let token = body["id_token"].as_str().unwrap();
    let verified =
        oidc::verify(emulator.state(), token, &emulator.config().oidc_audience()).unwrap();
    assert_eq!(verified.sub, "svc");
}
