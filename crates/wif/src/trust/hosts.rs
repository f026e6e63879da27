//! Host shapes for the trust policy: which URL hosts are Google endpoints of a universe, AWS
//! STS, the instance metadata service or loopback. Pure functions of the parsed URL (no DNS).

use std::net::IpAddr;

use url::{Host, Url};

use super::{METADATA_IPV4, METADATA_IPV6};

/// `127.0.0.0/8`, `::1` (also IPv4-mapped), `localhost` and `*.localhost` (RFC 6761), and the
/// unspecified addresses `0.0.0.0` / `::`, which reach the local host when connected to.
pub(super) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => {
            let d = d.trim_end_matches('.');
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(Host::Ipv4(ip)) => ip.is_loopback() || ip.is_unspecified(),
        Some(Host::Ipv6(ip)) => {
            ip.is_loopback()
                || ip.is_unspecified()
                || ip
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_loopback() || v4.is_unspecified())
        }
        None => false,
    }
}

/// The instance metadata address, IPv4 (also IPv4-mapped) or AWS's IPv6 one.
pub(super) fn is_metadata_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip == METADATA_IPV4,
        Some(Host::Ipv6(ip)) => ip == METADATA_IPV6 || ip.to_ipv4_mapped() == Some(METADATA_IPV4),
        _ => false,
    }
}

/// `SERVICE.U`, `SERVICE.mtls.U`, `SERVICE.REGION.rep.U`, `SERVICE.REGION.rep.mtls.U` and
/// Private Service Connect `SERVICE-NAME.p.U`. Everything under the universe is Google's, but
/// not every Google host is safe to POST a token to: a Cloud Storage upload URL on
/// `storage.googleapis.com` would write the subject token into an attacker's bucket. Hence the
/// service name is part of the rule.
pub(super) fn is_google_host(host: &str, service: &str, universe: &str) -> bool {
    let Some(prefix) = host
        .strip_suffix(universe)
        .and_then(|p| p.strip_suffix('.'))
    else {
        return false;
    };
    let labels: Vec<&str> = prefix.split('.').collect();
    match labels.as_slice() {
        [s] | [s, "mtls"] => *s == service,
        [s, region, "rep"] | [s, region, "rep", "mtls"] => *s == service && is_region(region),
        [endpoint, "p"] => endpoint
            .strip_prefix(service)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(is_region),
        _ => false,
    }
}

/// `sts.REGION.amazonaws.com`, `sts-fips.REGION.amazonaws.com`, `sts.REGION.amazonaws.com.cn`.
pub(super) fn is_aws_sts_host(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    match labels.as_slice() {
        ["sts" | "sts-fips", region, "amazonaws", "com"]
        | ["sts", region, "amazonaws", "com", "cn"] => is_region(region),
        _ => false,
    }
}

/// One DNS label of lower-case letters, digits and inner hyphens (`us-east1`, `eu-west-3`).
fn is_region(label: &str) -> bool {
    !label.is_empty()
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Lower case, IPv6 brackets removed, and IP addresses in their canonical form, so
/// `allow_source_url_host("[FD00::1]")` matches `https://[fd00::1]/`.
pub(super) fn normalize_host(host: &str) -> String {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => bare.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_hosts() {
        let ok = [
            "sts.googleapis.com",
            "sts.mtls.googleapis.com",
            "sts.us-east1.rep.googleapis.com",
            "sts.me-central2.rep.mtls.googleapis.com",
            "sts-myendpoint.p.googleapis.com",
        ];
        for host in ok {
            assert!(is_google_host(host, "sts", "googleapis.com"), "{host}");
        }
        let bad = [
            "googleapis.com",
            "evilsts.googleapis.com",
            "sts.googleapis.com.evil.example",
            "iamcredentials.googleapis.com",
            "storage.googleapis.com",
            "us-east-1.sts.googleapis.com",
            "sts.us-east1.googleapis.com",
            "sts..rep.googleapis.com",
            "sts.a.b.rep.googleapis.com",
            "sts.-x.rep.googleapis.com",
            "sts-.p.googleapis.com",
            "stsx-a.p.googleapis.com",
            "sts.s3nsapis.fr",
            "xsts.googleapis.com",
        ];
        for host in bad {
            assert!(!is_google_host(host, "sts", "googleapis.com"), "{host}");
        }
        assert!(is_google_host(
            "iamcredentials.s3nsapis.fr",
            "iamcredentials",
            "s3nsapis.fr"
        ));
    }

    #[test]
    fn aws_sts_hosts() {
        for host in [
            "sts.us-east-1.amazonaws.com",
            "sts-fips.us-gov-west-1.amazonaws.com",
            "sts.cn-north-1.amazonaws.com.cn",
        ] {
            assert!(is_aws_sts_host(host), "{host}");
        }
        for host in [
            "sts.amazonaws.com.evil.example",
            "sts.us-east-1.amazonaws.com.evil.example",
            "evil.us-east-1.amazonaws.com",
            "sts.amazonaws.com",
            "sts-fips.cn-north-1.amazonaws.com.cn",
        ] {
            assert!(!is_aws_sts_host(host), "{host}");
        }
    }

    #[test]
    fn loopback_forms() {
        for u in [
            "http://127.0.0.1:8080/",
            "http://127.1.2.3/",
            "http://localhost/",
            "http://LOCALHOST./",
            "http://x.localhost/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0/",
            "http://[::]/",
        ] {
            assert!(is_loopback(&Url::parse(u).unwrap()), "{u}");
        }
        for u in ["http://169.254.169.254/", "https://sts.googleapis.com/"] {
            assert!(!is_loopback(&Url::parse(u).unwrap()), "{u}");
        }
    }

    #[test]
    fn host_normalization() {
        assert_eq!(normalize_host("[FD00::0001]"), "fd00::1");
        assert_eq!(normalize_host("IdP.Example"), "idp.example");
        assert_eq!(normalize_host("10.0.0.1"), "10.0.0.1");
    }
}
