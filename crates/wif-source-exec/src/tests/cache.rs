//! The `output_file` cache.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

// ---- output_file cache -----------------------------------------------------------------------

/// A script that must not run: it leaves a mark and fails.
fn must_not_run(f: &Fixture) -> PathBuf {
    let ran = f.path("ran");
    f.script("tool", &format!("touch '{}'\nexit 9", ran.display()))
}

#[tokio::test]
async fn valid_cached_response_is_used_without_running_the_command() {
    let f = Fixture::new();
    let exe = must_not_run(&f);
    let cache = f.path("cache.json");
    std::fs::write(&cache, success(SAML_TYPE, "saml_response", Some(FAR))).expect("cache");
    let s = builder(&exe).output_file(&cache).build().expect("build");
    let token = s.subject_token(&ctx()).await.expect("cached token");
    assert_eq!(token.secret().expose_secret(), TOKEN);
    assert_eq!(
        token.expires_at(),
        Some(UNIX_EPOCH + Duration::from_secs(FAR))
    );
    assert!(!f.ran(), "the command ran despite a valid cache");
}

#[tokio::test]
async fn unusable_cached_responses_make_the_command_run() {
    let cached = [
        ("expired", success(ID_TOKEN_TYPE, "id_token", Some(1_000))),
        (
            "no expiration_time",
            success(ID_TOKEN_TYPE, "id_token", None),
        ),
        (
            "unsuccessful",
            r#"{"version":1,"success":false,"code":"1","message":"m"}"#.to_owned(),
        ),
        (
            "unsupported version",
            r#"{"version":2,"success":true}"#.to_owned(),
        ),
        ("empty", String::new()),
        ("blank", " \n".to_owned()),
    ];
    for (what, body) in cached {
        let f = Fixture::new();
        let exe = f.printing(&id_token_response());
        let cache = f.path("cache.json");
        std::fs::write(&cache, body).expect("cache");
        let s = builder(&exe).output_file(&cache).build().expect("build");
        let token = s.subject_token(&ctx()).await.expect(what);
        assert_eq!(token.secret().expose_secret(), TOKEN, "{what}");
        assert!(f.ran(), "{what}: the command did not run");
    }
    // A missing file (the first run) too.
    let f = Fixture::new();
    let exe = f.printing(&id_token_response());
    let s = builder(&exe)
        .output_file(f.path("absent.json"))
        .build()
        .expect("build");
    s.subject_token(&ctx()).await.expect("missing cache");
    assert!(f.ran());
}

#[tokio::test]
async fn malformed_cached_response_is_an_error() {
    for (what, body, words) in [
        (
            "not json",
            format!("{{\"id_token\": \"{TOKEN}"),
            "not valid JSON",
        ),
        (
            "no token field",
            format!(
                r#"{{"version":1,"success":true,"token_type":"{ID_TOKEN_TYPE}","expiration_time":{FAR}}}"#
            ),
            "missing the `id_token` field",
        ),
    ] {
        let f = Fixture::new();
        let exe = must_not_run(&f);
        let cache = f.path("cache.json");
        std::fs::write(&cache, body).expect("cache");
        let s = builder(&exe).output_file(&cache).build().expect("build");
        let e = failure(&s).await;
        assert_eq!(e.kind(), ErrorKind::InvalidResponse, "{what}");
        let shown = e.to_string();
        assert!(shown.contains(words), "{what}: {shown}");
        assert!(
            shown.contains("cached executable response in `"),
            "{what}: {shown}"
        );
        assert!(
            e.hint().is_some_and(|h| h.contains("delete the file")),
            "{what}: {e}"
        );
        assert!(!f.ran(), "{what}");
    }
}

/// A FIFO as `output_file` blocked the source forever: first the cache read, then the read of
/// the response after a command that printed nothing. Both now refuse it at once, and the
/// error names it. (Without the fix this test hangs.)
#[tokio::test]
async fn a_fifo_output_file_is_refused_not_waited_on() {
    let f = Fixture::new();
    let fifo = wif_core::testing::fifo_at(f.path("out.json"));
    let exe = f.script("tool", &format!("touch '{}'", f.path("ran").display()));
    let s = builder(&exe).output_file(&fifo).build().expect("build");
    let e = failure(&s).await;
    assert!(f.ran(), "an unusable cache makes the command run");
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(
        e.to_string()
            .contains("is a FIFO (named pipe), not a regular file"),
        "{e}"
    );
}
