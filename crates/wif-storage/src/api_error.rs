//! Turning Cloud Storage error responses into [`Error`]s with the server's words and a hint.
//!
//! GCS answers errors in the legacy JSON shape (`{"error":{"code","message","errors":[{reason}]}}`,
//! often without `status`); proxies in front of it answer HTML. [`Error::http`] parses both
//! families and never keeps a raw body; this module adds the call, `Retry-After` and hints for
//! the misconfigurations people actually hit (federated principals on fine-grained-ACL buckets,
//! missing roles, create-only preconditions).

use wif_core::http::retry_after;
use wif_core::{Error, Step};

/// The hint for a 403 naming a federated principal.
pub(crate) const UBLA_HINT: &str = "a federated principal (principal:// or principalSet://) can use Cloud Storage directly only on buckets with uniform bucket-level access: enable it (`gcloud storage buckets update gs://BUCKET --uniform-bucket-level-access`) and grant the principal a storage role on the bucket, or impersonate a service account that has one";

/// Maps an error response of `what` (a method and URL without query) to an [`Error`].
pub(crate) fn api_error(what: &str, status: u16, headers: &http::HeaderMap, body: &[u8]) -> Error {
    let mut err = Error::http(Step::Api, status, body).context(what);
    if let Some(after) = retry_after(headers) {
        err = err.with_retry_after(after);
    }
    let answered = err.server_error().is_some();
    let message = err
        .server_error()
        .and_then(|s| s.message.clone())
        .unwrap_or_default();
    let hint = match status {
        401 => Some(
            "the access token was refused even after a refresh: check that the credentials' scopes include cloud-platform or devstorage, and that the token was issued for this endpoint (an emulator at STORAGE_EMULATOR_HOST accepts only its own tokens)"
                .to_owned(),
        ),
        403 if message.contains("principal://") || message.contains("principalSet://") => {
            Some(UBLA_HINT.to_owned())
        }
        403 => Some(
            "the principal lacks a Cloud Storage permission here: grant it roles/storage.objectUser (read and write) or roles/storage.objectViewer (read) on the bucket".to_owned(),
        ),
        // No Cloud Storage error at all: whatever answered is not the JSON API at that URL.
        404 if !answered => Some(format!(
            "nothing answered {what} as Cloud Storage: check the base URL (the JSON API's root, such as https://storage.googleapis.com/; STORAGE_EMULATOR_HOST takes the emulator's host:port or URL)"
        )),
        404 if message.starts_with("No such object") => Some(
            "the object does not exist (check its name: object names are case-sensitive and `dir/file` differs from `dir//file`)".to_owned(),
        ),
        404 if message.to_ascii_lowercase().contains("bucket") => Some(
            "the bucket does not exist (check its name, without `gs://`)".to_owned(),
        ),
        404 => Some(
            "the bucket or object does not exist (check the names; object names are case-sensitive and `dir/file` differs from `dir//file`)".to_owned(),
        ),
        412 => Some(
            "a precondition did not hold: ifGenerationMatch=0 means the object must not exist yet; otherwise the object's generation or metageneration changed since you read it".to_owned(),
        ),
        _ => None,
    };
    match hint {
        Some(h) => err.with_hint(h),
        None => err,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn err(status: u16, body: &str) -> Error {
        api_error(
            "GET https://storage.googleapis.com/storage/v1/b/b/o/x",
            status,
            &http::HeaderMap::new(),
            body.as_bytes(),
        )
    }

    #[test]
    fn gcs_legacy_errors_keep_message_and_reason() {
        let e = err(
            404,
            r#"{"error":{"code":404,"message":"No such object: b/x","errors":[{"message":"No such object: b/x","domain":"global","reason":"notFound"}]}}"#,
        );
        assert_eq!(e.step(), Step::Api);
        assert_eq!(e.status(), Some(404));
        let server = e.server_error().expect("parsed");
        assert_eq!(server.message.as_deref(), Some("No such object: b/x"));
        assert_eq!(server.reason.as_deref(), Some("notFound"));
        assert!(!e.is_retryable());
        let shown = e.to_string();
        assert!(
            shown.contains("GET https://storage.googleapis.com/storage/v1/b/b/o/x: HTTP 404"),
            "{shown}"
        );
        assert!(shown.contains("hint: the object does not exist"), "{shown}");
    }

    /// A 404's hint names what was not found; with no Cloud Storage error at all (a wrong base
    /// URL: most web servers answer an empty 404), the URL.
    #[test]
    fn a_not_found_hint_names_what_was_not_found() {
        let rpc = |message: &str| {
            format!(
                r#"{{"error":{{"code":404,"message":"{message}","errors":[{{"reason":"notFound"}}]}}}}"#
            )
        };
        for (body, says, not) in [
            (
                rpc("No such object: b/x"),
                "the object does not exist",
                "bucket",
            ),
            (
                rpc("The specified bucket does not exist."),
                "the bucket does not exist",
                "object",
            ),
            (
                rpc("Not Found"),
                "the bucket or object does not exist",
                "base URL",
            ),
            (
                String::new(),
                "nothing answered GET https://storage.googleapis.com/storage/v1/b/b/o/x as Cloud Storage: check the base URL",
                "does not exist",
            ),
            (
                "<html>404</html>".to_owned(),
                "check the base URL",
                "does not exist",
            ),
        ] {
            let e = err(404, &body);
            let hint = e.hint().expect("a hint");
            assert!(hint.contains(says), "{body}: {hint}");
            assert!(!hint.contains(not), "{body}: {hint}");
            assert!(!e.is_retryable(), "{body}");
        }
    }

    #[test]
    fn a_federated_principal_gets_the_uniform_access_hint() {
        let e = err(
            403,
            r#"{"error":{"code":403,"message":"principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/subject/s does not have storage.objects.create access to the Google Cloud Storage object.","errors":[{"reason":"forbidden"}]}}"#,
        );
        assert_eq!(e.hint(), Some(UBLA_HINT));
        let e = err(
            403,
            r#"{"error":{"code":403,"message":"sa@p.iam.gserviceaccount.com does not have storage.objects.get access","errors":[{"reason":"forbidden"}]}}"#,
        );
        assert!(
            e.hint()
                .is_some_and(|h| h.contains("roles/storage.objectUser")),
            "{e}"
        );
    }

    #[test]
    fn html_from_a_proxy_is_not_echoed_and_503_is_retryable() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("7"),
        );
        let e = api_error(
            "PUT https://storage.googleapis.com/upload/storage/v1/b/b/o",
            503,
            &headers,
            b"<html><body>upstream connect error ya29.secret</body></html>",
        );
        assert!(e.is_retryable());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("ya29"), "{shown}");
        assert!(shown.contains("not a JSON error"), "{shown}");
    }

    #[test]
    fn precondition_failures_are_final_and_explained() {
        let e = err(
            412,
            r#"{"error":{"code":412,"message":"At least one of the pre-conditions you specified did not hold.","errors":[{"reason":"conditionNotMet"}]}}"#,
        );
        assert!(!e.is_retryable());
        assert!(e.hint().is_some_and(|h| h.contains("ifGenerationMatch=0")));
    }
}
