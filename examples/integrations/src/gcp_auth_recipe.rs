//! gcp_auth 0.12: wif credentials as a `gcp_auth::TokenProvider`, for code written against
//! `Arc<dyn gcp_auth::TokenProvider>` (as `gcp_auth::provider()` returns).

use std::sync::Arc;

use secrecy::ExposeSecret;

/// A `gcp_auth::TokenProvider` over wif credentials. The scopes are those of the wif
/// configuration (wif's chain asks for them once); `project_id` is the quota project.
#[derive(Clone, Debug)]
pub struct WifGcpAuth(pub wif::Credentials);

#[async_trait::async_trait]
impl gcp_auth::TokenProvider for WifGcpAuth {
    async fn token(&self, _scopes: &[&str]) -> Result<Arc<gcp_auth::Token>, gcp_auth::Error> {
        let token = self
            .0
            .token()
            .await
            .map_err(|e| gcp_auth::Error::Str(leak(e.to_string())))?;
        let expires_in = token.remaining().map_or(0, |left| left.as_secs());
        // gcp_auth's Token has no public constructor; it deserializes from an OAuth answer.
        let answer = serde_json::json!({
            "access_token": token.secret().expose_secret(),
            "expires_in": expires_in,
        });
        serde_json::from_value(answer)
            .map(Arc::new)
            .map_err(|_| gcp_auth::Error::Str("wif token did not convert"))
    }

    async fn project_id(&self) -> Result<Arc<str>, gcp_auth::Error> {
        self.0
            .quota_project_id()
            .map(Arc::from)
            .ok_or(gcp_auth::Error::Str(
                "the wif configuration names no quota project",
            ))
    }
}

/// gcp_auth's string errors are `&'static str`: the message of a (rare) chain failure is kept.
fn leak(message: String) -> &'static str {
    Box::leak(message.into_boxed_str())
}
