//! Plugging your own identity into wif-rs: any type implementing `SubjectTokenSource`.
//!
//! ```sh
//! cargo run -p wif --features testing --example custom-source
//! ```
//!
//! Here the "identity provider" is a closure-backed struct; in real code it might read a token
//! from Vault, call your IdP, or sign an assertion with a key held in an HSM.

use wif::secrecy::ExposeSecret;
use wif::testing::{FAKE_AUDIENCE, FakeGoogle};
use wif::{Credentials, Error, SourceContext, SubjectToken, SubjectTokenSource, async_trait};

/// A subject token source that asks "our IdP" for a token for the requested audience.
#[derive(Debug)]
struct MyIdentityProvider {
    client_name: String,
}

#[async_trait]
impl SubjectTokenSource for MyIdentityProvider {
    async fn subject_token(&self, ctx: &SourceContext) -> Result<SubjectToken, Error> {
        // A real implementation would call the IdP here, asking for a token whose `aud`
        // matches what the workload identity pool provider expects.
        tracing::info!(audience = %ctx.audience, "minting a token");
        Ok(SubjectToken::new(format!("token-for-{}", self.client_name)))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let google = FakeGoogle::start().await;

    let creds = Credentials::builder()
        .source(MyIdentityProvider {
            client_name: "billing-batch".into(),
        })
        .audience(FAKE_AUDIENCE)
        .subject_token_type("urn:ietf:params:oauth:token-type:jwt")
        // Every Google endpoint at the fake; in production, leave this out (or let
        // WIF_ENDPOINT_BASE_URL decide) and the same code talks to Google.
        .endpoint_base_url(google.base_url())
        .impersonate("batch@my-project.iam.gserviceaccount.com")
        .build()?;

    let token = creds.token().await?;
    println!(
        "got a {} token of {} chars for {}",
        token.token_type(),
        token.secret().expose_secret().len(),
        creds
            .info()
            .impersonated_service_account
            .as_deref()
            .unwrap_or("-"),
    );
    Ok(())
}
