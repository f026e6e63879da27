//! AWS instance-metadata answers (step 1 on EC2): availability zone → region, the role name, the
//! role's credentials JSON; AWS STS's `GetCallerIdentity` XML (`wif explain --call-aws`); and
//! AWS STS's `GetWebIdentityToken` answers (`AwsJwtSource`): the JWT, or an `ErrorResponse`.
//!
//! Beyond "no panic": a derived region goes into a host name and a SigV4 scope, so it must be
//! plain lowercase labels.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wif::secrecy::ExposeSecret;
use wif_source_aws::fuzzing::{
    aws_error_response, credentials_response, role_name_response, web_identity_token_response,
};
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
    match web_identity_token_response(data) {
        // What goes to Google STS: a compact JWT of bounded size.
        Ok(token) => {
            let jwt = token.secret().expose_secret();
            assert!(jwt.len() <= 64 * 1024, "{} bytes", jwt.len());
            assert_eq!(jwt.split('.').count(), 3, "not a compact JWT");
            assert!(!format!("{token:?}").contains(jwt), "Debug shows the token");
        }
        // The description never quotes the answer's token, well-formed or not.
        Err(why) => {
            if let Some(token) = element(&text, "WebIdentityToken").filter(|t| t.len() >= 16) {
                assert!(!why.contains(token), "{why:?} quotes the token");
            }
        }
    }
    // AWS echoes the canonical request (session token included) after "The Canonical String";
    // no error shows that part.
    let err = aws_error_response(403, data);
    let shown = format!("{err} {err:?}").to_ascii_lowercase();
    assert!(!shown.contains("the canonical string"), "{shown}");
});

/// The raw text of the first `<tag>…</tag>`.
fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(&xml[start..end])
}
