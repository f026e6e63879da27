//! The chain's order and its bad-input rules, as tables over environments.

use wif_core::MapEnvironment;

use super::*;

const KEYS: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
    ("AWS_SECRET_ACCESS_KEY", "secret"),
];
const IRSA: &[(&str, &str)] = &[
    (ROLE_ARN, "arn:aws:iam::123456789012:role/app"),
    (
        WEB_IDENTITY_TOKEN_FILE,
        "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
    ),
];
const ECS: &[(&str, &str)] = &[(CONTAINER_RELATIVE_URI, "/v2/credentials/abc?x=1")];
const POD_IDENTITY: &[(&str, &str)] = &[
    (CONTAINER_FULL_URI, "http://169.254.170.23/v1/credentials"),
    (
        CONTAINER_AUTHORIZATION_TOKEN_FILE,
        "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token",
    ),
];
const PROFILE_DEV: &[(&str, &str)] = &[(PROFILE, "dev")];

/// Some variables.
type Vars = &'static [(&'static str, &'static str)];

fn env(parts: &[&[(&str, &str)]]) -> MapEnvironment {
    let mut env = MapEnvironment::new();
    for part in parts {
        for (name, value) in *part {
            env.set(*name, *value);
        }
    }
    env
}

fn provider(parts: &[&[(&str, &str)]]) -> AwsProvider {
    select(&env(parts), false)
        .expect("selects")
        .choice
        .provider()
}

#[test]
fn the_chain_goes_env_web_identity_container_profile() {
    use AwsProvider::*;
    let table: [(&str, &[Vars], AwsProvider); 9] = [
        (
            "keys beat everything",
            &[KEYS, IRSA, ECS, PROFILE_DEV],
            Environment,
        ),
        (
            "IRSA beats the container",
            &[IRSA, POD_IDENTITY, PROFILE_DEV],
            WebIdentity,
        ),
        ("IRSA beats ECS", &[IRSA, ECS], WebIdentity),
        (
            "the container beats a profile",
            &[ECS, PROFILE_DEV],
            Container,
        ),
        ("pod identity", &[POD_IDENTITY], Container),
        ("a named profile", &[PROFILE_DEV], Profile),
        (
            "nothing: the default profile, if a file exists",
            &[],
            Profile,
        ),
        (
            "half a key pair falls through",
            &[&[("AWS_ACCESS_KEY_ID", "AKID")], IRSA],
            WebIdentity,
        ),
        (
            "empty variables count as unset",
            &[
                &[
                    ("AWS_ACCESS_KEY_ID", ""),
                    ("AWS_SECRET_ACCESS_KEY", ""),
                    (ROLE_ARN, ""),
                ],
                ECS,
            ],
            Container,
        ),
    ];
    for (rule, parts, want) in table {
        assert_eq!(provider(parts), want, "{rule}");
    }
    assert_eq!(
        select(&env(&[KEYS]), true).expect("selects").choice,
        CredentialsChoice::Explicit,
        "a provider given in code replaces the chain"
    );
}

#[test]
fn the_choice_carries_what_a_refresh_needs() {
    let selection = select(&env(&[IRSA, &[(ROLE_SESSION_NAME, "my-app")]]), false).expect("ok");
    assert_eq!(
        selection.choice,
        CredentialsChoice::WebIdentity(WebIdentitySettings {
            role_arn: "arn:aws:iam::123456789012:role/app".into(),
            token_file: "/var/run/secrets/eks.amazonaws.com/serviceaccount/token".into(),
            session_name: Some("my-app".into()),
        })
    );

    let CredentialsChoice::Container(ecs) = select(&env(&[ECS]), false).expect("ok").choice else {
        panic!("container")
    };
    assert_eq!(
        ecs.url.as_str(),
        "http://169.254.170.2/v2/credentials/abc?x=1"
    );
    assert_eq!(ecs.from, CONTAINER_RELATIVE_URI);
    assert_eq!(ecs.authorization, ContainerAuthorization::None);
    assert!(!ecs.is_pod_identity());

    let CredentialsChoice::Container(eks) =
        select(&env(&[POD_IDENTITY]), false).expect("ok").choice
    else {
        panic!("container")
    };
    assert!(eks.is_pod_identity());
    assert!(matches!(
        eks.authorization,
        ContainerAuthorization::TokenFile(_)
    ));
    let with_token = env(&[
        &[(CONTAINER_FULL_URI, "http://[fd00:ec2::23]/v1/credentials")],
        &[(CONTAINER_AUTHORIZATION_TOKEN, "Basic abc")],
    ]);
    let CredentialsChoice::Container(v6) = select(&with_token, false).expect("ok").choice else {
        panic!("container")
    };
    assert!(v6.is_pod_identity());
    assert_eq!(v6.authorization, ContainerAuthorization::Token);

    let selection = select(&env(&[PROFILE_DEV]), false).expect("ok");
    assert_eq!(
        selection.choice,
        CredentialsChoice::Profile(ProfileSettings {
            name: "dev".into(),
            named: true
        })
    );
    let selection = select(&env(&[]), false).expect("ok");
    assert_eq!(
        selection.choice,
        CredentialsChoice::Profile(ProfileSettings {
            name: "default".into(),
            named: false
        })
    );
}

#[test]
fn half_a_key_pair_is_remembered_as_skipped() {
    let selection =
        select(&env(&[&[("AWS_SECRET_ACCESS_KEY", "s3cr3t")], ECS]), false).expect("selects");
    assert_eq!(selection.choice.provider(), AwsProvider::Container);
    assert_eq!(
        selection.skipped,
        [Skipped {
            provider: AwsProvider::Environment,
            setting: "AWS_SECRET_ACCESS_KEY",
            reason: "is set but AWS_ACCESS_KEY_ID is not".into(),
        }]
    );
    assert_eq!(
        selection.skipped[0].to_string(),
        "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"
    );
    assert!(!format!("{selection:?}").contains("s3cr3t"));
}

#[test]
fn bad_settings_are_errors_that_name_the_variable() {
    let table: [(Vars, &str, &wif_core::Cause); 12] = [
        (
            &[(ROLE_ARN, "arn:aws:iam::1:role/r")],
            WEB_IDENTITY_TOKEN_FILE,
            &causes::WEB_IDENTITY_INCOMPLETE,
        ),
        (
            &[(WEB_IDENTITY_TOKEN_FILE, "/t")],
            ROLE_ARN,
            &causes::WEB_IDENTITY_INCOMPLETE,
        ),
        (
            &[(WEB_IDENTITY_TOKEN_FILE, "/t"), (ROLE_ARN, "app")],
            "not an IAM role ARN",
            &causes::WEB_IDENTITY_INCOMPLETE,
        ),
        (
            &[
                (WEB_IDENTITY_TOKEN_FILE, "/t"),
                (ROLE_ARN, "arn:aws:iam::1:user/u"),
            ],
            "not an IAM role ARN",
            &causes::WEB_IDENTITY_INCOMPLETE,
        ),
        (
            &[
                (WEB_IDENTITY_TOKEN_FILE, "/t"),
                (ROLE_ARN, "arn:aws:iam::1:role/r"),
                (ROLE_SESSION_NAME, "a b"),
            ],
            ROLE_SESSION_NAME,
            &causes::WEB_IDENTITY_INCOMPLETE,
        ),
        (
            &[(CONTAINER_FULL_URI, "http://10.0.0.5/creds")],
            "plain http",
            &causes::CONTAINER_URI_REFUSED,
        ),
        (
            &[(CONTAINER_FULL_URI, "http://169.254.169.254/creds")],
            "plain http",
            &causes::CONTAINER_URI_REFUSED,
        ),
        (
            &[(CONTAINER_FULL_URI, "http://credentials.example/creds")],
            "plain http",
            &causes::CONTAINER_URI_REFUSED,
        ),
        (
            &[(CONTAINER_FULL_URI, "ftp://127.0.0.1/creds")],
            "http(s)",
            &causes::CONTAINER_URI_REFUSED,
        ),
        (
            &[(CONTAINER_FULL_URI, "127.0.0.1/creds")],
            "not a valid URL",
            &causes::CONTAINER_URI_REFUSED,
        ),
        (
            &[(CONTAINER_FULL_URI, "https://u:p@creds.example/")],
            "user info",
            &causes::CONTAINER_URI_REFUSED,
        ),
        (
            &[(CONTAINER_RELATIVE_URI, "v2/credentials")],
            "starting with '/'",
            &causes::CONTAINER_URI_REFUSED,
        ),
    ];
    for (vars, says, cause) in table {
        let err = select(&env(&[vars]), false).expect_err(says);
        assert_eq!(err.step(), Step::Source, "{says}");
        assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{says}");
        assert!(!err.is_retryable(), "{says}");
        assert!(err.to_string().contains(says), "want {says:?} in {err}");
        assert_eq!(err.known_cause(), Some(cause), "{says}");
        assert!(!err.to_string().contains("u:p"), "{err}");
    }
}

#[test]
fn plain_http_only_where_credentials_cannot_leave_the_host() {
    for ok in [
        "http://127.0.0.1:8080/creds",
        "http://127.1.2.3/creds",
        "http://localhost/creds",
        "http://[::1]:9/creds",
        "http://169.254.170.2/creds",
        "http://169.254.170.23/v1/credentials",
        "http://[fd00:ec2::23]/v1/credentials",
        "https://creds.example/any",
        "https://10.0.0.5/creds",
    ] {
        let url = Url::parse(ok).expect("url");
        assert!(check_container_host(&url).is_ok(), "{ok}");
    }
    for refused in [
        "http://169.254.170.3/creds",
        "http://[fd00:ec2::24]/creds",
        "http://0.0.0.0/creds",
        "http://localhost.example/creds",
    ] {
        let url = Url::parse(refused).expect("url");
        assert!(check_container_host(&url).is_err(), "{refused}");
    }
}
