//! Where a Google Cloud API adapter (wif-bigquery, wif-storage) sends its requests, decided once
//! for all of them the way Google's clients decide it: a base URL set in code wins; otherwise an
//! emulator named by the API's variable (`STORAGE_EMULATOR_HOST`, `BIGQUERY_EMULATOR_HOST`:
//! `host:port`, meaning `http://host:port`, or a URL); otherwise the base the token provider was
//! pointed at ([`TokenProvider::endpoint_base_url`](crate::TokenProvider::endpoint_base_url): a
//! fake, the emulator); otherwise Google's endpoint. The result is checked before any request: a
//! bearer token travels over plain http only to this machine, and a request goes without one only
//! to an emulator.

use url::Url;

use super::{describe_url, is_loopback};
use crate::{Environment, Error};

/// Where an adapter's base URL came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiBaseFrom {
    /// Set in code (the builder's `base_url`).
    Explicit,
    /// The emulator variable.
    Emulator,
    /// The token provider's [`endpoint_base_url`](crate::TokenProvider::endpoint_base_url).
    Provider,
    /// Google's endpoint.
    Default,
}

/// What an adapter's builder knows when it picks its base URL.
#[derive(Clone, Copy, Debug)]
pub struct ApiBaseRequest<'a> {
    /// The base URL set in code, if any.
    pub explicit: Option<&'a str>,
    /// The emulator variable (`BIGQUERY_EMULATOR_HOST`), read from `environment`.
    pub emulator_var: &'a str,
    /// The API's root below an emulator's address or the provider's base (`bigquery/v2/`, or
    /// empty).
    pub api_path: &'a str,
    /// The token provider's [`endpoint_base_url`](crate::TokenProvider::endpoint_base_url), if
    /// it has one.
    pub provider_base: Option<&'a str>,
    /// Google's endpoint.
    pub default: &'a str,
    /// Whether requests carry a bearer token.
    pub authenticated: bool,
}

/// The checked base URL of an adapter (an `http` or `https` URL with a host, no query or
/// fragment, its path ending in `/`) and where it came from.
#[derive(Clone, Debug)]
pub struct ApiBase {
    /// The base URL.
    pub url: Url,
    /// Where it came from.
    pub from: ApiBaseFrom,
}

impl ApiBaseRequest<'_> {
    /// Picks and checks the base URL. Errors are configuration errors naming what the user set
    /// (`base_url` or the emulator variable):
    ///
    /// * a base URL that is not an `http(s)` URL with a host (naming `base_url`, the variable, or
    ///   `endpoint_base_url`);
    /// * a bearer token bound for plain `http` to a host that is not this machine
    ///   ([`is_loopback`]): anyone on the way could read it;
    /// * no token toward anything but an emulator (the variable's, or a base URL on this
    ///   machine): Google would only answer 401.
    ///
    /// ```
    /// use wif_core::MapEnvironment;
    /// use wif_core::http::{ApiBaseFrom, ApiBaseRequest};
    ///
    /// let request = ApiBaseRequest {
    ///     explicit: None,
    ///     emulator_var: "BIGQUERY_EMULATOR_HOST",
    ///     api_path: "bigquery/v2/",
    ///     provider_base: None,
    ///     default: "https://bigquery.googleapis.com/bigquery/v2/",
    ///     authenticated: false,
    /// };
    /// let env = MapEnvironment::new().with("BIGQUERY_EMULATOR_HOST", "127.0.0.1:9050");
    /// let base = request.resolve(&env)?;
    /// assert_eq!(base.url.as_str(), "http://127.0.0.1:9050/bigquery/v2/");
    /// assert_eq!(base.from, ApiBaseFrom::Emulator);
    /// # Ok::<(), wif_core::Error>(())
    /// ```
    pub fn resolve(&self, environment: &dyn Environment) -> Result<ApiBase, Error> {
        let emulator = environment
            .var(self.emulator_var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        let (field, from, url) = match (self.explicit, &emulator, self.provider_base) {
            (Some(text), _, _) => ("base_url", ApiBaseFrom::Explicit, parse("base_url", text)?),
            (None, Some(host), _) => {
                let root = if host.contains("://") {
                    host.clone()
                } else {
                    format!("http://{host}")
                };
                let var = self.emulator_var;
                (var, ApiBaseFrom::Emulator, self.below(var, &root)?)
            }
            (None, None, Some(base)) => {
                let field = "endpoint_base_url";
                (field, ApiBaseFrom::Provider, self.below(field, base)?)
            }
            (None, None, None) => (
                "base_url",
                ApiBaseFrom::Default,
                parse("base_url", self.default)?,
            ),
        };
        if self.authenticated {
            check_token_destination(&url, field)?;
        } else if from == ApiBaseFrom::Default
            || from == ApiBaseFrom::Explicit && !is_loopback(&url)
        {
            return Err(Error::config(
                "provider",
                format!(
                    "no credentials for {}: pass a token provider (e.g. wif::Credentials); only an emulator (set {} to its host:port, or a base URL on this machine) is spoken to without one",
                    describe_url(&url),
                    self.emulator_var
                ),
            ));
        }
        Ok(ApiBase { url, from })
    }

    /// The API's root below `root`, which `field` set.
    fn below(&self, field: &str, root: &str) -> Result<Url, Error> {
        parse(field, root)?
            .join(self.api_path)
            .map_err(|e| Error::config(field, format!("{root:?}: {e}")))
    }
}

/// Refuses a bearer token bound for plain `http` to a host that is not this machine (under the
/// one loopback rule, [`is_loopback`]): sent in clear, anyone on the way could read it. `field`
/// names the setting that chose `url`.
pub fn check_token_destination(url: &Url, field: &str) -> Result<(), Error> {
    if url.scheme() == "http" && !is_loopback(url) {
        return Err(Error::config(
            field,
            format!(
                "{} is plain http to a host that is not this machine; refusing to send the access token there",
                describe_url(url)
            ),
        )
        .with_hint("use https://, or a loopback address (127.0.0.1, ::1, localhost) for an emulator"));
    }
    Ok(())
}

/// `text` as a base URL: `http(s)` with a host; query and fragment dropped; the path ends in `/`
/// so that relative paths join below it.
fn parse(field: &str, text: &str) -> Result<Url, Error> {
    let text = text.trim();
    let mut url = Url::parse(text)
        .map_err(|e| Error::config(field, format!("{text:?} is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::config(
            field,
            format!("{text:?} is not an http:// or https:// URL with a host"),
        ));
    }
    url.set_query(None);
    url.set_fragment(None);
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MapEnvironment;

    const VAR: &str = "API_EMULATOR_HOST";

    fn request(explicit: Option<&str>, authenticated: bool) -> ApiBaseRequest<'_> {
        ApiBaseRequest {
            explicit,
            emulator_var: VAR,
            api_path: "api/v1/",
            provider_base: None,
            default: "https://api.googleapis.com/api/v1/",
            authenticated,
        }
    }

    fn env(host: Option<&str>) -> MapEnvironment {
        match host {
            Some(h) => MapEnvironment::new().with(VAR, h),
            None => MapEnvironment::new(),
        }
    }

    /// (explicit, variable, authenticated) → the base URL and its origin, or the field the
    /// error names.
    type Row = (
        Option<&'static str>,
        Option<&'static str>,
        bool,
        Result<(&'static str, ApiBaseFrom), &'static str>,
    );

    #[test]
    fn resolution_table() {
        use ApiBaseFrom::*;
        let table: &[Row] = &[
            (
                None,
                None,
                true,
                Ok(("https://api.googleapis.com/api/v1/", Default)),
            ),
            (
                None,
                Some(" localhost:9 "),
                true,
                Ok(("http://localhost:9/api/v1/", Emulator)),
            ),
            (
                None,
                Some("https://e.test/x"),
                true,
                Ok(("https://e.test/x/api/v1/", Emulator)),
            ),
            // An emulator needs no token; one named by the variable may be anywhere.
            (
                None,
                Some("[::1]:9"),
                false,
                Ok(("http://[::1]:9/api/v1/", Emulator)),
            ),
            (
                None,
                Some("e.test:9"),
                false,
                Ok(("http://e.test:9/api/v1/", Emulator)),
            ),
            (
                None,
                Some("   "),
                true,
                Ok(("https://api.googleapis.com/api/v1/", Default)),
            ),
            // Set in code, it wins and is taken as the API's root.
            (
                Some("http://127.0.0.1:1/p?q=1#f"),
                Some("e.test:9"),
                true,
                Ok(("http://127.0.0.1:1/p/", Explicit)),
            ),
            (
                Some("http://127.0.0.1:1"),
                None,
                false,
                Ok(("http://127.0.0.1:1/", Explicit)),
            ),
            // Refusals, naming what was set.
            (None, Some("ftp://x"), true, Err(VAR)),
            (None, Some("[::ffff:127.0.0.1]:9"), true, Err(VAR)),
            (None, Some("10.0.0.1:9"), true, Err(VAR)),
            (
                Some("http://api.internal.test/"),
                None,
                true,
                Err("base_url"),
            ),
            (Some("not a url"), None, true, Err("base_url")),
            (Some("mailto:a@b"), None, true, Err("base_url")),
            (Some("file:///tmp"), None, true, Err("base_url")),
            (Some("storage.googleapis.com"), None, true, Err("base_url")),
            (Some(""), None, true, Err("base_url")),
            (None, None, false, Err("provider")),
            (
                Some("https://api.internal.test/"),
                None,
                false,
                Err("provider"),
            ),
        ];
        for (explicit, host, authenticated, want) in table {
            let got = request(*explicit, *authenticated).resolve(&env(*host));
            let case = format!("{explicit:?} {host:?} authenticated={authenticated}");
            match (got, want) {
                (Ok(base), Ok((url, from))) => {
                    assert_eq!((base.url.as_str(), base.from), (*url, *from), "{case}");
                }
                (Err(e), Err(field)) => {
                    assert!(e.is_config(), "{case}: {e}");
                    assert!(e.to_string().contains(field), "{case}: {e}");
                }
                (got, want) => panic!("{case}: got {got:?}, want {want:?}"),
            }
        }
    }

    /// A provider pointed at a fake or the emulator takes the API there, below the variable and
    /// a base URL set in code.
    #[test]
    fn the_providers_endpoint_base_comes_after_the_variable() {
        let pointed = |explicit, base| ApiBaseRequest {
            provider_base: Some(base),
            ..request(explicit, true)
        };
        let base = pointed(None, "http://127.0.0.1:7/")
            .resolve(&env(None))
            .expect("the provider's base");
        assert_eq!(
            (base.url.as_str(), base.from),
            ("http://127.0.0.1:7/api/v1/", ApiBaseFrom::Provider)
        );
        let base = pointed(None, "http://127.0.0.1:7")
            .resolve(&env(Some("[::1]:9")))
            .expect("the variable");
        assert_eq!(base.from, ApiBaseFrom::Emulator);
        let base = pointed(Some("https://x.test/"), "http://127.0.0.1:7")
            .resolve(&env(None))
            .expect("code");
        assert_eq!(base.from, ApiBaseFrom::Explicit);
        for bad in ["http://fake.example.test", "not a url"] {
            let err = pointed(None, bad).resolve(&env(None)).expect_err(bad);
            assert!(
                err.to_string().contains("endpoint_base_url"),
                "{bad}: {err}"
            );
        }
    }
}
