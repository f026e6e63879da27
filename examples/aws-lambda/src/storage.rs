//! The Google Cloud API call the function makes with its token: Cloud Storage JSON API
//! `objects.list` (`GET {base}/storage/v1/b/{bucket}/o`), one page at a time, with the
//! refresh-on-401 dance every Google client does.
//!
//! <https://cloud.google.com/storage/docs/json_api/v1/objects/list>

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::Deserialize;
use url::Url;
use wif::layers::core::http::{describe_url, send};
use wif::{AccessToken, Credentials, Error, RetryPolicy, Step};

/// Each Cloud Storage request gets at most this long; the retry policy's deadline bounds the
/// whole call.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Cloud Storage returns at most 1000 items per page whatever we ask for.
const MAX_PAGE_SIZE: usize = 1000;

/// One page of `objects.list`. `items` is absent when nothing matched.
#[derive(Debug, Deserialize)]
pub(crate) struct ObjectsPage {
    #[serde(default)]
    pub(crate) items: Vec<ObjectItem>,
    #[serde(rename = "nextPageToken")]
    pub(crate) next_page_token: Option<String>,
}

/// The one field of the `Object` resource we need.
#[derive(Debug, Deserialize)]
pub(crate) struct ObjectItem {
    pub(crate) name: String,
}

/// What one page request needs.
pub(crate) struct PageRequest<'a> {
    pub(crate) bucket: &'a str,
    pub(crate) prefix: Option<&'a str>,
    pub(crate) page_token: Option<&'a str>,
    pub(crate) max_results: usize,
}

/// The `objects.list` URL for one page. Bucket and query values are percent-encoded by `url`.
pub(crate) fn page_url(base: &Url, page: &PageRequest<'_>) -> Result<Url, Error> {
    let mut url = base.clone();
    {
        let mut segments = url
            .path_segments_mut()
            .map_err(|()| Error::config("GCS_BASE_URL", "cannot be a base URL (it has no path)"))?;
        // A base with a trailing slash would otherwise give `//storage/v1`.
        segments
            .pop_if_empty()
            .extend(["storage", "v1", "b", page.bucket, "o"]);
    }
    {
        let mut query = url.query_pairs_mut();
        if let Some(prefix) = page.prefix.filter(|p| !p.is_empty()) {
            query.append_pair("prefix", prefix);
        }
        query.append_pair(
            "maxResults",
            &page.max_results.min(MAX_PAGE_SIZE).to_string(),
        );
        // Only names: less for Cloud Storage to send and for us to parse.
        query.append_pair("fields", "items/name,nextPageToken");
        if let Some(token) = page.page_token {
            query.append_pair("pageToken", token);
        }
    }
    Ok(url)
}

/// Fetches one page with the cached token. On 401 the token is dropped, a new one fetched (a
/// new impersonation, or a new exchange without impersonation) and the request sent once more:
/// a token revoked or expired early on Google's side is not the caller's problem.
///
/// Returns the page and the token that fetched it.
pub(crate) async fn list_page(
    http: &reqwest::Client,
    creds: &Credentials,
    retry: &RetryPolicy,
    url: &Url,
) -> Result<(ObjectsPage, AccessToken), Error> {
    let token = creds.token().await?;
    match get(http, creds, retry, url, &token).await {
        Err(e) if e.status() == Some(401) => {
            tracing::info!(
                "Cloud Storage refused the token (401); fetching a new one and retrying once"
            );
            creds.invalidate();
            let token = creds.token().await?;
            let page = get(http, creds, retry, url, &token).await.map_err(|e| {
                if e.status() == Some(401) {
                    e.with_hint(
                        "a freshly issued token was refused too: check the configured scopes, and if this \
                         API does not accept federated tokens, impersonate a service account \
                         (`create-cred-config --service-account=...`)",
                    )
                } else {
                    e
                }
            })?;
            Ok((page, token))
        }
        Err(e) => Err(e),
        Ok(page) => Ok((page, token)),
    }
}

async fn get(
    http: &reqwest::Client,
    creds: &Credentials,
    retry: &RetryPolicy,
    url: &Url,
    token: &AccessToken,
) -> Result<ObjectsPage, Error> {
    // The query (page tokens, prefixes) stays out of messages.
    let what = format!("GET {}", describe_url(url));
    let response = retry
        .run(Step::Api, &what, |_attempt| {
            let mut request = http
                .get(url.clone())
                .timeout(REQUEST_TIMEOUT)
                .header(AUTHORIZATION, token.authorization_header());
            if let Some(project) = creds.quota_project_id() {
                // Quota and billing go to this project instead of the pool's.
                if let Ok(value) = HeaderValue::from_str(project) {
                    request = request.header("x-goog-user-project", value);
                }
            }
            let what = what.as_str();
            async move {
                send(Step::Api, what, request)
                    .await?
                    .error_for_status(Step::Api)
            }
        })
        .await
        .map_err(|e| with_api_hint(e.context(&what)))?;
    serde_json::from_slice(&response.body).map_err(|e| {
        Error::invalid_response(
            Step::Api,
            format!(
                "{what}: the answer is not an objects list (JSON error at line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })
}

/// What to check for the errors a federated workload meets on Cloud Storage.
fn with_api_hint(e: Error) -> Error {
    match e.status() {
        Some(403) => e.with_hint(
            "grant roles/storage.objectViewer on the bucket to the federated principal \
             (principalSet://iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/attribute.aws_role/ROLE_ARN) \
             or to the impersonated service account; federated principals also need uniform bucket-level access",
        ),
        Some(404) => e.with_hint("no such bucket: check the event's `bucket` (names are global, lowercase)"),
        _ => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(base: &str, page: &PageRequest<'_>) -> String {
        let base = Url::parse(base).unwrap_or_else(|e| unreachable!("test base URL: {e}"));
        page_url(&base, page)
            .map(String::from)
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn page_urls_encode_bucket_prefix_and_page_token() {
        let page = PageRequest {
            bucket: "my-bucket",
            prefix: Some("a b/ü&x=1"),
            page_token: Some("tok+/="),
            max_results: 5000,
        };
        assert_eq!(
            url("https://storage.googleapis.com", &page),
            "https://storage.googleapis.com/storage/v1/b/my-bucket/o?prefix=a+b%2F%C3%BC%26x%3D1\
             &maxResults=1000&fields=items%2Fname%2CnextPageToken&pageToken=tok%2B%2F%3D"
        );
    }

    #[test]
    fn page_urls_keep_a_base_path_and_skip_an_empty_prefix() {
        let page = PageRequest {
            bucket: "b.example.com",
            prefix: Some(""),
            page_token: None,
            max_results: 7,
        };
        assert_eq!(
            url("http://127.0.0.1:9000/gcs/", &page),
            "http://127.0.0.1:9000/gcs/storage/v1/b/b.example.com/o?maxResults=7&fields=items%2Fname%2CnextPageToken"
        );
    }

    #[test]
    fn pages_parse_with_and_without_items() {
        let page: Result<ObjectsPage, _> = serde_json::from_str(
            r#"{"kind":"storage#objects","items":[{"name":"a"},{"name":"b","size":"3"}],"nextPageToken":"n"}"#,
        );
        let page = page.unwrap_or_else(|e| unreachable!("{e}"));
        let names: Vec<_> = page.items.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(page.next_page_token.as_deref(), Some("n"));

        let empty: Result<ObjectsPage, _> = serde_json::from_str(r#"{"kind":"storage#objects"}"#);
        let empty = empty.unwrap_or_else(|e| unreachable!("{e}"));
        assert!(empty.items.is_empty() && empty.next_page_token.is_none());
    }
}
