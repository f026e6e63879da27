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

/// A script `name` that runs `before`, records the pid `pid` names (`$$`: itself; `$!`: its last
/// background job) in the file `pid_name` — written aside and renamed, so that a reader never
/// sees half of it — and then runs `after`. Returns the script and the pid file.
fn pid_script(
    f: &Fixture,
    name: &str,
    pid_name: &str,
    [before, pid, after]: [&str; 3],
) -> (PathBuf, PathBuf) {
    let pid_file = f.path(pid_name);
    let exe = f.script(
        name,
        &format!(
            "{before}echo {pid} > '{0}.tmp'\nmv '{0}.tmp' '{0}'\n{after}",
            pid_file.display()
        ),
    );
    (exe, pid_file)
}

/// A script that records its pid and then *becomes* `sleep 30` (same pid).
fn sleeper(f: &Fixture) -> (PathBuf, PathBuf) {
    pid_script(f, "sleeper", "pid", ["", "$$", "exec sleep 30"])
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

/// Asserts the process whose pid `pid_file` holds has exited (or does soon); `what` names it and
/// what should have ended it.
async fn assert_stopped(pid_file: &Path, what: &str) {
    let pid = read_pid(pid_file).await;
    assert!(wait_exited(pid).await, "{what}: pid {pid} still running");
}

/// Runs `exe` and drops its `subject_token` future as soon as it has written `pid_file`.
async fn drop_once_started(exe: &Path, pid_file: &Path) {
    let s = source(exe);
    let c = ctx();
    tokio::select! {
        r = s.subject_token(&c) => panic!("{} finished: {r:?}", exe.display()),
        _ = read_pid(pid_file) => {}
    }
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
    assert_stopped(&pid_file, "the sleeper, after its timeout").await;
}

#[tokio::test]
async fn dropping_the_future_kills_the_child() {
    let f = Fixture::new();
    let (exe, pid_file) = sleeper(&f);
    drop_once_started(&exe, &pid_file).await;
    assert_stopped(&pid_file, "the sleeper, after its future was dropped").await;
}

// ---- killing the whole process group ---------------------------------------------------------

/// A shell wrapper that does not `exec`: it starts `command` in the background, records that
/// grandchild's pid, and waits for it.
fn wrapper(f: &Fixture, command: &str) -> (PathBuf, PathBuf) {
    pid_script(
        f,
        "wrapper",
        "grandchild-pid",
        [&format!("{command} &\n"), "$!", "wait"],
    )
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
    assert_stopped(&pid_file, "the wrapper's `sleep`, after the timeout").await;
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
    assert_stopped(&pid_file, "the wrapper's `head`, after the overflow").await;
}

#[tokio::test]
async fn dropping_the_future_kills_the_grandchildren_too() {
    let f = Fixture::new();
    let (exe, pid_file) = wrapper(&f, "sleep 100");
    drop_once_started(&exe, &pid_file).await;
    assert_stopped(
        &pid_file,
        "the wrapper's `sleep`, after the future was dropped",
    )
    .await;
}
