//! The outside world, injected: environment variables and the wall clock.
//!
//! Everything wif-rs reads from the process environment or the clock goes through these traits, so
//! tests replace them instead of mutating the real process environment (which is racy across
//! threads) or waiting for real time to pass.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// Read access to environment variables.
pub trait Environment: Send + Sync + fmt::Debug {
    /// The variable's value, or `None` when it is unset or not valid Unicode.
    fn var(&self, name: &str) -> Option<String>;

    /// The variable's value unless it is unset or empty: how gcloud and google-auth read their
    /// variables (an empty `GOOGLE_APPLICATION_CREDENTIALS` counts as unset).
    fn non_empty_var(&self, name: &str) -> Option<String> {
        self.var(name).filter(|v| !v.is_empty())
    }
}

/// The real process environment.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsEnvironment;

impl Environment for OsEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// A fixed set of variables, for tests and for callers that want to pin what wif-rs sees.
///
/// Its `Debug` lists variable names only: values may be secrets (`AWS_SECRET_ACCESS_KEY`).
#[derive(Clone, Default)]
pub struct MapEnvironment {
    vars: HashMap<String, String>,
}

impl MapEnvironment {
    /// An empty environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a variable.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// Adds or replaces a variable in place.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.vars.insert(name.into(), value.into());
    }
}

/// Collects `(name, value)` pairs, later pairs replacing earlier ones (as [`MapEnvironment::with`]
/// does): `read_env_file(path)?.into_iter().collect::<MapEnvironment>()`.
impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for MapEnvironment {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(name, value)| (name.into(), value.into()))
                .collect(),
        }
    }
}

impl fmt::Debug for MapEnvironment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.vars.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("MapEnvironment")
            .field("names", &names)
            .finish()
    }
}

impl Environment for MapEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
}

impl<T: Environment + ?Sized> Environment for Arc<T> {
    fn var(&self, name: &str) -> Option<String> {
        (**self).var(name)
    }
}

/// gcloud's configuration directory, found the way gcloud (and google-auth's
/// `_cloud_sdk.get_config_path`) finds it: `$CLOUDSDK_CONFIG` if set, else
/// `$HOME/.config/gcloud`, or on Windows (`windows`) `%APPDATA%\gcloud` with `%SystemDrive%\`
/// (default `C:`) standing in for an unset `APPDATA`. Empty variables count as unset. `None` only
/// when nothing says where a home is.
///
/// Application Default Credentials look for gcloud's well-known file here, and certificate
/// configurations for gcloud's `certificate_config.json`.
pub fn gcloud_config_dir(env: &dyn Environment, windows: bool) -> Option<PathBuf> {
    if let Some(dir) = env.non_empty_var("CLOUDSDK_CONFIG") {
        return Some(PathBuf::from(dir));
    }
    if windows {
        let base = env
            .non_empty_var("APPDATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let drive = env
                    .non_empty_var("SystemDrive")
                    .unwrap_or_else(|| "C:".to_owned());
                PathBuf::from(format!("{drive}\\"))
            });
        return Some(base.join("gcloud"));
    }
    env.non_empty_var("HOME")
        .map(|home| Path::new(&home).join(".config").join("gcloud"))
}

/// The wall clock (used for signing times and absolute expiries; refresh timing uses the
/// monotonic `tokio::time::Instant`).
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock stopped at one instant, for golden tests.
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub SystemTime);

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0
    }
}

impl<T: Clock + ?Sized> Clock for Arc<T> {
    fn now(&self) -> SystemTime {
        (**self).now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collected_pairs_are_the_variables_later_ones_winning() {
        let env: MapEnvironment = [
            ("AWS_REGION", "eu-west-1"),
            ("AWS_REGION", "us-east-1"),
            ("A", "b"),
        ]
        .into_iter()
        .collect();
        assert_eq!(env.var("AWS_REGION").as_deref(), Some("us-east-1"));
        assert_eq!(env.var("A").as_deref(), Some("b"));
        assert_eq!(env.var("B"), None);
    }

    #[test]
    fn map_environment_debug_hides_values() {
        let env = MapEnvironment::new().with("AWS_SECRET_ACCESS_KEY", "very-secret");
        assert_eq!(
            env.var("AWS_SECRET_ACCESS_KEY").as_deref(),
            Some("very-secret")
        );
        assert_eq!(env.var("UNSET"), None);
        let shown = format!("{env:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(shown.contains("AWS_SECRET_ACCESS_KEY"), "{shown}");
    }

    #[test]
    fn gcloud_config_dir_follows_gcloud() {
        let dir = |env: MapEnvironment, windows| gcloud_config_dir(&env, windows);
        let home = MapEnvironment::new().with("HOME", "/home/u");
        assert_eq!(
            dir(home.clone(), false),
            Some(PathBuf::from("/home/u/.config/gcloud"))
        );
        // CLOUDSDK_CONFIG wins on every platform; an empty one counts as unset.
        for windows in [false, true] {
            let env = home.clone().with("CLOUDSDK_CONFIG", "/etc/g");
            assert_eq!(dir(env, windows), Some(PathBuf::from("/etc/g")));
        }
        assert_eq!(
            dir(home.clone().with("CLOUDSDK_CONFIG", ""), false),
            Some(PathBuf::from("/home/u/.config/gcloud"))
        );
        // Windows: APPDATA, else the system drive's root, else C:.
        let appdata = MapEnvironment::new().with("APPDATA", "/appdata");
        assert_eq!(
            dir(appdata.with("HOME", "/home/u"), true),
            Some(PathBuf::from("/appdata").join("gcloud"))
        );
        assert_eq!(
            dir(MapEnvironment::new().with("SystemDrive", "D:"), true),
            Some(PathBuf::from("D:\\").join("gcloud"))
        );
        assert_eq!(
            dir(MapEnvironment::new().with("APPDATA", ""), true),
            Some(PathBuf::from("C:\\").join("gcloud"))
        );
        assert_eq!(dir(MapEnvironment::new(), false), None);
        assert_eq!(dir(MapEnvironment::new().with("HOME", ""), false), None);
    }
}
