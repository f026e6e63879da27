//! Finding and reading the certificate configuration (`certificate_config.json`): which file
//! names the workload's certificate and key (`docs/protocol.md#x509-source`, Python
//! `google.auth.transport._mtls_helper._get_workload_cert_and_key_paths`).
//!
//! Lookup order, first match wins and later steps are not tried even if the chosen file is
//! missing (as in Python):
//! 1. `credential_source.certificate.certificate_config_location`;
//! 2. `GOOGLE_API_CERTIFICATE_CONFIG`;
//! 3. `CLOUDSDK_CONTEXT_AWARE_CERTIFICATE_CONFIG_FILE_PATH`;
//! 4. gcloud's `certificate_config.json` in its configuration directory (`$CLOUDSDK_CONFIG`, else
//!    `~/.config/gcloud`, `%APPDATA%\gcloud` on Windows).
//!
//! Empty variables count as unset. A leading `~` is expanded with `HOME` (Python's
//! `expanduser`). Every variable is read through the injected [`Environment`].

use std::fmt;
use std::path::{Path, PathBuf};

use wif_core::{Environment, Error, ErrorKind, Step, gcloud_config_dir};

use crate::files;

/// The variable naming the certificate configuration file (step 2).
pub const CERTIFICATE_CONFIG_ENV: &str = "GOOGLE_API_CERTIFICATE_CONFIG";
/// gcloud's variable for the same file (step 3).
pub const CONTEXT_AWARE_CERTIFICATE_CONFIG_ENV: &str =
    "CLOUDSDK_CONTEXT_AWARE_CERTIFICATE_CONFIG_FILE_PATH";
/// The file name gcloud uses in its configuration directory (step 4).
pub const CERTIFICATE_CONFIG_FILE_NAME: &str = "certificate_config.json";

/// Where the credential configuration says the certificate configuration is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertificateConfigLocation {
    /// `"use_default_certificate_config": true`: the environment variables, then gcloud's file.
    Default,
    /// `"certificate_config_location": "…"`: this file.
    Path(PathBuf),
}

/// Which step of the lookup chose the certificate configuration (shown in errors and logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigOrigin {
    /// `credential_source.certificate.certificate_config_location`.
    CredentialSource,
    /// The `GOOGLE_API_CERTIFICATE_CONFIG` variable.
    CertificateConfigEnv,
    /// The `CLOUDSDK_CONTEXT_AWARE_CERTIFICATE_CONFIG_FILE_PATH` variable.
    ContextAwareEnv,
    /// gcloud's well-known `certificate_config.json`.
    GcloudDefault,
}

impl fmt::Display for ConfigOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigOrigin::CredentialSource => {
                "credential_source.certificate.certificate_config_location"
            }
            ConfigOrigin::CertificateConfigEnv => CERTIFICATE_CONFIG_ENV,
            ConfigOrigin::ContextAwareEnv => CONTEXT_AWARE_CERTIFICATE_CONFIG_ENV,
            ConfigOrigin::GcloudDefault => "gcloud's default location",
        })
    }
}

/// The certificate configuration file the lookup chose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedConfig {
    /// The file (after `~` expansion).
    pub path: PathBuf,
    /// Which lookup step chose it.
    pub origin: ConfigOrigin,
}

impl ResolvedConfig {
    /// "certificate configuration `PATH` (from ORIGIN)", for messages.
    pub(crate) fn describe(&self) -> String {
        format!(
            "certificate configuration `{}` (from {})",
            self.path.display(),
            self.origin
        )
    }
}

/// The workload section of a certificate configuration: `cert_configs.workload`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadCertPaths {
    /// `cert_path`: PEM certificate(s), the leaf first.
    pub cert_path: PathBuf,
    /// `key_path`: the leaf's PEM private key.
    pub key_path: PathBuf,
}

/// Runs the lookup (no file is read; whether the file exists is checked later, when it is read).
pub fn resolve(
    location: &CertificateConfigLocation,
    env: &dyn Environment,
) -> Result<ResolvedConfig, Error> {
    resolve_for(location, env, cfg!(windows))
}

fn resolve_for(
    location: &CertificateConfigLocation,
    env: &dyn Environment,
    windows: bool,
) -> Result<ResolvedConfig, Error> {
    let (raw, origin) = match location {
        CertificateConfigLocation::Path(p) => (p.clone(), ConfigOrigin::CredentialSource),
        CertificateConfigLocation::Default => {
            if let Some(v) = env.non_empty_var(CERTIFICATE_CONFIG_ENV) {
                (PathBuf::from(v), ConfigOrigin::CertificateConfigEnv)
            } else if let Some(v) = env.non_empty_var(CONTEXT_AWARE_CERTIFICATE_CONFIG_ENV) {
                (PathBuf::from(v), ConfigOrigin::ContextAwareEnv)
            } else {
                let dir = gcloud_config_dir(env, windows).ok_or_else(|| {
                    Error::new(
                        Step::Source,
                        ErrorKind::InvalidConfig,
                        "no certificate configuration: GOOGLE_API_CERTIFICATE_CONFIG is unset and gcloud's configuration directory is unknown (neither CLOUDSDK_CONFIG nor HOME is set)",
                    )
                    .with_hint(CONFIG_HINT)
                })?;
                (
                    dir.join(CERTIFICATE_CONFIG_FILE_NAME),
                    ConfigOrigin::GcloudDefault,
                )
            }
        }
    };
    Ok(ResolvedConfig {
        path: expand_home(&raw, env, windows),
        origin,
    })
}

const CONFIG_HINT: &str = "write one with `gcloud iam workload-identity-pools create-cred-config … --credential-cert-path=CERT --credential-cert-private-key-path=KEY`, \
or set GOOGLE_API_CERTIFICATE_CONFIG to a file of the form {\"cert_configs\": {\"workload\": {\"cert_path\": \"…\", \"key_path\": \"…\"}}}";

/// Reads the resolved configuration and returns its `cert_configs.workload` paths. Errors name
/// the file, where it came from, and the missing or malformed field.
pub fn read_workload_paths(config: &ResolvedConfig) -> Result<WorkloadCertPaths, Error> {
    let bytes = files::read_bounded(&config.path).map_err(|e| {
        let e = files::io_error(&config.describe(), &config.path, e);
        if config.origin == ConfigOrigin::GcloudDefault {
            e.with_hint(CONFIG_HINT)
        } else {
            e
        }
    })?;
    parse_workload_paths(&bytes, config)
}

pub(crate) fn parse_workload_paths(
    bytes: &[u8],
    config: &ResolvedConfig,
) -> Result<WorkloadCertPaths, Error> {
    let invalid = |problem: String| {
        Error::new(
            Step::Source,
            ErrorKind::InvalidConfig,
            format!("{}: {problem}", config.describe()),
        )
    };
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        // Position only: the message of a data error could quote the file.
        invalid(format!(
            "not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let configs = value
        .get("cert_configs")
        .ok_or_else(|| invalid("`cert_configs` is missing".to_owned()))?;
    if !configs.is_object() {
        return Err(invalid("`cert_configs` must be an object".to_owned()));
    }
    let workload = configs.get("workload").ok_or_else(|| {
        invalid("`cert_configs.workload` is missing (the file has no workload certificate; other sections are for other kinds of mTLS)".to_owned())
    })?;
    if !workload.is_object() {
        return Err(invalid(
            "`cert_configs.workload` must be an object".to_owned(),
        ));
    }
    let path = |key: &str| -> Result<PathBuf, Error> {
        match workload.get(key) {
            None | Some(serde_json::Value::Null) => {
                Err(invalid(format!("`cert_configs.workload.{key}` is missing")))
            }
            Some(serde_json::Value::String(s)) if s.trim().is_empty() => {
                Err(invalid(format!("`cert_configs.workload.{key}` is empty")))
            }
            Some(serde_json::Value::String(s)) => Ok(PathBuf::from(s)),
            Some(_) => Err(invalid(format!(
                "`cert_configs.workload.{key}` must be a string (a file path)"
            ))),
        }
    };
    Ok(WorkloadCertPaths {
        cert_path: path("cert_path")?,
        key_path: path("key_path")?,
    })
}

/// Python's `os.path.expanduser` for the one form that matters: `~` or `~/…` (not `~user`).
fn expand_home(path: &Path, env: &dyn Environment, windows: bool) -> PathBuf {
    let Ok(rest) = path.strip_prefix("~") else {
        return path.to_path_buf();
    };
    let home = env.non_empty_var("HOME").or_else(|| {
        if windows {
            env.non_empty_var("USERPROFILE")
        } else {
            None
        }
    });
    match home {
        Some(home) => Path::new(&home).join(rest),
        None => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wif_core::MapEnvironment;

    fn origin_and_path(
        env: &MapEnvironment,
        location: &CertificateConfigLocation,
    ) -> (ConfigOrigin, PathBuf) {
        let r = resolve_for(location, env, false).unwrap();
        (r.origin, r.path)
    }

    #[test]
    fn lookup_order_is_location_then_env_vars_then_gcloud() {
        let default = CertificateConfigLocation::Default;
        let explicit = CertificateConfigLocation::Path("/explicit/cc.json".into());
        let google = (CERTIFICATE_CONFIG_ENV, "/from-google-api/cc.json");
        let cloudsdk = (
            CONTEXT_AWARE_CERTIFICATE_CONFIG_ENV,
            "/from-cloudsdk/cc.json",
        );
        let home = ("HOME", "/home/me");
        // (why, location, environment, the origin and path chosen)
        let cases = [
            (
                "an explicit location ignores every variable",
                &explicit,
                vec![google, cloudsdk, home],
                ConfigOrigin::CredentialSource,
                "/explicit/cc.json",
            ),
            (
                "GOOGLE_API_CERTIFICATE_CONFIG comes first",
                &default,
                vec![google, cloudsdk, home],
                ConfigOrigin::CertificateConfigEnv,
                "/from-google-api/cc.json",
            ),
            (
                "an empty variable counts as unset",
                &default,
                vec![(CERTIFICATE_CONFIG_ENV, ""), cloudsdk, home],
                ConfigOrigin::ContextAwareEnv,
                "/from-cloudsdk/cc.json",
            ),
            (
                "gcloud's default under HOME",
                &default,
                vec![home],
                ConfigOrigin::GcloudDefault,
                "/home/me/.config/gcloud/certificate_config.json",
            ),
            (
                "gcloud's default under CLOUDSDK_CONFIG",
                &default,
                vec![home, ("CLOUDSDK_CONFIG", "/etc/gcloud")],
                ConfigOrigin::GcloudDefault,
                "/etc/gcloud/certificate_config.json",
            ),
        ];
        for (why, location, vars, origin, path) in cases {
            let env: MapEnvironment = vars.into_iter().collect();
            assert_eq!(
                origin_and_path(&env, location),
                (origin, path.into()),
                "{why}"
            );
        }
    }

    #[test]
    fn windows_default_is_under_appdata() {
        let env = MapEnvironment::new().with("APPDATA", r"C:\Users\me\AppData\Roaming");
        let r = resolve_for(&CertificateConfigLocation::Default, &env, true).unwrap();
        assert_eq!(
            r.path,
            Path::new(r"C:\Users\me\AppData\Roaming")
                .join("gcloud")
                .join(CERTIFICATE_CONFIG_FILE_NAME)
        );
    }

    #[test]
    fn no_home_and_no_variables_is_a_named_error() {
        let err = resolve_for(
            &CertificateConfigLocation::Default,
            &MapEnvironment::new(),
            false,
        )
        .unwrap_err();
        assert!(err.is_config(), "{err}");
        assert!(err.to_string().contains(CERTIFICATE_CONFIG_ENV), "{err}");
        assert!(err.hint().unwrap().contains("create-cred-config"), "{err}");
    }

    #[test]
    fn tilde_expands_with_home() {
        let env = MapEnvironment::new().with("HOME", "/home/me");
        let loc = CertificateConfigLocation::Path("~/certs/cc.json".into());
        assert_eq!(
            origin_and_path(&env, &loc).1,
            PathBuf::from("/home/me/certs/cc.json")
        );
        let loc = CertificateConfigLocation::Path("~other/cc.json".into());
        assert_eq!(
            origin_and_path(&env, &loc).1,
            PathBuf::from("~other/cc.json")
        );
        let env = MapEnvironment::new().with(CERTIFICATE_CONFIG_ENV, "~/cc.json");
        assert_eq!(
            origin_and_path(&env, &CertificateConfigLocation::Default).1,
            PathBuf::from("~/cc.json"),
            "no HOME: left as is"
        );
    }

    #[test]
    fn workload_section_errors_name_the_field_and_file() {
        let config = ResolvedConfig {
            path: "/etc/cc.json".into(),
            origin: ConfigOrigin::CertificateConfigEnv,
        };
        let table: [(&str, &str); 9] = [
            ("{", "not valid JSON (line 1"),
            ("[]", "`cert_configs` is missing"),
            (r#"{"cert_configs": 3}"#, "`cert_configs` must be an object"),
            (
                r#"{"cert_configs": {"ecp": {}}}"#,
                "`cert_configs.workload` is missing",
            ),
            (
                r#"{"cert_configs": {"workload": "x"}}"#,
                "`cert_configs.workload` must be an object",
            ),
            (
                r#"{"cert_configs": {"workload": {"key_path": "/k"}}}"#,
                "`cert_configs.workload.cert_path` is missing",
            ),
            (
                r#"{"cert_configs": {"workload": {"cert_path": "/c"}}}"#,
                "`cert_configs.workload.key_path` is missing",
            ),
            (
                r#"{"cert_configs": {"workload": {"cert_path": " ", "key_path": "/k"}}}"#,
                "`cert_configs.workload.cert_path` is empty",
            ),
            (
                r#"{"cert_configs": {"workload": {"cert_path": "/c", "key_path": 7}}}"#,
                "`cert_configs.workload.key_path` must be a string",
            ),
        ];
        for (json, want) in table {
            let err = parse_workload_paths(json.as_bytes(), &config).unwrap_err();
            let shown = err.to_string();
            assert!(shown.contains(want), "{json}: {shown}");
            assert!(shown.contains("/etc/cc.json"), "{json}: {shown}");
            assert!(shown.contains(CERTIFICATE_CONFIG_ENV), "{json}: {shown}");
            assert!(err.is_config(), "{json}: {shown}");
            assert_eq!(err.step(), Step::Source, "{json}");
        }
        let ok = parse_workload_paths(
            br#"{"cert_configs": {"workload": {"cert_path": "/c.pem", "key_path": "/k.pem"}, "ecp": {}}, "version": 1}"#,
            &config,
        )
        .unwrap();
        assert_eq!(
            ok,
            WorkloadCertPaths {
                cert_path: "/c.pem".into(),
                key_path: "/k.pem".into()
            }
        );
    }
}
