//! AWS outbound identity federation end to end: a Lambda function's role credentials sign an AWS
//! STS `GetWebIdentityToken` call, the AWS-signed JWT goes to Google STS through a plain OIDC
//! provider, and the federated token impersonates the service account — every step verified by
//! the emulator (SigV4 on the AWS call, issuer/audience/signature on the JWT, the IAM binding).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use secrecy::ExposeSecret;
use wif::Credentials;
use wif::layers::source_aws::causes;
use wif_emulator::Endpoint;

use support::{World, aws_jwt_credentials, aws_jwt_source, lambda_env, tokeninfo_status, world};

/// The emulated Lambda function's credentials: its environment, a JWT for the `aws-jwt`
/// provider's allowed audience, impersonating the default service account.
fn lambda_credentials(world: &World) -> Credentials {
    let emulator = &world.emulator;
    let audience = emulator.config().aws_jwt_allowed_audience();
    let source = aws_jwt_source(emulator, lambda_env(&world.configs), audience);
    aws_jwt_credentials(emulator, source, true)
}

#[tokio::test]
async fn a_lambda_role_gets_a_service_account_token_through_an_aws_signed_jwt() {
    let world = world().await;
    let emulator = &world.emulator;
    let creds = lambda_credentials(&world);

    let token = creds.token().await.unwrap();

    assert_eq!(
        tokeninfo_status(emulator, token.secret().expose_secret()).await,
        200,
        "the emulator must recognise the impersonated token it issued"
    );
    // One AWS call (the JWT), one exchange, one impersonation; Lambda credentials come from
    // the environment, so the metadata service is never asked.
    assert_eq!(emulator.requests(Endpoint::AwsSts), 1);
    assert_eq!(emulator.requests(Endpoint::GoogleSts), 1);
    assert_eq!(emulator.requests(Endpoint::IamCredentials), 1);
    assert_eq!(emulator.requests(Endpoint::Imds), 0);

    // Cached: a second caller costs nothing.
    creds.token().await.unwrap();
    assert_eq!(emulator.requests(Endpoint::AwsSts), 1);
}

#[tokio::test]
async fn an_account_without_outbound_federation_is_named_with_the_fix() {
    let world = world().await;
    let emulator = &world.emulator;
    emulator.set_outbound_web_identity_federation(false);
    let creds = lambda_credentials(&world);

    let err = creds.token().await.unwrap_err();

    assert_eq!(
        err.known_cause(),
        Some(&causes::OUTBOUND_FEDERATION_DISABLED),
        "{err}"
    );
    assert!(!err.is_retryable(), "{err}");
    let shown = format!("{err}");
    assert!(
        shown.contains("OutboundWebIdentityFederationDisabledException"),
        "{shown}"
    );
    assert!(
        shown.contains("enable-outbound-web-identity-federation"),
        "the hint says how to turn it on: {shown}"
    );
    // Refused by AWS: Google was never asked.
    assert_eq!(emulator.requests(Endpoint::GoogleSts), 0);
}

#[tokio::test]
async fn a_jwt_for_another_audience_is_refused_by_google() {
    let world = world().await;
    let emulator = &world.emulator;
    let other = "https://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/other/providers/x";
    let source = aws_jwt_source(emulator, lambda_env(&world.configs), other.to_owned());
    let creds = aws_jwt_credentials(emulator, source, true);

    let err = creds.token().await.unwrap_err();

    assert_eq!(err.step(), wif::Step::Exchange, "{err}");
    assert_eq!(err.status(), Some(400), "{err}");
    let server = err.server_error().expect("Google's words");
    assert_eq!(server.code.as_deref(), Some("invalid_grant"), "{err}");
    assert!(
        server
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("audience"),
        "Google names the audience: {err}"
    );
    assert_eq!(emulator.requests(Endpoint::IamCredentials), 0);
}
