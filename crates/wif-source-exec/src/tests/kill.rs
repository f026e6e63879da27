//! The child is killed on timeout and when the future is dropped (Linux: checked in /proc).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

// ---- killing the child -----------------------------------------------------------------------

/// True once `pid` has exited (gone, or a zombie awaiting its reaper).
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // "pid (comm) S ...": the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

async fn wait_exited(pid: u32) -> bool {
    for _ in 0..100 {
        if exited(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A script that records its pid and then *becomes* `sleep 30` (same pid).
fn sleeper(f: &Fixture) -> (PathBuf, PathBuf) {
    let pid_file = f.path("pid");
    let exe = f.script(
        "sleeper",
        &format!(
            "echo $$ > '{}.tmp'\nmv '{0}.tmp' '{0}'\nexec sleep 30",
            pid_file.display()
        ),
    );
    (exe, pid_file)
}

async fn read_pid(pid_file: &Path) -> u32 {
    for _ in 0..200 {
        if let Ok(s) = std::fs::read_to_string(pid_file)
            && let Ok(pid) = s.trim().parse()
        {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the script never wrote its pid");
}

#[tokio::test]
async fn timeout_kills_the_child() {
    let f = Fixture::new();
    let (exe, pid_file) = sleeper(&f);
    let s = builder(&exe)
        .timeout_unchecked(Duration::from_millis(700))
        .build()
        .expect("build");
    let started = std::time::Instant::now();
    let e = failure(&s).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(e.is_timeout(), "{e}");
    assert!(
        e.to_string()
            .contains("did not finish within 700 ms and was killed"),
        "{e}"
    );
    assert!(
        e.hint().is_some_and(|h| h.contains("timeout_millis")),
        "{e}"
    );
    let pid = read_pid(&pid_file).await;
    assert!(wait_exited(pid).await, "pid {pid} still running");
}

#[tokio::test]
async fn dropping_the_future_kills_the_child() {
    let f = Fixture::new();
    let (exe, pid_file) = sleeper(&f);
    let s = source(&exe);
    let c = ctx();
    let pid = tokio::select! {
        r = s.subject_token(&c) => panic!("the sleeper finished: {r:?}"),
        pid = read_pid(&pid_file) => pid,
    };
    // The select! dropped the subject_token future.
    assert!(
        wait_exited(pid).await,
        "pid {pid} still running after the future was dropped"
    );
}
