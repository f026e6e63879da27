//! Golden vectors (docs/protocol.md#aws-golden-vectors): Python google-auth 2.63.0
//! and Go x/oauth2 test fixtures at fixed times with fixed credentials.
//!
//! (a) signatures for the same signed-header set as Python (target resource unsigned);
//! (b) Python's subject tokens byte for byte; (c) with the target resource signed (our default), an
//! independent SigV4 recomputation from the serialized token.

// Test helpers outside #[test] functions may panic too.
#![allow(clippy::expect_used)]

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secrecy::ExposeSecret;
use wif_source_aws::{
    AwsCredentials, DEFAULT_REGIONAL_CRED_VERIFICATION_URL, SignedRequest, TargetResource,
    sign_get_caller_identity,
};

// Python tests/test_aws.py, verbatim.
const ACCESS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "AQoEXAMPLEH4aoAH0gNCAPyJxz4BlCFFxWNE1OPTgk5TthT+FvwqnKwRcOIfrRh3c/LTo6UDdyJwOOvEVPvLXCrrrUtdnniCEXAMPLE/IvU1dYUg2RVAJBanLiHb4IgRmpRV3zrkuWJOgQs8IZZaIv2BXIa2R4OlgkBN9bkUDNCJiBeb/AXlzBBko7b15fjrBs2+cTQtpZ3CYWFXG8C5zqx37wnOE49mRl/+OtkIKGO7fAE";
const AUDIENCE: &str = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/POOL_ID/providers/PROVIDER_ID";
/// 2020-08-11T06:55:22Z
const PY_TIME: u64 = 1_597_128_922;

// Go x/oauth2 google/externalaccount/aws_test.go, verbatim.
const GO_ACCESS_KEY_ID: &str = "ASIARD4OQDT6A77FR3CL";
const GO_SECRET_ACCESS_KEY: &str = "Y8AfSaucF37G4PpvfguKZ3/l7Id4uocLXxX0+VTx";
const GO_TOKEN: &str = "IQoJb3JpZ2luX2VjEIz//////////wEaCXVzLWVhc3QtMiJGMEQCIH7MHX/Oy/OB8OlLQa9GrqU1B914+iMikqWQW7vPCKlgAiA/Lsv8Jcafn14owfxXn95FURZNKaaphj0ykpmS+Ki+CSq0AwhlEAAaDDA3NzA3MTM5MTk5NiIMx9sAeP1ovlMTMKLjKpEDwuJQg41/QUKx0laTZYjPlQvjwSqS3OB9P1KAXPWSLkliVMMqaHqelvMF/WO/glv3KwuTfQsavRNs3v5pcSEm4SPO3l7mCs7KrQUHwGP0neZhIKxEXy+Ls//1C/Bqt53NL+LSbaGv6RPHaX82laz2qElphg95aVLdYgIFY6JWV5fzyjgnhz0DQmy62/Vi8pNcM2/VnxeCQ8CC8dRDSt52ry2v+nc77vstuI9xV5k8mPtnaPoJDRANh0bjwY5Sdwkbp+mGRUJBAQRlNgHUJusefXQgVKBCiyJY4w3Csd8Bgj9IyDV+Azuy1jQqfFZWgP68LSz5bURyIjlWDQunO82stZ0BgplKKAa/KJHBPCp8Qi6i99uy7qh76FQAqgVTsnDuU6fGpHDcsDSGoCls2HgZjZFPeOj8mmRhFk1Xqvkbjuz8V1cJk54d3gIJvQt8gD2D6yJQZecnuGWd5K2e2HohvCc8Fc9kBl1300nUJPV+k4tr/A5R/0QfEKOZL1/k5lf1g9CREnrM8LVkGxCgdYMxLQow1uTL+QU67AHRRSp5PhhGX4Rek+01vdYSnJCMaPhSEgcLqDlQkhk6MPsyT91QMXcWmyO+cAZwUPwnRamFepuP4K8k2KVXs/LIJHLELwAZ0ekyaS7CptgOqS7uaSTFG3U+vzFZLEnGvWQ7y9IPNQZ+Dffgh4p3vF4J68y9049sI6Sr5d5wbKkcbm8hdCDHZcv4lnqohquPirLiFQ3q7B17V9krMPu3mz1cg4Ekgcrn/E09NTsxAqD8NcZ7C7ECom9r+X3zkDOxaajW6hu3Az8hGlyylDaMiFfRbBJpTIlxp7jfa7CxikNgNtEKLH9iCzvuSg2vhA==";
const GO_AUDIENCE: &str = "32555940559.apps.googleusercontent.com";
/// 2011-09-09T23:36:00Z
const GO_TIME: u64 = 1_315_611_360;

/// Golden vector V1: Python credentials with session token.
const PY_V1: &str = "%7B%22headers%22%3A%5B%7B%22key%22%3A%22Authorization%22%2C%22value%22%3A%22AWS4-HMAC-SHA256%20Credential%3DAKIAIOSFODNN7EXAMPLE/20200811/us-east-2/sts/aws4_request%2C%20SignedHeaders%3Dhost%3Bx-amz-date%3Bx-amz-security-token%2C%20Signature%3D596aa990b792d763465d73703e684ca273c45536c6d322c31be01a41d02e5b60%22%7D%2C%7B%22key%22%3A%22host%22%2C%22value%22%3A%22sts.us-east-2.amazonaws.com%22%7D%2C%7B%22key%22%3A%22x-amz-date%22%2C%22value%22%3A%2220200811T065522Z%22%7D%2C%7B%22key%22%3A%22x-amz-security-token%22%2C%22value%22%3A%22AQoEXAMPLEH4aoAH0gNCAPyJxz4BlCFFxWNE1OPTgk5TthT%2BFvwqnKwRcOIfrRh3c/LTo6UDdyJwOOvEVPvLXCrrrUtdnniCEXAMPLE/IvU1dYUg2RVAJBanLiHb4IgRmpRV3zrkuWJOgQs8IZZaIv2BXIa2R4OlgkBN9bkUDNCJiBeb/AXlzBBko7b15fjrBs2%2BcTQtpZ3CYWFXG8C5zqx37wnOE49mRl/%2BOtkIKGO7fAE%22%7D%2C%7B%22key%22%3A%22x-goog-cloud-target-resource%22%2C%22value%22%3A%22//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/POOL_ID/providers/PROVIDER_ID%22%7D%5D%2C%22method%22%3A%22POST%22%2C%22url%22%3A%22https%3A//sts.us-east-2.amazonaws.com%3FAction%3DGetCallerIdentity%26Version%3D2011-06-15%22%7D";
/// Golden vector V2: Python credentials without session token.
const PY_V2: &str = "%7B%22headers%22%3A%5B%7B%22key%22%3A%22Authorization%22%2C%22value%22%3A%22AWS4-HMAC-SHA256%20Credential%3DAKIAIOSFODNN7EXAMPLE/20200811/us-east-2/sts/aws4_request%2C%20SignedHeaders%3Dhost%3Bx-amz-date%2C%20Signature%3D9e722e5b7bfa163447e2a14df118b45ebd283c5aea72019bdf921d6e7dc01a9a%22%7D%2C%7B%22key%22%3A%22host%22%2C%22value%22%3A%22sts.us-east-2.amazonaws.com%22%7D%2C%7B%22key%22%3A%22x-amz-date%22%2C%22value%22%3A%2220200811T065522Z%22%7D%2C%7B%22key%22%3A%22x-goog-cloud-target-resource%22%2C%22value%22%3A%22//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/POOL_ID/providers/PROVIDER_ID%22%7D%5D%2C%22method%22%3A%22POST%22%2C%22url%22%3A%22https%3A//sts.us-east-2.amazonaws.com%3FAction%3DGetCallerIdentity%26Version%3D2011-06-15%22%7D";
/// Golden vector V3: Go credentials with session token, Python serialization.
const PY_V3: &str = "%7B%22headers%22%3A%5B%7B%22key%22%3A%22Authorization%22%2C%22value%22%3A%22AWS4-HMAC-SHA256%20Credential%3DASIARD4OQDT6A77FR3CL/20110909/us-east-2/sts/aws4_request%2C%20SignedHeaders%3Dhost%3Bx-amz-date%3Bx-amz-security-token%2C%20Signature%3Db299f1ed304caad2a1a5b3337ab50d41516b8ee4b9e4dc910c85f3d45dff75e2%22%7D%2C%7B%22key%22%3A%22host%22%2C%22value%22%3A%22sts.us-east-2.amazonaws.com%22%7D%2C%7B%22key%22%3A%22x-amz-date%22%2C%22value%22%3A%2220110909T233600Z%22%7D%2C%7B%22key%22%3A%22x-amz-security-token%22%2C%22value%22%3A%22IQoJb3JpZ2luX2VjEIz//////////wEaCXVzLWVhc3QtMiJGMEQCIH7MHX/Oy/OB8OlLQa9GrqU1B914%2BiMikqWQW7vPCKlgAiA/Lsv8Jcafn14owfxXn95FURZNKaaphj0ykpmS%2BKi%2BCSq0AwhlEAAaDDA3NzA3MTM5MTk5NiIMx9sAeP1ovlMTMKLjKpEDwuJQg41/QUKx0laTZYjPlQvjwSqS3OB9P1KAXPWSLkliVMMqaHqelvMF/WO/glv3KwuTfQsavRNs3v5pcSEm4SPO3l7mCs7KrQUHwGP0neZhIKxEXy%2BLs//1C/Bqt53NL%2BLSbaGv6RPHaX82laz2qElphg95aVLdYgIFY6JWV5fzyjgnhz0DQmy62/Vi8pNcM2/VnxeCQ8CC8dRDSt52ry2v%2Bnc77vstuI9xV5k8mPtnaPoJDRANh0bjwY5Sdwkbp%2BmGRUJBAQRlNgHUJusefXQgVKBCiyJY4w3Csd8Bgj9IyDV%2BAzuy1jQqfFZWgP68LSz5bURyIjlWDQunO82stZ0BgplKKAa/KJHBPCp8Qi6i99uy7qh76FQAqgVTsnDuU6fGpHDcsDSGoCls2HgZjZFPeOj8mmRhFk1Xqvkbjuz8V1cJk54d3gIJvQt8gD2D6yJQZecnuGWd5K2e2HohvCc8Fc9kBl1300nUJPV%2Bk4tr/A5R/0QfEKOZL1/k5lf1g9CREnrM8LVkGxCgdYMxLQow1uTL%2BQU67AHRRSp5PhhGX4Rek%2B01vdYSnJCMaPhSEgcLqDlQkhk6MPsyT91QMXcWmyO%2BcAZwUPwnRamFepuP4K8k2KVXs/LIJHLELwAZ0ekyaS7CptgOqS7uaSTFG3U%2BvzFZLEnGvWQ7y9IPNQZ%2BDffgh4p3vF4J68y9049sI6Sr5d5wbKkcbm8hdCDHZcv4lnqohquPirLiFQ3q7B17V9krMPu3mz1cg4Ekgcrn/E09NTsxAqD8NcZ7C7ECom9r%2BX3zkDOxaajW6hu3Az8hGlyylDaMiFfRbBJpTIlxp7jfa7CxikNgNtEKLH9iCzvuSg2vhA%3D%3D%22%7D%2C%7B%22key%22%3A%22x-goog-cloud-target-resource%22%2C%22value%22%3A%2232555940559.apps.googleusercontent.com%22%7D%5D%2C%22method%22%3A%22POST%22%2C%22url%22%3A%22https%3A//sts.us-east-2.amazonaws.com%3FAction%3DGetCallerIdentity%26Version%3D2011-06-15%22%7D";

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn py_creds(with_token: bool) -> AwsCredentials {
    AwsCredentials::new(
        ACCESS_KEY_ID,
        SECRET_ACCESS_KEY,
        with_token.then(|| TOKEN.to_owned()),
    )
}

fn go_creds(with_token: bool) -> AwsCredentials {
    AwsCredentials::new(
        GO_ACCESS_KEY_ID,
        GO_SECRET_ACCESS_KEY,
        with_token.then(|| GO_TOKEN.to_owned()),
    )
}

/// Python's credentials with a session token, signed for the default endpoint at Python's time,
/// target resource signed (our default).
fn py_signed_with_session() -> SignedRequest {
    sign(
        &py_creds(true),
        DEFAULT_REGIONAL_CRED_VERIFICATION_URL,
        AUDIENCE,
        PY_TIME,
        TargetResource::Signed,
    )
}

fn sign(
    creds: &AwsCredentials,
    template: &str,
    audience: &str,
    time: u64,
    target: TargetResource,
) -> SignedRequest {
    sign_get_caller_identity(creds, "us-east-2", template, audience, at(time), target)
        .expect("signing succeeds")
}

#[test]
fn signatures_match_the_python_and_go_signer_vectors() {
    let fips =
        "https://sts-fips.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15";
    let table = [
        (
            "python creds + token",
            py_creds(true),
            DEFAULT_REGIONAL_CRED_VERIFICATION_URL,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20200811/us-east-2/sts/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=596aa990b792d763465d73703e684ca273c45536c6d322c31be01a41d02e5b60",
        ),
        (
            "python creds, no token",
            py_creds(false),
            DEFAULT_REGIONAL_CRED_VERIFICATION_URL,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20200811/us-east-2/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=9e722e5b7bfa163447e2a14df118b45ebd283c5aea72019bdf921d6e7dc01a9a",
        ),
        (
            "python creds + token, fips host",
            py_creds(true),
            fips,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20200811/us-east-2/sts/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=9b27e912850bcfdde94f29f05c992022ad6ed0d40b31381a33e0da6cdb4c5a8f",
        ),
        (
            "go creds + token",
            go_creds(true),
            DEFAULT_REGIONAL_CRED_VERIFICATION_URL,
            "AWS4-HMAC-SHA256 Credential=ASIARD4OQDT6A77FR3CL/20200811/us-east-2/sts/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=73452984e4a880ffdc5c392355733ec3f5ba310d5e0609a89244440cadfe7a7a",
        ),
        (
            "go creds, no token",
            go_creds(false),
            DEFAULT_REGIONAL_CRED_VERIFICATION_URL,
            "AWS4-HMAC-SHA256 Credential=ASIARD4OQDT6A77FR3CL/20200811/us-east-2/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=d095ba304919cd0d5570ba8a3787884ee78b860f268ed040ba23831d55536d56",
        ),
    ];
    for (name, creds, template, want) in table {
        let signed = sign(
            &creds,
            template,
            AUDIENCE,
            PY_TIME,
            TargetResource::Unsigned,
        );
        assert_eq!(signed.authorization().expose_secret(), want, "{name}");
        assert_eq!(signed.amz_date(), "20200811T065522Z", "{name}");
        assert_eq!(signed.region(), "us-east-2", "{name}");
        assert_eq!(signed.service(), "sts", "{name}");
    }
}

#[test]
fn subject_tokens_match_python_byte_for_byte_when_the_target_is_unsigned() {
    let table = [
        ("V1", py_creds(true), AUDIENCE, PY_TIME, PY_V1),
        ("V2", py_creds(false), AUDIENCE, PY_TIME, PY_V2),
        ("V3", go_creds(true), GO_AUDIENCE, GO_TIME, PY_V3),
    ];
    for (name, creds, audience, time, want) in table {
        let signed = sign(
            &creds,
            DEFAULT_REGIONAL_CRED_VERIFICATION_URL,
            audience,
            time,
            TargetResource::Unsigned,
        );
        let token = signed.subject_token();
        assert_eq!(token.secret().expose_secret(), want, "{name}");
        // The golden tokens verify with the independent verifier too (it is not vacuous).
        let decoded = support::decode(want);
        let secret = if name == "V3" {
            GO_SECRET_ACCESS_KEY
        } else {
            SECRET_ACCESS_KEY
        };
        support::verify(&decoded, secret).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn signed_target_resource_verifies_independently() {
    for (name, creds, secret) in [
        ("python creds + token", py_creds(true), SECRET_ACCESS_KEY),
        ("python creds, no token", py_creds(false), SECRET_ACCESS_KEY),
        ("go creds + token", go_creds(true), GO_SECRET_ACCESS_KEY),
    ] {
        let signed = sign(
            &creds,
            DEFAULT_REGIONAL_CRED_VERIFICATION_URL,
            AUDIENCE,
            PY_TIME,
            TargetResource::Signed,
        );
        let decoded = support::decode(signed.subject_token().secret().expose_secret());
        let mut want_signed = vec!["host", "x-amz-date"];
        if creds.session_token().is_some() {
            want_signed.push("x-amz-security-token");
        }
        want_signed.push("x-goog-cloud-target-resource");
        assert_eq!(decoded.signed_headers(), want_signed, "{name}");
        assert_eq!(
            decoded.header("x-goog-cloud-target-resource"),
            Some(AUDIENCE)
        );
        assert_eq!(decoded.method, "POST");
        assert_eq!(
            decoded.url,
            "https://sts.us-east-2.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
        );
        support::verify(&decoded, secret).unwrap_or_else(|e| panic!("{name}: {e}"));

        // Tampering with the audience must break the signature: it really is signed.
        let mut tampered = decoded;
        for (k, v) in &mut tampered.headers {
            if k == "x-goog-cloud-target-resource" {
                *v = "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/other/providers/p".into();
            }
        }
        assert!(support::verify(&tampered, secret).is_err(), "{name}");
    }
}

#[test]
fn serialization_keeps_python_key_order_and_header_order() {
    let signed = py_signed_with_session();
    let decoded = support::decode(signed.subject_token().secret().expose_secret());
    assert!(
        decoded
            .json
            .starts_with(r#"{"headers":[{"key":"Authorization","value":"#)
    );
    assert!(decoded.json.ends_with(
        r#"],"method":"POST","url":"https://sts.us-east-2.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"}"#
    ));
    assert_eq!(
        decoded.header_keys(),
        [
            "Authorization",
            "host",
            "x-amz-date",
            "x-amz-security-token",
            "x-goog-cloud-target-resource"
        ]
    );
    assert_eq!(decoded.header("x-amz-security-token"), Some(TOKEN));
}

#[test]
fn signed_request_debug_hides_the_signature_and_session_token() {
    let signed = py_signed_with_session();
    let shown = format!("{signed:?} {:?}", signed.subject_token());
    assert!(!shown.contains("Signature="), "{shown}");
    assert!(!shown.contains("AQoEXAMPLE"), "{shown}");
    assert!(!shown.contains("EXAMPLEKEY"), "{shown}");
    assert!(shown.contains("sts.us-east-2.amazonaws.com"), "{shown}");
}
