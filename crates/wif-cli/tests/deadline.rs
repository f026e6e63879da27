//! `wif token --deadline`: a chain slower than the deadline ends there, with the step that was
//! running named; malformed durations are usage errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;
use wif_core::testing::{assert_says, server_answering};
use wiremock::ResponseTemplate;

#[test]
fn a_chain_slower_than_the_deadline_ends_there_naming_the_step() {
    let world = World::new();
    let slow = ResponseTemplate::new(503).set_delay(Duration::from_secs(30));
    let sts = world.runtime.block_on(server_answering("POST", slow));
    let config = json!({
        "type": "external_account",
        "audience": wif::testing::FAKE_AUDIENCE,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": format!("{}/v1/token", sts.uri()),
        "credential_source": {"file": world.dir.path().join("subject-token")},
    });
    let config = world.write_config("slow.json", &config.to_string());
    for flag in [["--deadline", "1500ms"], ["--deadline", "1s"]] {
        let run = run_within(
            &[
                "token",
                "--credentials",
                path_str(&config),
                flag[0],
                flag[1],
            ],
            wif_command(&world.home()),
        );
        run.assert_code(1).assert_stderr_clean(&[SUBJECT]);
        let want = if flag[1] == "1s" { "1.0s" } else { "1.5s" };
        assert_says(
            &run.stderr,
            &[
                &format!("did not finish within its deadline of {want}"),
                "it was at the STS token exchange",
                "(retryable)",
            ],
        );
    }
}

#[test]
fn malformed_deadlines_are_usage_errors() {
    let world = World::new();
    let config = world.config(None);
    for bad in ["0", "0s", "soon", "5h", "1.5s", ""] {
        let run = world.token(&config, &["--deadline", bad]);
        run.assert_code(2);
        assert!(run.stderr.contains("--deadline"), "{bad}: {}", run.stderr);
    }
    // Accepted spellings reach a token.
    for good in ["30", "30s", "2m", "20000ms"] {
        world.token(&config, &["--deadline", good]).assert_code(0);
    }
}
