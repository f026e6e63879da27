//! Cloud Storage (or a proxy in front of it) quoting the request in its error: the bearer token
//! the request carried never comes back through the error or a log line, in any spelling.

#![allow(clippy::expect_used)]

use wif_core::testing::{assert_api_echoes_are_scrubbed, quick_retries};
use wif_core::{AccessToken, MapEnvironment, StaticTokenProvider, Step};
use wif_storage::Storage;

const BEARER: &str = "ya29.storage-BEARER-0f1e2d/with+base64=";

#[tokio::test]
async fn an_echoing_server_gets_no_bearer_token_through() {
    assert_api_echoes_are_scrubbed("GET", &[BEARER], |uri| async move {
        let storage = Storage::builder()
            .provider(StaticTokenProvider::new(AccessToken::new(BEARER)))
            .base_url(uri)
            .environment(MapEnvironment::new())
            .retry_policy(quick_retries(2))
            .build()
            .expect("storage builds");
        let err = storage
            .metadata("bkt", "dir/object.txt")
            .await
            .expect_err("the server refuses");
        assert_eq!(err.step(), Step::Api, "{err}");
        err
    })
    .await;
}
