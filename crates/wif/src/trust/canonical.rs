//! The one spelling of a URL the trust policy accepts: the URL's own serialization.
//!
//! A checked configuration is meant to be safe for any tool that reads it, and URL parsers
//! disagree on odd spellings. `https://sts.googleapis.com\@evil.invalid/` has the host
//! `sts.googleapis.com` for the WHATWG parser (the `url` crate, browsers), which reads `\` as
//! `/`, and the host `evil.invalid` for RFC 3986 parsers (curl, Python's `urlsplit`), which read
//! `sts.googleapis.com\` as user info. Percent-escapes in the host (`sts%2Egoogleapis.com`),
//! full-width letters, upper case, an explicit default port and fragments are each resolved
//! differently somewhere. A URL written exactly as [`Url`] serializes it, ASCII only, whose
//! authority holds nothing but the host (and a port), reads the same everywhere.

use url::Url;
use wif_core::http::describe_url;

/// How the path may be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum EmptyPath {
    /// Only as serialized (`https://host/`).
    Refused,
    /// `https://host?query` may also omit the root path's `/`, as gcloud writes the AWS
    /// `regional_cred_verification_url`; every parser reads that as the path `/`.
    Allowed,
}

/// Parses `value`, accepting only its canonical spelling. The problem, if any, is described
/// without echoing `value` (its query or user info may be secret).
pub(super) fn parse_canonical(value: &str, empty_path: EmptyPath) -> Result<Url, String> {
    if !value.is_ascii() {
        return Err(
            "contains non-ASCII characters; write host names in their ASCII (`xn--`) form"
                .to_owned(),
        );
    }
    if value.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err("contains whitespace or control characters".to_owned());
    }
    let parsed = Url::parse(value);
    // How this crate reads it, to make the refusal concrete.
    let reads = match &parsed {
        Ok(url) => format!(" (wif-rs reads it as {})", describe_url(url)),
        Err(_) => String::new(),
    };
    if value.contains('\\') {
        return Err(format!(
            "contains a backslash, which URL parsers read differently (as `/`, or inside the user info){reads}"
        ));
    }
    let Some(authority) = rfc3986_authority(value) else {
        return Err("is not an absolute URL of the form scheme://host/…".to_owned());
    };
    if let Some(c) = authority
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || ".-:[]".contains(*c)))
    {
        let what = match c {
            '@' => "user info (`@`)".to_owned(),
            '%' => "a percent-escape".to_owned(),
            c if c.is_ascii_uppercase() => "upper-case letters".to_owned(),
            c => format!("`{c}`"),
        };
        return Err(format!(
            "has {what} in its host part, which URL parsers read differently{reads}"
        ));
    }
    let url = parsed.map_err(|e| format!("is not a valid absolute URL ({e})"))?;
    let Some(host) = url.host_str() else {
        return Err("the URL has no host".to_owned());
    };
    let expected_authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    if url.fragment().is_some() {
        return Err(format!(
            "has a fragment (`#…`), which no endpoint uses{reads}"
        ));
    }
    let canonical = url.as_str();
    let same = canonical == value
        || (empty_path == EmptyPath::Allowed
            && url.path() == "/"
            && without_root_path(&url).as_deref() == Some(value));
    if authority != expected_authority || !same {
        return Err(format!(
            "is not written in canonical form{reads}; other tools may read another host or path: write it exactly so, without a default port"
        ));
    }
    Ok(url)
}

/// The authority as RFC 3986 splits it (curl, Python): after `scheme://`, up to the first `/`,
/// `?` or `#`. `None` without `://`.
fn rfc3986_authority(value: &str) -> Option<&str> {
    let (_, rest) = value.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// `url`'s serialization without the `/` of its root path: `https://host?q`.
fn without_root_path(url: &Url) -> Option<String> {
    let canonical = url.as_str();
    let scheme_and_authority = canonical.len() - url[url::Position::BeforePath..].len();
    let (head, tail) = canonical.split_at(scheme_and_authority);
    tail.strip_prefix('/').map(|rest| format!("{head}{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_serialized_spelling_is_accepted() {
        for ok in [
            "https://sts.googleapis.com/v1/token",
            "https://sts.googleapis.com/v1/token?a=b&c=d",
            "http://127.0.0.1:8080/v1/token",
            "http://[::1]:8080/x",
            "http://[fd00:ec2::254]/latest/api/token",
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@p.iam.gserviceaccount.com:generateAccessToken",
            "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://wif-app",
        ] {
            assert_eq!(
                parse_canonical(ok, EmptyPath::Refused).map(|u| u.to_string()),
                Ok(ok.to_owned()),
            );
        }
        let table = [
            (
                "https://sts.googleapis.com\\@evil.invalid/v1/introspect",
                "backslash, which URL parsers read differently (as `/`, or inside the user info) (wif-rs reads it as https://sts.googleapis.com/@evil.invalid/v1/introspect)",
            ),
            (
                "https://sts.googleapis.com@evil.invalid/v1/token",
                "user info",
            ),
            ("https://STS.GOOGLEAPIS.COM/v1/token", "upper-case"),
            ("HTTPS://sts.googleapis.com/v1/token", "canonical form"),
            ("https://sts%2Egoogleapis.com/v1/token", "percent-escape"),
            ("https://ｓｔｓ.googleapis.com/v1/token", "non-ASCII"),
            ("https://sts.googleapis.com:443/v1/token", "canonical form"),
            ("http://127.0.0.1:80/v1/token", "canonical form"),
            (
                "https://sts.googleapis.com#@evil.invalid/v1/token",
                "fragment",
            ),
            (
                "https://sts.googleapis.com/v1/token#@evil.invalid",
                "fragment",
            ),
            ("https://sts.googleapis.com/v1/token#", "fragment"),
            ("https://sts.googleapis.com/a/../v1/token", "canonical form"),
            (
                "https://sts.googleapis.com/a/%2e%2e/v1/token",
                "canonical form",
            ),
            ("https://sts.googleapis.com", "canonical form"),
            ("https://sts.googleapis.com?x=1", "canonical form"),
            ("https:sts.googleapis.com/v1/token", "absolute URL"),
            ("https:///sts.googleapis.com/v1/token", "canonical form"),
            (" https://sts.googleapis.com/v1/token", "whitespace"),
            ("https://sts.googleapis.com/v1/tok\ten", "whitespace"),
            ("https://sts.googleapis.com /v1/token", "whitespace"),
            ("https://0x7f.1/v1/token", "canonical form"),
            ("https://2130706433/v1/token", "canonical form"),
            ("http://[0:0:0:0:0:0:0:1]/", "canonical form"),
            ("http://[::ffff:127.0.0.1]/", "canonical form"),
            ("https://sts.googleapis.com/v1/token?q=\\", "backslash"),
        ];
        for (bad, words) in table {
            let problem = parse_canonical(bad, EmptyPath::Refused).expect_err(bad);
            assert!(problem.contains(words), "{bad}: {problem}");
        }
    }

    #[test]
    fn the_root_path_may_be_left_out_where_allowed() {
        let gcloud =
            "https://sts.us-east-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15";
        assert!(parse_canonical(gcloud, EmptyPath::Refused).is_err());
        let url = parse_canonical(gcloud, EmptyPath::Allowed).expect("gcloud's form");
        assert_eq!(url.host_str(), Some("sts.us-east-1.amazonaws.com"));
        for also in [
            "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15",
            "https://sts.us-east-1.amazonaws.com",
            "https://sts.us-east-1.amazonaws.com/",
        ] {
            assert!(parse_canonical(also, EmptyPath::Allowed).is_ok(), "{also}");
        }
        for bad in [
            "https://sts.us-east-1.amazonaws.com:443?Action=GetCallerIdentity",
            "https://STS.us-east-1.amazonaws.com?Action=GetCallerIdentity",
            "https://sts.us-east-1.amazonaws.com#?Action=GetCallerIdentity",
        ] {
            assert!(parse_canonical(bad, EmptyPath::Allowed).is_err(), "{bad}");
        }
    }

    #[test]
    fn problems_never_echo_the_query_or_user_info() {
        for bad in [
            "https://alice:hunter2@sts.googleapis.com/v1/token?key=s3cr3t",
            "https://sts.googleapis.com:443/v1/token?key=s3cr3t",
            "https://sts.googleapis.com/v1/token?key=s3cr3t#frag",
        ] {
            let problem = parse_canonical(bad, EmptyPath::Refused).expect_err(bad);
            for secret in ["hunter2", "alice", "s3cr3t"] {
                assert!(!problem.contains(secret), "{bad}: {problem}");
            }
        }
    }
}
