//! The AWS `credential_source` of an `external_account` file, modelled once
//! (`docs/protocol.md#credential-source-shapes`): its fields, how each is checked, and the signed
//! URL it describes. The source builders check it here, and so does the `wif` facade's
//! configuration parser, so a file is judged by one rule whichever way it is read.

use serde::Deserialize;
use url::Url;
use wif_core::Error;

/// The default `regional_cred_verification_url` (what gcloud writes), `{region}` substituted at
/// signing.
pub use wif_core::protocol::DEFAULT_REGIONAL_CRED_VERIFICATION_URL;

const ENVIRONMENT_ID: &str = "credential_source.environment_id";
pub(crate) const REGION_URL: &str = "credential_source.region_url";
pub(crate) const URL: &str = "credential_source.url";
pub(crate) const IMDSV2_SESSION_TOKEN_URL: &str = "credential_source.imdsv2_session_token_url";
const VERIFICATION_URL: &str = "credential_source.regional_cred_verification_url";

/// The AWS `credential_source` object of an `external_account` credential file, as gcloud writes it.
///
/// ```
/// let json = r#"{
///   "environment_id": "aws1",
///   "region_url": "http://169.254.169.254/latest/meta-data/placement/availability-zone",
///   "url": "http://169.254.169.254/latest/meta-data/iam/security-credentials",
///   "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
///   "imdsv2_session_token_url": "http://169.254.169.254/latest/api/token"
/// }"#;
/// let source: wif_source_aws::AwsCredentialSource = serde_json::from_str(json)?;
/// source.validate()?;
/// assert_eq!(
///     source.verification_url("eu-west-1"),
///     "https://sts.eu-west-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
/// );
/// let aws = wif_source_aws::AwsSource::builder().credential_source(&source).build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct AwsCredentialSource {
    /// `aws1`.
    pub environment_id: Option<String>,
    /// Metadata URL answering the availability zone.
    pub region_url: Option<String>,
    /// Metadata URL listing the role name; `url/<role>` answers its credentials.
    pub url: Option<String>,
    /// Template of the signed AWS STS URL, `{region}` substituted.
    pub regional_cred_verification_url: Option<String>,
    /// Metadata URL of the IMDSv2 session token (present with `--enable-imdsv2`).
    pub imdsv2_session_token_url: Option<String>,
}

impl AwsCredentialSource {
    /// Checks every field present, with no network call; the error names the field
    /// (`credential_source.…`):
    ///
    /// * `environment_id`: `aws1` (`aws01` too: Python and Go read the version as a number).
    /// * `region_url`, `url`, `imdsv2_session_token_url`: `http(s)` URLs with a host.
    /// * `regional_cred_verification_url`: an `https` URL with a host once `{region}` is
    ///   substituted (Google replays the signed request to AWS over TLS only).
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(id) = &self.environment_id {
            check_environment_id(id)?;
        }
        for (field, url) in [
            (REGION_URL, &self.region_url),
            (URL, &self.url),
            (IMDSV2_SESSION_TOKEN_URL, &self.imdsv2_session_token_url),
        ] {
            metadata_url(field, url.as_deref())?;
        }
        if let Some(template) = &self.regional_cred_verification_url {
            check_verification_template(template)?;
        }
        Ok(())
    }

    /// The `regional_cred_verification_url` template, [the default](DEFAULT_REGIONAL_CRED_VERIFICATION_URL)
    /// when the file has none.
    pub fn verification_url_template(&self) -> &str {
        self.regional_cred_verification_url
            .as_deref()
            .unwrap_or(DEFAULT_REGIONAL_CRED_VERIFICATION_URL)
    }

    /// The URL signed for `region`: see [`verification_url`].
    pub fn verification_url(&self, region: &str) -> String {
        verification_url(self.verification_url_template(), region)
    }
}

/// The signed `GetCallerIdentity` URL for `region`: every `{region}` in `template` replaced, as
/// Python's `str.replace` does. Not checked: [`AwsCredentialSource::validate`] checks the
/// template, and signing checks the result.
///
/// ```
/// use wif_source_aws::{verification_url, DEFAULT_REGIONAL_CRED_VERIFICATION_URL};
///
/// assert_eq!(
///     verification_url(DEFAULT_REGIONAL_CRED_VERIFICATION_URL, "us-east-2"),
///     "https://sts.us-east-2.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
/// );
/// ```
pub fn verification_url(template: &str, region: &str) -> String {
    template.replace("{region}", region)
}

/// [`verification_url`] for `region`, checked to be an `https` URL with a host. The string is
/// the URL as signed (`Url` would normalise it, adding a `/` path the signature does not cover).
pub(crate) fn checked_verification_url(
    template: &str,
    region: &str,
) -> Result<(String, Url), String> {
    let url = verification_url(template, region);
    let parsed = Url::parse(&url).map_err(|e| format!("not a valid URL ({e})"))?;
    if parsed.scheme() != "https" {
        return Err(format!(
            "must be an https URL (is {}://…); Google verifies the signed request over TLS",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("has no host".to_owned());
    }
    Ok((url, parsed))
}

fn check_verification_template(template: &str) -> Result<(), Error> {
    // Checked with a stand-in region; the real one is checked again when signing.
    checked_verification_url(template, "us-east-1")
        .map(|_| ())
        .map_err(|problem| Error::config(VERIFICATION_URL, problem))
}

/// `^aws(\d+)$` with version 1, like Python and Go.
fn check_environment_id(id: &str) -> Result<(), Error> {
    let version = id
        .strip_prefix("aws")
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            Error::config(
                ENVIRONMENT_ID,
                format!(
                    "{} is not an AWS environment id: it must be \"aws\" followed by a version \
                     number; gcloud writes \"aws1\"",
                    quoted(id)
                ),
            )
        })?;
    if version.trim_start_matches('0') != "1" {
        return Err(Error::config(
            ENVIRONMENT_ID,
            format!(
                "aws version {} is not supported; only \"aws1\" is",
                quoted(version)
            ),
        ));
    }
    Ok(())
}

/// A metadata URL of the configuration: `http(s)` with a host. Never echoed: a URL can carry
/// credentials in its user info or query.
pub(crate) fn metadata_url(field: &str, raw: Option<&str>) -> Result<Option<Url>, Error> {
    let Some(raw) = raw else { return Ok(None) };
    let parsed =
        Url::parse(raw).map_err(|e| Error::config(field, format!("not a valid URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(Error::config(field, "must be an http(s) URL with a host"));
    }
    Ok(Some(parsed))
}

/// A short value of the configuration (not a secret) quoted for a message, clipped so a token
/// pasted into the wrong field cannot flood the output.
fn quoted(value: &str) -> String {
    const MAX: usize = 48;
    if value.chars().count() <= MAX {
        format!("'{value}'")
    } else {
        let head: String = value.chars().take(MAX).collect();
        format!("'{head}…'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_ids() {
        for ok in ["aws1", "aws01"] {
            assert!(check_environment_id(ok).is_ok(), "{ok}");
        }
        for (bad, says) in [
            ("aws2", "aws version '2' is not supported"),
            ("aws0", "aws version '0' is not supported"),
            ("AWS1", "'AWS1' is not an AWS environment id"),
            ("aws", "version number"),
            ("aws1x", "'aws1x' is not an AWS environment id"),
            ("", "'' is not an AWS environment id"),
            ("azure1", "not an AWS environment id"),
        ] {
            let err = check_environment_id(bad).expect_err(bad);
            assert!(err.is_config(), "{bad}: {err:?}");
            let shown = err.to_string();
            assert!(shown.contains(ENVIRONMENT_ID), "{shown}");
            assert!(shown.contains(says), "{bad}: {shown}");
        }
        let long = "x".repeat(500);
        let err = check_environment_id(&long).expect_err("long");
        assert!(err.to_string().len() < 250, "clipped: {err}");
    }

    #[test]
    fn metadata_urls_must_be_http_with_a_host() {
        let ok = |u: &str| metadata_url(URL, Some(u)).map(|u| u.is_some());
        assert!(ok("http://169.254.169.254/latest/api/token").expect("ok"));
        assert!(ok("http://[fd00:ec2::254]/latest/api/token").expect("ok"));
        assert!(metadata_url(URL, None).expect("none is fine").is_none());
        for bad in [
            "169.254.169.254/latest",
            "ftp://169.254.169.254/",
            "unix:/var/run/x",
        ] {
            let err = metadata_url(URL, Some(bad)).expect_err(bad);
            let shown = err.to_string();
            assert!(shown.contains("credential_source.url"), "{shown}");
            assert!(shown.contains("URL"), "{shown}");
        }
    }

    #[test]
    fn verification_url_must_be_https_with_a_host() {
        let (url, _) =
            checked_verification_url(DEFAULT_REGIONAL_CRED_VERIFICATION_URL, "us-east-1")
                .expect("the default is fine");
        assert_eq!(
            url, "https://sts.us-east-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
            "as signed: no path added"
        );
        let (url, _) =
            checked_verification_url("https://{region}.example/{region}?a=1", "eu-west-1")
                .expect("ok");
        assert_eq!(url, "https://eu-west-1.example/eu-west-1?a=1");
        for bad in [
            "http://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
            "sts.{region}.amazonaws.com",
            "https://?Action=GetCallerIdentity",
            "file:///etc/passwd",
        ] {
            assert!(checked_verification_url(bad, "us-east-1").is_err(), "{bad}");
        }
    }

    #[test]
    fn validate_checks_each_field_present_and_names_it() {
        assert!(
            AwsCredentialSource::default().validate().is_ok(),
            "all optional"
        );
        let gcloud = AwsCredentialSource {
            environment_id: Some("aws1".into()),
            region_url: Some(
                "http://169.254.169.254/latest/meta-data/placement/availability-zone".into(),
            ),
            url: Some("http://169.254.169.254/latest/meta-data/iam/security-credentials".into()),
            regional_cred_verification_url: Some(DEFAULT_REGIONAL_CRED_VERIFICATION_URL.into()),
            imdsv2_session_token_url: Some("http://169.254.169.254/latest/api/token".into()),
        };
        assert!(gcloud.validate().is_ok());
        type Spoil = fn(&mut AwsCredentialSource);
        let cases: [(Spoil, &str); 5] = [
            (|s| s.environment_id = Some("aws2".into()), ENVIRONMENT_ID),
            (|s| s.region_url = Some("zone".into()), REGION_URL),
            (|s| s.url = Some("ftp://x/".into()), URL),
            (
                |s| s.imdsv2_session_token_url = Some("/token".into()),
                IMDSV2_SESSION_TOKEN_URL,
            ),
            (
                |s| s.regional_cred_verification_url = Some("http://sts.{region}.x".into()),
                VERIFICATION_URL,
            ),
        ];
        for (spoil, field) in cases {
            let mut source = gcloud.clone();
            spoil(&mut source);
            let err = source.validate().expect_err(field);
            assert!(err.is_config(), "{field}: {err:?}");
            assert!(err.to_string().contains(&format!("`{field}`")), "{err}");
        }
    }

    #[test]
    fn the_signed_url_follows_the_template_or_the_default() {
        let mut source = AwsCredentialSource::default();
        assert_eq!(
            source.verification_url("ap-south-1"),
            "https://sts.ap-south-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
        );
        source.regional_cred_verification_url =
            Some("https://sts-fips.{region}.amazonaws.com?Action=GetCallerIdentity".into());
        assert_eq!(
            source.verification_url("us-gov-west-1"),
            "https://sts-fips.us-gov-west-1.amazonaws.com?Action=GetCallerIdentity"
        );
    }
}
