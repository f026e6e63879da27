//! `wif token` and `wif explain` against an STS that quotes the request in its error, as the
//! issue's reproduction did: neither prints the AWS session token, the secret key or the SigV4
//! signature of the subject token, in any spelling, on stdout or stderr.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;

use serde_json::json;
use support::*;
use wif_core::testing::{EchoRequest, Quote, assert_no_secrets, server_answering};
use wiremock::Mock;
use wiremock::matchers::method;

const SECRET: &str = "AWS-SECRET-KEY-echo-4b3a2f";
const SESSION: &str = "AWS-SESSION-TOKEN-echo+base64/8c7d==";

/// The SigV4 signature inside the subject token the echoing server received.
fn signature_sent(requests: &[wiremock::Request]) -> String {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&requests[0].body)
        .into_owned()
        .collect();
    let subject = form_value(&form, "subject_token").expect("a subject token");
    let json = percent_encoding::percent_decode_str(subject)
        .decode_utf8()
        .unwrap()
        .into_owned();
    let (_, rest) = json.split_once("Signature=").expect("a SigV4 signature");
    rest.split(['"', ',']).next().unwrap().to_owned()
}

#[test]
fn token_and_explain_print_no_aws_secret_an_echoing_sts_quotes() {
    let world = World::new();
    for part in [Quote::FormTwice, Quote::Json, Quote::Body] {
        let sts = world.runtime.block_on(server_answering(
            "POST",
            EchoRequest::oauth(400).quoting(part),
        ));
        let config = json!({
            "type": "external_account",
            "audience": wif::testing::FAKE_AUDIENCE,
            "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
            "token_url": format!("{}/v1/token", sts.uri()),
            "credential_source": {
                "environment_id": "aws1",
                "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
            },
        });
        let config = world.write_config("aws-echo.json", &config.to_string());
        let env: [(&str, &Path); 4] = [
            ("AWS_ACCESS_KEY_ID", Path::new("ASIAECHOKEY")),
            ("AWS_SECRET_ACCESS_KEY", Path::new(SECRET)),
            ("AWS_SESSION_TOKEN", Path::new(SESSION)),
            ("AWS_REGION", Path::new("eu-west-1")),
        ];
        for args in [
            vec!["token", "--credentials", path_str(&config)],
            vec!["explain", "--credentials", path_str(&config)],
        ] {
            let run = world.wif(&args, &env);
            assert_ne!(run.code, Some(0), "{}: {}", run.what, run.stderr);
            let requests = world
                .runtime
                .block_on(sts.received_requests())
                .unwrap_or_default();
            let signature = signature_sent(&requests);
            let printed = format!("{}\n{}", run.stdout, run.stderr);
            assert!(
                printed.contains("invalid_request"),
                "{part:?} {}: the server's words are shown: {printed}",
                run.what
            );
            assert_no_secrets(
                &format!("{part:?} {}", run.what),
                &printed,
                &[SESSION, SECRET, &signature],
            );
            world.runtime.block_on(sts.reset());
            world.runtime.block_on(
                Mock::given(method("POST"))
                    .respond_with(EchoRequest::oauth(400).quoting(part))
                    .mount(&sts),
            );
        }
    }
}
