//! Bucket and object names, and the URLs they go into.
//!
//! The JSON API puts an object name into the path as **one** percent-encoded segment
//! (`a/b c.txt` → `a%2Fb%20c.txt`), or into the `name` query parameter of uploads. Everything
//! outside RFC 3986's unreserved set is encoded, which is what Google's clients do; encoding
//! less (keeping `/` or `+`) silently addresses a different object.
//!
//! Names are checked before any network call against the rules GCS enforces, so a typo is a
//! clear configuration error rather than a 400 from the server.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use url::Url;
use wif_core::Error;

/// Everything but RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Longest object name GCS accepts, in UTF-8 bytes.
const MAX_OBJECT_NAME: usize = 1024;
/// Longest bucket name (dotted names may be up to 222 characters).
const MAX_BUCKET_NAME: usize = 222;

/// Percent-encodes `s` as one path segment.
pub(crate) fn encode_segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// Checks a bucket name: 3–222 characters of `a-z 0-9 - _ .`, starting and ending with a
/// letter or digit.
pub(crate) fn check_bucket(bucket: &str) -> Result<(), Error> {
    let problem = if bucket.len() < 3 || bucket.len() > MAX_BUCKET_NAME {
        Some("must be 3 to 222 characters long")
    } else if !bucket
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.'))
    {
        Some("may only contain lowercase letters, digits, `-`, `_` and `.`")
    } else if !bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !bucket.ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        Some("must start and end with a letter or digit")
    } else {
        None
    };
    match problem {
        Some(p) => Err(Error::config("bucket", format!("{bucket:?} {p}"))),
        None => Ok(()),
    }
}

/// Checks an object name: 1–1024 bytes of UTF-8, no carriage return or line feed, not `.` or
/// `..` (GCS refuses them all).
pub(crate) fn check_object(name: &str) -> Result<(), Error> {
    let problem = if name.is_empty() {
        Some("must not be empty".to_owned())
    } else if name.len() > MAX_OBJECT_NAME {
        Some(format!(
            "is {} bytes long; the limit is {MAX_OBJECT_NAME} bytes of UTF-8",
            name.len()
        ))
    } else if name.contains(['\r', '\n']) {
        Some("must not contain carriage returns or line feeds".to_owned())
    } else if name == "." || name == ".." {
        Some("must not be `.` or `..`".to_owned())
    } else {
        None
    };
    match problem {
        Some(p) => Err(Error::config("object name", p)),
        None => Ok(()),
    }
}

/// Builds request URLs under a base such as `https://storage.googleapis.com/`.
#[derive(Clone, Debug)]
pub(crate) struct Endpoints {
    base: Url,
}

impl Endpoints {
    /// Under `base`, as [`wif_core::http::ApiBaseRequest`] checked it (http(s), no query, the
    /// path ending in `/`); a path prefix (a proxy's `/gcs/`) is kept.
    pub(crate) fn new(base: Url) -> Self {
        Endpoints { base }
    }

    /// The base URL (always ends with `/`).
    pub(crate) fn base(&self) -> &Url {
        &self.base
    }

    /// `{base}{path}` where `path` is already percent-encoded.
    fn join(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let full = format!("{}{path}", self.base.path());
        url.set_path(&full);
        url
    }

    /// `…/storage/v1/b/{bucket}/o` (list).
    pub(crate) fn objects(&self, bucket: &str) -> Url {
        self.join(&format!("storage/v1/b/{}/o", encode_segment(bucket)))
    }

    /// `…/storage/v1/b/{bucket}/o/{object}` (metadata, delete, media with `alt=media`).
    pub(crate) fn object(&self, bucket: &str, name: &str) -> Url {
        self.join(&format!(
            "storage/v1/b/{}/o/{}",
            encode_segment(bucket),
            encode_segment(name)
        ))
    }

    /// `…/upload/storage/v1/b/{bucket}/o` (inserts; the name goes in the query or metadata).
    pub(crate) fn upload(&self, bucket: &str) -> Url {
        self.join(&format!("upload/storage/v1/b/{}/o", encode_segment(bucket)))
    }

    /// True when `url` has this base's scheme, host and port: a session URI from anywhere else
    /// must not receive our bearer token.
    pub(crate) fn same_origin(&self, url: &Url) -> bool {
        url.scheme() == self.base.scheme()
            && url.host_str() == self.base.host_str()
            && url.port_or_known_default() == self.base.port_or_known_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Endpoints under `base` as the builder makes them.
    fn endpoints(base: &str) -> Endpoints {
        let base = wif_core::http::ApiBaseRequest {
            explicit: Some(base),
            emulator_var: crate::client::EMULATOR_HOST_VAR,
            api_path: "",
            provider_base: None,
            default: base,
            authenticated: true,
        }
        .resolve(&wif_core::MapEnvironment::new())
        .expect("a valid base URL");
        Endpoints::new(base.url)
    }

    #[test]
    fn object_names_become_one_encoded_segment() {
        let table = [
            ("plain.txt", "plain.txt"),
            ("dir/sub/file.csv", "dir%2Fsub%2Ffile.csv"),
            ("with space+plus", "with%20space%2Bplus"),
            (
                "ünïcødé/日本.txt",
                "%C3%BCn%C3%AFc%C3%B8d%C3%A9%2F%E6%97%A5%E6%9C%AC.txt",
            ),
            ("a?b#c%d&e=f", "a%3Fb%23c%25d%26e%3Df"),
            ("~tilde_-.", "~tilde_-."),
        ];
        let ep = endpoints("https://storage.googleapis.com");
        for (name, encoded) in table {
            assert_eq!(encode_segment(name), encoded, "{name}");
            let url = ep.object("bkt", name);
            assert_eq!(
                url.as_str(),
                format!("https://storage.googleapis.com/storage/v1/b/bkt/o/{encoded}"),
                "{name}"
            );
        }
    }

    #[test]
    fn a_base_path_prefix_is_kept() {
        let ep = endpoints("http://127.0.0.1:9000/gcs?x=1");
        assert_eq!(
            ep.upload("b-1").as_str(),
            "http://127.0.0.1:9000/gcs/upload/storage/v1/b/b-1/o"
        );
        assert_eq!(
            ep.objects("b-1").as_str(),
            "http://127.0.0.1:9000/gcs/storage/v1/b/b-1/o"
        );
    }

    #[test]
    fn bucket_names_are_checked() {
        for ok in ["abc", "my-bucket_1", "a.b.c", "0bucket9"] {
            assert!(check_bucket(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "ab", "Upper", "-dash", "dash-", "sp ace", "a/b", "gs://x",
        ] {
            let err = check_bucket(bad).expect_err(bad);
            assert!(err.is_config(), "{bad}");
            assert!(err.to_string().contains("bucket"), "{err}");
        }
    }

    #[test]
    fn object_names_are_checked() {
        for ok in ["a", "dir/", "x/../y", "日本"] {
            assert!(check_object(ok).is_ok(), "{ok}");
        }
        let long = "x".repeat(1025);
        for bad in ["", ".", "..", "a\nb", "a\rb", long.as_str()] {
            assert!(check_object(bad).expect_err(bad).is_config(), "{bad:?}");
        }
    }

    #[test]
    fn same_origin_compares_scheme_host_and_port() {
        let ep = endpoints("https://storage.googleapis.com/");
        let yes =
            Url::parse("https://storage.googleapis.com:443/upload/x?upload_id=1").expect("url");
        let other_host = Url::parse("https://evil.example/upload?upload_id=1").expect("url");
        let other_scheme = Url::parse("http://storage.googleapis.com/upload").expect("url");
        assert!(ep.same_origin(&yes));
        assert!(!ep.same_origin(&other_host));
        assert!(!ep.same_origin(&other_scheme));
    }
}
