use wif_core::secrecy::ExposeSecret;

use super::*;

const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.file-subject-token.sig";

fn ctx() -> SourceContext {
    SourceContext::new(
        "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/f",
        "urn:ietf:params:oauth:token-type:jwt",
    )
}

fn json(field: &str) -> TokenFormat {
    TokenFormat::Json {
        subject_token_field_name: field.into(),
    }
}

/// A temp dir holding `name` with `content`; keep the dir alive for the test's duration.
fn write(name: &str, content: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, content).expect("write token file");
    (dir, path)
}

async fn read(source: &FileSource) -> Result<String, Error> {
    source
        .subject_token(&ctx())
        .await
        .map(|t| t.secret().expose_secret().to_owned())
}

#[tokio::test]
async fn reads_a_text_token() {
    let (_dir, path) = write("token", TOKEN.as_bytes());
    let source = FileSource::new(&path, TokenFormat::Text);
    assert_eq!(read(&source).await.expect("text token"), TOKEN);
    assert_eq!(source.kind(), "file");
    assert_eq!(source.path(), path);
}

#[tokio::test]
async fn trims_the_trailing_newline_editors_and_echo_add() {
    let (_dir, path) = write("token", format!("{TOKEN}\r\n").as_bytes());
    let got = read(&FileSource::new(&path, TokenFormat::Text))
        .await
        .expect("token");
    assert_eq!(
        got, TOKEN,
        "a trailing newline would be sent to STS and rejected"
    );
}

#[tokio::test]
async fn reads_a_json_field() {
    let body = format!(r#"{{"access_token":"{TOKEN}\n","expires_in":3600}}"#);
    let (_dir, path) = write("token.json", body.as_bytes());
    let got = read(&FileSource::new(&path, json("access_token")))
        .await
        .expect("json token");
    assert_eq!(got, TOKEN);
}

#[tokio::test]
async fn json_errors_name_the_field_and_path_but_not_the_content() {
    let cases = [
        (
            r#"{"id_token":"secret-ish-value"}"#,
            "no field `access_token`",
        ),
        (r#"{"access_token":42}"#, "a JSON number, not a string"),
        ("secret-ish-value not json", "not valid JSON"),
    ];
    for (content, needle) in cases {
        let (_dir, path) = write("token.json", content.as_bytes());
        let err = read(&FileSource::new(&path, json("access_token")))
            .await
            .expect_err(needle);
        let shown = err.to_string();
        assert_eq!(err.step(), Step::Source, "{shown}");
        assert_eq!(err.kind(), ErrorKind::InvalidToken, "{shown}");
        assert!(shown.contains(needle), "{content}: {shown}");
        assert!(
            shown.contains(&path.display().to_string()),
            "path named: {shown}"
        );
        assert!(
            !format!("{err} {err:?}").contains("secret-ish"),
            "content leaked: {err:?}"
        );
    }
}

#[tokio::test]
async fn an_empty_file_is_an_invalid_token() {
    for content in ["", "\n  \n"] {
        let (_dir, path) = write("token", content.as_bytes());
        let err = read(&FileSource::new(&path, TokenFormat::Text))
            .await
            .expect_err("empty file");
        assert_eq!(err.kind(), ErrorKind::InvalidToken, "{err}");
        assert!(err.to_string().contains("empty"), "{err}");
    }
}

#[tokio::test]
async fn a_missing_file_names_the_path_and_the_platform() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("not-yet-projected");
    let err = read(&FileSource::new(&path, TokenFormat::Text))
        .await
        .expect_err("missing file");
    let shown = err.to_string();
    assert_eq!(err.step(), Step::Source);
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(!err.is_retryable(), "{shown}");
    assert!(shown.contains(&path.display().to_string()), "{shown}");
    assert!(shown.contains("not found"), "{shown}");
    let hint = err.hint().expect("a hint");
    assert!(
        hint.contains("Kubernetes") && hint.contains("GitHub"),
        "{hint}"
    );
}

#[tokio::test]
async fn a_directory_is_refused_with_a_hint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let err = read(&FileSource::new(dir.path(), TokenFormat::Text))
        .await
        .expect_err("directory");
    let shown = err.to_string();
    assert_eq!(err.step(), Step::Source);
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(shown.contains("is a directory"), "{shown}");
    assert!(shown.contains(&dir.path().display().to_string()), "{shown}");
    assert!(
        err.hint()
            .is_some_and(|h| h.contains("credential_source.file"))
    );
}

/// A FIFO with no writer blocked the token read forever (and with it every `token()` call);
/// `/dev/zero` would be read up to the limit for nothing. Both are refused by type, at once.
/// Without the fix this test hangs.
#[cfg(unix)]
#[tokio::test]
async fn fifos_and_devices_are_refused_without_blocking() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = wif_core::testing::fifo_at(dir.path().join("token"));
    for (path, what) in [
        (fifo.as_path(), "a FIFO (named pipe)"),
        (Path::new("/dev/zero"), "a character device"),
    ] {
        let err = read(&FileSource::new(path, TokenFormat::Text))
            .await
            .expect_err(what);
        assert_eq!(err.step(), Step::Source);
        assert_eq!(err.kind(), ErrorKind::Io);
        assert!(err.to_string().contains(what), "{err}");
        assert!(
            err.hint().is_some_and(|h| h.contains("a regular file")),
            "{err:?}"
        );
    }
}

#[cfg(unix)]
#[tokio::test]
async fn an_unreadable_file_says_permission_denied() {
    use std::os::unix::fs::PermissionsExt;

    let (_dir, path) = write("token", TOKEN.as_bytes());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    if std::fs::read(&path).is_ok() {
        // Running as root: mode 000 does not stop us, so there is nothing to observe here.
        // `a_directory_is_refused_with_a_hint` covers the I/O error path instead.
        return;
    }
    let err = read(&FileSource::new(&path, TokenFormat::Text))
        .await
        .expect_err("unreadable");
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.to_string().contains("permission denied"), "{err}");
}

#[tokio::test]
async fn files_over_one_mib_are_refused_and_one_mib_is_read() {
    let (_dir, path) = write("big", &vec![b'a'; MAX_TOKEN_FILE_BYTES + 1]);
    let err = read(&FileSource::new(&path, TokenFormat::Text))
        .await
        .expect_err("oversize");
    let shown = err.to_string();
    assert_eq!(err.step(), Step::Source);
    assert!(shown.contains("larger than 1048576 bytes"), "{shown}");
    assert!(shown.contains(&path.display().to_string()), "{shown}");
    assert!(!shown.contains("aaaa"), "content leaked: {shown}");

    let (_dir, path) = write("at-limit", &vec![b'a'; MAX_TOKEN_FILE_BYTES]);
    let got = read(&FileSource::new(&path, TokenFormat::Text))
        .await
        .expect("exactly 1 MiB is accepted");
    assert_eq!(got.len(), MAX_TOKEN_FILE_BYTES);
}

#[tokio::test]
async fn every_call_rereads_the_rotated_file() {
    let (_dir, path) = write("token", b"first-token\n");
    let source = FileSource::new(&path, TokenFormat::Text);
    assert_eq!(read(&source).await.expect("first"), "first-token");
    std::fs::write(&path, b"second-token\n").expect("rotate");
    assert_eq!(read(&source).await.expect("second"), "second-token");
    let clone = source.clone();
    std::fs::write(&path, b"third-token").expect("rotate");
    assert_eq!(read(&clone).await.expect("third"), "third-token");
}

#[tokio::test]
async fn debug_shows_the_path_and_never_the_token() {
    let (_dir, path) = write("token", TOKEN.as_bytes());
    let source = FileSource::new(&path, TokenFormat::Text);
    let token = source.subject_token(&ctx()).await.expect("token");
    let shown = format!("{source:?} {token:?}");
    assert!(shown.contains(&path.display().to_string()), "{shown}");
    assert!(
        !shown.contains("file-subject-token"),
        "token leaked: {shown}"
    );
}

#[tokio::test]
async fn tracing_shows_path_and_size_but_never_the_content() {
    let captured = wif_core::testing::LogCapture::global();

    let (_dir, path) = write("token", TOKEN.as_bytes());
    read(&FileSource::new(&path, TokenFormat::Text))
        .await
        .expect("token");

    let logs = captured.contents();
    assert!(logs.contains(&path.display().to_string()), "{logs}");
    assert!(logs.contains(&format!("bytes={}", TOKEN.len())), "{logs}");
    assert!(!logs.contains("file-subject-token"), "token leaked: {logs}");
}
