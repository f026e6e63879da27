//! The trust policy: checks a parsed `external_account` configuration that came from somewhere
//! you do not control, **before** anything in it is used — between parsing (`config`) and
//! assembling the chain (`builder`), so a refused configuration causes no network call, reads no
//! token file and runs nothing.
//!
//! Why it exists: Google's libraries stopped validating these URLs in 2023 (`docs/protocol.md#url-validation-and-untrusted-configurations`) and
//! tell callers to validate untrusted configurations themselves. A configuration decides where
//! the subject token is sent (`token_url`), which files are read, which URLs are fetched and,
//! with the executable source, which command runs. The threat model is in `docs/security.md`.
//!
//! The rules; every refusal names its field and its rule, as ``(rule `NAME`)``:
//!
//! | rule | fields | accepted |
//! |---|---|---|
//! | `trusted-universe` | `universe_domain` | one of the policy's universes (`googleapis.com` unless more are allowed) |
//! | `google-endpoint` | `token_url`, `token_info_url` (`sts`), `service_account_impersonation_url` (`iamcredentials`) | `https`, port 443, no user info, host `SERVICE.U`, `SERVICE.mtls.U`, `SERVICE.REGION.rep.U`, `SERVICE.REGION.rep.mtls.U` or Private Service Connect `SERVICE-NAME.p.U`, where `U` is the configuration's universe |
//! | `aws-metadata` | `credential_source.region_url`, `.url`, `.imdsv2_session_token_url` (AWS) | `http://169.254.169.254/…` or `http://[fd00:ec2::254]/…` |
//! | `aws-sts` | `credential_source.regional_cred_verification_url` | `https://sts.REGION.amazonaws.com…` (also `sts-fips.`, and `.amazonaws.com.cn`); `{region}` allowed for `REGION` |
//! | `no-executable` | `credential_source.executable` | never |
//! | `file-directory` | `credential_source.file`, certificate paths | absolute paths, without `..`, inside an allowed directory ([`DEFAULT_FILE_DIRECTORIES`] unless changed) |
//! | `source-url` | `credential_source.url` | the instance metadata address (`169.254.169.254`, `[fd00:ec2::254]`, any scheme), or an `https` URL on a host you allowed |
//! | `loopback` | every URL above | `127.0.0.0/8`, `::1`, `localhost`, `0.0.0.0`: only after [`TrustPolicy::allow_loopback`] (then over `http` too) |

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Component, Path, PathBuf};

use url::{Host, Url};
use wif_core::Error;
use wif_core::http::describe_url;

use crate::config::{CredentialSource, DEFAULT_UNIVERSE_DOMAIN, ExternalAccountConfig};

mod hosts;

use hosts::{is_aws_sts_host, is_google_host, is_loopback, is_metadata_host, normalize_host};

/// Where [`TrustPolicy::strict`] lets a file source read: the mount points of Kubernetes
/// projected service-account tokens (EKS, AKS, GKE) and of Docker/Compose secrets.
pub const DEFAULT_FILE_DIRECTORIES: [&str; 2] = ["/var/run/secrets", "/run/secrets"];
/// The instance metadata service address of AWS (also Azure's IMDS and GCE's metadata server).
pub const METADATA_IPV4: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
/// The IPv6 address of the AWS instance metadata service (Nitro instances).
pub const METADATA_IPV6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254);

/// What an `external_account` configuration from an untrusted place may contain.
///
/// Apply it with [`Credentials::from_json_untrusted`](crate::Credentials::from_json_untrusted) /
/// [`from_file_untrusted`](crate::Credentials::from_file_untrusted) (which use
/// [`strict`](Self::strict)), with
/// [`CredentialsBuilder::trust_policy`](crate::CredentialsBuilder::trust_policy), or directly
/// with [`check`](Self::check). The loaders without `_untrusted` apply no policy: they are for
/// configurations you wrote or generated yourself.
///
/// ```
/// use wif::{Credentials, TrustPolicy};
///
/// let uploaded = r#"{
///   "type": "external_account",
///   "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q",
///   "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
///   "token_url": "https://collector.example/v1/token",
///   "credential_source": { "file": "/var/run/secrets/tokens/gcp/token" }
/// }"#;
/// let err = Credentials::from_json_untrusted(uploaded).unwrap_err();
/// assert!(err.to_string().contains("`token_url`"));
/// assert!(err.to_string().contains("rule `google-endpoint`"));
///
/// // Tests and local emulators opt in to loopback endpoints explicitly:
/// let _policy = TrustPolicy::strict().allow_loopback().allow_file_directory("/tmp/wif-test");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustPolicy {
    /// Lower-case universe domains the configuration may declare.
    universe_domains: Vec<String>,
    loopback: bool,
    file_directories: Vec<PathBuf>,
    /// Lower-case hosts (IPv6 without brackets) a URL source may fetch from over https.
    source_url_hosts: Vec<String>,
}

impl Default for TrustPolicy {
    /// The [`strict`](Self::strict) policy.
    fn default() -> Self {
        Self::strict()
    }
}

impl TrustPolicy {
    /// The policy for configurations from untrusted places: universe `googleapis.com` only, no
    /// loopback, no executables, file sources only under [`DEFAULT_FILE_DIRECTORIES`], URL
    /// sources only to the instance metadata address.
    pub fn strict() -> Self {
        TrustPolicy {
            universe_domains: vec![DEFAULT_UNIVERSE_DOMAIN.to_owned()],
            loopback: false,
            file_directories: DEFAULT_FILE_DIRECTORIES.iter().map(PathBuf::from).collect(),
            source_url_hosts: Vec::new(),
        }
    }

    /// Also accepts loopback endpoints (`127.0.0.0/8`, `::1`, `localhost`), over `http` too, for
    /// every URL of the configuration: what tests and the wif emulator need. Never use it for
    /// configurations from other machines: it lets them reach services bound to localhost.
    pub fn allow_loopback(mut self) -> Self {
        self.loopback = true;
        self
    }

    /// Also trusts this universe (e.g. `s3nsapis.fr`): configurations declaring it may use its
    /// STS and IAM Credentials hosts.
    pub fn allow_universe_domain(mut self, universe_domain: impl Into<String>) -> Self {
        let domain = universe_domain.into().to_ascii_lowercase();
        if !self.universe_domains.contains(&domain) {
            self.universe_domains.push(domain);
        }
        self
    }

    /// Also lets file sources (and certificate configuration paths) read under `dir`. The
    /// check is lexical: `dir` should be absolute, and symlinks inside it are not followed.
    pub fn allow_file_directory(mut self, dir: impl Into<PathBuf>) -> Self {
        self.file_directories.push(dir.into());
        self
    }

    /// Replaces the directories file sources may read under (an empty list refuses every file
    /// source).
    pub fn file_directories<I, P>(mut self, dirs: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        self.file_directories = dirs.into_iter().map(Into::into).collect();
        self
    }

    /// Also lets URL sources fetch from this host (exact name or IP address, case-insensitive),
    /// over `https` only — e.g. your identity provider's token endpoint.
    pub fn allow_source_url_host(mut self, host: impl Into<String>) -> Self {
        let host = normalize_host(&host.into());
        if !self.source_url_hosts.contains(&host) {
            self.source_url_hosts.push(host);
        }
        self
    }

    /// Whether loopback endpoints are accepted.
    pub fn allows_loopback(&self) -> bool {
        self.loopback
    }

    /// The trusted universe domains.
    pub fn universe_domains(&self) -> impl Iterator<Item = &str> {
        self.universe_domains.iter().map(String::as_str)
    }

    /// Checks every field of `config`. Does no I/O. The error is a [`Step::Config`] error
    /// naming the field and the rule (and a hint); it never shows URL query strings or user
    /// info.
    ///
    /// [`Step::Config`]: wif_core::Step::Config
    pub fn check(&self, config: &ExternalAccountConfig) -> Result<(), Error> {
        self.check_used(config, Used::ALL)
    }

    /// Checks the parts of `config` the chain will use (the builder skips what the caller set
    /// explicitly: those values are the caller's, not the configuration's).
    pub(crate) fn check_used(
        &self,
        config: &ExternalAccountConfig,
        used: Used,
    ) -> Result<(), Error> {
        let universe = config.universe_domain.to_ascii_lowercase();
        if !self.universe_domains.contains(&universe) {
            return Err(refuse(
                "universe_domain",
                Rule::Universe,
                format!(
                    "`{universe}` is not a trusted universe (trusted: {})",
                    self.universe_domains.join(", ")
                ),
            ));
        }
        if used.token_url {
            self.google_endpoint("token_url", &config.token_url, "sts", &universe)?;
        }
        if let Some(url) = &config.token_info_url {
            self.google_endpoint("token_info_url", url, "sts", &universe)?;
        }
        if used.impersonation
            && let Some(url) = &config.service_account_impersonation_url
        {
            self.google_endpoint(
                "service_account_impersonation_url",
                url,
                "iamcredentials",
                &universe,
            )?;
        }
        if used.source {
            self.source(&config.credential_source)?;
        }
        Ok(())
    }

    fn source(&self, source: &CredentialSource) -> Result<(), Error> {
        match source {
            CredentialSource::Aws(aws) => {
                let urls = [
                    ("credential_source.region_url", &aws.region_url),
                    ("credential_source.url", &aws.url),
                    (
                        "credential_source.imdsv2_session_token_url",
                        &aws.imdsv2_session_token_url,
                    ),
                ];
                for (field, url) in urls {
                    if let Some(url) = url {
                        self.aws_metadata(field, url)?;
                    }
                }
                self.aws_verification(
                    "credential_source.regional_cred_verification_url",
                    &aws.regional_cred_verification_url,
                )
            }
            CredentialSource::File(file) => self.file("credential_source.file", &file.file),
            CredentialSource::Url(url) => self.source_url("credential_source.url", &url.url),
            CredentialSource::Executable(_) => Err(refuse(
                "credential_source.executable",
                Rule::Executable,
                "a configuration from an untrusted place may not run a command",
            )),
            CredentialSource::Certificate(cert) => {
                let paths = [
                    (
                        "credential_source.certificate.certificate_config_location",
                        &cert.certificate_config_location,
                    ),
                    (
                        "credential_source.certificate.trust_chain_path",
                        &cert.trust_chain_path,
                    ),
                ];
                for (field, path) in paths {
                    if let Some(path) = path {
                        self.file(field, path)?;
                    }
                }
                Ok(())
            }
        }
    }

    /// `token_url`, `token_info_url` and the impersonation URL: https to `service`'s hosts in
    /// `universe`.
    fn google_endpoint(
        &self,
        field: &str,
        value: &str,
        service: &str,
        universe: &str,
    ) -> Result<(), Error> {
        let rule = Rule::GoogleEndpoint;
        let url = parse(field, value, rule)?;
        if self.loopback(field, &url)? {
            return Ok(());
        }
        let shown = describe_url(&url);
        let expected = format!(
            "{service}.{universe}, {service}.mtls.{universe}, {service}.REGION.rep.{universe}, {service}.REGION.rep.mtls.{universe} or {service}-NAME.p.{universe}"
        );
        if url.scheme() != "https" {
            return Err(refuse(
                field,
                rule,
                format!("{shown} is not https; Google endpoints take tokens over https only"),
            ));
        }
        plain_authority(field, &url, rule)?;
        let on_google_host = match url.host() {
            Some(Host::Domain(host)) => is_google_host(host, service, universe),
            _ => false,
        };
        if !on_google_host {
            return Err(refuse(
                field,
                rule,
                format!(
                    "{shown} is not a Google `{service}` endpoint of universe {universe} (expected host {expected})"
                ),
            ));
        }
        Ok(())
    }

    /// The AWS source's metadata URLs: the instance metadata service only.
    fn aws_metadata(&self, field: &str, value: &str) -> Result<(), Error> {
        let rule = Rule::AwsMetadata;
        let url = parse(field, value, rule)?;
        if self.loopback(field, &url)? {
            return Ok(());
        }
        let shown = describe_url(&url);
        if !is_metadata_host(&url) {
            return Err(refuse(
                field,
                rule,
                format!(
                    "{shown} is not the instance metadata service (expected host 169.254.169.254 or [fd00:ec2::254])"
                ),
            ));
        }
        if url.scheme() != "http" {
            return Err(refuse(
                field,
                rule,
                format!("{shown}: the instance metadata service is plain http"),
            ));
        }
        plain_authority(field, &url, rule)
    }

    /// The URL signed into the AWS subject token (never contacted by us, but Google STS
    /// forwards the signed request to it): AWS STS only.
    fn aws_verification(&self, field: &str, template: &str) -> Result<(), Error> {
        let rule = Rule::AwsSts;
        // `{region}` is not valid in a host name; check the shape with a sample region.
        let url = parse(field, &template.replace("{region}", "us-east-1"), rule)?;
        if self.loopback(field, &url)? {
            return Ok(());
        }
        let shown = describe_url(&url);
        if url.scheme() != "https" {
            return Err(refuse(field, rule, format!("{shown} is not https")));
        }
        plain_authority(field, &url, rule)?;
        let aws_sts = match url.host() {
            Some(Host::Domain(host)) => is_aws_sts_host(host),
            _ => false,
        };
        if !aws_sts {
            return Err(refuse(
                field,
                rule,
                format!(
                    "{shown} is not AWS STS (expected host sts.{{region}}.amazonaws.com, sts-fips.{{region}}.amazonaws.com or sts.{{region}}.amazonaws.com.cn)"
                ),
            ));
        }
        Ok(())
    }

    /// A URL source: the metadata address, or an allowed host over https.
    fn source_url(&self, field: &str, value: &str) -> Result<(), Error> {
        let rule = Rule::SourceUrl;
        let url = parse(field, value, rule)?;
        if self.loopback(field, &url)? {
            return Ok(());
        }
        let shown = describe_url(&url);
        plain_authority(field, &url, rule)?;
        if is_metadata_host(&url) {
            return Ok(());
        }
        let host = url.host_str().map(normalize_host).unwrap_or_default();
        if !self.source_url_hosts.contains(&host) {
            return Err(refuse(
                field,
                rule,
                format!(
                    "{shown}: host `{host}` is neither the instance metadata address (169.254.169.254, [fd00:ec2::254]) nor an allowed host"
                ),
            ));
        }
        if url.scheme() != "https" {
            return Err(refuse(
                field,
                rule,
                format!("{shown} is not https; an allowed host must be reached over https"),
            ));
        }
        Ok(())
    }

    fn file(&self, field: &str, path: &Path) -> Result<(), Error> {
        let rule = Rule::FileDirectory;
        let shown = path.display();
        if !path.is_absolute() {
            return Err(refuse(
                field,
                rule,
                format!("`{shown}` is not an absolute path"),
            ));
        }
        if path.components().any(|c| c == Component::ParentDir) {
            return Err(refuse(field, rule, format!("`{shown}` contains `..`")));
        }
        if !self.file_directories.iter().any(|d| path.starts_with(d)) {
            let allowed: Vec<String> = self
                .file_directories
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            let allowed = if allowed.is_empty() {
                "none".to_owned()
            } else {
                allowed.join(", ")
            };
            return Err(refuse(
                field,
                rule,
                format!("`{shown}` is outside the allowed directories ({allowed})"),
            ));
        }
        Ok(())
    }

    /// `Ok(true)`: a loopback URL the policy accepts; `Err`: a loopback URL without the opt-in;
    /// `Ok(false)`: not loopback, apply the field's own rule.
    fn loopback(&self, field: &str, url: &Url) -> Result<bool, Error> {
        if !is_loopback(url) {
            return Ok(false);
        }
        if self.loopback {
            return Ok(true);
        }
        Err(refuse(
            field,
            Rule::Loopback,
            format!(
                "{} is a loopback address, accepted only after TrustPolicy::allow_loopback()",
                describe_url(url)
            ),
        ))
    }
}

/// Which parts of a configuration the chain uses.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Used {
    pub token_url: bool,
    pub impersonation: bool,
    pub source: bool,
}

impl Used {
    const ALL: Used = Used {
        token_url: true,
        impersonation: true,
        source: true,
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    Universe,
    GoogleEndpoint,
    AwsMetadata,
    AwsSts,
    Executable,
    FileDirectory,
    SourceUrl,
    Loopback,
}

impl Rule {
    fn name(self) -> &'static str {
        match self {
            Rule::Universe => "trusted-universe",
            Rule::GoogleEndpoint => "google-endpoint",
            Rule::AwsMetadata => "aws-metadata",
            Rule::AwsSts => "aws-sts",
            Rule::Executable => "no-executable",
            Rule::FileDirectory => "file-directory",
            Rule::SourceUrl => "source-url",
            Rule::Loopback => "loopback",
        }
    }

    fn hint(self) -> &'static str {
        match self {
            Rule::Universe => {
                "trust another universe with TrustPolicy::allow_universe_domain(…); configurations you wrote yourself load without a policy (Credentials::from_file)"
            }
            Rule::GoogleEndpoint => {
                "an untrusted configuration may send tokens only to Google's STS and IAM Credentials hosts; if you wrote this file yourself, load it with Credentials::from_file / from_json"
            }
            Rule::AwsMetadata => {
                "gcloud writes http://169.254.169.254/latest/… (or http://[fd00:ec2::254]/… for IPv6)"
            }
            Rule::AwsSts => {
                "gcloud writes https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
            }
            Rule::Executable => {
                "executables are run only from configurations you trust (Credentials::from_file with GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1)"
            }
            Rule::FileDirectory => "allow the directory with TrustPolicy::allow_file_directory(…)",
            Rule::SourceUrl => {
                "allow your identity provider's host with TrustPolicy::allow_source_url_host(…)"
            }
            Rule::Loopback => {
                "tests and local emulators opt in with TrustPolicy::strict().allow_loopback()"
            }
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn refuse(field: &str, rule: Rule, problem: impl fmt::Display) -> Error {
    Error::config(
        field,
        format!("refused by the trust policy (rule `{rule}`): {problem}"),
    )
    .with_hint(rule.hint())
}

/// Parses a URL without echoing it (the config parser already checked the syntax; this is for
/// configurations built by hand).
fn parse(field: &str, value: &str, rule: Rule) -> Result<Url, Error> {
    let url = Url::parse(value)
        .map_err(|e| refuse(field, rule, format!("not a valid absolute URL ({e})")))?;
    if url.host().is_none() {
        return Err(refuse(field, rule, "the URL has no host"));
    }
    Ok(url)
}

/// No `user:password@` and no explicit non-default port. Neither appears in what gcloud
/// writes; user info would be sent as HTTP Basic credentials, and an odd port on a trusted host
/// is a sign of tampering rather than of a real endpoint.
fn plain_authority(field: &str, url: &Url, rule: Rule) -> Result<(), Error> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse(
            field,
            rule,
            format!("{} carries user info (`user@`)", describe_url(url)),
        ));
    }
    // `Url::port` is `None` for the scheme's default port.
    if url.port().is_some() {
        return Err(refuse(
            field,
            rule,
            format!("{} names a non-default port", describe_url(url)),
        ));
    }
    Ok(())
}
