//! Running the executable: success, its environment and arguments, and every refusal.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

// ---- success ---------------------------------------------------------------------------------

#[tokio::test]
async fn id_token_response_becomes_the_subject_token_with_its_expiry() {
    let f = Fixture::new();
    let exe = f.printing(&id_token_response());
    let s = source(&exe);
    assert_eq!(s.kind(), "executable");
    let token = s.subject_token(&ctx()).await.expect("token");
    assert_eq!(token.secret().expose_secret(), TOKEN);
    assert_eq!(
        token.expires_at(),
        Some(UNIX_EPOCH + Duration::from_secs(FAR))
    );
    assert_clean(&format!("{token:?} {s:?}"));
}

#[tokio::test]
async fn saml_response_and_jwt_type_work() {
    let f = Fixture::new();
    let exe = f.printing(&success(SAML_TYPE, "saml_response", None));
    let token = source(&exe).subject_token(&ctx()).await.expect("saml");
    assert_eq!(token.secret().expose_secret(), TOKEN);
    assert_eq!(token.expires_at(), None, "expiration_time is optional");

    let f = Fixture::new();
    let exe = f.printing(&success(
        "urn:ietf:params:oauth:token-type:jwt",
        "id_token",
        Some(FAR),
    ));
    let token = source(&exe).subject_token(&ctx()).await.expect("jwt");
    assert_eq!(token.secret().expose_secret(), TOKEN);
}

#[tokio::test]
async fn empty_stdout_reads_the_response_from_output_file() {
    let f = Fixture::new();
    let out = f.path("out.json");
    let response = id_token_response();
    // Written by the script: the cache is empty before it runs.
    let exe = f.script(
        "tool",
        &format!("cat > \"$GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE\" <<'EOF'\n{response}\nEOF"),
    );
    let s = builder(&exe).output_file(&out).build().expect("build");
    let token = s.subject_token(&ctx()).await.expect("token");
    assert_eq!(token.secret().expose_secret(), TOKEN);
}

// ---- the child's environment and arguments ---------------------------------------------------

#[tokio::test]
async fn child_receives_the_protocol_environment() {
    let f = Fixture::new();
    let seen = f.path("env.txt");
    let vars = [
        "GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE",
        "GOOGLE_EXTERNAL_ACCOUNT_TOKEN_TYPE",
        "GOOGLE_EXTERNAL_ACCOUNT_INTERACTIVE",
        "GOOGLE_EXTERNAL_ACCOUNT_IMPERSONATED_EMAIL",
        "GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE",
    ];
    let dump: String = vars
        .iter()
        .map(|v| format!("echo \"{v}=${{{v}-<unset>}}\" >> '{}'\n", seen.display()))
        .collect();
    let response = id_token_response();
    let exe = f.script("tool", &format!("{dump}cat <<'EOF'\n{response}\nEOF"));

    // With impersonation and an output file.
    let out = f.path("cache.json");
    let s = builder(&exe).output_file(&out).build().expect("build");
    let c = ctx().with_impersonated_email("sa@p.iam.gserviceaccount.com");
    s.subject_token(&c).await.expect("token");
    let got = std::fs::read_to_string(&seen).expect("env dump");
    let want = format!(
        "GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE={AUDIENCE}\n\
         GOOGLE_EXTERNAL_ACCOUNT_TOKEN_TYPE={ID_TOKEN_TYPE}\n\
         GOOGLE_EXTERNAL_ACCOUNT_INTERACTIVE=0\n\
         GOOGLE_EXTERNAL_ACCOUNT_IMPERSONATED_EMAIL=sa@p.iam.gserviceaccount.com\n\
         GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE={}\n",
        out.display()
    );
    assert_eq!(got, want);

    // Without: the two optional variables are absent.
    std::fs::remove_file(&seen).expect("rm");
    source(&exe).subject_token(&ctx()).await.expect("token");
    let got = std::fs::read_to_string(&seen).expect("env dump");
    assert_says(
        &got,
        &[
            "GOOGLE_EXTERNAL_ACCOUNT_IMPERSONATED_EMAIL=<unset>\n",
            "GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE=<unset>\n",
        ],
    );
}

#[tokio::test]
async fn command_is_split_with_shell_quoting_and_no_shell() {
    let f = Fixture::new();
    let seen = f.path("args.txt");
    let response = id_token_response();
    // In a directory with a space in its name, to test a quoted program path too.
    let exe = f.script(
        "my tools/get token",
        &format!(
            "for a in \"$@\"; do echo \"[$a]\" >> '{}'; done\ncat <<'EOF'\n{response}\nEOF",
            seen.display()
        ),
    );
    let command = format!(
        "\"{}\" \"a b\" 'c  d' e\\ f --aud=\"x y\" '$HOME' \"*\" \"\"",
        exe.display()
    );
    let s = ExecutableSource::builder()
        .command(command)
        .environment(allowed())
        .build()
        .expect("build");
    assert_eq!(s.argv().len(), 8);
    s.subject_token(&ctx()).await.expect("token");
    let got = std::fs::read_to_string(&seen).expect("args");
    assert_eq!(got, "[a b]\n[c  d]\n[e f]\n[--aud=x y]\n[$HOME]\n[*]\n[]\n");
}

// ---- refusals --------------------------------------------------------------------------------

#[tokio::test]
async fn nothing_runs_and_no_cache_is_read_unless_executables_are_allowed() {
    let f = Fixture::new();
    let exe = f.printing(&id_token_response());
    let cache = f.path("cache.json");
    std::fs::write(&cache, id_token_response()).expect("cache");
    for env in [
        MapEnvironment::new(),
        MapEnvironment::new().with(ALLOW_EXECUTABLES_ENV, "true"),
        MapEnvironment::new().with(ALLOW_EXECUTABLES_ENV, "0"),
        MapEnvironment::new().with(ALLOW_EXECUTABLES_ENV, " 1"),
    ] {
        let s = ExecutableSource::builder()
            .command(quote(&exe))
            .output_file(&cache)
            .environment(Arc::new(env))
            .build()
            .expect("building needs no permission");
        let e = s.subject_token(&ctx()).await.expect_err("not allowed");
        assert_eq!(e.step(), Step::Config);
        assert!(e.is_config());
        let shown = e.to_string();
        assert_says(
            &shown,
            &[
                "set GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES to '1'",
                "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1",
            ],
        );
        assert_clean(&shown);
    }
    assert!(!f.ran());
}

#[tokio::test]
async fn unsuccessful_response_surfaces_code_and_message() {
    let f = Fixture::new();
    let exe = f.printing(
        r#"{"version":1,"success":false,"code":"401","message":"Caller not authorized"}"#,
    );
    let e = failure(&source(&exe)).await;
    assert_eq!(e.kind(), ErrorKind::InvalidToken);
    assert!(!e.is_retryable());
    assert_says(
        &e.to_string(),
        &["code 401: Caller not authorized", "executable `"],
    );
}

#[tokio::test]
async fn non_zero_exit_shows_status_and_sizes_but_never_the_output() {
    let f = Fixture::new();
    let exe = f.script(
        "tool",
        &format!("echo '{STDERR_SECRET}' >&2\necho '{TOKEN}'\nexit 3"),
    );
    let e = failure(&source(&exe)).await;
    assert_eq!(e.kind(), ErrorKind::Io);
    let sizes = format!(
        "stdout: {} bytes, stderr: {} bytes, not shown",
        TOKEN.len() + 1,
        STDERR_SECRET.len() + 1
    );
    assert_says(&e.to_string(), &["exit code 3", &sizes]);

    // A failing executable that explains itself with an unsuccessful response is heard.
    let exe = f.script(
        "explains",
        "echo '{\"version\":1,\"success\":false,\"code\":\"E42\",\"message\":\"no session\"}'\nexit 1",
    );
    let shown = failure(&source(&exe)).await.to_string();
    assert_says(&shown, &["exit code 1", "code E42: no session"]);
}

#[tokio::test]
async fn bad_output_is_rejected_naming_the_problem_not_the_content() {
    let f = Fixture::new();
    let cases: &[(&str, &str)] = &[
        (&format!("not json {TOKEN}"), "not valid JSON"),
        (
            &format!(
                r#"{{"version":1,"success":true,"token_type":"{ID_TOKEN_TYPE}","saml_response":"{TOKEN}"}}"#
            ),
            "missing the `id_token` field",
        ),
        (
            &format!(r#"{{"success":true,"token_type":"{ID_TOKEN_TYPE}","id_token":"{TOKEN}"}}"#),
            "missing the `version` field",
        ),
        (
            &format!(r#"{{"version":1,"token_type":"{ID_TOKEN_TYPE}","id_token":"{TOKEN}"}}"#),
            "missing the `success` field",
        ),
        (
            &format!(r#"{{"version":1,"success":true,"id_token":"{TOKEN}"}}"#),
            "missing the `token_type` field",
        ),
        (
            &format!(
                r#"{{"version":2,"success":true,"token_type":"{ID_TOKEN_TYPE}","id_token":"{TOKEN}"}}"#
            ),
            "unsupported response `version` 2",
        ),
        (r#"{"version":1,"success":false}"#, "`code` and `message`"),
        ("", "printed nothing on stdout"),
    ];
    for (i, (output, words)) in cases.iter().enumerate() {
        let exe = f.script(&format!("bad{i}"), &format!("cat <<'EOF'\n{output}\nEOF"));
        let e = failure(&source(&exe)).await;
        assert_eq!(e.kind(), ErrorKind::InvalidResponse, "{output}: {e}");
        assert!(e.to_string().contains(words), "{output}: {e}");
        assert!(
            e.hint().is_some_and(|h| h.contains("\"version\": 1")),
            "{e}"
        );
    }
}

#[tokio::test]
async fn expired_response_is_rejected() {
    let f = Fixture::new();
    let exe = f.printing(&success(ID_TOKEN_TYPE, "id_token", Some(1_000)));
    let e = failure(&source(&exe)).await;
    assert_eq!(e.kind(), ErrorKind::InvalidToken);
    assert!(e.to_string().contains("expired"), "{e}");
}

#[tokio::test]
async fn expiry_is_judged_by_the_injected_clock() {
    let f = Fixture::new();
    let exe = f.printing(&success(ID_TOKEN_TYPE, "id_token", Some(2_000)));
    let s = builder(&exe)
        .clock(Arc::new(FixedClock(
            UNIX_EPOCH + Duration::from_secs(1_999),
        )))
        .build()
        .expect("build");
    s.subject_token(&ctx())
        .await
        .expect("not yet expired at 1999");
}

#[tokio::test]
async fn missing_or_unexecutable_program_gets_a_hint() {
    let f = Fixture::new();
    let e = failure(&source(&f.path("does-not-exist"))).await;
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(
        e.hint().is_some_and(|h| h.contains("not through a shell")),
        "{e}"
    );

    let exe = f.script("not-executable", "exit 0");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let e = failure(&source(&exe)).await;
    assert!(e.hint().is_some_and(|h| h.contains("chmod +x")), "{e}");
}

#[tokio::test]
async fn runaway_output_is_cut_off() {
    let f = Fixture::new();
    let exe = f.script("yes", "exec yes EXEC-SUBJECT-TOKEN-5f2a9c");
    let started = std::time::Instant::now();
    let e = failure(&source(&exe)).await;
    assert!(
        e.to_string().contains("printed more than 1048576 bytes"),
        "{e}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "killed, not timed out"
    );
}
