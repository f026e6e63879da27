//! Shared-config profiles (feature `aws-config`, on by default): `AWS_PROFILE` with a temporary
//! home holding `~/.aws/config` and `~/.aws/credentials` — static keys, `credential_process`,
//! the profile's region — and the rules for when the chain uses a profile at all.

#![cfg(feature = "aws-config")]
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use secrecy::ExposeSecret;
use wif_core::{MapEnvironment, SystemClock};
use wif_source_aws::{AwsSource, CredentialsFrom, RegionFrom, Resolved, causes};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ZONE_PATH: &str = "/latest/meta-data/placement/availability-zone";
const ROLE_PATH: &str = "/latest/meta-data/iam/security-credentials";

const CONFIG: &str = "\
[default]
region = us-west-2

# a developer's profiles
[profile dev]
region = eu-central-1
output = json

[profile proc]
credential_process = PROC_SCRIPT --role reader

[profile chained]
role_arn = arn:aws:iam::123456789012:role/admin
source_profile = dev
";

const CREDENTIALS: &str = "\
[dev]
aws_access_key_id = AKIADEVPROFILE
aws_secret_access_key = dev-profile-secret
";

/// A home directory with `.aws/config` and `.aws/credentials`, and a `credential_process`
/// script printing credentials that expire in an hour.
fn home() -> PathBuf {
    let home = tempfile::tempdir().expect("temp dir").keep();
    let aws = home.join(".aws");
    std::fs::create_dir_all(&aws).unwrap();
    let script = home.join("proc.sh");
    let expires = time::OffsetDateTime::from(SystemTime::now() + Duration::from_secs(3600))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$1 $2\" = \"--role reader\" ] || exit 3\n\
             printf '%s' '{{\"Version\": 1, \"AccessKeyId\": \"ASIAPROCESS\", \"SecretAccessKey\": \"process-secret\", \"SessionToken\": \"process-session\", \"Expiration\": \"{expires}\"}}'\n"
        ),
    )
    .unwrap();
    set_executable(&script);
    std::fs::write(
        aws.join("config"),
        CONFIG.replace("PROC_SCRIPT", &script.display().to_string()),
    )
    .unwrap();
    std::fs::write(aws.join("credentials"), CREDENTIALS).unwrap();
    home
}

#[cfg(unix)]
fn set_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// gcloud's EC2 configuration pointed at `server`, reading `env`.
fn source(server: &MockServer, env: MapEnvironment) -> AwsSource {
    AwsSource::builder()
        .environment_id("aws1")
        .region_url(format!("{}{ZONE_PATH}", server.uri()))
        .credentials_url(format!("{}{ROLE_PATH}", server.uri()))
        .environment(Arc::new(env))
        .clock(Arc::new(SystemClock))
        .build()
        .expect("builds")
}

fn env(home: &Path) -> MapEnvironment {
    MapEnvironment::new().with("HOME", home.display().to_string())
}

/// A metadata service that answers nothing unless a test mounts it, and a [`home`] with the
/// profiles.
struct World {
    server: MockServer,
    home: PathBuf,
}

impl World {
    async fn start() -> World {
        World {
            server: MockServer::start().await,
            home: home(),
        }
    }

    /// The source reading the home's profiles and `vars`.
    fn source(&self, vars: &[(&str, &str)]) -> AwsSource {
        let env = vars
            .iter()
            .fold(env(&self.home), |env, &(name, value)| env.with(name, value));
        source(&self.server, env)
    }

    async fn resolved(&self, vars: &[(&str, &str)]) -> Resolved {
        self.source(vars).resolve().await.expect("resolves")
    }

    /// The profile alone answered (or refused): the metadata service was not asked.
    async fn assert_nothing_asked(&self) {
        let asked = self.server.received_requests().await.unwrap_or_default();
        assert!(asked.is_empty(), "{asked:?}");
    }
}

#[tokio::test]
async fn aws_profile_dev_gives_its_keys_and_its_region_without_the_metadata_service() {
    let world = World::start().await;
    let resolved = world.resolved(&[("AWS_PROFILE", "dev")]).await;
    assert_eq!(resolved.credentials.access_key_id(), "AKIADEVPROFILE");
    assert_eq!(
        resolved.credentials.secret_access_key().expose_secret(),
        "dev-profile-secret"
    );
    assert_eq!(resolved.region, "eu-central-1");
    assert_eq!(
        resolved.provenance.region_from,
        RegionFrom::Profile { name: "dev".into() }
    );
    assert_eq!(
        resolved.provenance.credentials_from,
        CredentialsFrom::Profile { name: "dev".into() }
    );
    world.assert_nothing_asked().await;
}

#[tokio::test]
async fn a_credential_process_profile_runs_its_command() {
    let world = World::start().await;
    let resolved = world
        .resolved(&[("AWS_PROFILE", "proc"), ("AWS_REGION", "ap-northeast-1")])
        .await;
    assert_eq!(resolved.credentials.access_key_id(), "ASIAPROCESS");
    assert_eq!(
        support::session_token_of(&resolved.credentials),
        Some("process-session")
    );
    assert_eq!(
        resolved.region, "ap-northeast-1",
        "AWS_REGION beats the profile"
    );
    world.assert_nothing_asked().await;
}

#[tokio::test]
async fn a_default_profile_with_a_region_only_leaves_credentials_to_the_metadata_service() {
    let world = World::start().await;
    let server = &world.server;
    Mock::given(method("GET"))
        .and(path(ROLE_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_string("ec2-role"))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{ROLE_PATH}/ec2-role")))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"Code":"Success","AccessKeyId":"ASIAEC2","SecretAccessKey":"ec2-secret","Token":"ec2-session"}"#,
        ))
        .mount(server)
        .await;
    let resolved = world.resolved(&[]).await;
    assert_eq!(resolved.credentials.access_key_id(), "ASIAEC2");
    assert_eq!(
        resolved.provenance.region_from,
        RegionFrom::Profile {
            name: "default".into()
        },
        "the profile's region before region_url"
    );
    assert_eq!(resolved.region, "us-west-2");
    let asked: Vec<String> = server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    assert!(!asked.iter().any(|p| p == ZONE_PATH), "{asked:?}");
}

#[tokio::test]
async fn a_named_profile_must_exist_and_work() {
    let world = World::start().await;
    let home = &world.home;
    let cases: Vec<(MapEnvironment, &str)> = vec![
        (env(home).with("AWS_PROFILE", "nope"), "no such profile"),
        (
            MapEnvironment::new()
                .with("AWS_PROFILE", "dev")
                .with("AWS_REGION", "eu-west-1"),
            "neither the shared config file",
        ),
        (
            env(home).with("AWS_PROFILE", "dev").with(
                "AWS_SHARED_CREDENTIALS_FILE",
                home.join("elsewhere").display().to_string(),
            ),
            "no credentials settings",
        ),
    ];
    for (env, says) in cases {
        let err = source(&world.server, env).resolve().await.expect_err(says);
        assert_eq!(
            err.known_cause(),
            Some(&causes::PROFILE_FAILED),
            "{says}: {err}"
        );
        assert!(err.to_string().contains(says), "want {says:?} in {err}");
    }
    world.assert_nothing_asked().await;
}

#[cfg(not(feature = "profile-chains"))]
#[tokio::test]
async fn a_role_chain_names_the_feature_that_follows_it() {
    let world = World::start().await;
    let err = world
        .source(&[("AWS_PROFILE", "chained")])
        .resolve()
        .await
        .expect_err("not built");
    assert_eq!(err.known_cause(), Some(&causes::PROFILES_NOT_BUILT));
    assert!(err.to_string().contains("role_arn"), "{err}");
    assert!(err.to_string().contains("profile-chains"), "{err}");
    world.assert_nothing_asked().await;
}

#[tokio::test]
async fn profile_secrets_never_print() {
    let world = World::start().await;
    let source = world.source(&[("AWS_PROFILE", "dev")]);
    let resolved = source.resolve().await.expect("resolves");
    let shown = format!("{source:?} {resolved:?} {}", resolved.provenance);
    assert!(!shown.contains("dev-profile-secret"), "{shown}");
}
