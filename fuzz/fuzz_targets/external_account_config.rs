//! Credential configuration JSON (`ExternalAccountConfig::from_json`): the file a user, gcloud or
//! an attacker with write access to `GOOGLE_APPLICATION_CREDENTIALS` hands us.
//!
//! Beyond "no panic": a configuration that parses must survive its own display form
//! (`to_json` → `from_value`), and neither `Debug` nor `to_json` may show `client_secret`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wif::ExternalAccountConfig;
use wif::secrecy::SecretString;

/// A `client_secret` no input holds (checked), to look for in what is shown.
const SENTINEL: &str = "fuzz-client-secret-5a0c93d1";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
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
