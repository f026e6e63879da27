//! The `aws-config` feature: region and credentials from an AWS SDK `SdkConfig` (what ECS, EKS,
//! SSO and profile users plug in), loaded through our ring-based HTTP client.

#![cfg(feature = "aws-config")]

mod support;

use std::sync::Arc;

use secrecy::ExposeSecret;
use wif_core::{MapEnvironment, SourceContext, SubjectTokenSource};
use wif_source_aws::{AWS_SUBJECT_TOKEN_TYPE, AwsSource, CredentialsFrom, RegionFrom};
use wiremock::MockServer;

#[tokio::test]
async fn sdk_config_region_and_static_provider_sign_without_metadata() {
    let server = MockServer::start().await;
    // Region and credentials are explicit, so loading consults no chain and no network; this
    // also proves the loader has an HTTP client (aws-config panics at load without one).
    let config =
        support::sdk_config("eu-north-1", ["ASIASDKCONFIG", "sdk-secret", "sdk-session"]).await;
    let source = AwsSource::builder()
        .sdk_config(&config)
        .environment(Arc::new(MapEnvironment::new()))
        .credentials_url(format!(
            "{}/latest/meta-data/iam/security-credentials",
            server.uri()
        ))
        .region_url(format!(
            "{}/latest/meta-data/placement/availability-zone",
            server.uri()
        ))
        .build()
        .expect("builds");

    let resolved = source.resolve().await.expect("resolves");
    assert_eq!(resolved.region, "eu-north-1");
    assert_eq!(resolved.provenance.region_from, RegionFrom::Explicit);
    assert_eq!(
        resolved.provenance.credentials_from,
        CredentialsFrom::Provider
    );

    let ctx = SourceContext::new("//iam.googleapis.com/aud", AWS_SUBJECT_TOKEN_TYPE);
    let token = source.subject_token(&ctx).await.expect("token");
    let decoded = support::decode(token.secret().expose_secret());
    assert_eq!(decoded.access_key_id(), "ASIASDKCONFIG");
    assert_eq!(decoded.header("x-amz-security-token"), Some("sdk-session"));
    assert!(
        decoded
            .url
            .starts_with("https://sts.eu-north-1.amazonaws.com?")
    );
    support::verify(&decoded, "sdk-secret").expect("verifies");
    support::imds::assert_untouched(&server, "no metadata requests").await;
}
