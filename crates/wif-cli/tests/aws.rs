//! The `wif` binary with gcloud's `--aws` credential configurations: Lambda (environment
//! credentials, no metadata service), EC2 with IMDSv2 and IMDSv1, and permanent keys — against
//! a wiremock instance metadata service and `FakeGoogle`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::*;
use wif_core::testing::assert_says;
use wiremock::matchers::{header, header_exists, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const AKID: &str = "ASIAEXAMPLEAKID12345";
const SECRET: &str = "AWS-SECRET-KEY-do-not-leak-9f8e7d";
const SESSION: &str = "AWS-SESSION-TOKEN-do-not-leak-1a2b3c";
const IMDS_TOKEN: &str = "imdsv2-session-token-xyz";

struct Aws {
    world: World,
    imds: MockServer,
}

impl Aws {
    fn new() -> Self {
        let world = World::new();
        let imds = world.runtime.block_on(MockServer::start());
        Aws { world, imds }
    }

    /// A config as `gcloud iam workload-identity-pools create-cred-config --aws
    /// [--enable-imdsv2]` writes it, with the metadata URLs pointing at the fake IMDS.
    fn config(&self, environment_id: &str, imdsv2: bool) -> std::path::PathBuf {
        let base = self.imds.uri();
        let mut source = json!({
            "environment_id": environment_id,
            "region_url": format!("{base}/latest/meta-data/placement/availability-zone"),
            "url": format!("{base}/latest/meta-data/iam/security-credentials"),
            "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
        });
        if imdsv2 {
            source["imdsv2_session_token_url"] = json!(format!("{base}/latest/api/token"));
        }
        let config = json!({
            "universe_domain": "googleapis.com",
            "type": "external_account",
            "audience": wif::testing::FAKE_AUDIENCE,
            "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
            "token_url": self.world.google.token_url(),
            "credential_source": source,
        });
        self.world.write_config("aws.json", &config.to_string())
    }

    fn mount_metadata(&self, require_token: bool) {
        let rt = &self.world.runtime;
        let get = |p: &str| {
            let m = Mock::given(method("GET")).and(path(p.to_owned()));
            if require_token {
                m.and(header("x-aws-ec2-metadata-token", IMDS_TOKEN))
            } else {
                m
            }
        };
        rt.block_on(async {
            Mock::given(method("PUT"))
                .and(path("/latest/api/token"))
                .and(header_exists("x-aws-ec2-metadata-token-ttl-seconds"))
                .respond_with(ResponseTemplate::new(200).set_body_string(IMDS_TOKEN))
                .mount(&self.imds)
                .await;
            get("/latest/meta-data/placement/availability-zone")
                .respond_with(ResponseTemplate::new(200).set_body_string("eu-west-3b"))
                .mount(&self.imds)
                .await;
            get("/latest/meta-data/iam/security-credentials")
                .respond_with(ResponseTemplate::new(200).set_body_string("ec2-role"))
                .mount(&self.imds)
                .await;
            get("/latest/meta-data/iam/security-credentials/ec2-role")
                .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                    "Code": "Success", "Type": "AWS-HMAC",
                    "AccessKeyId": AKID, "SecretAccessKey": SECRET, "Token": SESSION,
                    "Expiration": "2099-01-01T00:00:00Z"
                })))
                .mount(&self.imds)
                .await;
            // Tokenless GETs when v2 is required: what a real IMDSv2-only instance answers.
            Mock::given(method("GET"))
                .respond_with(ResponseTemplate::new(401))
                .mount(&self.imds)
                .await;
        });
    }

    fn imds_requests(&self) -> Vec<wiremock::Request> {
        self.world
            .runtime
            .block_on(self.imds.received_requests())
            .unwrap_or_default()
    }

    /// The signed AWS request inside the STS exchange's subject token.
    fn signed_request(&self) -> Value {
        let form = self.world.sts_form();
        let token = form_value(&form, "subject_token").expect("subject_token sent");
        let decoded = percent_decode(token);
        serde_json::from_str(&decoded).expect("subject token is URL-encoded JSON")
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn header_value<'a>(req: &'a Value, name: &str) -> Option<&'a str> {
    req["headers"]
        .as_array()?
        .iter()
        .find(|h| {
            h["key"]
                .as_str()
                .is_some_and(|k| k.eq_ignore_ascii_case(name))
        })
        .and_then(|h| h["value"].as_str())
}

fn lambda_env() -> Vec<(&'static str, &'static Path)> {
    vec![
        ("AWS_ACCESS_KEY_ID", Path::new(AKID)),
        ("AWS_SECRET_ACCESS_KEY", Path::new(SECRET)),
        ("AWS_SESSION_TOKEN", Path::new(SESSION)),
        ("AWS_REGION", Path::new("us-east-2")),
    ]
}

#[test]
fn lambda_env_credentials_make_zero_metadata_calls() {
    let aws = Aws::new();
    aws.mount_metadata(true);
    let config = aws.config("aws1", true);
    let run = aws.world.token_with_env(&config, &lambda_env());
    run.assert_code(0).assert_stderr_clean(&[SECRET, SESSION]);
    assert_eq!(run.stdout, "federated-1\n");
    assert!(
        aws.imds_requests().is_empty(),
        "Lambda has no metadata service: env credentials + env region must not touch it"
    );
    let req = aws.signed_request();
    assert_eq!(req["method"], "POST");
    assert_eq!(
        req["url"],
        "https://sts.us-east-2.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
    );
    let auth = header_value(&req, "Authorization").unwrap();
    assert!(
        auth.starts_with(&format!("AWS4-HMAC-SHA256 Credential={AKID}/")),
        "{auth}"
    );
    assert!(auth.contains("/us-east-2/sts/aws4_request"), "{auth}");
    assert!(
        auth.contains("x-goog-cloud-target-resource"),
        "target resource is signed: {auth}"
    );
    assert_eq!(header_value(&req, "x-amz-security-token"), Some(SESSION));
    assert_eq!(
        header_value(&req, "x-goog-cloud-target-resource"),
        Some(wif::testing::FAKE_AUDIENCE)
    );
    assert!(!auth.contains(SECRET));
}

#[test]
fn ec2_imdsv2_uses_exactly_one_session_token_put() {
    let aws = Aws::new();
    aws.mount_metadata(true);
    let config = aws.config("aws1", true);
    let run = aws.world.token(&config, &[]);
    run.assert_code(0)
        .assert_stderr_clean(&[SECRET, SESSION, IMDS_TOKEN]);
    let requests = aws.imds_requests();
    let puts = requests
        .iter()
        .filter(|r| r.method.as_str() == "PUT")
        .count();
    assert_eq!(
        puts, 1,
        "one IMDSv2 session token per refresh, reused: {requests:?}"
    );
    let paths: Vec<&str> = requests.iter().map(|r| r.url.path()).collect();
    assert!(
        paths.contains(&"/latest/meta-data/placement/availability-zone"),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"/latest/meta-data/iam/security-credentials/ec2-role"),
        "{paths:?}"
    );
    let req = aws.signed_request();
    assert_eq!(
        req["url"],
        "https://sts.eu-west-3.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
        "region from the availability zone"
    );
    assert_eq!(header_value(&req, "x-amz-security-token"), Some(SESSION));
}

#[test]
fn ec2_imdsv1_sends_no_session_token() {
    let aws = Aws::new();
    aws.mount_metadata(false);
    let config = aws.config("aws1", false);
    let run = aws.world.token(&config, &[]);
    run.assert_code(0);
    let requests = aws.imds_requests();
    assert!(
        requests.iter().all(|r| r.method.as_str() == "GET"),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .all(|r| r.headers.get("x-aws-ec2-metadata-token").is_none()),
        "IMDSv1 GETs carry no token"
    );
    assert_eq!(requests.len(), 3, "region, role name, role credentials");
}

#[test]
fn imdsv2_required_instance_with_a_v1_config_fails_with_a_hint() {
    let aws = Aws::new();
    aws.mount_metadata(true);
    let config = aws.config("aws1", false);
    let run = aws.world.token(&config, &[]);
    run.assert_code(1);
    assert_says(&run.stderr, &["IMDSv2", "hint:"]);
    assert!(
        aws.world.requests().is_empty(),
        "no STS call after a source failure"
    );
}

#[test]
fn permanent_keys_sign_without_a_session_token() {
    let aws = Aws::new();
    let config = aws.config("aws1", true);
    let env = [
        ("AWS_ACCESS_KEY_ID", Path::new("AKIAPERMANENTKEY0001")),
        ("AWS_SECRET_ACCESS_KEY", Path::new(SECRET)),
        ("AWS_DEFAULT_REGION", Path::new("ap-southeast-1")),
    ];
    let run = aws.world.token_with_env(&config, &env);
    run.assert_code(0);
    let req = aws.signed_request();
    assert_eq!(header_value(&req, "x-amz-security-token"), None);
    let auth = header_value(&req, "Authorization").unwrap();
    assert!(!auth.contains("x-amz-security-token"), "{auth}");
    assert!(auth.contains("/ap-southeast-1/sts/"), "{auth}");
    assert!(aws.imds_requests().is_empty());
}

#[test]
fn unsupported_environment_id_fails_before_any_network_call() {
    let aws = Aws::new();
    aws.mount_metadata(true);
    let config = aws.config("aws2", true);
    let run = aws.world.token_with_env(&config, &lambda_env());
    run.assert_code(2);
    assert!(run.stderr.contains("environment_id"), "{}", run.stderr);
    assert!(aws.imds_requests().is_empty());
    assert!(aws.world.requests().is_empty());
}

#[test]
fn subject_token_prints_the_serialized_signed_request() {
    let aws = Aws::new();
    let config = aws.config("aws1", true);
    let run = aws.world.wif(
        &["subject-token", "--credentials", path_str(&config)],
        &lambda_env(),
    );
    run.assert_code(0);
    let decoded = percent_decode(run.stdout.trim_end());
    let req: Value = serde_json::from_str(&decoded).unwrap();
    assert_eq!(req["method"], "POST");
    assert_eq!(
        header_value(&req, "host"),
        Some("sts.us-east-2.amazonaws.com")
    );
    assert!(
        aws.world.requests().is_empty(),
        "subject-token never calls STS"
    );
}
