//! AWS instance-metadata answers (step 1 on EC2): availability zone → region, the role name, the
//! role's credentials JSON; and AWS STS's `GetCallerIdentity` XML (`wif explain --call-aws`).
//!
//! Beyond "no panic": a derived region goes into a host name and a SigV4 scope, so it must be
//! plain lowercase labels.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wif_source_aws::fuzzing::{credentials_response, role_name_response};
use wif_source_aws::{CallerIdentity, region_from_zone};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(region) = region_from_zone(&text) {
        let plain = !region.is_empty()
            && !region.starts_with('-')
            && !region.ends_with('-')
            && !region.contains("--")
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        assert!(plain, "{text:?} gave the region {region:?}");
    }
    if let Ok(role) = role_name_response(data) {
        assert!(!role.is_empty() && role.len() <= 64, "{role:?}");
        assert!(
            !role.contains('/'),
            "a role name goes into a URL path: {role:?}"
        );
    }
    match credentials_response(data) {
        Ok(creds) => {
            let _ = (creds.access_key_id(), format!("{creds:?}"));
        }
        Err(e) => {
            let _ = format!("{e} {e:?}");
        }
    }
    if let Some(identity) = CallerIdentity::from_xml(&text) {
        let _ = (
            identity.assumed_role(),
            identity.role_arn(),
            identity.aws_role_attribute(),
            identity.exceeds_google_subject_limit(),
            identity.short_subject_mapping(),
        );
    }
});
