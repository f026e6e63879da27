//! The chain's first run looks up every host it will call at once (Google STS, IAM Credentials,
//! a URL source's endpoint), so no connection waits for its own lookup after another's. Later
//! runs resolve as they connect: a refresh often finds its connections still open, and a
//! lookup nobody uses is wasted.
//!
//! Only with the clients the chain built itself, whose resolver it holds
//! ([`wif_core::http::Resolver`]); a client given to the builder resolves as it always has.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use wif_core::http::Resolver;
use wif_core::{AccessToken, Error, TokenProvider};

/// `inner`, with the lookups of `hosts` started on its first run.
pub(crate) struct PrefetchFirst {
    inner: Arc<dyn TokenProvider>,
    resolver: Resolver,
    hosts: Vec<String>,
    started: AtomicBool,
}

impl PrefetchFirst {
    pub(crate) fn new(
        inner: Arc<dyn TokenProvider>,
        resolver: Resolver,
        hosts: Vec<String>,
    ) -> Self {
        PrefetchFirst {
            inner,
            resolver,
            hosts,
            started: AtomicBool::new(false),
        }
    }
}

impl fmt::Debug for PrefetchFirst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrefetchFirst")
            .field("hosts", &self.hosts)
            .field("inner", &self.inner)
            .finish()
    }
}

#[async_trait]
impl TokenProvider for PrefetchFirst {
    async fn token(&self) -> Result<AccessToken, Error> {
        if !self.started.swap(true, Ordering::Relaxed) {
            for host in &self.hosts {
                self.resolver.prefetch(host);
            }
        }
        self.inner.token().await
    }

    fn invalidate(&self) {
        self.inner.invalidate();
    }

    fn invalidate_all(&self) {
        self.inner.invalidate_all();
    }

    fn endpoint_base_url(&self) -> Option<&str> {
        self.inner.endpoint_base_url()
    }
}

#[cfg(test)]
mod tests {
    use crate::Credentials;

    fn chain(json: &serde_json::Value, own_client: bool) -> crate::Chain {
        let mut builder = Credentials::builder()
            .environment(std::sync::Arc::new(wif_core::MapEnvironment::new()))
            .config_json(&json.to_string())
            .expect("valid configuration");
        if own_client {
            builder = builder.http_client(wif_core::http::default_client().expect("client"));
        }
        builder.build_chain().expect("assembles")
    }

    #[test]
    fn the_first_run_looks_up_every_host_the_chain_calls_once() {
        let json = serde_json::json!({
            "type": "external_account",
            "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/oidc",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": "https://sts.googleapis.com/v1/token",
            "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/w@p.iam.gserviceaccount.com:generateAccessToken",
            "credential_source": { "url": "https://idp.example.com/token" },
        });
        let (_, hosts) = chain(&json, false)
            .prefetch
            .expect("the chain's own clients");
        assert_eq!(
            hosts,
            [
                "idp.example.com",
                "sts.googleapis.com",
                "iamcredentials.googleapis.com"
            ]
        );
        assert!(
            chain(&json, true).prefetch.is_none(),
            "a client given to the builder resolves as it always has"
        );
    }
}
