//! The AWS region the subject token is signed for (and whose STS host Google calls to verify it).
//!
//! Explicit region, then `AWS_REGION`, then `AWS_DEFAULT_REGION`, then the metadata service's
//! `region_url` (`docs/protocol.md#aws-region`). The metadata answer is usually an availability
//! zone. Python drops its last character, which breaks on `placement/region` answers and on local
//! and Wavelength zones; we parse the region prefix instead.

/// Derives the region from what a metadata `region_url` answered: an availability zone
/// (`us-east-2b`), a local zone (`us-west-2-lax-1a`), a Wavelength zone (`us-east-1-wl1-bos-wlz-1`)
/// or a region (`us-east-2`, from `placement/region`). `None` when it is none of these.
///
/// ```
/// use wif_source_aws::region_from_zone;
///
/// assert_eq!(region_from_zone("us-east-2b").as_deref(), Some("us-east-2"));
/// assert_eq!(region_from_zone("us-west-2-lax-1a").as_deref(), Some("us-west-2"));
/// assert_eq!(region_from_zone("<html>").as_deref(), None);
/// ```
pub fn region_from_zone(zone: &str) -> Option<String> {
    // A region is `partition-word(-word)*-N`: `us-east-2`, `us-gov-west-1`, `ap-southeast-3`,
    // `us-isob-east-1`. Zones append a letter to N, or `-<more labels>` after it.
    let mut labels = zone.trim().split('-');
    let first = labels.next()?;
    if first.len() < 2 || !first.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    let mut region = first.to_owned();
    let mut words = 0;
    for label in labels {
        let digits = label.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            if label.is_empty() || !label.bytes().all(|b| b.is_ascii_lowercase()) {
                return None;
            }
            region.push('-');
            region.push_str(label);
            words += 1;
            continue;
        }
        // The region number: what follows it in the same label may only be the zone letter.
        let rest = &label[digits..];
        if words == 0 || rest.len() > 1 || !rest.bytes().all(|b| b.is_ascii_lowercase()) {
            return None;
        }
        region.push('-');
        region.push_str(&label[..digits]);
        return Some(region);
    }
    None
}

/// Whether `region` can be put into a host name and a SigV4 credential scope.
pub(crate) fn is_plausible_region(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= 64
        && region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !region.starts_with('-')
        && !region.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_and_regions_map_to_regions() {
        let table = [
            ("us-east-2b", Some("us-east-2")),
            ("us-east-2b\n", Some("us-east-2")),
            ("us-east-2", Some("us-east-2")),
            ("eu-central-1a", Some("eu-central-1")),
            ("ap-southeast-3c", Some("ap-southeast-3")),
            ("us-gov-west-1a", Some("us-gov-west-1")),
            ("us-isob-east-1a", Some("us-isob-east-1")),
            ("cn-northwest-1b", Some("cn-northwest-1")),
            ("us-west-2-lax-1a", Some("us-west-2")),
            ("us-west-2-lax-1b", Some("us-west-2")),
            ("us-east-1-wl1-bos-wlz-1", Some("us-east-1")),
            ("ap-northeast-1-wl1-nrt-wlz-1", Some("ap-northeast-1")),
            ("me-central-1a", Some("me-central-1")),
            ("", None),
            ("   ", None),
            ("us", None),
            ("us-east", None),
            ("2b", None),
            ("us-2b", None),
            ("US-EAST-2B", None),
            ("us-east-2bb", None),
            ("use1-az1", None),
            ("<html><body>Not Found</body></html>", None),
            ("us--east-2a", None),
        ];
        for (zone, want) in table {
            assert_eq!(region_from_zone(zone).as_deref(), want, "zone {zone:?}");
        }
    }

    #[test]
    fn plausible_regions() {
        assert!(is_plausible_region("us-east-2"));
        assert!(is_plausible_region("eu-west-1"));
        assert!(!is_plausible_region(""));
        assert!(!is_plausible_region("us east 2"));
        assert!(!is_plausible_region("us-east-2/evil"));
        assert!(!is_plausible_region("us-east-2.evil.example"));
        assert!(!is_plausible_region("-us"));
    }
}
