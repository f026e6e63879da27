//! The whole chain on one machine, with loopback stand-ins for Google STS and IAM Credentials:
//!
//! ```sh
//! cargo run -p wif --features testing --example quickstart
//! ```
//!
//! 1. An OIDC token sits in a file (as a Kubernetes projected token or CI OIDC token would).
//! 2. `Credentials::from_file` reads the gcloud-style `external_account` config that points at it.
//! 3. The first `token()` exchanges the subject token at STS and impersonates a service account.
//! 4. The second `token()` is served from the cache: no network at all.

use std::time::Instant;

use wif::Credentials;
use wif::secrecy::ExposeSecret;
use wif::testing::FakeGoogle;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let google = FakeGoogle::start().await;
    let dir = tempfile::tempdir()?;
    let subject_token = dir.path().join("oidc-token.jwt");
    std::fs::write(
        &subject_token,
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ3b3JrbG9hZCJ9.c2ln\n",
    )?;
    let config = dir.path().join("wif.json");
    std::fs::write(
        &config,
        google.config_json(
            &subject_token,
            Some("writer@demo-project.iam.gserviceaccount.com"),
        ),
    )?;

    println!("1. subject token file : {}", subject_token.display());
    println!("   credential config  : {}", config.display());
    let creds = Credentials::from_file(&config)?;
    let info = creds.info();
    println!("2. source             : {}", info.source_kind);
    println!(
        "   audience           : {}",
        info.audience.as_deref().unwrap_or("-")
    );
    println!(
        "   impersonating      : {}",
        info.impersonated_service_account
            .as_deref()
            .unwrap_or("(none)")
    );

    let started = Instant::now();
    let token = creds.token().await?;
    println!(
        "3. first token        : {}… ({} chars) in {:?} — STS calls: {}, IAM calls: {}",
        &token
            .secret()
            .expose_secret()
            .chars()
            .take(12)
            .collect::<String>(),
        token.secret().expose_secret().len(),
        started.elapsed(),
        google.sts_calls().await,
        google.iam_calls().await,
    );

    let started = Instant::now();
    let again = creds.token().await?;
    println!(
        "4. second token       : same={} in {:?} — STS calls: {}, IAM calls: {} (served from cache)",
        again.secret().expose_secret() == token.secret().expose_secret(),
        started.elapsed(),
        google.sts_calls().await,
        google.iam_calls().await,
    );
    Ok(())
}
