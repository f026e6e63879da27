//! Running the executable: a child process with a deadline, bounded stdout, and counted stderr.
//!
//! The child is started directly (no shell), with stdin closed (interactive mode is not
//! supported) and `kill_on_drop`, so it is killed when the deadline passes **and** when the
//! caller drops the future (a cancelled request, a `select!` that lost). Only the direct child is
//! killed, as in Python's `subprocess.run` and Go's `exec.CommandContext`; a script that should
//! not leave helpers behind should `exec` its last command.
//!
//! stderr is read only to count its bytes: it is never shown, because tools print tokens and
//! credentials there in their debug output.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

/// What the finished child left behind.
pub(crate) struct Finished {
    pub status: ExitStatus,
    /// At most `max_stdout + 1` bytes: one more than allowed means it printed too much.
    pub stdout: Vec<u8>,
    pub stderr_len: u64,
}

/// Why no `Finished` came back.
pub(crate) enum RunError {
    /// The process could not be started.
    Spawn(std::io::Error),
    /// Reading its output or waiting for it failed.
    Io(std::io::Error),
    /// The deadline passed; the child was killed.
    TimedOut,
}

/// Runs `argv` with extra environment `set` (and `unset` removed), waiting at most `timeout`.
pub(crate) async fn run(
    argv: &[String],
    set: &[(&str, &OsStr)],
    unset: &[&str],
    timeout: Duration,
    max_stdout: usize,
) -> Result<Finished, RunError> {
    let Some((program, args)) = argv.split_first() else {
        // The builder refuses an empty command; this keeps the function total anyway.
        return Err(RunError::Spawn(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "empty command",
        )));
    };
    let mut command = Command::new(Path::new(program));
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for name in unset {
        command.env_remove(name);
    }
    for (name, value) in set {
        command.env(name, value);
    }
    let mut child = command.spawn().map_err(RunError::Spawn)?;
    tracing::trace!(pid = child.id(), "executable started");
    let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(RunError::Io(std::io::Error::other(
            "the child's output pipes are missing",
        )));
    };

    let finished = tokio::time::timeout(timeout, async {
        let read_stdout = async {
            let out = read_bounded(&mut stdout, max_stdout).await;
            if out.as_ref().is_ok_and(|b| b.len() > max_stdout) {
                // Stop a runaway child now rather than when the deadline passes.
                let _ = child.start_kill();
            }
            out
        };
        let (stdout, stderr_len) = tokio::join!(read_stdout, count(&mut stderr));
        let stdout = stdout.map_err(RunError::Io)?;
        let stderr_len = stderr_len.map_err(RunError::Io)?;
        let status = child.wait().await.map_err(RunError::Io)?;
        Ok(Finished {
            status,
            stdout,
            stderr_len,
        })
    })
    .await;

    match finished {
        Ok(result) => result,
        Err(_elapsed) => {
            // Kill and reap now; `kill_on_drop` would kill too, but leave the reaping to later.
            let _ = child.kill().await;
            Err(RunError::TimedOut)
        }
    }
}

async fn read_bounded(r: &mut (impl AsyncRead + Unpin), max: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(max as u64 + 1).read_to_end(&mut buf).await?;
    Ok(buf)
}

/// Drains `r`, returning how many bytes it produced (the bytes are discarded).
async fn count(r: &mut (impl AsyncRead + Unpin)) -> std::io::Result<u64> {
    tokio::io::copy(r, &mut tokio::io::sink()).await
}

/// "exit code 3" or "signal 9", for messages.
pub(crate) fn describe_status(status: &ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit code {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("signal {signal}");
        }
    }
    "an unknown status".to_owned()
}
