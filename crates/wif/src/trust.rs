//! The trust policy: checks a parsed `external_account` configuration that came from somewhere
//! you do not control, **before** anything in it is used — between parsing (`config`) and
//! assembling the chain (`builder`), so a refused configuration causes no network call, reads no
//! token file and runs nothing.
//!
//! Why it exists: Google's libraries stopped validating these URLs in 2023
//! (`docs/protocol.md#url-validation-and-untrusted-configurations`) and tell callers to validate
//! untrusted configurations themselves. A configuration decides where the subject token is sent
//! (`token_url`), which files are read, which URLs are fetched and, with the executable source,
//! which command runs. The threat model is in `docs/security.md`.
//!
//! The rules; every refusal names its field and its rule, as ``(rule `NAME`)``:
//!
//! | rule | fields | accepted |
//! |---|---|---|
//! | `size-limit` | the JSON text | at most [`MAX_UNTRUSTED_CONFIG_BYTES`] (1 MiB) |
//! | `unique-keys` | every key, at every depth | each key once per object (parsers disagree on which duplicate wins) |
//! | `canonical-url` | every URL | written exactly as it is parsed: ASCII, no whitespace, `\`, fragment or default port, nothing but the host (and port) between `//` and the path |
//! | `trusted-universe` | `universe_domain` | one of the policy's universes (`googleapis.com` unless more are allowed) |
//! | `google-endpoint` | `token_url`, `token_info_url` (`sts`), `service_account_impersonation_url` (`iamcredentials`) | `https`, no port, host `SERVICE.U`, `SERVICE.mtls.U`, `SERVICE.REGION.rep.U`, `SERVICE.REGION.rep.mtls.U` or Private Service Connect `SERVICE-NAME.p.U`, where `U` is the configuration's universe |
//! | `aws-metadata` | `credential_source.region_url`, `.url`, `.imdsv2_session_token_url` (AWS) | `http://169.254.169.254` or `http://[fd00:ec2::254]` with the path gcloud writes for the field, no query |
//! | `aws-sts` | `credential_source.regional_cred_verification_url` | `https://sts.REGION.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15` (also `sts-fips.`, and `.amazonaws.com.cn`), `REGION` an AWS region of that domain's partition or `{region}` |
//! | `no-executable` | `credential_source.executable` | never |
//! | `file-directory` | `credential_source.file`, certificate paths | absolute paths, without `..`, inside an allowed directory ([`DEFAULT_FILE_DIRECTORIES`] unless changed) |
//! | `default-certificate` | `credential_source.certificate.use_default_certificate_config` | only after [`TrustPolicy::allow_default_certificate_config`]: this machine, not the configuration, would pick the certificate |
//! | `source-url` | `credential_source.url`, `.headers` | an `https` URL on a host you allowed; Azure's identity endpoint `http://169.254.169.254/metadata/identity/oauth2/token?…` only after [`TrustPolicy::allow_azure_imds`]; never a `Host` or `Metadata-Flavor` header |
//! | `loopback` | every URL above | [`wif_core::http::is_loopback`] hosts (`127.0.0.0/8`, `::1`, `localhost`): only after [`TrustPolicy::allow_loopback`] (then over `http` too) |

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Component, Path, PathBuf};

use url::{Host, Url};
use wif_core::Error;
use wif_core::http::{describe_url, is_loopback};

use crate::config::{
    CertificateSourceConfig, CredentialSource, DEFAULT_UNIVERSE_DOMAIN, ExternalAccountConfig,
};

mod canonical;
mod endpoints;
mod hosts;
mod json_text;

use canonical::{EmptyPath, parse_canonical};
use hosts::normalize_host;
pub use json_text::MAX_UNTRUSTED_CONFIG_BYTES;
pub(crate) use json_text::{check_text, read_untrusted_file};

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
/// with [`check_json`](Self::check_json) (the JSON text) or [`check`](Self::check) (a parsed
/// configuration). The loaders without `_untrusted` apply no policy: they are for
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
    azure_imds: bool,
    default_certificate_config: bool,
}

impl Default for TrustPolicy {
    /// The [`strict`](Self::strict) policy.
    fn default() -> Self {
        Self::strict()
    }
}

impl TrustPolicy {
    /// The policy for configurations from untrusted places: universe `googleapis.com` only, no
    /// loopback, no executables, file sources only under [`DEFAULT_FILE_DIRECTORIES`], no URL
    /// sources, no certificate chosen by this machine's gcloud configuration.
    pub fn strict() -> Self {
        TrustPolicy {
            universe_domains: vec![DEFAULT_UNIVERSE_DOMAIN.to_owned()],
            loopback: false,
            file_directories: DEFAULT_FILE_DIRECTORIES.iter().map(PathBuf::from).collect(),
            source_url_hosts: Vec::new(),
            azure_imds: false,
            default_certificate_config: false,
        }
    }

    /// Also accepts loopback endpoints (`127.0.0.0/8`, `::1`, `localhost`: the hosts
    /// [`wif_core::http::is_loopback`] accepts), over `http` too, for every URL of the
    /// configuration: what tests and the wif emulator need. Never use it for configurations from
    /// other machines: it lets them reach services bound to localhost.
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

    /// Also lets URL sources fetch an identity token from Azure's instance metadata service, as
    /// gcloud's `create-cred-config --azure` writes it: `GET
    /// http://169.254.169.254/metadata/identity/oauth2/token?api-version=…&resource=…` with the
    /// header `Metadata: True`. Only that path, those query parameters (and `client_id`,
    /// `object_id`, `msi_res_id` for a user-assigned identity) and that header are accepted: any
    /// other request to the metadata address could read something else — on AWS, the role's
    /// secret key — and send it on as the subject token.
    ///
    /// The token is the machine's managed identity, issued for the configuration's `resource`:
    /// only accept it from configurations meant to use this machine's identity.
    pub fn allow_azure_imds(mut self) -> Self {
        self.azure_imds = true;
        self
    }

    /// Also accepts certificate (X.509) sources with `use_default_certificate_config`, where
    /// this machine's gcloud certificate configuration (`GOOGLE_API_CERTIFICATE_CONFIG`, else
    /// gcloud's `certificate_config.json`) chooses the certificate. Without it the workload's
    /// certificate would be presented under whatever audience the configuration names.
    pub fn allow_default_certificate_config(mut self) -> Self {
        self.default_certificate_config = true;
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

    /// Parses configuration JSON text and checks it: at most [`MAX_UNTRUSTED_CONFIG_BYTES`],
    /// no key twice in one object (checked before parsing), then every field as
    /// [`check`](Self::check) does. Does no I/O. Use this to vet a configuration that other
    /// tools will also read: a duplicate key is invisible once parsed, and tools disagree on
    /// which value wins.
    pub fn check_json(&self, json: &str) -> Result<ExternalAccountConfig, Error> {
        check_text(json)?;
        let config = ExternalAccountConfig::from_json(json)?;
        self.check(&config)?;
        Ok(config)
    }

    /// Checks every field of a parsed `config`. Does no I/O. The error is a [`Step::Config`]
    /// error naming the field and the rule (and a hint); it never shows URL query strings or
    /// user info. (A parsed configuration no longer shows duplicate keys: check the text with
    /// [`check_json`](Self::check_json).)
    ///
    /// [`Step::Config`]: wif_core::Step::Config
    pub fn check(&self, config: &ExternalAccountConfig) -> Result<(), Error> {
        self.check_used(config, Used::ALL).map(drop)
    }

    /// Checks the parts of `config` the chain will use (the builder skips what the caller set
    /// explicitly: those values are the caller's, not the configuration's), and returns the
    /// URLs it checked, for the layers to use as they are.
    pub(crate) fn check_used(
        &self,
        config: &ExternalAccountConfig,
        used: Used,
    ) -> Result<Checked, Error> {
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
        let mut checked = Checked::default();
        if used.token_url {
            checked.token_url =
                Some(self.google_endpoint("token_url", &config.token_url, "sts", &universe)?);
        }
        if let Some(url) = &config.token_info_url {
            self.google_endpoint("token_info_url", url, "sts", &universe)?;
        }
        if used.impersonation
            && let Some(url) = &config.service_account_impersonation_url
        {
            checked.impersonation_url = Some(self.google_endpoint(
                "service_account_impersonation_url",
                url,
                "iamcredentials",
                &universe,
            )?);
        }
        if used.source {
            checked.source_url = self.source(&config.credential_source)?;
        }
        Ok(checked)
    }

    /// The source's fields; the URL of a URL source.
    fn source(&self, source: &CredentialSource) -> Result<Option<Url>, Error> {
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
                )?;
                Ok(None)
            }
            CredentialSource::File(file) => {
                self.file("credential_source.file", &file.file)?;
                Ok(None)
            }
            CredentialSource::Url(url) => self.source_url(url).map(Some),
            CredentialSource::Executable(_) => Err(refuse(
                "credential_source.executable",
                Rule::Executable,
                "a configuration from an untrusted place may not run a command",
            )),
            CredentialSource::Certificate(cert) => {
                self.certificate(cert)?;
                Ok(None)
            }
        }
    }

    fn certificate(&self, cert: &CertificateSourceConfig) -> Result<(), Error> {
        if cert.use_default_certificate_config
            && cert.certificate_config_location.is_none()
            && !self.default_certificate_config
        {
            return Err(refuse(
                "credential_source.certificate.use_default_certificate_config",
                Rule::DefaultCertificate,
                "this machine's gcloud certificate configuration would choose the certificate, and it would be presented under the configuration's audience",
            ));
        }
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

/// The URLs [`TrustPolicy::check_used`] checked, parsed: the builder hands these to the layers,
/// so what is contacted is exactly what was checked.
#[derive(Clone, Debug, Default)]
pub(crate) struct Checked {
    pub token_url: Option<Url>,
    pub impersonation_url: Option<Url>,
    pub source_url: Option<Url>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    SizeLimit,
    UniqueKeys,
    CanonicalUrl,
    Universe,
    GoogleEndpoint,
    AwsMetadata,
    AwsSts,
    Executable,
    FileDirectory,
    DefaultCertificate,
    SourceUrl,
    Loopback,
}

impl Rule {
    fn name(self) -> &'static str {
        match self {
            Rule::SizeLimit => "size-limit",
            Rule::UniqueKeys => "unique-keys",
            Rule::CanonicalUrl => "canonical-url",
            Rule::Universe => "trusted-universe",
            Rule::GoogleEndpoint => "google-endpoint",
            Rule::AwsMetadata => "aws-metadata",
            Rule::AwsSts => "aws-sts",
            Rule::Executable => "no-executable",
            Rule::FileDirectory => "file-directory",
            Rule::DefaultCertificate => "default-certificate",
            Rule::SourceUrl => "source-url",
            Rule::Loopback => "loopback",
        }
    }

    fn hint(self) -> &'static str {
        match self {
            Rule::SizeLimit => {
                "a credential configuration is a few hundred bytes; this is not one (or is padded to hide something)"
            }
            Rule::UniqueKeys => {
                "JSON parsers disagree on which of two equal keys wins; write each key once"
            }
            Rule::CanonicalUrl => {
                "write the URL exactly as gcloud does: lower-case host, no default port, no user info, escapes or fragment"
            }
            Rule::Universe => {
                "trust another universe with TrustPolicy::allow_universe_domain(…); configurations you wrote yourself load without a policy (Credentials::from_file)"
            }
            Rule::GoogleEndpoint => {
                "an untrusted configuration may send tokens only to Google's STS and IAM Credentials hosts; if you wrote this file yourself, load it with Credentials::from_file / from_json"
            }
            Rule::AwsMetadata => {
                "gcloud writes http://169.254.169.254/latest/meta-data/placement/availability-zone, …/latest/meta-data/iam/security-credentials and …/latest/api/token (or http://[fd00:ec2::254]/… for IPv6)"
            }
            Rule::AwsSts => {
                "gcloud writes https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
            }
            Rule::Executable => {
                "executables are run only from configurations you trust (Credentials::from_file with GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1)"
            }
            Rule::FileDirectory => "allow the directory with TrustPolicy::allow_file_directory(…)",
            Rule::DefaultCertificate => {
                "name the certificate configuration with certificate_config_location (inside an allowed directory), or opt in with TrustPolicy::allow_default_certificate_config()"
            }
            Rule::SourceUrl => {
                "allow your identity provider's host with TrustPolicy::allow_source_url_host(…), or Azure's metadata identity endpoint with TrustPolicy::allow_azure_imds()"
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

/// Parses a URL field, accepting only its canonical spelling (see [`canonical`]). Never echoes
/// the value.
fn parse(field: &str, value: &str, empty_path: EmptyPath) -> Result<Url, Error> {
    parse_canonical(value, empty_path).map_err(|problem| refuse(field, Rule::CanonicalUrl, problem))
}

/// No `user:password@` and no explicit port. Neither appears in what gcloud writes; user info
/// would be sent as HTTP Basic credentials, and an odd port on a trusted host is a sign of
/// tampering rather than of a real endpoint. (A canonical URL never shows the default port.)
fn plain_authority(field: &str, url: &Url, rule: Rule) -> Result<(), Error> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse(
            field,
            rule,
            format!("{} carries user info (`user@`)", describe_url(url)),
        ));
    }
    if url.port().is_some() {
        return Err(refuse(
            field,
            rule,
            format!("{} names a port", describe_url(url)),
        ));
    }
    Ok(())
}

/// The host of `url` as a domain name, if it is one.
fn domain(url: &Url) -> Option<&str> {
    match url.host() {
        Some(Host::Domain(d)) => Some(d),
        _ => None,
    }
}
