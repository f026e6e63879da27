//! `credential_source`: which subject-token source a configuration selects, and that source's
//! settings (`docs/protocol.md#credential-source-shapes`).
//!
//! Shape selection is by key, like Go x/oauth2, but stricter: Go silently takes the first match
//! (`environment_id` → `file` → `url` → `executable`), Python raises "ambiguous" only among
//! file/url/certificate. We reject any two selectors together, and an object with no selector
//! at all, because an unknown shape must be a clear error, never a guess. Unknown extra keys
//! beside a recognised selector are ignored, as Google's libraries ignore them, and become
//! warnings of the plan (names only).

use std::fmt;
use std::path::PathBuf;

use wif_core::{Error, TokenFormat};
use wif_source_aws::AwsCredentialSource;

use super::fields::{Fields, check_url, quoted};
use super::{AWS_SUBJECT_TOKEN_TYPE, MTLS_SUBJECT_TOKEN_TYPE, ParseNotes};

/// The default `regional_cred_verification_url` (Go's default; gcloud always writes this value).
pub use wif_source_aws::DEFAULT_REGIONAL_CRED_VERIFICATION_URL;
/// The executable timeout used when `timeout_millis` is absent.
pub const DEFAULT_EXECUTABLE_TIMEOUT_MILLIS: u32 = 30_000;
/// The accepted `timeout_millis` range (5 s to 120 s), as in both of Google's libraries.
pub const EXECUTABLE_TIMEOUT_MILLIS_RANGE: std::ops::RangeInclusive<u32> = 5_000..=120_000;
/// The accepted `interactive_timeout_millis` range (30 s to 30 min), as in Python google-auth.
pub const INTERACTIVE_TIMEOUT_MILLIS_RANGE: std::ops::RangeInclusive<u32> = 30_000..=1_800_000;

/// Where the subject token comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialSource {
    /// AWS: a SigV4-signed `GetCallerIdentity` request (selected by `environment_id`).
    Aws(AwsSourceConfig),
    /// A file holding an OIDC/SAML token (selected by `file`).
    File(FileSourceConfig),
    /// An HTTP endpoint returning an OIDC/SAML token (selected by `url`).
    Url(UrlSourceConfig),
    /// An executable implementing Google's pluggable-auth protocol (selected by `executable`).
    Executable(ExecutableSourceConfig),
    /// An X.509 client certificate, for mTLS-bound tokens (selected by `certificate`).
    Certificate(CertificateSourceConfig),
}

impl CredentialSource {
    /// The short name of the source, as in Google's `x-goog-api-client` metrics header
    /// (`aws`, `file`, `url`, `executable`, `x509`).
    pub fn kind(&self) -> &'static str {
        match self {
            CredentialSource::Aws(_) => "aws",
            CredentialSource::File(_) => "file",
            CredentialSource::Url(_) => "url",
            CredentialSource::Executable(_) => "executable",
            CredentialSource::Certificate(_) => "x509",
        }
    }
}

/// `credential_source` for AWS, as the configuration parser hands it out: the fields of
/// [`wif_source_aws::AwsCredentialSource`] (the one model of it, which owns its rules), checked
/// by [`AwsCredentialSource::validate`](wif_source_aws::AwsCredentialSource::validate), with the
/// `environment_id` required and the default verification URL filled in. Converts into the
/// model with `From`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsSourceConfig {
    /// `environment_id` as written (`aws1`; `aws01` is accepted too, as in Google's libraries).
    pub environment_id: String,
    /// Metadata URL of the instance's availability zone; needed only when `AWS_REGION` /
    /// `AWS_DEFAULT_REGION` are unset.
    pub region_url: Option<String>,
    /// Metadata URL of the role's security credentials; needed only when the AWS credentials
    /// are not in the environment.
    pub url: Option<String>,
    /// The GetCallerIdentity URL template that is signed (never contacted by us); `{region}` is
    /// replaced by the region. Defaults to [`DEFAULT_REGIONAL_CRED_VERIFICATION_URL`].
    pub regional_cred_verification_url: String,
    /// When set, IMDSv2 is used: a session token is fetched here first.
    pub imdsv2_session_token_url: Option<String>,
}

impl AwsSourceConfig {
    /// The verification URL for `region` (every `{region}` replaced, as Python's `str.replace`):
    /// [`wif_source_aws::verification_url`].
    pub fn verification_url(&self, region: &str) -> String {
        wif_source_aws::verification_url(&self.regional_cred_verification_url, region)
    }

    /// An AWS source builder with these settings and the AWS `subject_token_type`; add an
    /// environment, a region or a credentials provider, then `build()`.
    #[deprecated(
        since = "0.2.0",
        note = "build the chain with `CredentialsBuilder::build_chain` and take its source with `Chain::aws_source`: it has the builder's environment, region, provider and clock"
    )]
    pub fn source_builder(&self) -> wif_source_aws::AwsSourceBuilder {
        wif_source_aws::AwsSource::builder()
            .credential_source(&self.into())
            .subject_token_type(AWS_SUBJECT_TOKEN_TYPE)
    }
}

impl From<&AwsSourceConfig> for AwsCredentialSource {
    fn from(config: &AwsSourceConfig) -> Self {
        let mut source = AwsCredentialSource::default();
        source.environment_id = Some(config.environment_id.clone());
        source.region_url.clone_from(&config.region_url);
        source.url.clone_from(&config.url);
        source.regional_cred_verification_url = Some(config.regional_cred_verification_url.clone());
        source
            .imdsv2_session_token_url
            .clone_from(&config.imdsv2_session_token_url);
        source
    }
}

impl From<AwsSourceConfig> for AwsCredentialSource {
    fn from(config: AwsSourceConfig) -> Self {
        AwsCredentialSource::from(&config)
    }
}

/// `credential_source` for a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSourceConfig {
    /// The token file.
    pub file: PathBuf,
    /// How the file's content becomes the token.
    pub format: TokenFormat,
}

/// `credential_source` for a URL.
#[derive(Clone, PartialEq, Eq)]
pub struct UrlSourceConfig {
    /// The endpoint that returns the token (`GET`).
    pub url: String,
    /// Request headers, in file order. Values may be credentials: `Debug` hides them.
    pub headers: Vec<(String, String)>,
    /// How the response body becomes the token.
    pub format: TokenFormat,
}

impl fmt::Debug for UrlSourceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, _)| (name.as_str(), "[REDACTED]"))
            .collect();
        f.debug_struct("UrlSourceConfig")
            .field("url", &self.url)
            .field("headers", &headers)
            .field("format", &self.format)
            .finish()
    }
}

/// `credential_source.executable` (Google's pluggable auth; running it also needs
/// `GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutableSourceConfig {
    /// The command line (split shell-style when run).
    pub command: String,
    /// How long the command may run; [`DEFAULT_EXECUTABLE_TIMEOUT_MILLIS`] when absent.
    pub timeout_millis: u32,
    /// Where the executable caches its response, if it does.
    pub output_file: Option<PathBuf>,
    /// Timeout for interactive (gcloud) mode, if given.
    pub interactive_timeout_millis: Option<u32>,
}

/// `credential_source.certificate` (X.509 / mTLS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateSourceConfig {
    /// Use gcloud's default certificate configuration lookup.
    pub use_default_certificate_config: bool,
    /// An explicit certificate configuration file (exclusive with the default lookup).
    pub certificate_config_location: Option<PathBuf>,
    /// PEM file of intermediate certificates sent after the leaf.
    pub trust_chain_path: Option<PathBuf>,
}

const SELECTORS: [&str; 5] = ["environment_id", "file", "url", "executable", "certificate"];
const AWS_KEYS: [&str; 5] = [
    "environment_id",
    "region_url",
    "url",
    "regional_cred_verification_url",
    "imdsv2_session_token_url",
];
const ACCEPTED: &str = "accepted shapes: {\"file\": …} or {\"url\": …} with an optional \"format\" (OIDC/SAML), {\"environment_id\": \"aws1\", …} (AWS), {\"executable\": {\"command\": …}} or {\"certificate\": {…}} (X.509)";

/// Parses `credential_source` for a configuration whose `subject_token_type` is `token_type`.
pub(crate) fn parse(
    value: Option<&serde_json::Value>,
    token_type: &str,
    notes: &mut ParseNotes,
) -> Result<CredentialSource, Error> {
    let map = match value {
        Some(serde_json::Value::Object(map)) => map,
        Some(serde_json::Value::Null) | None => {
            return Err(Error::config(
                "credential_source",
                format!("is missing; it says where the subject token comes from ({ACCEPTED})"),
            ));
        }
        Some(other) => {
            return Err(Error::config(
                "credential_source",
                format!(
                    "must be an object, found {}",
                    wif_core::json::type_name(other)
                ),
            ));
        }
    };
    let cs = Fields::new(map, "credential_source");
    let is_aws_type = token_type == AWS_SUBJECT_TOKEN_TYPE;

    if cs.has("environment_id") {
        if !is_aws_type {
            return Err(Error::config(
                "credential_source.environment_id",
                format!(
                    "selects the AWS source, which needs `subject_token_type` \"{AWS_SUBJECT_TOKEN_TYPE}\"; remove `environment_id` for a file/URL source, or fix `subject_token_type`"
                ),
            ));
        }
        let foreign: Vec<&str> = ["file", "executable", "certificate", "headers", "format"]
            .into_iter()
            .filter(|k| cs.has(k))
            .collect();
        if !foreign.is_empty() {
            return Err(ambiguous(
                &[&["environment_id"], foreign.as_slice()].concat(),
            ));
        }
        notes.warnings.extend(cs.unknown_keys(&AWS_KEYS));
        return parse_aws(&cs, notes).map(CredentialSource::Aws);
    }
    if is_aws_type
        && [
            "region_url",
            "regional_cred_verification_url",
            "imdsv2_session_token_url",
        ]
        .into_iter()
        .any(|k| cs.has(k))
    {
        // An AWS source that lost its selector: say so rather than "this is a url source".
        return Err(Error::config(
            "credential_source.environment_id",
            "is missing; the AWS source needs \"environment_id\": \"aws1\"",
        ));
    }

    let selected: Vec<&str> = ["file", "url", "executable", "certificate"]
        .into_iter()
        .filter(|k| cs.has(k))
        .collect();
    let source = match selected.as_slice() {
        [] => {
            let keys: Vec<String> = cs.present_keys().map(|k| format!("`{k}`")).collect();
            let found = if keys.is_empty() {
                "it is empty".to_owned()
            } else {
                format!("it has only {}", keys.join(", "))
            };
            return Err(Error::config(
                "credential_source",
                format!("names no known source: {found}; {ACCEPTED}"),
            ));
        }
        ["file"] => {
            notes.warnings.extend(cs.unknown_keys(&["file", "format"]));
            CredentialSource::File(FileSourceConfig {
                file: PathBuf::from(cs.required("file", "it is the path of the token file")?),
                format: parse_format(&cs)?,
            })
        }
        ["url"] => {
            notes
                .warnings
                .extend(cs.unknown_keys(&["url", "headers", "format"]));
            CredentialSource::Url(parse_url(&cs)?)
        }
        ["executable"] => {
            notes.warnings.extend(cs.unknown_keys(&["executable"]));
            CredentialSource::Executable(parse_executable(&cs, notes)?)
        }
        ["certificate"] => {
            notes.warnings.extend(cs.unknown_keys(&["certificate"]));
            CredentialSource::Certificate(parse_certificate(&cs, notes)?)
        }
        _ => return Err(ambiguous(&selected)),
    };

    if is_aws_type {
        return Err(Error::config(
            "subject_token_type",
            format!(
                "is \"{AWS_SUBJECT_TOKEN_TYPE}\", which needs an AWS `credential_source` with `environment_id` (\"aws1\"), but `credential_source` selects the `{}` source",
                selected.first().copied().unwrap_or("?")
            ),
        ));
    }
    let is_certificate = matches!(source, CredentialSource::Certificate(_));
    if is_certificate != (token_type == MTLS_SUBJECT_TOKEN_TYPE) {
        return Err(Error::config(
            "subject_token_type",
            format!(
                "the certificate (X.509) source and subject_token_type \"{MTLS_SUBJECT_TOKEN_TYPE}\" go together; this configuration has one without the other"
            ),
        ));
    }
    Ok(source)
}

fn ambiguous(keys: &[&str]) -> Error {
    let keys: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
    Error::config(
        "credential_source",
        format!(
            "is ambiguous: it has {}, but {} are mutually exclusive; keep exactly one",
            keys.join(" and "),
            SELECTORS.map(|k| format!("`{k}`")).join(", ")
        ),
    )
}

/// Reads the fields (their JSON types are this parser's to check), then lets the AWS source's
/// model judge them, so a configuration file is checked by the same rules as a source built in
/// code.
fn parse_aws(cs: &Fields<'_>, notes: &mut ParseNotes) -> Result<AwsSourceConfig, Error> {
    let mut source = AwsCredentialSource::default();
    source.environment_id = Some(cs.string("environment_id")?.unwrap_or_default().to_owned());
    let optional =
        |key: &str| -> Result<Option<String>, Error> { Ok(cs.non_empty(key)?.map(str::to_owned)) };
    source.region_url = optional("region_url")?;
    source.url = optional("url")?;
    source.imdsv2_session_token_url = optional("imdsv2_session_token_url")?;
    source.regional_cred_verification_url = optional("regional_cred_verification_url")?;
    notes.default_verification_url = source.regional_cred_verification_url.is_none();
    source.validate()?;
    Ok(AwsSourceConfig {
        environment_id: source.environment_id.clone().unwrap_or_default(),
        regional_cred_verification_url: source.verification_url_template().to_owned(),
        region_url: source.region_url,
        url: source.url,
        imdsv2_session_token_url: source.imdsv2_session_token_url,
    })
}

fn parse_format(cs: &Fields<'_>) -> Result<TokenFormat, Error> {
    let Some(format) = cs.object("format")? else {
        return Ok(TokenFormat::Text);
    };
    // Missing, null and "" all mean text (Python: `format.get("type") or "text"`).
    match format.string("type")?.unwrap_or("") {
        "" | "text" => Ok(TokenFormat::Text),
        "json" => {
            let field = format.required(
                "subject_token_field_name",
                "the \"json\" format needs the name of the field holding the token, e.g. \"access_token\"",
            )?;
            Ok(TokenFormat::Json {
                subject_token_field_name: field.to_owned(),
            })
        }
        other => Err(Error::config(
            &format.path("type"),
            format!(
                "{} is not a known format; use \"text\" or \"json\"",
                quoted(other)
            ),
        )),
    }
}

fn parse_url(cs: &Fields<'_>) -> Result<UrlSourceConfig, Error> {
    let url = cs.required("url", "it is the endpoint that returns the subject token")?;
    check_url(&cs.path("url"), url, false)?;
    let mut headers = Vec::new();
    if let Some(h) = cs.object("headers")? {
        for name in h.present_keys() {
            let path = h.path(name);
            let value = h.string(name)?.unwrap_or_default();
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(Error::config(
                    "credential_source.headers",
                    format!("{} is not a valid HTTP header name", quoted(name)),
                ));
            }
            if reqwest::header::HeaderValue::from_str(value).is_err() {
                return Err(Error::config(
                    &path,
                    "the value is not a valid HTTP header value (control characters or non-ASCII)",
                ));
            }
            headers.push((name.to_owned(), value.to_owned()));
        }
    }
    Ok(UrlSourceConfig {
        url: url.to_owned(),
        headers,
        format: parse_format(cs)?,
    })
}

fn millis(
    f: &Fields<'_>,
    key: &str,
    range: std::ops::RangeInclusive<u32>,
) -> Result<Option<u32>, Error> {
    let Some(v) = f.uint(key)? else {
        return Ok(None);
    };
    match u32::try_from(v) {
        Ok(v) if range.contains(&v) => Ok(Some(v)),
        _ => Err(Error::config(
            &f.path(key),
            format!(
                "must be between {} and {} milliseconds ({} s to {} s)",
                range.start(),
                range.end(),
                range.start() / 1000,
                range.end() / 1000
            ),
        )),
    }
}

fn parse_executable(
    cs: &Fields<'_>,
    notes: &mut ParseNotes,
) -> Result<ExecutableSourceConfig, Error> {
    let Some(exe) = cs.object("executable")? else {
        return Err(Error::config("credential_source.executable", "is missing"));
    };
    notes.warnings.extend(exe.unknown_keys(&[
        "command",
        "timeout_millis",
        "output_file",
        "interactive_timeout_millis",
    ]));
    let command = exe.required("command", "the executable command must be provided")?;
    // An explicit 0 is out of range (as in Go); Python treats it as "use the default".
    let timeout_millis = millis(&exe, "timeout_millis", EXECUTABLE_TIMEOUT_MILLIS_RANGE)?;
    notes.default_timeout = timeout_millis.is_none();
    let timeout_millis = timeout_millis.unwrap_or(DEFAULT_EXECUTABLE_TIMEOUT_MILLIS);
    Ok(ExecutableSourceConfig {
        command: command.to_owned(),
        timeout_millis,
        output_file: exe.non_empty("output_file")?.map(PathBuf::from),
        interactive_timeout_millis: millis(
            &exe,
            "interactive_timeout_millis",
            INTERACTIVE_TIMEOUT_MILLIS_RANGE,
        )?,
    })
}

fn parse_certificate(
    cs: &Fields<'_>,
    notes: &mut ParseNotes,
) -> Result<CertificateSourceConfig, Error> {
    let Some(cert) = cs.object("certificate")? else {
        return Err(Error::config("credential_source.certificate", "is missing"));
    };
    notes.warnings.extend(cert.unknown_keys(&[
        "use_default_certificate_config",
        "certificate_config_location",
        "trust_chain_path",
    ]));
    let use_default = cert
        .boolean("use_default_certificate_config")?
        .unwrap_or(false);
    let location = cert.non_empty("certificate_config_location")?;
    match (use_default, location) {
        (true, Some(_)) => Err(Error::config(
            "credential_source.certificate.certificate_config_location",
            "cannot be set together with `use_default_certificate_config: true`; keep one",
        )),
        (false, None) => Err(Error::config(
            "credential_source.certificate.use_default_certificate_config",
            "must be true when no `certificate_config_location` is given",
        )),
        _ => Ok(CertificateSourceConfig {
            use_default_certificate_config: use_default,
            certificate_config_location: location.map(PathBuf::from),
            trust_chain_path: cert.non_empty("trust_chain_path")?.map(PathBuf::from),
        }),
    }
}

/// Serializes a source back to Google's JSON shape. Header values are replaced by
/// `"[REDACTED]"`: the result is for display (`wif explain`), and header values may be credentials.
pub(crate) fn to_json(source: &CredentialSource) -> serde_json::Value {
    use serde_json::json;
    let format = |f: &TokenFormat| match f {
        TokenFormat::Text => json!({"type": "text"}),
        TokenFormat::Json {
            subject_token_field_name,
        } => json!({"type": "json", "subject_token_field_name": subject_token_field_name}),
    };
    let mut out = serde_json::Map::new();
    let mut put = |k: &str, v: serde_json::Value| {
        if !v.is_null() {
            out.insert(k.to_owned(), v);
        }
    };
    match source {
        CredentialSource::Aws(a) => {
            put("environment_id", json!(a.environment_id));
            put("region_url", json!(a.region_url));
            put("url", json!(a.url));
            put(
                "regional_cred_verification_url",
                json!(a.regional_cred_verification_url),
            );
            put(
                "imdsv2_session_token_url",
                json!(a.imdsv2_session_token_url),
            );
        }
        CredentialSource::File(f) => {
            put("file", json!(f.file.to_string_lossy()));
            put("format", format(&f.format));
        }
        CredentialSource::Url(u) => {
            put("url", json!(u.url));
            if !u.headers.is_empty() {
                let headers: serde_json::Map<String, serde_json::Value> = u
                    .headers
                    .iter()
                    .map(|(k, _)| (k.clone(), json!("[REDACTED]")))
                    .collect();
                put("headers", serde_json::Value::Object(headers));
            }
            put("format", format(&u.format));
        }
        CredentialSource::Executable(e) => {
            let mut exe = serde_json::Map::new();
            exe.insert("command".into(), json!(e.command));
            exe.insert("timeout_millis".into(), json!(e.timeout_millis));
            if let Some(o) = &e.output_file {
                exe.insert("output_file".into(), json!(o.to_string_lossy()));
            }
            if let Some(i) = e.interactive_timeout_millis {
                exe.insert("interactive_timeout_millis".into(), json!(i));
            }
            put("executable", serde_json::Value::Object(exe));
        }
        CredentialSource::Certificate(c) => {
            let mut cert = serde_json::Map::new();
            cert.insert(
                "use_default_certificate_config".into(),
                json!(c.use_default_certificate_config),
            );
            if let Some(l) = &c.certificate_config_location {
                cert.insert(
                    "certificate_config_location".into(),
                    json!(l.to_string_lossy()),
                );
            }
            if let Some(t) = &c.trust_chain_path {
                cert.insert("trust_chain_path".into(), json!(t.to_string_lossy()));
            }
            put("certificate", serde_json::Value::Object(cert));
        }
    }
    serde_json::Value::Object(out)
}

/// Reorders URL-source headers to the order of `names` (the file's order), which a
/// `serde_json::Map` (sorted) loses.
pub(crate) fn reorder_headers(source: &mut CredentialSource, names: &[String]) {
    if let CredentialSource::Url(u) = source {
        u.headers
            .sort_by_key(|(name, _)| names.iter().position(|n| n == name).unwrap_or(usize::MAX));
    }
}
