//! [`Plan`]: what a [`CredentialsBuilder`] resolved to, before anything is built — the first
//! half of building (resolve → assemble → run).
//!
//! Every effective setting is a [`Setting`]: its value and its [`Origin`] (a builder method, a
//! configuration field, an environment variable, a default, or a rule that derived it). The
//! subject token source is a typed [`SourcePlan`], not a trait object, so it can be printed and
//! compared. The plan holds no secret: a client secret is only said to be set, URL-source headers
//! are named without their values, and AWS credentials are described by where they will come from.
//!
//! `wif explain`, `wif token --dry-run` and `wif demo` print this plan; the assembly
//! ([`CredentialsBuilder::build_chain`]) builds exactly what it says.
//!
//! ```
//! use wif::plan::Origin;
//!
//! let plan = wif::Credentials::builder()
//!     .config_json(r#"{
//!       "type": "external_account",
//!       "audience": "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc",
//!       "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
//!       "credential_source": { "file": "/var/run/secrets/token" }
//!     }"#)?
//!     .scopes(["https://www.googleapis.com/auth/bigquery"])
//!     .plan()?;
//! assert_eq!(plan.token_url.value.as_str(), "https://sts.googleapis.com/v1/token");
//! assert_eq!(plan.token_url.origin, Origin::Default);
//! assert_eq!(plan.scopes.origin, Origin::Builder("scopes"));
//! println!("{plan}"); // every setting, with where it came from
//! # Ok::<(), wif::Error>(())
//! ```

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use url::Url;
use wif_core::{CacheOptions, RetryPolicy};

#[cfg(doc)]
use crate::CredentialsBuilder;

mod render;
mod source;

pub use source::{
    AwsCredentialsPlan, AwsRegionPlan, AwsSourcePlan, CertificateSourcePlan, CustomSourcePlan,
    ExecutableSourcePlan, FileSourcePlan, SourcePlan, UrlSourcePlan,
};

/// Where an effective setting came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Origin {
    /// Set on the builder with this method of [`CredentialsBuilder`] (`"token_url"`).
    Builder(&'static str),
    /// This field of the credential configuration (a dotted path, `"credential_source.url"`).
    Config(&'static str),
    /// This environment variable.
    Environment(&'static str),
    /// wif-rs's default (Google's, where Google's libraries have one).
    Default,
    /// Derived from other settings by this rule (in words).
    Rule(&'static str),
}

impl Origin {
    /// The setting as the user wrote it — `CredentialsBuilder::impersonate`, the configuration's
    /// `service_account_impersonation_url`, `GOOGLE_CLOUD_QUOTA_PROJECT` — for errors about its
    /// value, which must name what the user actually set.
    pub fn setting(&self, fallback: &'static str) -> String {
        match self {
            Origin::Builder(method) => format!("CredentialsBuilder::{method}"),
            Origin::Config(field) => (*field).to_owned(),
            Origin::Environment(var) => (*var).to_owned(),
            Origin::Default | Origin::Rule(_) => fallback.to_owned(),
        }
    }

    /// Short machine-readable form: `builder`, `config`, `env`, `default`, `rule`.
    fn kind(&self) -> &'static str {
        match self {
            Origin::Builder(_) => "builder",
            Origin::Config(_) => "config",
            Origin::Environment(_) => "env",
            Origin::Default => "default",
            Origin::Rule(_) => "rule",
        }
    }

    /// The origin as JSON: `{"from": "config", "name": "token_url"}`.
    pub(crate) fn to_json(self) -> Value {
        match self {
            Origin::Builder(n) | Origin::Config(n) | Origin::Environment(n) => {
                json!({"from": self.kind(), "name": n})
            }
            Origin::Rule(rule) => json!({"from": "rule", "rule": rule}),
            Origin::Default => json!({"from": "default"}),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Builder(method) => write!(f, "builder .{method}(…)"),
            Origin::Config(field) => write!(f, "configuration `{field}`"),
            Origin::Environment(var) => write!(f, "environment {var}"),
            Origin::Default => f.write_str("default"),
            Origin::Rule(rule) => write!(f, "rule: {rule}"),
        }
    }
}

/// One effective setting and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting<T> {
    /// The value the chain uses.
    pub value: T,
    /// Where it came from.
    pub origin: Origin,
}

impl<T> Setting<T> {
    /// A value and its origin.
    pub fn new(value: T, origin: Origin) -> Self {
        Setting { value, origin }
    }
}

/// Something in the settings that is legal but probably not what was meant.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Warning {
    /// What kind of problem it is.
    pub kind: WarningKind,
    /// The setting it is about, as the user wrote it (a configuration field, a builder method,
    /// an environment variable).
    pub setting: String,
    /// What is wrong and what to do, in words.
    pub message: String,
}

impl Warning {
    pub(crate) fn new(
        kind: WarningKind,
        setting: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Warning {
            kind,
            setting: setting.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.setting, self.message)
    }
}

/// The kinds of [`Warning`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WarningKind {
    /// A key the configuration format does not have (a typo such as `tokenurl`): ignored, as
    /// Google's libraries ignore it, so the default is used instead of what was meant.
    UnknownField,
    /// A value that works but looks wrong (a project ID where the audience needs the number,
    /// an `https:` prefix, a plain-http endpoint for a token).
    Suspicious,
    /// A setting that has no effect (a token lifetime without impersonation).
    Ignored,
    /// A fallback was taken (AWS credentials from metadata although half a key pair is set).
    Fallback,
}

impl WarningKind {
    /// Its snake-case name, as in JSON (`unknown_field`).
    pub fn name(self) -> &'static str {
        match self {
            WarningKind::UnknownField => "unknown_field",
            WarningKind::Suspicious => "suspicious",
            WarningKind::Ignored => "ignored",
            WarningKind::Fallback => "fallback",
        }
    }
}

/// Where the credential configuration was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigurationFrom {
    /// The file, when it was read from one.
    pub path: Option<PathBuf>,
    /// How it was chosen: [`CredentialsBuilder::config_file`] (and its siblings), or
    /// Application Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS`, or the default: gcloud's
    /// `application_default_credentials.json`).
    pub found_by: Origin,
}

/// Service-account impersonation, when the chain impersonates.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImpersonationPlan {
    /// The IAM Credentials `generateAccessToken` URL.
    pub url: Setting<Url>,
    /// The service account, read from the URL (strictly: it must be an email).
    pub service_account: String,
    /// The requested lifetime of the service account's tokens.
    pub lifetime: Setting<Duration>,
}

/// Whether and how the trust policy checked the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustOutcome {
    /// No trust policy: the configuration is trusted (your own file).
    Trusted,
    /// A trust policy was set but there is no configuration to check.
    NothingToCheck,
    /// The policy accepted every part of the configuration the chain uses. Parts replaced on
    /// the builder are exempt (they are yours): listed here by configuration field.
    Accepted {
        /// Configuration fields not checked because the builder replaced them.
        exempt: Vec<&'static str>,
    },
}

/// The HTTP clients the layers use.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpPlan {
    /// The client for the source, STS and IAM Credentials: the builder's
    /// ([`Origin::Builder`]) or the default one.
    pub client: Origin,
    /// Certificates of [`CredentialsBuilder::add_root_certificates_pem`] trusted besides the
    /// public web roots (by the default client and a certificate source's mTLS client).
    pub extra_root_certificates: usize,
    /// Whether STS and IAM Credentials are called over mTLS with the workload certificate (a
    /// certificate source), instead of with `client`.
    pub mtls: bool,
}

/// What a [`CredentialsBuilder`] resolved to: every effective setting with where it came from,
/// the source as a typed value, and the warnings. Secret-free; `Display` prints it for people
/// and [`to_json`](Self::to_json) for tools.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Plan {
    /// Where the configuration came from, when there is one.
    pub configuration: Option<ConfigurationFrom>,
    /// The universe domain (`googleapis.com` unless set).
    pub universe_domain: Setting<String>,
    /// The base URL every Google endpoint was moved to (a fake, the emulator):
    /// [`CredentialsBuilder::endpoint_base_url`] or `WIF_ENDPOINT_BASE_URL`. The STS and
    /// impersonation URLs it moved carry its origin.
    pub endpoint_base_url: Option<Setting<Url>>,
    /// The STS audience: the pool provider's resource name.
    pub audience: Setting<String>,
    /// The subject token type declared to STS.
    pub subject_token_type: Setting<String>,
    /// The STS endpoint the chain calls (the mTLS host for a certificate source).
    pub token_url: Setting<Url>,
    /// Scopes of the final token.
    pub scopes: Setting<Vec<String>>,
    /// Scopes asked of STS (with impersonation, `cloud-platform`, which covers IAM Credentials).
    pub sts_scopes: Setting<Vec<String>>,
    /// Impersonation, if any.
    pub impersonation: Option<ImpersonationPlan>,
    /// The project billed for API quota (`x-goog-user-project`), if any.
    pub quota_project: Option<Setting<String>>,
    /// The OAuth client id of STS client authentication, if any.
    pub client_id: Option<Setting<String>>,
    /// Whether a client secret goes with the client id (the secret itself is never in a plan).
    pub client_secret_set: bool,
    /// The workforce pool user project, if any.
    pub workforce_pool_user_project: Option<Setting<String>>,
    /// What the trust policy said.
    pub trust: TrustOutcome,
    /// The HTTP clients.
    pub http: HttpPlan,
    /// How STS and IAM calls are retried.
    pub retry: Setting<RetryPolicy>,
    /// Cache timing.
    pub cache: Setting<CacheOptions>,
    /// The longest one refresh of the whole chain may take.
    pub chain_deadline: Setting<Duration>,
    /// The subject token source, typed, and where it came from.
    pub source: Setting<SourcePlan>,
    /// Legal settings that are probably not what was meant.
    pub warnings: Vec<Warning>,
}

impl Plan {
    /// The source's kind, as in Google's metrics header: `aws`, `file`, `url`, `executable`,
    /// `x509`, or a custom source's own.
    pub fn source_kind(&self) -> &str {
        self.source.value.kind()
    }

    /// Every setting as a row (key, label, value as JSON, origin), in a fixed order: what
    /// `Display` and [`to_json`](Self::to_json) print.
    pub fn entries(&self) -> Vec<Entry> {
        render::entries(self)
    }

    /// The plan as one JSON object: `{"settings": {KEY: {"value", "from", …}}, "source": …,
    /// "warnings": […]}`. Secret-free; URLs without their query.
    pub fn to_json(&self) -> Value {
        render::to_json(self)
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        render::write_text(self, f)
    }
}

/// How a value of a plan [`Entry`] reads in text: `(none)` for null or an empty list, `yes` and
/// `no`, lists joined with commas, strings as they are.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::Null => "(none)".to_owned(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "(none)".to_owned(),
        Value::Array(items) => items.iter().map(value_text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// One printable setting of a [`Plan`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Entry {
    /// A stable snake-case key (`token_url`).
    pub key: &'static str,
    /// A label for people (`STS token URL`).
    pub label: &'static str,
    /// The value (`null` when unset). URLs are shown without their query.
    pub value: Value,
    /// Where it came from (`None` when unset).
    pub origin: Option<Origin>,
}
