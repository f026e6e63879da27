//! A token refused with 401 is replaced once and the request sent again.
//!
//! object_store retries 5xx and transport failures, never a 401, and asks its credential
//! provider again only for the next request. A token the server stopped accepting before its
//! expiry (revoked, its service account's keys rotated, an emulator told to expire it) would then
//! fail every request until the cache's own refresh. This connector wraps object_store's HTTP
//! client: on a 401 to a request that carried a bearer token it invalidates the wif cache, gets a
//! fresh token and replays the request once with it (object_store's bodies are in memory, so a
//! replay sends the same bytes).

use async_trait::async_trait;
use http::HeaderValue;
use http::header::AUTHORIZATION;
use object_store::ClientOptions;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse, HttpService,
    ReqwestConnector,
};
use wif::Credentials;

/// An [`HttpConnector`] whose clients refresh a refused token once (see the module docs).
/// Wraps object_store's own reqwest connector unless given another.
#[derive(Debug)]
pub struct RefreshingConnector<C = ReqwestConnector> {
    inner: C,
    credentials: Credentials,
}

impl RefreshingConnector {
    /// object_store's reqwest connector, refreshing `credentials` on a 401.
    pub fn new(credentials: Credentials) -> Self {
        Self::wrapping(ReqwestConnector::default(), credentials)
    }
}

impl<C: HttpConnector> RefreshingConnector<C> {
    /// `inner` (for example a `SpawnedReqwestConnector`), refreshing `credentials` on a 401.
    pub fn wrapping(inner: C, credentials: Credentials) -> Self {
        RefreshingConnector { inner, credentials }
    }
}

impl<C: HttpConnector> HttpConnector for RefreshingConnector<C> {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        Ok(HttpClient::new(RefreshOn401 {
            inner: self.inner.connect(options)?,
            credentials: self.credentials.clone(),
        }))
    }
}

#[derive(Debug)]
struct RefreshOn401 {
    inner: HttpClient,
    credentials: Credentials,
}

#[async_trait]
impl HttpService for RefreshOn401 {
    async fn call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let bearer = request
            .headers()
            .get(AUTHORIZATION)
            .is_some_and(|v| v.as_bytes().starts_with(b"Bearer "));
        if !bearer {
            return self.inner.execute(request).await;
        }
        let replay = request.clone();
        let response = self.inner.execute(request).await?;
        if response.status() != http::StatusCode::UNAUTHORIZED {
            return response_ok(response);
        }
        tracing::info!(
            method = %replay.method(),
            "Cloud Storage refused the token (401): refreshing it once"
        );
        self.credentials.invalidate();
        let token = match self.credentials.token().await {
            Ok(token) => token,
            Err(err) => {
                return Err(HttpError::new(HttpErrorKind::Unknown, err));
            }
        };
        let mut replay = replay;
        let mut value: HeaderValue = token.authorization_header();
        value.set_sensitive(true);
        replay.headers_mut().insert(AUTHORIZATION, value);
        self.inner.execute(replay).await
    }
}

fn response_ok(response: HttpResponse) -> Result<HttpResponse, HttpError> {
    Ok(response)
}
