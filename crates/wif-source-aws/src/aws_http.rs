//! The HTTP client aws-config's providers send with (feature `aws-config`): rustls with
//! `ring`, never `aws-lc-sys`, to keep its C build out of the dependency tree (aws-config
//! panics at load without a client, and its default one would build `aws-lc-sys`).

use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// A new client (each holds its own connection pool).
pub(crate) fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}
