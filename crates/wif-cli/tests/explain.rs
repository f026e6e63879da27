//! `wif explain` against the emulator, one injected misconfiguration at a time: each names its
//! cause (the stable `[cause]` id of docs/troubleshooting.md) and its fix, exits non-zero, and
//! prints no secret; a healthy chain prints all five steps and exits 0, in text and JSON.
//!
//! The real binary runs with a cleared environment (support's `wif_command`) against
//! `wif_emulator` on a multi-thread runtime in this process.
//!
//! Clock skew: the emulator keeps real time, so the client's clock is shifted instead, with
//! `wif explain`'s hidden `--clock-offset SECONDS`: the AWS request is signed 20 minutes in the
//! past, AWS (the emulator) refuses it as it would, and the skew is measured from the response's
//! `Date` header against the shifted clock.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;
#[path = "explain/world.rs"]
mod world;

use serde_json::{Value, json};
use support::{run_within, wif_command};
use wif_emulator::config::DEFAULT_SERVICE_ACCOUNT;
use wif_emulator::configs::aws_config;
use wif_emulator::{EmulatorConfig, Endpoint, Fault, ServiceAccount};
use world::{World, assert_contains, causes, edited, json_of, step};

#[test]
fn a_healthy_lambda_chain_prints_all_five_steps_and_exits_0() {
    let world = World::healthy();
    let run = world.lambda(&[]);
    run.assert_code(0);
    assert_contains(
        &run,
        &[
            "1. Configuration: ok",
            "2. Subject token: ok",
            "3. Google STS token exchange: ok",
            "4. Service account impersonation: ok",
            "5. Access token: ok",
            "why: ",
            "region from AWS_REGION",
            "ASIAEMULATOR00000001",
            "session token present yes",
            "wif-demo-pool",
            DEFAULT_SERVICE_ACCOUNT,
            "expires in (s)",
            "(add --call-aws to ask AWS now)",
            "result: ok",
        ],
    );
    assert!(run.stdout.contains(" ms]"), "timings: {}", run.stdout);
    assert!(run.stderr.is_empty(), "stderr: {}", run.stderr);
}

#[test]
fn the_healthy_chain_in_json_is_the_documented_shape() {
    let world = World::healthy();
    let run = world.lambda(&["--format", "json", "--call-aws"]);
    run.assert_code(0);
    let report = json_of(&run);
    assert_eq!(report["schema"], "wif-explain/v1");
    assert_eq!(report["ok"], true);
    assert_eq!(report["failed_step"], Value::Null);
    let steps = report["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["config", "source", "exchange", "impersonation", "token"]
    );
    for (i, s) in steps.iter().enumerate() {
        assert_eq!(s["status"], "ok", "{s:#}");
        assert_eq!(s["number"], i + 1);
        assert!(s["why"].as_str().is_some_and(|w| !w.is_empty()), "{s:#}");
        assert!(s["proved"].as_str().is_some(), "{s:#}");
        assert_eq!(s["error"], Value::Null);
        assert_eq!(s["diagnoses"], json!([]));
    }
    let config = step(&report, "config");
    assert_eq!(config["used"]["project_number"], "123456789012");
    assert_eq!(config["used"]["pool"], "wif-demo-pool");
    assert_eq!(config["used"]["provider"], "aws");
    assert_eq!(config["used"]["impersonate"], DEFAULT_SERVICE_ACCOUNT);
    let aws = &world.emulator.config().aws;
    let source = step(&report, "source");
    assert_eq!(source["used"]["access_key_id"], aws.access_key_id.as_str());
    assert_eq!(source["used"]["session_token_present"], true);
    assert_eq!(source["used"]["caller_arn"], aws.assumed_role_arn());
    assert_eq!(source["used"]["account"], aws.account.as_str());
    assert_eq!(source["used"]["aws_role_attribute"], aws.role_arn());
    assert!(source["elapsed_ms"].as_f64().is_some());
    let token = step(&report, "token");
    assert_eq!(token["used"]["token_type"], "Bearer");
    assert!(token["used"]["expires_in_seconds"].as_u64().unwrap() > 3500);
}

#[test]
fn ec2_with_imdsv2_shows_where_region_and_credentials_came_from() {
    let world = World::healthy();
    let run = world.explain(&world.path("aws-ec2-imdsv2.json"), &[], &[]);
    run.assert_code(0);
    assert_contains(
        &run,
        &[
            "region from instance metadata (IMDSv2)",
            "instance metadata (IMDSv2), role wif-demo-lambda-role",
            "result: ok",
        ],
    );
}

#[test]
fn a_file_source_shows_the_jwt_claims_but_never_the_token() {
    let world = World::healthy();
    let run = world.explain(&world.path("file.json"), &["--format", "json"], &[]);
    run.assert_code(0);
    let report = json_of(&run);
    let source = step(&report, "source");
    assert_eq!(
        source["used"]["subject"],
        wif_emulator::configs::FILE_TOKEN_SUBJECT
    );
    assert_eq!(
        source["used"]["token_audience"],
        json!([world.emulator.config().oidc_audience()])
    );
    assert!(
        source["used"]["token_format"]
            .as_str()
            .unwrap()
            .contains("signature is not shown"),
        "{source:#}"
    );
    let exp = source["used"]["expires_at"].as_str().unwrap();
    assert!(
        exp.len() == 20 && exp.ends_with('Z'),
        "RFC 3339 in JSON: {exp}"
    );
    assert!(source["used"]["token_bytes"].as_u64().unwrap() > 100);

    let run = world.explain(&world.path("file.json"), &[], &[]);
    run.assert_code(0);
    assert_contains(
        &run,
        &[
            &format!("expires (exp) {exp} (in 167 h"),
            "subject (sub) wif-demo-file-workload",
            "pool type workload identity pool",
        ],
    );
}

#[test]
fn attribute_condition() {
    let mut config = EmulatorConfig::default();
    config.condition.account = Some("999999999999".into());
    let world = World::new(config);
    let run = world.lambda(&["--call-aws"]);
    run.assert_code(1);
    assert_contains(
        &run,
        &[
            "3. Google STS token exchange: FAILED",
            "The given credential is rejected by the attribute condition.",
            "cause: the provider's attribute condition rejected this identity [attribute_condition]",
            "the caller was arn:aws:sts::123456789012:assumed-role/wif-demo-lambda-role/wif-demo-function (account 123456789012",
            "fix: read the condition with `gcloud iam workload-identity-pools providers describe aws --workload-identity-pool=wif-demo-pool --location=global --format='value(attributeCondition)'`",
            "4. Service account impersonation: skipped",
            "result: FAILED at step 3",
        ],
    );
    assert!(run.stderr.contains("attribute condition"), "{}", run.stderr);
}

#[test]
fn wrong_audience_project_id_instead_of_number() {
    let world = World::healthy();
    let config = edited(&world, "aws-lambda.json", |c| {
        c["audience"] = json!(
            "//iam.googleapis.com/projects/wif-demo/locations/global/workloadIdentityPools/wif-demo-pool/providers/aws"
        );
    });
    let run = world.explain(&config, &[], &world.lambda_env());
    run.assert_code(1);
    assert_contains(
        &run,
        &[
            "warning: audience: `projects/wif-demo` must be the project NUMBER",
            "Invalid value for \"audience\"",
            "[audience_format]",
            "fix: use //iam.googleapis.com/projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/POOL_ID/providers/PROVIDER_ID",
        ],
    );
}

#[test]
fn wrong_audience_unknown_or_disabled_provider() {
    let world = World::healthy();
    let config = edited(&world, "aws-lambda.json", |c| {
        c["audience"] = json!(
            "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/wif-demo-pool/providers/aws-prod"
        );
    });
    let run = world.explain(&config, &["--format", "json"], &world.lambda_env());
    run.assert_code(1);
    let report = json_of(&run);
    assert_eq!(report["ok"], false);
    assert_eq!(report["failed_step"], "exchange");
    let exchange = step(&report, "exchange");
    assert_eq!(exchange["status"], "failed");
    assert_eq!(exchange["error"]["server"]["code"], "invalid_target");
    assert_eq!(causes(exchange), ["provider_not_found"]);
    let fix = exchange["diagnoses"][0]["fix"].as_str().unwrap();
    assert!(
        fix.contains("providers describe aws-prod --workload-identity-pool=wif-demo-pool"),
        "{fix}"
    );
    assert_eq!(step(&report, "impersonation")["status"], "skipped");
    assert_eq!(step(&report, "token")["status"], "skipped");
}

/// A service account the role may not impersonate.
fn no_binding() -> EmulatorConfig {
    let mut config = EmulatorConfig::default();
    config.service_accounts = vec![ServiceAccount::new(
        DEFAULT_SERVICE_ACCOUNT,
        Vec::<String>::new(),
    )];
    config
}

#[test]
fn missing_impersonation_permission_names_the_exact_binding_and_it_works() {
    let world = World::new(no_binding());
    let run = world.lambda(&["--call-aws", "--format", "json"]);
    run.assert_code(1);
    let report = json_of(&run);
    assert_eq!(step(&report, "exchange")["status"], "ok");
    let imp = step(&report, "impersonation");
    assert_eq!(imp["error"]["status"], 403);
    assert_eq!(causes(imp), ["missing_workload_identity_user"]);
    let fix = imp["diagnoses"][0]["fix"].as_str().unwrap();
    let member = world.emulator.config().principal_set_for_role();
    let expected = format!(
        "gcloud iam service-accounts add-iam-policy-binding {DEFAULT_SERVICE_ACCOUNT} --role=roles/iam.workloadIdentityUser --member=\"{member}\""
    );
    assert!(fix.starts_with(&expected), "{fix}\nwant: {expected}");

    // Granting exactly that member fixes the chain.
    let mut fixed = no_binding();
    fixed.service_accounts = vec![ServiceAccount::new(DEFAULT_SERVICE_ACCOUNT, [member])];
    let world = World::new(fixed);
    world.lambda(&[]).assert_code(0);
}

#[test]
fn missing_impersonation_permission_without_call_aws_says_how_to_fill_in_the_member() {
    let world = World::new(no_binding());
    let run = world.lambda(&[]);
    run.assert_code(1);
    assert_contains(
        &run,
        &[
            "4. Service account impersonation: FAILED",
            "[missing_workload_identity_user]",
            "--role=roles/iam.workloadIdentityUser --member=\"principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/wif-demo-pool/attribute.aws_role/arn:aws:sts::AWS_ACCOUNT_ID:assumed-role/ROLE_NAME\"",
            "run `wif explain --call-aws`",
            "The STS exchange succeeded",
        ],
    );
}

#[test]
fn clock_skew_is_measured_from_the_date_header() {
    let world = World::healthy();
    // 20 minutes behind: past AWS's 15-minute window.
    let run = world.lambda(&["--clock-offset", "-1200", "--format", "json"]);
    run.assert_code(1);
    let report = json_of(&run);
    let exchange = step(&report, "exchange");
    assert_eq!(exchange["status"], "failed");
    assert!(
        causes(exchange).contains(&"clock_skew".to_owned()),
        "{exchange:#}"
    );
    let skew = exchange["used"]["clock_skew_seconds"].as_i64().unwrap();
    assert!((1195..=1205).contains(&skew), "skew {skew}");
    let diagnosis = &exchange["diagnoses"][0];
    assert!(
        diagnosis["explanation"]
            .as_str()
            .unwrap()
            .contains("behind the server's (from the response's Date header)"),
        "{diagnosis:#}"
    );
    assert!(
        diagnosis["fix"].as_str().unwrap().contains("NTP"),
        "{diagnosis:#}"
    );
    assert!(
        exchange["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Signature expired"),
        "{exchange:#}"
    );
}

#[test]
fn clock_skew_shows_already_when_asking_aws() {
    let world = World::healthy();
    let run = world.lambda(&["--clock-offset", "-1200", "--call-aws"]);
    run.assert_code(1);
    assert_contains(
        &run,
        &[
            "2. Subject token: FAILED",
            "SignatureDoesNotMatch",
            "cause: this machine's clock is wrong [clock_skew]",
            "min",
            "behind the server's",
            "3. Google STS token exchange: skipped",
        ],
    );
}

/// A Lambda function whose session ARN is over 127 bytes.
fn long_session() -> EmulatorConfig {
    let mut config = EmulatorConfig::default();
    config.aws.role = "payments-reconciliation-lambda-execution-role".into();
    config.aws.session_name = "payments-reconciliation-nightly-settlement-batch-fn".into();
    assert!(config.aws.assumed_role_arn().len() > 127);
    // Keep the condition and the impersonation binding in step with the longer role.
    let role_set = config.principal_set_for_role();
    config.service_accounts = vec![ServiceAccount::new(DEFAULT_SERVICE_ACCOUNT, [role_set])];
    config
}

#[test]
fn long_session_arn() {
    let world = World::new(long_session());
    let run = world.lambda(&[]);
    run.assert_code(1);
    assert_contains(
        &run,
        &[
            "The size of mapped attribute google.subject exceeds the 127 bytes limit",
            "cause: the mapped google.subject is longer than 127 bytes [google_subject_too_long]",
            "fix: map the role without the session: gcloud iam workload-identity-pools providers update-aws aws --workload-identity-pool=wif-demo-pool --location=global --attribute-mapping=\"google.subject=assertion.arn.extract('{account_arn}assumed-role/') + 'assumed-role/' + assertion.arn.extract('assumed-role/{role_name}/')",
        ],
    );
}

#[test]
fn long_session_arn_is_predicted_with_call_aws() {
    let world = World::new(long_session());
    let run = world.lambda(&["--call-aws"]);
    run.assert_code(1);
    let arn = world.emulator.config().aws.assumed_role_arn();
    let role = world.emulator.config().aws.role_arn();
    assert_contains(
        &run,
        &[
            &format!("warning: the session ARN is {} bytes", arn.len()),
            &format!("(gives {role}, {} bytes)", role.len()),
            &format!("the ARN {arn} is {} bytes", arn.len()),
            "[google_subject_too_long]",
        ],
    );
}

#[test]
fn imdsv2_required() {
    let mut config = EmulatorConfig::default();
    config.imdsv2_required = true;
    let world = World::new(config);
    let v1 = world.write("aws-ec2-imdsv1.json", &aws_config(&world.emulator, false));
    let run = world.explain(&v1, &[], &[]);
    run.assert_code(1);
    assert_contains(
        &run,
        &[
            "2. Subject token: FAILED",
            "HTTP 401",
            "cause: the instance requires IMDSv2 [imdsv2_required]",
            "fix: add \"imdsv2_session_token_url\": \"http://169.254.169.254/latest/api/token\"",
            "--enable-imdsv2",
        ],
    );
}

#[test]
fn no_region() {
    let world = World::healthy();
    let config = edited(&world, "aws-lambda.json", |c| {
        c["credential_source"]
            .as_object_mut()
            .unwrap()
            .remove("region_url");
    });
    let env: Vec<(String, String)> = world
        .lambda_env()
        .into_iter()
        .filter(|(k, _)| k != "AWS_REGION")
        .collect();
    let run = world.explain(&config, &[], &env);
    // A missing region is a configuration problem: `wif token` exits 2 for it too.
    run.assert_code(2);
    assert_contains(
        &run,
        &[
            "cause: no AWS region [no_region]",
            "fix: set AWS_REGION",
            "\"region_url\": \"http://169.254.169.254/latest/meta-data/placement/availability-zone\"",
        ],
    );
}

#[test]
fn a_missing_configuration_is_a_config_failure() {
    let world = World::healthy();
    let run = world.explain(&world.path("nope.json"), &[], &[]);
    run.assert_code(2);
    assert_contains(
        &run,
        &[
            "1. Configuration: FAILED",
            "nope.json`: not found",
            "[invalid_config]",
            "2. Subject token: skipped",
        ],
    );
}

#[test]
fn a_wrong_secret_key_is_named_from_aws_s_answer() {
    let world = World::healthy();
    let env: Vec<(String, String)> = world
        .lambda_env()
        .into_iter()
        .map(|(k, v)| match k.as_str() {
            "AWS_SECRET_ACCESS_KEY" => (k, "not-the-role-secret-0000000000000".to_owned()),
            _ => (k, v),
        })
        .collect();
    let run = world.explain(&world.path("aws-lambda.json"), &[], &env);
    run.assert_code(1);
    assert_contains(
        &run,
        &[
            "3. Google STS token exchange: FAILED",
            "SignatureDoesNotMatch",
            "[aws_signature_mismatch]",
            "the secret access key does not belong to the access key id",
        ],
    );
    assert!(
        !run.stdout.contains("not-the-role-secret"),
        "{}",
        run.stdout
    );
}

#[test]
fn without_credentials_or_adc_the_config_step_says_where_it_looked() {
    let world = World::healthy();
    let home = world.dir.path().join("home");
    let run = run_within(&["explain", "--format", "json"], wif_command(&home));
    run.assert_code(2);
    let report = json_of(&run);
    assert_eq!(report["failed_step"], "config");
    assert_eq!(causes(step(&report, "config")), ["credentials_not_found"]);

    // With GOOGLE_APPLICATION_CREDENTIALS, ADC finds the file and says so.
    let mut command = wif_command(&home);
    command.env("GOOGLE_APPLICATION_CREDENTIALS", world.path("file.json"));
    let run = run_within(&["explain", "--format", "json"], command);
    run.assert_code(0);
    let report = json_of(&run);
    assert_eq!(
        step(&report, "config")["used"]["found_by"],
        "GOOGLE_APPLICATION_CREDENTIALS"
    );
    world.assert_no_secrets(&run);
}

#[test]
fn no_aws_credentials() {
    let world = World::healthy();
    let config = edited(&world, "aws-lambda.json", |c| {
        c["credential_source"]
            .as_object_mut()
            .unwrap()
            .remove("url");
    });
    let env = vec![("AWS_REGION".to_owned(), "us-east-1".to_owned())];
    let run = world.explain(&config, &[], &env);
    run.assert_code(2);
    assert_contains(&run, &["cause: no AWS credentials [no_aws_credentials]"]);
}

#[test]
fn a_service_account_that_does_not_exist() {
    let world = World::healthy();
    let config = edited(&world, "aws-lambda.json", |c| {
        let url = c["service_account_impersonation_url"].as_str().unwrap();
        let url = url.replace("wif-demo-writer@", "wif-demo-writter@");
        c["service_account_impersonation_url"] = json!(url);
    });
    let run = world.explain(&config, &[], &world.lambda_env());
    run.assert_code(1);
    assert_contains(
        &run,
        &[
            "HTTP 404",
            "[service_account_not_found]",
            "wif-demo-writter@wif-demo.iam.gserviceaccount.com",
        ],
    );
}

#[test]
fn sts_rate_limit_after_retries() {
    let world = World::healthy();
    world
        .emulator
        .faults()
        .set(Endpoint::GoogleSts, Fault::fail_next(10, 429));
    let run = world.lambda(&[]);
    run.assert_code(1);
    assert_contains(&run, &["HTTP 429", "[sts_quota]", "(retryable)"]);
}

#[test]
fn an_unreachable_token_url() {
    let world = World::healthy();
    let config = edited(&world, "aws-lambda.json", |c| {
        c["token_url"] = json!("http://127.0.0.1:9/v1/token");
    });
    let run = world.explain(&config, &[], &world.lambda_env());
    run.assert_code(1);
    assert_contains(&run, &["could not connect", "[unreachable]", "HTTPS_PROXY"]);
}
