//! Credential configuration JSON (`ExternalAccountConfig::from_json`): the file a user, gcloud or
//! an attacker with write access to `GOOGLE_APPLICATION_CREDENTIALS` hands us — and the trust
//! policy's reading of the same text (`TrustPolicy::check_json`, with its duplicate-key scan).
//!
//! Beyond "no panic": a configuration that parses must survive its own display form
//! (`to_json` → `from_value`), and neither `Debug` nor `to_json` may show `client_secret`. What the
//! trust policy accepts parses to the same configuration, and each of its URLs is written exactly
//! as it parses (the policy's canonical-URL promise).

#![no_main]

use libfuzzer_sys::fuzz_target;
use wif::secrecy::SecretString;
use wif::{CredentialSource, ExternalAccountConfig, TrustPolicy};

/// A `client_secret` no input holds (checked), to look for in what is shown.
const SENTINEL: &str = "fuzz-client-secret-5a0c93d1";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check_trust_policy(text);
    let Ok(config) = ExternalAccountConfig::from_json(text) else {
        return;
    };
    let _ = (
        config.is_workforce_pool(),
        config.impersonated_email(),
        config.parsed_audience(),
        config.source_kind(),
    );
    let shown = config.to_json();
    if let Err(e) = ExternalAccountConfig::from_value(shown.clone()) {
        panic!("the display form of a valid configuration does not parse: {e}\n{shown}");
    }

    // `Debug` and `to_json` must hide `client_secret`, whatever else the configuration holds:
    // give it a value found nowhere else and look for it.
    let mut probe = config.clone();
    probe.client_secret = Some(SecretString::from(SENTINEL));
    if !text.contains(SENTINEL) {
        let debug = format!("{probe:?}");
        assert!(
            !debug.contains(SENTINEL),
            "Debug shows client_secret: {debug}"
        );
        let shown = probe.to_json().to_string();
        assert!(
            !shown.contains(SENTINEL),
            "to_json writes client_secret: {shown}"
        );
    }
});

/// The most permissive policy: every opt-in, so accepted configurations reach every rule.
fn check_trust_policy(text: &str) {
    let policy = TrustPolicy::strict()
        .allow_loopback()
        .allow_azure_imds()
        .allow_default_certificate_config()
        .allow_source_url_host("idp.example")
        .allow_file_directory("/");
    let Ok(checked) = policy.check_json(text) else {
        return;
    };
    let parsed = ExternalAccountConfig::from_json(text)
        .unwrap_or_else(|e| panic!("the policy accepted text the parser refuses: {e}"));
    assert_eq!(
        checked, parsed,
        "the policy and the parser read different values"
    );
    let source_url = match &checked.credential_source {
        CredentialSource::Url(u) => Some(&u.url),
        _ => None,
    };
    let urls = [
        Some(&checked.token_url),
        checked.token_info_url.as_ref(),
        checked.service_account_impersonation_url.as_ref(),
        source_url,
    ];
    for url in urls.into_iter().flatten() {
        let reparsed = url::Url::parse(url)
            .unwrap_or_else(|e| panic!("the policy accepted an unparsable URL {url:?}: {e}"));
        assert_eq!(
            reparsed.as_str(),
            url,
            "the policy accepted a non-canonical URL"
        );
    }
}
