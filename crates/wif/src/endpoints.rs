//! The endpoint override: every Google endpoint of the universe — STS, IAM Credentials, and
//! through the credentials BigQuery and Cloud Storage — at one base URL, as a fake server or the
//! emulator serves them (`{base}/v1/token`, `{base}/v1/projects/-/serviceAccounts/…`,
//! `{base}/bigquery/v2/`, `{base}/storage/v1/`). Production code that says
//! `.impersonate(email)` then runs unchanged against the fake: only the environment differs.
//!
//! Set on the builder ([`CredentialsBuilder::endpoint_base_url`]) or in the environment
//! ([`ENDPOINT_BASE_URL_VAR`]); the builder wins. The URL must be `https`, or `http` to this
//! machine (`localhost`, 127.0.0.0/8, `::1`): a bearer token never crosses a network in clear
//! text. An explicit [`token_url`](CredentialsBuilder::token_url) or
//! [`impersonation_url`](CredentialsBuilder::impersonation_url) is yours and is kept; the
//! configuration's URLs and the universe's defaults move to the base URL, keeping their paths.
//!
//! [`CredentialsBuilder::endpoint_base_url`]: crate::CredentialsBuilder::endpoint_base_url

use url::Url;
use wif_core::{Environment, Error};

#[cfg(doc)]
use crate::CredentialsBuilder;

/// The environment variable that points every Google endpoint at a base URL (a fake, the
/// emulator): `WIF_ENDPOINT_BASE_URL=http://127.0.0.1:8787`.
pub const ENDPOINT_BASE_URL_VAR: &str = "WIF_ENDPOINT_BASE_URL";

/// Where the override came from, for messages.
const BUILDER_FIELD: &str = "endpoint_base_url";

/// The base URL in effect: the builder's, else the environment's (empty counts as unset).
pub(crate) fn resolve(explicit: Option<&str>, env: &dyn Environment) -> Result<Option<Url>, Error> {
    if let Some(raw) = explicit {
        return parse(raw, BUILDER_FIELD).map(Some);
    }
    match env.var(ENDPOINT_BASE_URL_VAR) {
        Some(raw) if !raw.trim().is_empty() => parse(&raw, ENDPOINT_BASE_URL_VAR).map(Some),
        _ => Ok(None),
    }
}

/// Checks a base URL: a host, `https` (or `http` to this machine), no user info, query or
/// fragment. A path prefix (a proxy's `/google`) is kept, without its trailing `/`.
fn parse(raw: &str, field: &str) -> Result<Url, Error> {
    let mut url = Url::parse(raw.trim()).map_err(|e| {
        Error::config(field, format!("is not a URL ({e})"))
            .with_hint("give a base URL such as http://127.0.0.1:8787 (an emulator or a fake)")
    })?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::config(field, "has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::config(field, "must not contain user info"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::config(
            field,
            "must be a base URL, without a query or fragment",
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" if wif_core::http::is_loopback(&url) => {}
        "http" => {
            return Err(Error::config(
                field,
                format!(
                    "must use https (http only to this machine: localhost, 127.0.0.0/8, ::1): {}",
                    wif_core::http::describe_url(&url)
                ),
            )
            .with_hint("tokens would cross the network in clear text"));
        }
        other => {
            return Err(Error::config(
                field,
                format!("must be an https URL, not `{other}:`"),
            ));
        }
    }
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

/// `url` moved under `base`: its path and query kept, behind the base's path prefix. A `url`
/// that does not parse is returned as is (the layer it goes to names the problem).
pub(crate) fn rebase(base: &Url, url: &str) -> String {
    let Ok(parsed) = Url::parse(url) else {
        return url.to_owned();
    };
    let mut moved = base.clone();
    moved.set_path(&format!(
        "{}{}",
        base.path().trim_end_matches('/'),
        parsed.path()
    ));
    moved.set_query(parsed.query());
    moved.to_string()
}

#[cfg(test)]
mod tests {
    use wif_core::MapEnvironment;

    use super::*;

    #[test]
    fn the_builder_wins_over_the_environment_and_empty_is_unset() {
        let env = MapEnvironment::new().with(ENDPOINT_BASE_URL_VAR, "http://127.0.0.1:9/");
        let from_env = resolve(None, &env).expect("valid").expect("set");
        assert_eq!(from_env.as_str(), "http://127.0.0.1:9/");
        let explicit = resolve(Some("https://fake.example/google/"), &env)
            .expect("valid")
            .expect("set");
        assert_eq!(explicit.as_str(), "https://fake.example/google");
        let empty = MapEnvironment::new().with(ENDPOINT_BASE_URL_VAR, " ");
        assert!(resolve(None, &empty).expect("valid").is_none());
        assert!(
            resolve(None, &MapEnvironment::new())
                .expect("valid")
                .is_none()
        );
    }

    #[test]
    fn only_https_or_plain_http_to_this_machine() {
        for ok in [
            "http://127.0.0.1:8787",
            "http://localhost:1",
            "http://[::1]:2",
            "https://private.googleapis.example",
        ] {
            assert!(parse(ok, BUILDER_FIELD).is_ok(), "{ok}");
        }
        for (bad, want) in [
            ("http://10.0.0.5:8787", "must use https"),
            ("http://localhost.evil.example", "must use https"),
            ("ftp://127.0.0.1", "not `ftp:`"),
            ("https://user:pw@host.example", "user info"),
            ("https://host.example/?x=1", "without a query"),
            ("127.0.0.1:8787", "not a URL"),
            ("file:///tmp", "no host"),
        ] {
            let err = parse(bad, ENDPOINT_BASE_URL_VAR).expect_err(bad);
            let shown = err.to_string();
            assert!(err.is_config(), "{bad}");
            assert!(shown.contains(ENDPOINT_BASE_URL_VAR), "{bad}: {shown}");
            assert!(shown.contains(want), "{bad}: {shown}");
            assert!(!shown.contains("pw"), "{shown}");
        }
    }

    #[test]
    fn urls_keep_their_path_and_query_behind_the_prefix() {
        let base = parse("http://127.0.0.1:8787/prefix/", BUILDER_FIELD).expect("valid");
        assert_eq!(
            rebase(&base, "https://sts.googleapis.com/v1/token"),
            "http://127.0.0.1:8787/prefix/v1/token"
        );
        assert_eq!(
            rebase(
                &base,
                "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken"
            ),
            "http://127.0.0.1:8787/prefix/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken"
        );
        let root = parse("http://127.0.0.1:8787", BUILDER_FIELD).expect("valid");
        assert_eq!(
            rebase(&root, "https://sts.googleapis.com/v1/token?x=1"),
            "http://127.0.0.1:8787/v1/token?x=1"
        );
        assert_eq!(rebase(&root, "not a url"), "not a url");
    }
}
