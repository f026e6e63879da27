//! Application Default Credentials discovery, with an injected environment and temp dirs only.

#![allow(clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use wif::MapEnvironment;
use wif::adc::{WELL_KNOWN_FILE_NAME, find_credentials_file, well_known_file};

/// Writes `dir/.config/gcloud/application_default_credentials.json` (the HOME layout).
fn home_with_adc(dir: &Path) -> PathBuf {
    let gcloud = dir.join(".config").join("gcloud");
    std::fs::create_dir_all(&gcloud).expect("mkdir");
    let file = gcloud.join(WELL_KNOWN_FILE_NAME);
    std::fs::write(&file, "{}").expect("write");
    file
}

/// The file Application Default Credentials find in `env` (`None` when there is none).
fn found(env: &MapEnvironment) -> Option<PathBuf> {
    find_credentials_file(env).expect("no error looking")
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[test]
fn env_var_wins_over_gcloud_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let well_known = home_with_adc(dir.path());
    let explicit = dir.path().join("wif.json");
    std::fs::write(&explicit, "{}").expect("write");
    let env = MapEnvironment::new()
        .with("GOOGLE_APPLICATION_CREDENTIALS", s(&explicit))
        .with("HOME", s(dir.path()));
    assert_eq!(found(&env), Some(explicit));
    // Without the variable, the well-known file.
    let env = MapEnvironment::new().with("HOME", s(dir.path()));
    assert_eq!(found(&env), Some(well_known));
}

#[test]
fn empty_env_var_counts_as_unset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let well_known = home_with_adc(dir.path());
    let env = MapEnvironment::new()
        .with("GOOGLE_APPLICATION_CREDENTIALS", "")
        .with("HOME", s(dir.path()));
    assert_eq!(found(&env), Some(well_known));
}

#[test]
fn missing_file_behind_env_var_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    home_with_adc(dir.path());
    let missing = dir.path().join("nope.json");
    let env = MapEnvironment::new()
        .with("GOOGLE_APPLICATION_CREDENTIALS", s(&missing))
        .with("HOME", s(dir.path()));
    let err = find_credentials_file(&env).expect_err("no silent fallback");
    let shown = err.to_string();
    assert!(err.is_config(), "{err:?}");
    assert!(shown.contains("GOOGLE_APPLICATION_CREDENTIALS"), "{shown}");
    assert!(shown.contains("nope.json"), "{shown}");
    assert!(shown.contains("does not exist"), "{shown}");

    // A directory is not a credential file either.
    let env = MapEnvironment::new().with("GOOGLE_APPLICATION_CREDENTIALS", s(dir.path()));
    let err = find_credentials_file(&env).expect_err("directory");
    assert!(err.to_string().contains("not a file"), "{err}");
}

#[test]
fn cloudsdk_config_overrides_home() {
    let home = tempfile::tempdir().expect("tempdir");
    home_with_adc(home.path());
    let config = tempfile::tempdir().expect("tempdir");
    let file = config.path().join(WELL_KNOWN_FILE_NAME);
    std::fs::write(&file, "{}").expect("write");
    let env = MapEnvironment::new()
        .with("CLOUDSDK_CONFIG", s(config.path()))
        .with("HOME", s(home.path()));
    assert_eq!(found(&env), Some(file.clone()));
    assert_eq!(well_known_file(&env), Some(file));

    // Like gcloud (and Python), CLOUDSDK_CONFIG replaces the directory: no fallback to HOME.
    let empty = tempfile::tempdir().expect("tempdir");
    let env = MapEnvironment::new()
        .with("CLOUDSDK_CONFIG", s(empty.path()))
        .with("HOME", s(home.path()));
    assert_eq!(find_credentials_file(&env).expect("no error"), None);
}

#[cfg(not(windows))]
#[test]
fn home_fallback_and_nothing_found() {
    let home = tempfile::tempdir().expect("tempdir");
    let env = MapEnvironment::new().with("HOME", s(home.path()));
    assert_eq!(find_credentials_file(&env).expect("no error"), None);
    assert_eq!(
        well_known_file(&env),
        Some(
            home.path()
                .join(".config/gcloud")
                .join(WELL_KNOWN_FILE_NAME)
        )
    );
    let file = home_with_adc(home.path());
    assert_eq!(found(&env), Some(file));
    // No HOME and nothing else: nothing to find, not an error.
    assert_eq!(
        find_credentials_file(&MapEnvironment::new()).expect("ok"),
        None
    );
}

#[test]
fn found_file_loads_as_a_configuration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("wif.json");
    std::fs::write(
        &file,
        r#"{"type": "external_account",
            "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "credential_source": {"file": "/t"}}"#,
    )
    .expect("write");
    let env = MapEnvironment::new().with("GOOGLE_APPLICATION_CREDENTIALS", s(&file));
    let path = find_credentials_file(&env).expect("ok").expect("found");
    let text = std::fs::read_to_string(path).expect("read");
    let config = wif::config::ExternalAccountConfig::from_json(&text).expect("valid");
    assert_eq!(config.source_kind(), "file");
}
