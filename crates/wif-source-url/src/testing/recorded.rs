//! What the URL source sent to the fake token endpoint: the path, the query and every header,
//! header values kept secret (a URL source's headers can be credentials).

use secrecy::SecretString;
use wiremock::Request;

/// One request for a subject token, as the fake received it. `Debug` shows header names and the
/// path, never header values or the query (either may carry a credential).
#[derive(Clone)]
#[non_exhaustive]
pub struct TokenEndpointRequest {
    /// The HTTP method (`GET` from `UrlSource`).
    pub method: String,
    /// The path.
    pub path: String,
    /// The query parameters, decoded.
    pub query: Vec<(String, SecretString)>,
    /// Every header, names lowercase.
    pub headers: Vec<(String, SecretString)>,
}

impl TokenEndpointRequest {
    /// Decodes any recorded request.
    pub fn parse(request: &Request) -> TokenEndpointRequest {
        TokenEndpointRequest {
            method: request.method.to_string(),
            path: request.url.path().to_owned(),
            query: request
                .url
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), SecretString::from(v.into_owned())))
                .collect(),
            headers: request
                .headers
                .iter()
                .filter_map(|(name, value)| {
                    let value = value.to_str().ok()?;
                    Some((
                        name.as_str().to_owned(),
                        SecretString::from(value.to_owned()),
                    ))
                })
                .collect(),
        }
    }

    /// The value of header `name` (any case), if sent.
    pub fn header(&self, name: &str) -> Option<&SecretString> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The value of query parameter `name`, if sent.
    pub fn query_param(&self, name: &str) -> Option<&SecretString> {
        self.query.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

impl std::fmt::Debug for TokenEndpointRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenEndpointRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field(
                "query",
                &self.query.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}
