//! Host shapes for the trust policy: which URL hosts are Google endpoints of a universe, AWS
//! STS or the instance metadata service. Pure functions of the parsed URL (no DNS). Loopback is
//! [`wif_core::http::is_loopback`], the rule every layer applies.

use std::net::IpAddr;

use url::{Host, Url};

use super::{METADATA_IPV4, METADATA_IPV6};

/// The AWS instance metadata service, written as gcloud writes it: `169.254.169.254` or AWS's
/// IPv6 `[fd00:ec2::254]`. (IPv4-mapped spellings are not canonical URLs.)
pub(super) fn is_aws_metadata_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip == METADATA_IPV4,
        Some(Host::Ipv6(ip)) => ip == METADATA_IPV6,
        _ => false,
    }
}

/// Azure's instance metadata service: `169.254.169.254` only (Azure has no IPv6 address for it).
pub(super) fn is_azure_metadata_host(url: &Url) -> bool {
    matches!(url.host(), Some(Host::Ipv4(ip)) if ip == METADATA_IPV4)
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

/// `sts.REGION.amazonaws.com`, `sts-fips.REGION.amazonaws.com` or `sts.REGION.amazonaws.com.cn`,
/// with `REGION` an AWS region name of that domain's partition. Anything else under
/// `amazonaws.com` may be another service — `sts.s3.amazonaws.com` is the S3 bucket `sts` — so
/// the label must be a region, not merely a DNS label. The problem is described for a message.
pub(super) fn check_aws_sts_host(host: &str) -> Result<(), String> {
    const EXPECTED: &str = "expected host sts.REGION.amazonaws.com, sts-fips.REGION.amazonaws.com or sts.REGION.amazonaws.com.cn";
    let labels: Vec<&str> = host.split('.').collect();
    let (service, region, domain) = match labels.as_slice() {
        [service, region, "amazonaws", "com"] => (*service, *region, "amazonaws.com"),
        [service, region, "amazonaws", "com", "cn"] => (*service, *region, "amazonaws.com.cn"),
        _ => return Err(format!("`{host}` is not AWS STS ({EXPECTED})")),
    };
    // AWS China has no FIPS endpoints.
    if !(service == "sts" || service == "sts-fips" && domain == "amazonaws.com") {
        return Err(format!("`{host}` is not AWS STS ({EXPECTED})"));
    }
    match aws_region_domain(region) {
        Some(d) if d == domain => Ok(()),
        Some(d) => Err(format!(
            "`{host}`: region `{region}` belongs to {d}, not {domain}"
        )),
        None => Err(format!(
            "`{host}`: `{region}` is not an AWS region name (such as us-east-1, us-gov-west-1 or cn-north-1)"
        )),
    }
}

/// Region-name prefixes of AWS's commercial partition (`aws`), as in its `regionRegex`
/// (`^(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+$`).
const AWS_COMMERCIAL_PREFIXES: [&str; 9] = ["us", "eu", "ap", "sa", "ca", "me", "af", "il", "mx"];

/// A region of the partition whose STS domain is `amazonaws.com.cn` (`china`) or
/// `amazonaws.com`: what a `{region}` template is checked with.
pub(super) fn sample_region(china: bool) -> &'static str {
    if china { "cn-north-1" } else { "us-east-1" }
}

/// The STS domain of the partition `region` belongs to, when it is written as AWS writes region
/// names: `aws` (`us-east-1`) and `aws-us-gov` (`us-gov-west-1`) use `amazonaws.com`, `aws-cn`
/// (`cn-north-1`) `amazonaws.com.cn`. The isolated partitions (`us-iso-east-1`, …) have domains
/// of their own that Google cannot reach, so they are not regions here.
pub(super) fn aws_region_domain(region: &str) -> Option<&'static str> {
    let word = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase());
    let number = |s: &str| (1..=2).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    let labels: Vec<&str> = region.split('-').collect();
    match labels.as_slice() {
        ["cn", w, n] if word(w) && number(n) => Some("amazonaws.com.cn"),
        ["us", "gov", w, n] if word(w) && number(n) => Some("amazonaws.com"),
        [p, w, n] if AWS_COMMERCIAL_PREFIXES.contains(p) && word(w) && number(n) => {
            Some("amazonaws.com")
        }
        _ => None,
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
            "sts.eu-west-3.amazonaws.com",
            "sts.ap-southeast-5.amazonaws.com",
            "sts.il-central-1.amazonaws.com",
            "sts.mx-central-1.amazonaws.com",
            "sts-fips.us-east-2.amazonaws.com",
            "sts.us-gov-west-1.amazonaws.com",
            "sts-fips.us-gov-west-1.amazonaws.com",
            "sts.cn-north-1.amazonaws.com.cn",
            "sts.cn-northwest-1.amazonaws.com.cn",
        ] {
            assert_eq!(check_aws_sts_host(host), Ok(()), "{host}");
        }
        for (host, words) in [
            // The S3 addresses of a bucket named `sts`.
            ("sts.s3.amazonaws.com", "not an AWS region name"),
            ("sts.s3-us-west-2.amazonaws.com", "not an AWS region name"),
            ("sts.s3-external-1.amazonaws.com", "not an AWS region name"),
            ("sts.s3.us-east-1.amazonaws.com", "is not AWS STS"),
            ("sts.s3-website.amazonaws.com", "not an AWS region name"),
            // Other labels that are DNS labels but not regions.
            ("sts.execute-api.amazonaws.com", "not an AWS region name"),
            ("sts.us-east.amazonaws.com", "not an AWS region name"),
            ("sts.xx-east-1.amazonaws.com", "not an AWS region name"),
            ("sts.us-east-100.amazonaws.com", "not an AWS region name"),
            ("sts.US-EAST-1.amazonaws.com", "not an AWS region name"),
            ("sts.us-iso-east-1.amazonaws.com", "not an AWS region name"),
            // Partitions must match.
            (
                "sts.cn-north-1.amazonaws.com",
                "belongs to amazonaws.com.cn",
            ),
            (
                "sts.us-east-1.amazonaws.com.cn",
                "belongs to amazonaws.com,",
            ),
            ("sts-fips.cn-north-1.amazonaws.com.cn", "is not AWS STS"),
            // Not STS at all.
            ("sts.amazonaws.com.evil.example", "is not AWS STS"),
            ("sts.us-east-1.amazonaws.com.evil.example", "is not AWS STS"),
            ("evil.us-east-1.amazonaws.com", "is not AWS STS"),
            ("sts.amazonaws.com", "is not AWS STS"),
            ("sts.us-east-1.api.aws", "is not AWS STS"),
        ] {
            let problem = check_aws_sts_host(host).expect_err(host);
            assert!(problem.contains(words), "{host}: {problem}");
        }
        assert_eq!(
            aws_region_domain(sample_region(true)),
            Some("amazonaws.com.cn")
        );
        assert_eq!(
            aws_region_domain(sample_region(false)),
            Some("amazonaws.com")
        );
    }

    #[test]
    fn metadata_hosts() {
        let url = |u: &str| Url::parse(u).unwrap();
        assert!(is_aws_metadata_host(&url("http://169.254.169.254/")));
        assert!(is_aws_metadata_host(&url("http://[fd00:ec2::254]/")));
        assert!(!is_aws_metadata_host(&url(
            "http://[::ffff:169.254.169.254]/"
        )));
        assert!(!is_aws_metadata_host(&url("http://169.254.170.2/")));
        assert!(is_azure_metadata_host(&url("http://169.254.169.254/")));
        assert!(!is_azure_metadata_host(&url("http://[fd00:ec2::254]/")));
    }

    #[test]
    fn host_normalization() {
        assert_eq!(normalize_host("[FD00::0001]"), "fd00::1");
        assert_eq!(normalize_host("IdP.Example"), "idp.example");
        assert_eq!(normalize_host("10.0.0.1"), "10.0.0.1");
    }
}
