//! The child, and every process it started, is killed on timeout, on too much output and when the
//! future is dropped (Linux: checked in /proc).

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
    // Up to 20 s: a kill is quick, but a loaded 2-core CI machine may take a while to reap.
    for _ in 0..400 {
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

// ---- killing the whole process group ---------------------------------------------------------

/// A shell wrapper that does not `exec`: it starts `command` in the background, records that
/// grandchild's pid, and waits for it.
fn wrapper(f: &Fixture, command: &str) -> (PathBuf, PathBuf) {
    let pid_file = f.path("grandchild-pid");
    let exe = f.script(
        "wrapper",
        &format!(
            "{command} &\necho $! > '{0}.tmp'\nmv '{0}.tmp' '{0}'\nwait",
            pid_file.display()
        ),
    );
    (exe, pid_file)
}

#[tokio::test]
async fn timeout_kills_the_grandchildren_too() {
    let f = Fixture::new();
    let (exe, pid_file) = wrapper(&f, "sleep 100");
    let s = builder(&exe)
        .timeout_unchecked(Duration::from_millis(700))
        .build()
        .expect("build");
    let e = failure(&s).await;
    assert!(e.is_timeout(), "{e}");
    let pid = read_pid(&pid_file).await;
    assert!(
        wait_exited(pid).await,
        "the wrapper's `sleep` (pid {pid}) outlived the timeout"
    );
}

#[tokio::test]
async fn too_much_output_from_a_wrapped_command_is_reported_as_such_and_stops_it() {
    let f = Fixture::new();
    // 200 MB on stdout from the wrapper's child; the wrapper itself prints nothing. The child
    // waits until the wrapper has recorded its pid: the overflow kills the group at once, and a
    // wrapper killed before its `echo $!` (as happened on a loaded machine) left no pid to check.
    let grandchild = format!(
        "sh -c 'while [ ! -e \"{}\" ]; do sleep 0.01; done; exec head -c 200000000 /dev/zero'",
        f.path("grandchild-pid").display()
    );
    let (exe, pid_file) = wrapper(&f, &grandchild);
    // A timeout long enough that "did not finish" would be the wrong answer.
    let s = builder(&exe)
        .timeout(Duration::from_secs(120))
        .build()
        .expect("build");
    let e = failure(&s).await;
    assert_eq!(e.kind(), ErrorKind::InvalidResponse, "{e}");
    assert!(
        e.to_string().contains(&format!(
            "printed more than {MAX_OUTPUT_BYTES} bytes on stdout"
        )),
        "{e}"
    );
    assert!(!e.is_timeout(), "{e}");
    let pid = read_pid(&pid_file).await;
    assert!(
        wait_exited(pid).await,
        "the wrapper's `head` (pid {pid}) kept running"
    );
}

#[tokio::test]
async fn dropping_the_future_kills_the_grandchildren_too() {
    let f = Fixture::new();
    let (exe, pid_file) = wrapper(&f, "sleep 100");
    let s = source(&exe);
    let c = ctx();
    let pid = tokio::select! {
        r = s.subject_token(&c) => panic!("the wrapper finished: {r:?}"),
        pid = read_pid(&pid_file) => pid,
    };
    // The select! dropped the subject_token future.
    assert!(
        wait_exited(pid).await,
        "the wrapper's `sleep` (pid {pid}) outlived the dropped future"
    );
}
