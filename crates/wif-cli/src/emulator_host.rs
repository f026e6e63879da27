//! `STORAGE_EMULATOR_HOST` and `BIGQUERY_EMULATOR_HOST`: when `wif gcs` / `wif bq` talk to an
//! emulator instead of Google, and with which credentials.
//!
//! * **Anonymous by default.** As Google's Python storage client does, an emulator variable
//!   without an explicit `--credentials` means no credentials at all: no `Authorization`
//!   header is sent, and Application Default Credentials are not even read (a gcloud
//!   `authorized_user` file in ADC cannot get in the way).
//! * **`--credentials` is used as given**, and its token travels only over `https`, or over
//!   plain `http` to this machine.
//! * **Plain `http` only to this machine.** An `http` emulator host (the default scheme of the
//!   `host:port` form) must be a loopback address under the one rule wif applies to every
//!   credential-bearing URL, [`wif::layers::core::http::is_loopback`]. Anything else is refused
//!   at once, before any request, with or without credentials: the variable is easy to
//!   inherit from a shell or a CI configuration, and the data of the copy, the query or the
//!   insert would travel unencrypted to whatever host it names. An emulator elsewhere is
//!   reached through `https://HOST:PORT` or a forwarded local port.

use url::Url;
use wif::layers::core::http::{describe_url, is_loopback};
use wif::{Environment, Error};

/// Where an emulator variable points, checked: `Ok(None)` when the variable is unset or blank
/// (the API commands talk to Google).
pub(crate) fn emulator_url(var: &str, env: &dyn Environment) -> Result<Option<Url>, Error> {
    let Some(value) = env.var(var) else {
        return Ok(None);
    };
    // The same reading as wif-storage's and wif-bigquery's: trimmed, `host:port` meaning
    // `http://host:port`.
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let text = if value.contains("://") {
        value.to_owned()
    } else {
        format!("http://{value}")
    };
    let url = Url::parse(&text)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| {
            Error::config(
                var,
                "is not an emulator address: use host:port, http://host:port or https://host:port",
            )
        })?;
    if url.scheme() == "http" && !is_loopback(&url) {
        return Err(Error::config(
            var,
            format!(
                "{} is plain http to a host that is not this machine; wif speaks plain http only to a loopback address (127.0.0.1, ::1, localhost)",
                describe_url(&url)
            ),
        )
        .with_hint(format!(
            "run the emulator on this machine, forward a local port to it (`ssh -L`, `docker run -p`, `kubectl port-forward`) and set {var}=127.0.0.1:PORT, or reach it over https://; unset {var} to talk to Google"
        )));
    }
    Ok(Some(url))
}

/// The credentials `wif gcs` / `wif bq` use: `None` (anonymous) when the emulator variable
/// `var` is set and no `--credentials` was given; otherwise what `load` builds from
/// `--credentials` or Application Default Credentials.
pub(crate) fn api_credentials<T>(
    var: &str,
    explicit_credentials: bool,
    env: &dyn Environment,
    load: impl FnOnce() -> Result<T, Error>,
) -> Result<Option<T>, Error> {
    match emulator_url(var, env)? {
        Some(url) if !explicit_credentials => {
            tracing::debug!(
                emulator = %describe_url(&url),
                "{var} is set and no --credentials given: talking to the emulator without credentials"
            );
            Ok(None)
        }
        // An explicit configuration against a checked emulator host, or Google itself.
        _ => load().map(Some),
    }
}

#[cfg(test)]
mod tests {
    use wif::MapEnvironment;

    use super::*;

    const VAR: &str = "STORAGE_EMULATOR_HOST";

    fn url_of(value: &str) -> Result<Option<Url>, Error> {
        emulator_url(VAR, &MapEnvironment::new().with(VAR, value))
    }

    #[test]
    fn loopback_and_https_hosts_are_accepted() {
        for (value, want) in [
            ("127.0.0.1:9023", "http://127.0.0.1:9023/"),
            ("localhost:4443", "http://localhost:4443/"),
            ("[::1]:8080", "http://[::1]:8080/"),
            (" http://127.0.0.2:1/ ", "http://127.0.0.2:1/"),
            ("https://gcs.example.test", "https://gcs.example.test/"),
        ] {
            let url = url_of(value).expect(value).expect(value);
            assert_eq!(url.as_str(), want, "{value}");
        }
        assert!(url_of("  ").expect("blank").is_none());
        assert!(
            emulator_url(VAR, &MapEnvironment::new())
                .expect("unset")
                .is_none()
        );
    }

    /// `[::ffff:127.0.0.1]` reached the listener with the token although wif's loopback rule
    /// refuses it for token_url; `example.invalid:8080` was retried for 23 s.
    #[test]
    fn plain_http_elsewhere_is_refused_before_any_request() {
        for value in [
            "http://[::ffff:127.0.0.1]:8080",
            "[::ffff:127.0.0.1]:8080",
            "example.invalid:8080",
            "http://10.0.0.5:4443",
            "http://127.0.0.1:1@evil.invalid:80",
        ] {
            let err = url_of(value).expect_err(value);
            assert!(err.is_config(), "{value}: {err}");
            assert!(err.to_string().contains(VAR), "{value}: {err}");
            assert!(
                err.hint().is_some_and(|h| h.contains("port")),
                "{value}: {err}"
            );
        }
        for value in ["ftp://127.0.0.1:21", "http://", "::::"] {
            assert!(url_of(value).expect_err(value).is_config(), "{value}");
        }
    }

    #[test]
    fn the_emulator_is_anonymous_unless_credentials_are_explicit() {
        let env = MapEnvironment::new().with(VAR, "127.0.0.1:9023");
        let read_adc = || -> Result<&str, Error> { panic!("ADC must not be read") };
        assert_eq!(
            api_credentials(VAR, false, &env, read_adc).expect("anonymous"),
            None
        );
        assert_eq!(
            api_credentials(VAR, true, &env, || Ok("explicit")).expect("explicit"),
            Some("explicit")
        );
        // Without the variable, ADC (or --credentials) decides.
        assert_eq!(
            api_credentials(VAR, false, &MapEnvironment::new(), || Ok("adc")).expect("google"),
            Some("adc")
        );
        // A refused host is refused with credentials too, before they are loaded.
        let bad = MapEnvironment::new().with(VAR, "example.invalid:8080");
        let never = || -> Result<&str, Error> { panic!("not loaded for a refused host") };
        assert!(api_credentials(VAR, true, &bad, never).is_err());
    }
}
