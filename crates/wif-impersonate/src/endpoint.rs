//! The `generateAccessToken` endpoint: building its URL from a service account email and a
//! universe domain, reading the email back out of a configured URL, and checking a URL before
//! a federated token is ever sent to it.
//!
//! The URL format is the one `gcloud iam workload-identity-pools create-cred-config` writes into
//! `service_account_impersonation_url`; see Google's
//! [generateAccessToken reference](https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/generateAccessToken).

use url::Url;
use wif_core::Error;

/// The method suffix that ends every impersonation URL's path.
const METHOD: &str = wif_core::protocol::GENERATE_ACCESS_TOKEN_METHOD;

/// The config field errors about the URL name (the credential file's name for it).
pub(crate) const URL_FIELD: &str = "service_account_impersonation_url";

/// The `generateAccessToken` URL for `service_account_email` in `universe_domain`:
/// `https://iamcredentials.{universe_domain}/v1/projects/-/serviceAccounts/{email}:generateAccessToken`
/// ([`wif_core::protocol::impersonation_url`]; an empty domain means `googleapis.com`).
///
/// ```
/// assert_eq!(
///     wif_impersonate::default_impersonation_url("googleapis.com", "sa@p.iam.gserviceaccount.com"),
///     "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken",
/// );
/// ```
pub fn default_impersonation_url(universe_domain: &str, service_account_email: &str) -> String {
    wif_core::protocol::impersonation_url(universe_domain, service_account_email)
}

/// The service account email in an impersonation URL: the text between the last `/` before
/// `:generateAccessToken` and that suffix. `None` when there is no suffix or the text is not an
/// email (it must contain `@`).
///
/// This is how Python's google-auth finds the target principal; like it, the URL is otherwise
/// not interpreted, so emulators and proxies with other path prefixes work.
///
/// ```
/// use wif_impersonate::email_from_url;
/// assert_eq!(
///     email_from_url("https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken").as_deref(),
///     Some("sa@p.iam.gserviceaccount.com"),
/// );
/// assert_eq!(email_from_url("https://foo/bar"), None);
/// ```
pub fn email_from_url(url: &str) -> Option<String> {
    let end = url.find(METHOD)?;
    let before = &url[..end];
    let start = before.rfind('/')? + 1;
    let email = &before[start..];
    is_plausible_email(email).then(|| email.to_owned())
}

/// A light syntax check, not RFC 5322: one `@` with text on both sides, and nothing that would
/// change the meaning of the URL it is put into.
pub(crate) fn is_plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '?' | '#' | ':'))
}

/// A universe domain is a DNS name: it becomes the host `iamcredentials.{universe_domain}`.
pub(crate) fn is_plausible_domain(domain: &str) -> bool {
    !domain.is_empty()
        && !domain.starts_with(['.', '-'])
        && !domain.ends_with(['.', '-'])
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

/// Parses and checks an impersonation URL, returning it with the email it names.
///
/// The URL must be `https`, except for loopback hosts (emulators, tests): a federated token is
/// a credential and must not cross a network in the clear.
pub(crate) fn check_url(raw: &str) -> Result<(Url, String), Error> {
    let url = Url::parse(raw)
        .map_err(|e| Error::config(URL_FIELD, format_args!("is not a valid URL ({e})")))?;
    check_parsed_url(url)
}

/// The rules of [`check_url`] for a URL parsed elsewhere.
pub(crate) fn check_parsed_url(url: Url) -> Result<(Url, String), Error> {
    if url.host().is_none() {
        return Err(Error::config(URL_FIELD, "has no host"));
    }
    match url.scheme() {
        "https" => {}
        "http" if wif_core::http::is_loopback(&url) => {}
        "http" => {
            return Err(Error::config(
                URL_FIELD,
                "must use https (plain http is only allowed for loopback hosts such as 127.0.0.1)",
            ));
        }
        other => {
            return Err(Error::config(
                URL_FIELD,
                format_args!("has the unsupported scheme `{other}`; use https"),
            ));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::config(
            URL_FIELD,
            "must not contain user information",
        ));
    }
    // Only the path counts: an email hidden in the query string is not the resource we POST to.
    let email = email_from_url(url.path()).ok_or_else(|| {
        Error::config(
            URL_FIELD,
            format_args!(
                "does not name a service account: expected a path ending in \
                 `/serviceAccounts/EMAIL{METHOD}`, got `{}`",
                wif_core::http::describe_url(&url)
            ),
        )
    })?;
    Ok((url, email))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_from_url_table() {
        let table: &[(&str, Option<&str>)] = &[
            (
                "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken",
                Some("sa@p.iam.gserviceaccount.com"),
            ),
            ("http://127.0.0.1:9/sa/x@y:generateAccessToken", Some("x@y")),
            ("x@y:generateAccessToken", None),
            ("/x@y:generateAccessToken", Some("x@y")),
            ("https://foo/bar", None),
            (
                "https://foo/serviceAccounts/no-at-sign:generateAccessToken",
                None,
            ),
            ("https://foo/serviceAccounts/:generateAccessToken", None),
            ("https://foo/serviceAccounts/@y:generateAccessToken", None),
            ("https://foo/serviceAccounts/x@:generateAccessToken", None),
            ("https://foo/serviceAccounts/x@y:generateIdToken", None),
            (
                "https://foo/serviceAccounts/x y@z:generateAccessToken",
                None,
            ),
            (
                "https://foo/serviceAccounts/a@b@c:generateAccessToken",
                None,
            ),
            (
                "https://foo/serviceAccounts/x@y:generateAccessToken?alt=json",
                Some("x@y"),
            ),
            ("", None),
        ];
        for (url, want) in table {
            assert_eq!(email_from_url(url).as_deref(), *want, "url {url:?}");
        }
    }

    #[test]
    fn default_url_round_trips_through_email_from_url() {
        let url = default_impersonation_url("s3nsapis.fr", "w@p.iam.gserviceaccount.com");
        assert_eq!(
            url,
            "https://iamcredentials.s3nsapis.fr/v1/projects/-/serviceAccounts/w@p.iam.gserviceaccount.com:generateAccessToken"
        );
        assert_eq!(
            email_from_url(&url).as_deref(),
            Some("w@p.iam.gserviceaccount.com")
        );
        let (parsed, email) = check_url(&url).expect("default URL passes the checks");
        assert_eq!(parsed.as_str(), url);
        assert_eq!(email, "w@p.iam.gserviceaccount.com");
    }

    #[test]
    fn check_url_accepts_https_and_loopback_http_only() {
        let ok = [
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@b:generateAccessToken",
            "http://127.0.0.1:8080/v1/projects/-/serviceAccounts/a@b:generateAccessToken",
            "http://127.3.4.5/a@b:generateAccessToken",
            "http://localhost:1/a@b:generateAccessToken",
            "http://[::1]:1/a@b:generateAccessToken",
        ];
        for url in ok {
            let checked = check_url(url);
            assert!(checked.is_ok(), "{url}: {checked:?}");
        }
        let bad: &[(&str, &str)] = &[
            ("not a url", "is not a valid URL"),
            (
                "http://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@b:generateAccessToken",
                "must use https",
            ),
            ("http://10.0.0.1/a@b:generateAccessToken", "must use https"),
            (
                "ftp://h/a@b:generateAccessToken",
                "unsupported scheme `ftp`",
            ),
            ("https://u:p@h/a@b:generateAccessToken", "user information"),
            (
                "https://h/v1/projects/-/serviceAccounts/a@b",
                "does not name a service account",
            ),
            (
                "https://h/x?q=/a@b:generateAccessToken",
                "does not name a service account",
            ),
        ];
        for (url, want) in bad {
            let err = check_url(url).expect_err(url);
            assert!(err.is_config(), "{url}: {err:?}");
            let shown = err.to_string();
            assert!(shown.contains(URL_FIELD), "{url}: {shown}");
            assert!(shown.contains(want), "{url}: {shown}");
        }
    }

    #[test]
    fn plausible_domains() {
        for good in ["googleapis.com", "s3nsapis.fr", "apis-berlin-build0.goog"] {
            assert!(is_plausible_domain(good), "{good}");
        }
        for bad in ["", ".com", "a/b", "a b", "evil.com/x?", "-a.com", "a.com."] {
            assert!(!is_plausible_domain(bad), "{bad}");
        }
    }
}
