//! A token refused with 401 is replaced once and the request sent again.
//!
//! The gcloud-* clients put the token source's answer in each request and return a 401 as an
//! error; a token the server stopped accepting before its expiry (revoked, an emulator told to
//! expire it) would fail every call until the wif cache's own refresh. This reqwest-middleware
//! layer drops the cached token on a 401 to a request that carried one, and replays the request
//! once with a fresh token when its body can be replayed (every body but a stream).

use async_trait::async_trait;
use http::Extensions;
use http::header::AUTHORIZATION;
use reqwest::{Request, Response, StatusCode};
use reqwest_middleware::{ClientWithMiddleware, Middleware, Next};
use secrecy::ExposeSecret;
use wif::Credentials;

/// The middleware (see the module docs). Add it to a `reqwest_middleware::ClientBuilder`, or
/// take [`refreshing_http_client`].
#[derive(Clone, Debug)]
pub struct RefreshOn401 {
    credentials: Credentials,
}

impl RefreshOn401 {
    /// Refreshes `credentials` when a request they authorized is refused with 401.
    pub fn new(credentials: Credentials) -> Self {
        RefreshOn401 { credentials }
    }
}

/// A default `reqwest::Client` with [`RefreshOn401`]: what `ClientConfig::http` of the gcloud-*
/// clients takes. Installs wif's rustls crypto provider as the process default first when none
/// is installed (a reqwest built with `rustls-no-provider`, as wif builds it, needs one).
pub fn refreshing_http_client(credentials: Credentials) -> ClientWithMiddleware {
    install_default_crypto_provider();
    reqwest_middleware::ClientBuilder::new(reqwest::Client::default())
        .with(RefreshOn401::new(credentials))
        .build()
}

#[async_trait]
impl Middleware for RefreshOn401 {
    async fn handle(
        &self,
        request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let bearer = request
            .headers()
            .get(AUTHORIZATION)
            .is_some_and(|v| v.as_bytes().starts_with(b"Bearer "));
        let replay = if bearer { request.try_clone() } else { None };
        let response = next.clone().run(request, extensions).await?;
        if response.status() != StatusCode::UNAUTHORIZED || !bearer {
            return Ok(response);
        }
        self.credentials.invalidate();
        let Some(mut replay) = replay else {
            // A streamed body cannot be sent twice; the next call gets the fresh token.
            return Ok(response);
        };
        tracing::info!(method = %replay.method(), "token refused (401): refreshing it once");
        let token = match self.credentials.token().await {
            Ok(token) => token,
            Err(_) => return Ok(response),
        };
        let Ok(mut value) =
            http::HeaderValue::from_str(&format!("Bearer {}", token.secret().expose_secret()))
        else {
            return Ok(response);
        };
        value.set_sensitive(true);
        replay.headers_mut().insert(AUTHORIZATION, value);
        next.run(replay, extensions).await
    }
}

/// Installs wif's rustls crypto provider (`wif_core::http::crypto_provider`: ring by default)
/// as the process default unless one is installed.
pub fn install_default_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // wif's own choice (ring, or aws-lc-rs with wif-core's `aws-lc-rs` feature). Another
        // thread may install one first; either is fine.
        let provider = wif_core::http::crypto_provider();
        let _ = rustls::crypto::CryptoProvider::clone(&provider).install_default();
    }
}
