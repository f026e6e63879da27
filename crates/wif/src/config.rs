//! Google's `external_account` credential configuration: parsing and validation, before any
//! network call (the first thing that happens in the flow).
//!
//! Reads exactly what `gcloud iam workload-identity-pools create-cred-config` (and
//! `… workforce-pools create-cred-config`) writes; `docs/protocol.md#credential-configuration`
//! describes every field. Every
//! error is a [`Step::Config`] error naming the offending field, and no
//! error ever echoes a value that could be a secret (`client_secret`, header values, URLs).
//!
//! Decisions where Google's Python and Go libraries differ or are silent (all of them:
//! `docs/protocol.md#python-and-go-differences`):
//! * `type` may be absent (Python's `from_info` ignores it); if present it must be
//!   `"external_account"`.
//! * `token_url` absent or empty defaults to `https://sts.{universe_domain}/v1/token` (Go's
//!   behaviour; Python's `from_info` leaves it `None` and fails at refresh).
//! * Empty strings in optional fields mean "not set", as in both libraries.
//! * `service_account_impersonation.token_lifetime_seconds`: `0` or absent means the default
//!   (3600 s, applied by the impersonation layer); otherwise it must be 600..=43200, the range
//!   gcloud and IAM accept. Neither library checks it; IAM would reject it later.
//! * `environment_id` `"aws01"` is accepted (both libraries read the version as a number).
//! * Unknown keys are ignored, as Google's libraries ignore them, but not silently: each becomes
//!   a [`Warning`] naming the key (and the key probably meant), kept with the configuration
//!   ([`ExternalAccountConfig::warnings`]) and carried into the [`Plan`](crate::plan::Plan). A
//!   `credential_source` with no known selector is an error.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use wif_core::{Error, ErrorKind, Step};

mod audience;
mod duplicates;
mod fields;
mod source;

pub(crate) use duplicates::{first_duplicate_key, shown_key};

pub use audience::{Audience, AudienceKind, parse_audience};
pub use source::{
    AwsSourceConfig, CertificateSourceConfig, CredentialSource, DEFAULT_EXECUTABLE_TIMEOUT_MILLIS,
    DEFAULT_REGIONAL_CRED_VERIFICATION_URL, EXECUTABLE_TIMEOUT_MILLIS_RANGE,
    ExecutableSourceConfig, FileSourceConfig, INTERACTIVE_TIMEOUT_MILLIS_RANGE, UrlSourceConfig,
};

use fields::{Fields, check_url, quoted};

use crate::plan::{Warning, WarningKind};

/// `subject_token_type` of the AWS source (a serialized, signed `GetCallerIdentity` request).
pub const AWS_SUBJECT_TOKEN_TYPE: &str = wif_core::protocol::AWS_SUBJECT_TOKEN_TYPE;
/// `subject_token_type` of an OIDC JWT.
pub const JWT_SUBJECT_TOKEN_TYPE: &str = wif_core::protocol::JWT_SUBJECT_TOKEN_TYPE;
/// `subject_token_type` of an OIDC ID token.
pub const ID_TOKEN_SUBJECT_TOKEN_TYPE: &str = wif_core::protocol::ID_TOKEN_SUBJECT_TOKEN_TYPE;
/// `subject_token_type` of a SAML 2.0 assertion.
pub const SAML2_SUBJECT_TOKEN_TYPE: &str = wif_core::protocol::SAML2_SUBJECT_TOKEN_TYPE;
/// `subject_token_type` of the X.509 certificate source (gcloud writes it for `certificate`).
pub const MTLS_SUBJECT_TOKEN_TYPE: &str = wif_core::protocol::MTLS_SUBJECT_TOKEN_TYPE;
/// Every `subject_token_type` a configuration may declare.
pub const KNOWN_SUBJECT_TOKEN_TYPES: [&str; 5] = [
    JWT_SUBJECT_TOKEN_TYPE,
    ID_TOKEN_SUBJECT_TOKEN_TYPE,
    SAML2_SUBJECT_TOKEN_TYPE,
    AWS_SUBJECT_TOKEN_TYPE,
    MTLS_SUBJECT_TOKEN_TYPE,
];
/// The universe (domain) of public Google Cloud.
pub const DEFAULT_UNIVERSE_DOMAIN: &str = wif_core::protocol::DEFAULT_UNIVERSE_DOMAIN;
/// The accepted `service_account_impersonation.token_lifetime_seconds` (10 min to 12 h).
pub const TOKEN_LIFETIME_SECONDS_RANGE: std::ops::RangeInclusive<u32> = 600..=43_200;

const TOP_LEVEL_KEYS: [&str; 14] = [
    "type",
    "audience",
    "subject_token_type",
    "token_url",
    "token_info_url",
    "service_account_impersonation_url",
    "service_account_impersonation",
    "client_id",
    "client_secret",
    "quota_project_id",
    "workforce_pool_user_project",
    "universe_domain",
    "credential_source",
    // Python-only legacy field, carried along but unused.
    "trust_boundary",
];

/// A validated `external_account` credential configuration.
///
/// ```
/// let config = wif::config::ExternalAccountConfig::from_json(r#"{
///   "type": "external_account",
///   "audience": "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/aws",
///   "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
///   "token_url": "https://sts.googleapis.com/v1/token",
///   "credential_source": {
///     "environment_id": "aws1",
///     "region_url": "http://169.254.169.254/latest/meta-data/placement/availability-zone",
///     "url": "http://169.254.169.254/latest/meta-data/iam/security-credentials",
///     "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
///   }
/// }"#)?;
/// assert_eq!(config.source_kind(), "aws");
/// assert!(!config.is_workforce_pool());
/// # Ok::<(), wif::Error>(())
/// ```
#[derive(Clone)]
pub struct ExternalAccountConfig {
    /// The STS audience: the pool provider's full resource name.
    pub audience: String,
    /// The type of the subject token, sent verbatim to STS (one of [`KNOWN_SUBJECT_TOKEN_TYPES`]).
    pub subject_token_type: String,
    /// The STS endpoint; defaulted to `https://sts.{universe_domain}/v1/token`.
    pub token_url: String,
    /// Token-info endpoint; stored, never called (as in Google's libraries).
    pub token_info_url: Option<String>,
    /// The full `…:generateAccessToken` URL; impersonation is used when set.
    pub service_account_impersonation_url: Option<String>,
    /// Requested impersonated-token lifetime; `None` means the default (3600 s).
    pub token_lifetime_seconds: Option<u32>,
    /// OAuth client ID for HTTP Basic client authentication at STS (workforce).
    pub client_id: Option<String>,
    /// OAuth client secret; never shown by `Debug` nor written by [`to_json`](Self::to_json).
    pub client_secret: Option<SecretString>,
    /// The project billed for API quota (`x-goog-user-project`).
    pub quota_project_id: Option<String>,
    /// Workforce pools only: the project billed for STS (`options.userProject`).
    pub workforce_pool_user_project: Option<String>,
    /// The Google Cloud universe, `googleapis.com` unless set.
    pub universe_domain: String,
    /// Where the subject token comes from.
    pub credential_source: CredentialSource,
    /// What the parser noticed: warnings and the values it filled in.
    notes: ParseNotes,
}

/// What parsing noticed beyond the values: warnings about the file, and which values the file
/// left out (so the plan can say they are defaults).
#[derive(Clone, Debug, Default)]
pub(crate) struct ParseNotes {
    pub(crate) warnings: Vec<Warning>,
    /// `universe_domain` was absent: the parser used `googleapis.com`.
    pub(crate) default_universe: bool,
    /// `token_url` was absent: the parser derived this one from the universe.
    pub(crate) default_token_url: Option<String>,
    /// `credential_source.regional_cred_verification_url` was absent.
    pub(crate) default_verification_url: bool,
    /// `credential_source.executable.timeout_millis` was absent.
    pub(crate) default_timeout: bool,
}

impl ExternalAccountConfig {
    /// Parses and validates a configuration from JSON text.
    ///
    /// A syntax error reports its line and column but never the surrounding text (the file may
    /// hold `client_secret`).
    pub fn from_json(json: &str) -> Result<Self, Error> {
        let value: serde_json::Value = serde_json::from_str(json).map_err(syntax_error)?;
        let mut config = Self::from_value(value)?;
        // serde_json's Map is sorted; recover the file's header order with a second, lenient pass.
        if let Ok(probe) = serde_json::from_str::<HeaderOrderProbe>(json)
            && let Some(names) = probe.credential_source.and_then(|c| c.headers)
        {
            source::reorder_headers(&mut config.credential_source, &names.0);
        }
        Ok(config)
    }

    /// Validates an already-parsed configuration. URL-source headers come out in the order of
    /// the `serde_json::Map` (sorted by name unless serde_json's `preserve_order` is on).
    pub fn from_value(value: serde_json::Value) -> Result<Self, Error> {
        let serde_json::Value::Object(map) = &value else {
            return Err(Error::new(
                Step::Config,
                ErrorKind::InvalidConfig,
                format!(
                    "the credential configuration must be a JSON object, found {}",
                    wif_core::json::type_name(&value)
                ),
            ));
        };
        let root = Fields::new(map, "");
        check_type(&root)?;

        let audience = root
            .required(
                "audience",
                "it is the pool provider's resource name, e.g. //iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER",
            )?
            .to_owned();

        let subject_token_type = root
            .required(
                "subject_token_type",
                "it tells STS what kind of token is exchanged",
            )?
            .to_owned();
        if !KNOWN_SUBJECT_TOKEN_TYPES.contains(&subject_token_type.as_str()) {
            return Err(Error::config(
                "subject_token_type",
                format!(
                    "{} is not a known type; use one of {}",
                    quoted(&subject_token_type),
                    KNOWN_SUBJECT_TOKEN_TYPES.join(", ")
                ),
            ));
        }

        let mut notes = ParseNotes::default();
        let universe_domain = match root.non_empty("universe_domain")? {
            None => {
                notes.default_universe = true;
                DEFAULT_UNIVERSE_DOMAIN.to_owned()
            }
            Some(d) if is_domain(d) => d.to_owned(),
            Some(d) => {
                return Err(Error::config(
                    "universe_domain",
                    format!(
                        "{} is not a domain name (e.g. \"googleapis.com\")",
                        quoted(d)
                    ),
                ));
            }
        };
        let token_url = match root.non_empty("token_url")? {
            Some(u) => u.to_owned(),
            None => {
                let derived = wif_sts::default_token_url(&universe_domain);
                notes.default_token_url = Some(derived.clone());
                derived
            }
        };
        check_url("token_url", &token_url, false)?;
        let token_info_url = optional_url(&root, "token_info_url")?;

        let service_account_impersonation_url =
            optional_url(&root, "service_account_impersonation_url")?;
        if let Some(url) = &service_account_impersonation_url
            && email_from_impersonation_url(url).is_none()
        {
            return Err(Error::config(
                "service_account_impersonation_url",
                "no service account found; the URL must end in `/serviceAccounts/EMAIL:generateAccessToken`",
            ));
        }
        let token_lifetime_seconds = token_lifetime(&root, &mut notes)?;

        let workforce_pool_user_project = optional_string(&root, "workforce_pool_user_project")?;
        if workforce_pool_user_project.is_some() && !audience::is_workforce_pool(&audience) {
            return Err(Error::config(
                "workforce_pool_user_project",
                "is set, but the audience is not a workforce pool (//iam.googleapis.com/locations/LOCATION/workforcePools/…); remove it for workload identity pools",
            ));
        }

        let client_id = optional_string(&root, "client_id")?;
        let client_secret = optional_string(&root, "client_secret")?.map(SecretString::from);
        if client_secret.is_some() && client_id.is_none() {
            notes.warnings.push(Warning::new(
                WarningKind::Ignored,
                "client_secret",
                "ignored: there is no `client_id`",
            ));
        }

        let credential_source = source::parse(
            map.get("credential_source"),
            &subject_token_type,
            &mut notes,
        )?;
        notes.warnings.extend(root.unknown_keys(&TOP_LEVEL_KEYS));

        Ok(ExternalAccountConfig {
            audience,
            subject_token_type,
            token_url,
            token_info_url,
            service_account_impersonation_url,
            token_lifetime_seconds,
            client_id,
            client_secret,
            quota_project_id: optional_string(&root, "quota_project_id")?,
            workforce_pool_user_project,
            universe_domain,
            credential_source,
            notes,
        })
    }

    /// What is legal in this configuration but probably not meant: unknown keys (a typo such
    /// as `tokenurl` leaves the default `token_url` in place), a `client_secret` without a
    /// `client_id`. Checks of the values the chain ends up using (the audience, plain-http
    /// endpoints, a lifetime without impersonation) are made on the resolved
    /// [`Plan`](crate::plan::Plan), whatever set them, and are among its warnings.
    pub fn warnings(&self) -> &[Warning] {
        &self.notes.warnings
    }

    pub(crate) fn notes(&self) -> &ParseNotes {
        &self.notes
    }

    /// Whether the audience is a workforce pool (Python's anchored regex
    /// `^//iam\.googleapis\.com/locations/[^/]+/workforcePools/`).
    pub fn is_workforce_pool(&self) -> bool {
        audience::is_workforce_pool(&self.audience)
    }

    /// The service account to impersonate: the text between the last `/` and
    /// `:generateAccessToken` of the impersonation URL (Python's rule, which also accepts a
    /// numeric unique ID). The chain is stricter: it needs an email
    /// ([`wif_impersonate::email_from_url`]); the [`Plan`](crate::plan::Plan)'s
    /// `impersonation.service_account` is what it uses.
    pub fn impersonated_email(&self) -> Option<String> {
        self.service_account_impersonation_url
            .as_deref()
            .and_then(email_from_impersonation_url)
    }

    /// The parsed audience, with warnings about likely mistakes.
    pub fn parsed_audience(&self) -> Audience {
        parse_audience(&self.audience)
    }

    /// `aws`, `file`, `url`, `executable` or `x509` (the metrics header's `source/…`).
    pub fn source_kind(&self) -> &'static str {
        self.credential_source.kind()
    }

    /// The configuration in Google's JSON shape (sorted keys, `None`s dropped, like Python's
    /// `Credentials.info`), for display. `client_secret` is **omitted** and URL header values
    /// read `"[REDACTED]"`, so this is safe to print but not a byte-for-byte round trip.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let mut out = serde_json::Map::new();
        let mut put = |k: &str, v: serde_json::Value| {
            if !v.is_null() {
                out.insert(k.to_owned(), v);
            }
        };
        put("type", json!("external_account"));
        put("audience", json!(self.audience));
        put("subject_token_type", json!(self.subject_token_type));
        put("token_url", json!(self.token_url));
        put("token_info_url", json!(self.token_info_url));
        put(
            "service_account_impersonation_url",
            json!(self.service_account_impersonation_url),
        );
        if let Some(l) = self.token_lifetime_seconds {
            put(
                "service_account_impersonation",
                json!({ "token_lifetime_seconds": l }),
            );
        }
        put("client_id", json!(self.client_id));
        put("quota_project_id", json!(self.quota_project_id));
        put(
            "workforce_pool_user_project",
            json!(self.workforce_pool_user_project),
        );
        put("universe_domain", json!(self.universe_domain));
        put(
            "credential_source",
            source::to_json(&self.credential_source),
        );
        serde_json::Value::Object(out)
    }
}

impl PartialEq for ExternalAccountConfig {
    fn eq(&self, other: &Self) -> bool {
        let secret = |c: &Self| {
            c.client_secret
                .as_ref()
                .map(|s| s.expose_secret().to_owned())
        };
        self.audience == other.audience
            && self.subject_token_type == other.subject_token_type
            && self.token_url == other.token_url
            && self.token_info_url == other.token_info_url
            && self.service_account_impersonation_url == other.service_account_impersonation_url
            && self.token_lifetime_seconds == other.token_lifetime_seconds
            && self.client_id == other.client_id
            && secret(self) == secret(other)
            && self.quota_project_id == other.quota_project_id
            && self.workforce_pool_user_project == other.workforce_pool_user_project
            && self.universe_domain == other.universe_domain
            && self.credential_source == other.credential_source
    }
}

impl fmt::Debug for ExternalAccountConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalAccountConfig")
            .field("audience", &self.audience)
            .field("subject_token_type", &self.subject_token_type)
            .field("token_url", &self.token_url)
            .field("token_info_url", &self.token_info_url)
            .field(
                "service_account_impersonation_url",
                &self.service_account_impersonation_url,
            )
            .field("token_lifetime_seconds", &self.token_lifetime_seconds)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[REDACTED]"),
            )
            .field("quota_project_id", &self.quota_project_id)
            .field(
                "workforce_pool_user_project",
                &self.workforce_pool_user_project,
            )
            .field("universe_domain", &self.universe_domain)
            .field("credential_source", &self.credential_source)
            .finish()
    }
}

fn syntax_error(e: serde_json::Error) -> Error {
    use serde_json::error::Category;
    // Syntax and EOF messages are fixed phrases ("expected `,` or `}`"); data-category messages
    // can quote the input, so they are not shown.
    let what = match e.classify() {
        Category::Syntax | Category::Eof => {
            let full = e.to_string();
            full.rsplit_once(" at line ")
                .map_or(full.as_str(), |(p, _)| p)
                .to_owned()
        }
        Category::Data | Category::Io => "invalid content".to_owned(),
    };
    Error::new(
        Step::Config,
        ErrorKind::InvalidConfig,
        format!(
            "the credential configuration is not valid JSON: {what} at line {}, column {}",
            e.line(),
            e.column()
        ),
    )
}

fn check_type(root: &Fields<'_>) -> Result<(), Error> {
    match root.string("type")? {
        None | Some("external_account") => Ok(()),
        Some(other) => {
            let what = match other {
                "service_account" => {
                    "is \"service_account\": that is a service-account key file".to_owned()
                }
                "authorized_user" => {
                    "is \"authorized_user\": that is a user credential (from `gcloud auth application-default login`)".to_owned()
                }
                "external_account_authorized_user" => {
                    "is \"external_account_authorized_user\": that is a workforce user credential (from `gcloud auth login --login-config`)".to_owned()
                }
                "impersonated_service_account" => {
                    "is \"impersonated_service_account\": that is a gcloud impersonation credential".to_owned()
                }
                _ => format!("is {}", quoted(other)),
            };
            Err(Error::config(
                "type",
                format!("{what}; wif-rs reads only \"external_account\" configurations (Workload/Workforce Identity Federation)"),
            )
            .with_hint(
                "create one with `gcloud iam workload-identity-pools create-cred-config …` and point GOOGLE_APPLICATION_CREDENTIALS (or --credentials) at it",
            ))
        }
    }
}

fn optional_string(root: &Fields<'_>, key: &str) -> Result<Option<String>, Error> {
    Ok(root.non_empty(key)?.map(str::to_owned))
}

fn optional_url(root: &Fields<'_>, key: &str) -> Result<Option<String>, Error> {
    match root.non_empty(key)? {
        Some(u) => {
            check_url(key, u, false)?;
            Ok(Some(u.to_owned()))
        }
        None => Ok(None),
    }
}

fn token_lifetime(root: &Fields<'_>, notes: &mut ParseNotes) -> Result<Option<u32>, Error> {
    let Some(sai) = root.object("service_account_impersonation")? else {
        return Ok(None);
    };
    notes
        .warnings
        .extend(sai.unknown_keys(&["token_lifetime_seconds"]));
    match sai.uint("token_lifetime_seconds")? {
        None | Some(0) => Ok(None),
        Some(v) => match u32::try_from(v) {
            Ok(v) if TOKEN_LIFETIME_SECONDS_RANGE.contains(&v) => Ok(Some(v)),
            _ => Err(Error::config(
                "service_account_impersonation.token_lifetime_seconds",
                format!(
                    "must be between {} and {} seconds (10 minutes to 12 hours; above 3600 needs the org policy constraints/iam.allowServiceAccountCredentialLifetimeExtension); omit it or use 0 for the default 3600",
                    TOKEN_LIFETIME_SECONDS_RANGE.start(),
                    TOKEN_LIFETIME_SECONDS_RANGE.end()
                ),
            )),
        },
    }
}

/// Python's `service_account_email`: between the last `/` and `:generateAccessToken`.
fn email_from_impersonation_url(url: &str) -> Option<String> {
    let start = url.rfind('/')?;
    let end = url.rfind(":generateAccessToken")?;
    let email = url.get(start + 1..end)?;
    (!email.is_empty()).then(|| email.to_owned())
}

pub(crate) fn is_domain(d: &str) -> bool {
    d.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// The header names of `credential_source.headers`, in file order.
#[derive(Deserialize)]
struct HeaderOrderProbe {
    credential_source: Option<HeaderOrderSource>,
}

#[derive(Deserialize)]
struct HeaderOrderSource {
    headers: Option<KeyOrder>,
}

struct KeyOrder(Vec<String>);

impl<'de> Deserialize<'de> for KeyOrder {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = KeyOrder;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<KeyOrder, A::Error> {
                let mut keys = Vec::new();
                while let Some(k) = m.next_key::<String>()? {
                    m.next_value::<serde::de::IgnoredAny>()?;
                    keys.push(k);
                }
                Ok(KeyOrder(keys))
            }
        }
        d.deserialize_map(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_extraction_matches_python() {
        // Appendix H #20 and #21.
        let table = [
            (
                "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@b.iam.gserviceaccount.com:generateAccessToken",
                Some("a@b.iam.gserviceaccount.com"),
            ),
            ("http://127.0.0.1:9/sa/x@y:generateAccessToken", Some("x@y")),
            ("https://foo/bar", None),
            ("https://foo/bar/:generateAccessToken", None),
            ("https://foo:generateAccessToken/bar", None),
            ("", None),
        ];
        for (url, want) in table {
            assert_eq!(email_from_impersonation_url(url).as_deref(), want, "{url}");
        }
    }

    #[test]
    fn syntax_errors_name_position_not_content() {
        let err = ExternalAccountConfig::from_json(
            "{\n  \"client_secret\": \"hunter2-secret\",\n  \"audience\" \"x\"\n}",
        )
        .unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(err.is_config(), "{shown}");
        assert!(shown.contains("line 3"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        let err = ExternalAccountConfig::from_json("{\"client_secret\": \"hunter2").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = ExternalAccountConfig::from_json("[1]").unwrap_err();
        assert!(err.to_string().contains("found an array"), "{err}");
    }

    #[test]
    fn domain_check() {
        assert!(is_domain("googleapis.com"));
        assert!(is_domain("example-universe.net"));
        for bad in ["a/b", "a..b", "evil.com/x?", "host:443", "a b"] {
            assert!(!is_domain(bad), "{bad}");
        }
    }
}
