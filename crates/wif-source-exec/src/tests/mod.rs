//! Behaviour tests with real executables: tiny `#!/bin/sh` scripts written into a temp dir.

// Helpers outside `#[test]` functions are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use wif_core::secrecy::ExposeSecret;
use wif_core::{ErrorKind, FixedClock, MapEnvironment, SourceContext, Step, SubjectTokenSource};

use super::*;

mod cache;
#[cfg(target_os = "linux")]
mod kill;
mod run;

const AUDIENCE: &str =
    "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/exe";
const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
const SAML_TYPE: &str = "urn:ietf:params:oauth:token-type:saml2";
/// The token the scripts print: distinctive, so a leak anywhere is easy to spot.
const TOKEN: &str = "EXEC-SUBJECT-TOKEN-5f2a9c";
/// What scripts print on stderr: it must never reach an error or a log.
const STDERR_SECRET: &str = "STDERR-DEBUG-CREDENTIAL-88e1";
/// Far in the future (2286).
const FAR: u64 = 9_999_999_999;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes an executable `#!/bin/sh` script and returns its path.
    fn script(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    /// A script printing `response` on stdout (and a secret on stderr), after touching `ran`.
    fn printing(&self, response: &str) -> PathBuf {
        let ran = self.path("ran");
        self.script(
            "tool",
            &format!(
                "touch '{}'\necho '{STDERR_SECRET}' >&2\ncat <<'EOF'\n{response}\nEOF",
                ran.display()
            ),
        )
    }

    fn ran(&self) -> bool {
        self.path("ran").exists()
    }
}

fn allowed() -> Arc<dyn Environment> {
    Arc::new(MapEnvironment::new().with(ALLOW_EXECUTABLES_ENV, "1"))
}

fn ctx() -> SourceContext {
    SourceContext::new(AUDIENCE, ID_TOKEN_TYPE)
}

fn success(token_type: &str, field: &str, expiration: Option<u64>) -> String {
    let mut json =
        serde_json::json!({"version": 1, "success": true, "token_type": token_type, field: TOKEN});
    if let Some(e) = expiration {
        json["expiration_time"] = e.into();
    }
    json.to_string()
}

/// The usual successful response: an OIDC ID token, valid until [`FAR`].
fn id_token_response() -> String {
    success(ID_TOKEN_TYPE, "id_token", Some(FAR))
}

fn source(command: &Path) -> ExecutableSource {
    builder(command).build().expect("build")
}

fn builder(command: &Path) -> ExecutableSourceBuilder {
    ExecutableSource::builder()
        .command(quote(command))
        .environment(allowed())
}

/// Quotes a path for the command line (temp dirs have no `'`).
fn quote(p: &Path) -> String {
    format!("'{}'", p.display())
}

#[track_caller]
fn assert_clean(shown: &str) {
    for secret in [TOKEN, STDERR_SECRET] {
        assert!(!shown.contains(secret), "leaked {secret}: {shown}");
    }
}

/// Asserts `shown` (an error, a log, a dump) holds each of `parts`, naming the missing one.
#[track_caller]
fn assert_says(shown: &str, parts: &[&str]) {
    for part in parts {
        assert!(shown.contains(part), "{part:?} missing in:\n{shown}");
    }
}

async fn failure(source: &ExecutableSource) -> Error {
    let e = source
        .subject_token(&ctx())
        .await
        .expect_err("expected an error");
    assert_eq!(e.step(), Step::Source, "{e}");
    assert_clean(&format!("{e} {e:?}"));
    e
}
// ---- builder ---------------------------------------------------------------------------------

#[test]
fn builder_validates_and_names_the_field() {
    let config = |b: ExecutableSourceBuilder, field: &str, words: &str| {
        let e = b.build().expect_err(field);
        assert!(e.is_config(), "{e}");
        assert_says(&e.to_string(), &[&format!("`{field}`"), words]);
    };
    let cmd = || ExecutableSource::builder().command("/bin/tool");
    config(ExecutableSource::builder(), COMMAND_FIELD, "missing");
    config(
        ExecutableSource::builder().command("  "),
        COMMAND_FIELD,
        "empty",
    );
    config(
        ExecutableSource::builder().command("'/bin/tool"),
        COMMAND_FIELD,
        "no closing quotation",
    );
    config(
        ExecutableSource::builder().command("\"\" x"),
        COMMAND_FIELD,
        "empty",
    );
    config(
        cmd().timeout(Duration::from_millis(4_999)),
        TIMEOUT_FIELD,
        "between 5 and 120 seconds",
    );
    config(
        cmd().timeout(Duration::from_millis(120_001)),
        TIMEOUT_FIELD,
        "not 120001 ms",
    );
    config(cmd().timeout(Duration::ZERO), TIMEOUT_FIELD, "between");
    config(
        cmd().interactive_timeout(Duration::from_secs(29)),
        INTERACTIVE_TIMEOUT_FIELD,
        "30 seconds and 30 minutes",
    );

    for ok in [5_000, 120_000] {
        let s = cmd()
            .timeout(Duration::from_millis(ok))
            .build()
            .expect("in range");
        assert_eq!(s.timeout(), Duration::from_millis(ok));
    }
    let s = cmd()
        .interactive_timeout(Duration::from_secs(300))
        .output_file("/tmp/o.json")
        .build()
        .expect("defaults");
    assert_eq!(s.timeout(), DEFAULT_TIMEOUT);
    assert_eq!(s.interactive_timeout(), Some(Duration::from_secs(300)));
    assert_eq!(s.output_file(), Some(Path::new("/tmp/o.json")));
    assert_eq!(s.command(), "/bin/tool");
    assert_eq!(s.argv(), ["/bin/tool"]);

    let e = cmd().interactive(true).build().expect_err("interactive");
    assert_eq!(e.kind(), ErrorKind::NotSupported);
    assert!(e.to_string().contains("interactive mode"), "{e}");
}

#[test]
fn debug_shows_the_command_but_no_environment_values() {
    let env = MapEnvironment::new()
        .with(ALLOW_EXECUTABLES_ENV, "1")
        .with("AWS_SECRET_ACCESS_KEY", "env-secret-value");
    let s = ExecutableSource::builder()
        .command("/bin/tool --flag")
        .environment(Arc::new(env))
        .build()
        .expect("build");
    let shown = format!("{s:?}");
    assert!(shown.contains("/bin/tool --flag"), "{shown}");
    assert!(!shown.contains("env-secret-value"), "{shown}");
}

// ---- secrets in logs -------------------------------------------------------------------------

#[tokio::test]
async fn tokens_and_stderr_never_reach_the_logs() {
    let logs = wif_core::testing::LogCapture::global();
    let f = Fixture::new();
    let exe = f.printing(&id_token_response());
    let cache = f.path("cache.json");
    let s = builder(&exe).output_file(&cache).build().expect("build");
    s.subject_token(&ctx()).await.expect("run");
    std::fs::write(&cache, id_token_response()).expect("cache");
    s.subject_token(&ctx()).await.expect("cached");
    let bad = f.script(
        "bad",
        &format!("echo '{STDERR_SECRET}' >&2\necho 'oops {TOKEN}'"),
    );
    let _ = source(&bad).subject_token(&ctx()).await;

    let contents = logs.contents();
    assert_says(
        &contents,
        &[
            "executable finished",
            "using the cached executable response",
        ],
    );
    assert_clean(&contents);
}
