//! google-apis-common 8: wif credentials as `GetToken`, the auth of every generated
//! `google-*-api` crate (`Storage::new(client, WifGetToken(credentials))`).

use secrecy::ExposeSecret;

/// A `google_apis_common::GetToken` over wif credentials; the scopes are the configuration's.
#[derive(Clone, Debug)]
pub struct WifGetToken(pub wif::Credentials);

impl google_apis_common::GetToken for WifGetToken {
    fn get_token<'a>(
        &'a self,
        _scopes: &'a [&str],
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<Option<String>, Box<dyn std::error::Error + Send + Sync>>,
                > + Send
                + 'a,
        >,
    > {
        Box::pin(async move {
            let token = self.0.token().await?;
            Ok(Some(token.secret().expose_secret().to_owned()))
        })
    }
}
