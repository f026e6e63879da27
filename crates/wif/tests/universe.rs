//! Universe domains and regional STS: default endpoints follow `universe_domain` (from the
//! configuration or the builder), a universe mismatch is refused, and regional / mTLS STS
//! endpoints are accepted as written.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use serde_json::{Value, json};
use wif::config::ExternalAccountConfig;
use wif::layers::source_file::FileSource;
use wif::{Credentials, TokenFormat, TrustPolicy};

const AUDIENCE: &str = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/pool/providers/prov";
const EMAIL: &str = "writer@proj.iam.gserviceaccount.com";

fn config(universe: Option<&str>, token_url: Option<&str>) -> Value {
    let mut v = json!({
        "type": "external_account",
        "audience": AUDIENCE,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "credential_source": { "file": "/var/run/secrets/tokens/gcp/token" }
    });
    if let Some(u) = universe {
        v["universe_domain"] = json!(u);
    }
    if let Some(t) = token_url {
        v["token_url"] = json!(t);
    }
    v
}

fn source() -> FileSource {
    FileSource::new("/var/run/secrets/tokens/gcp/token", TokenFormat::Text)
}

#[test]
fn the_configuration_universe_sets_the_default_sts_endpoint() {
    let json = config(Some("s3nsapis.fr"), None).to_string();
    let parsed = ExternalAccountConfig::from_json(&json).unwrap();
    assert_eq!(parsed.token_url, "https://sts.s3nsapis.fr/v1/token");

    let creds = Credentials::from_json(&json).unwrap();
    let info = creds.info();
    assert_eq!(info.universe_domain, "s3nsapis.fr");
    assert_eq!(
        info.token_url.as_deref(),
        Some("https://sts.s3nsapis.fr/v1/token")
    );
    assert_eq!(info.impersonation_url, None);
}

#[test]
fn impersonating_by_email_uses_the_configuration_universe() {
    let json = config(Some("s3nsapis.fr"), None).to_string();
    let creds = Credentials::builder()
        .config_json(&json)
        .unwrap()
        .impersonate(EMAIL)
        .build()
        .unwrap();
    assert_eq!(
        creds.info().impersonation_url.as_deref(),
        Some(
            "https://iamcredentials.s3nsapis.fr/v1/projects/-/serviceAccounts/writer@proj.iam.gserviceaccount.com:generateAccessToken"
        )
    );
    assert_eq!(
        creds.info().impersonated_service_account.as_deref(),
        Some(EMAIL)
    );
}

/// Credentials built without a configuration, impersonating [`EMAIL`], in `universe` (`None`:
/// the builder's default).
fn built_in(universe: Option<&str>) -> Credentials {
    let mut builder = Credentials::builder()
        .source(source())
        .audience(AUDIENCE)
        .subject_token_type("urn:ietf:params:oauth:token-type:jwt");
    if let Some(u) = universe {
        builder = builder.universe_domain(u);
    }
    builder.impersonate(EMAIL).build().unwrap()
}

/// Asserts `creds` are in `universe` and default to its STS and IAM Credentials endpoints.
fn assert_default_endpoints_of(creds: &Credentials, universe: &str) {
    let info = creds.info();
    assert_eq!(info.universe_domain, universe);
    assert_eq!(
        info.token_url.as_deref(),
        Some(format!("https://sts.{universe}/v1/token").as_str())
    );
    let iam = format!("https://iamcredentials.{universe}/v1/");
    assert!(
        info.impersonation_url
            .as_deref()
            .is_some_and(|u| u.starts_with(&iam)),
        "{info:?}"
    );
}

#[test]
fn the_builder_universe_sets_both_defaults_without_a_configuration() {
    assert_default_endpoints_of(&built_in(Some("s3nsapis.fr")), "s3nsapis.fr");
}

#[test]
fn the_default_universe_is_googleapis() {
    assert_default_endpoints_of(&built_in(None), "googleapis.com");
}

#[test]
fn a_universe_mismatch_is_refused() {
    // No `universe_domain` in the file means googleapis.com, as in Google's libraries.
    for file_universe in [None, Some("googleapis.com")] {
        let json = config(file_universe, None).to_string();
        let err = Credentials::builder()
            .config_json(&json)
            .unwrap()
            .universe_domain("s3nsapis.fr")
            .build()
            .unwrap_err();
        let shown = err.to_string();
        assert!(err.is_config(), "{shown}");
        assert!(shown.contains("`universe_domain`"), "{shown}");
        assert!(
            shown.contains("s3nsapis.fr") && shown.contains("googleapis.com"),
            "{shown}"
        );
    }
    // Agreeing (case aside) is fine.
    let json = config(Some("s3nsapis.fr"), None).to_string();
    let creds = Credentials::builder()
        .config_json(&json)
        .unwrap()
        .universe_domain("S3NSAPIS.FR")
        .build()
        .unwrap();
    assert_eq!(
        creds.info().token_url.as_deref(),
        Some("https://sts.s3nsapis.fr/v1/token")
    );
}

#[test]
fn a_builder_universe_must_be_a_domain() {
    for bad in ["evil.example/x?", "a..b", "host:443", ""] {
        let err = Credentials::builder()
            .source(source())
            .audience(AUDIENCE)
            .subject_token_type("urn:ietf:params:oauth:token-type:jwt")
            .universe_domain(bad)
            .build()
            .unwrap_err();
        assert!(
            err.to_string().contains("`universe_domain`"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn a_builder_universe_counts_as_trusted_by_the_policy() {
    let json = config(Some("s3nsapis.fr"), None).to_string();
    let err = Credentials::builder()
        .trust_policy(TrustPolicy::strict())
        .config_json(&json)
        .unwrap()
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("rule `trusted-universe`"), "{err}");
    Credentials::builder()
        .trust_policy(TrustPolicy::strict())
        .config_json(&json)
        .unwrap()
        .universe_domain("s3nsapis.fr")
        .build()
        .unwrap();
    Credentials::builder()
        .trust_policy(TrustPolicy::strict().allow_universe_domain("s3nsapis.fr"))
        .config_json(&json)
        .unwrap()
        .build()
        .unwrap();
}

#[test]
fn regional_and_mtls_sts_endpoints_are_kept_as_written() {
    for url in [
        "https://sts.us-east1.rep.googleapis.com/v1/token",
        "https://sts.europe-west3.rep.googleapis.com/v1/token",
        "https://sts.mtls.googleapis.com/v1/token",
        "https://sts.us-east1.rep.mtls.googleapis.com/v1/token",
    ] {
        let json = config(Some("googleapis.com"), Some(url)).to_string();
        let parsed = ExternalAccountConfig::from_json(&json).unwrap();
        assert_eq!(parsed.token_url, url);
        let creds =
            Credentials::from_json_untrusted(&json).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(creds.info().token_url.as_deref(), Some(url));
    }
}

#[test]
fn a_regional_endpoint_of_another_universe() {
    let url = "https://sts.europe-west9.rep.s3nsapis.fr/v1/token";
    let json = config(Some("s3nsapis.fr"), Some(url)).to_string();
    let creds = Credentials::builder()
        .trust_policy(TrustPolicy::strict().allow_universe_domain("s3nsapis.fr"))
        .config_json(&json)
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(creds.info().token_url.as_deref(), Some(url));
}
