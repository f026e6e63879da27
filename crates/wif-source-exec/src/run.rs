//! Running the executable: a child process in a process group of its own, with a deadline,
//! bounded stdout, and counted stderr.
//!
//! The child is started directly (no shell), with stdin closed (interactive mode is not
//! supported), as the leader of a new process group. Whatever it starts stays in that group —
//! the command of a shell wrapper that does not `exec` it, a helper running in the background —
//! so giving up on the command kills the whole group, not only the direct child:
//!
//! * when the deadline passes;
//! * as soon as stdout exceeds its bound (reported as too much output, not as a timeout);
//! * when the caller drops the future (a cancelled request, a `select!` that lost, Ctrl-C in
//!   the `wif` CLI).
//!
//! A command that exits successfully is not chased further: a background process it leaves
//! behind and that holds no pipe of ours keeps running, as it would after a shell.
//!
//! stderr is read only to count its bytes: it is never shown, because tools print tokens and
//! credentials there in their debug output.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};

/// How long a killed group's leader is given to be reaped before it is left to Tokio's reaper.
const REAP_GRACE: Duration = Duration::from_secs(2);

/// What the finished child left behind.
pub(crate) struct Finished {
    pub status: ExitStatus,
    /// At most `max_stdout` bytes.
    pub stdout: Vec<u8>,
    pub stderr_len: u64,
}

/// Why no `Finished` came back.
pub(crate) enum RunError {
    /// The process could not be started.
    Spawn(std::io::Error),
    /// Reading its output or waiting for it failed.
    Io(std::io::Error),
    /// The deadline passed; the group was killed.
    TimedOut,
    /// stdout went past its bound; the group was killed at once.
    TooMuchOutput,
}

/// The child, leading its own process group, killed with its group when given up on.
struct ProcessGroup {
    child: Child,
    /// The group's id (the child's pid); `None` where there are no process groups.
    #[cfg(unix)]
    pgid: Option<rustix::process::Pid>,
    /// Once the child is reaped its pid may be reused, and the group is not ours to kill.
    reaped: bool,
}

impl ProcessGroup {
    fn new(child: Child) -> Self {
        ProcessGroup {
            #[cfg(unix)]
            pgid: child
                .id()
                .and_then(|id| i32::try_from(id).ok())
                .and_then(rustix::process::Pid::from_raw),
            child,
            reaped: false,
        }
    }

    /// Kills every process of the group (SIGKILL), the child included. Only while the child is
    /// not reaped: until then its pid, which names the group, cannot be reused.
    fn kill(&mut self) {
        if self.reaped {
            return;
        }
        #[cfg(unix)]
        if let Some(pgid) = self.pgid {
            // ESRCH (nobody left) is fine; anything else leaves the child's own kill below.
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
        let _ = self.child.start_kill();
    }

    async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        let status = self.child.wait().await?;
        self.reaped = true;
        Ok(status)
    }

    /// Kills the group and reaps the child (briefly: a process stuck in the kernel is left to
    /// Tokio's reaper).
    async fn kill_and_reap(&mut self) {
        self.kill();
        let _ = tokio::time::timeout(REAP_GRACE, self.wait()).await;
    }
}

impl Drop for ProcessGroup {
    /// The future was dropped while the command ran: kill the group before the child handle
    /// goes (whose `kill_on_drop` would reach the child alone).
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `argv` with extra environment `set` (and `unset` removed), waiting at most `timeout`
/// and reading at most `max_stdout` bytes of stdout.
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
    #[cfg(unix)]
    command.process_group(0);
    for name in unset {
        command.env_remove(name);
    }
    for (name, value) in set {
        command.env(name, value);
    }
    let mut child = command.spawn().map_err(RunError::Spawn)?;
    tracing::trace!(
        pid = child.id(),
        "executable started in its own process group"
    );
    let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(RunError::Io(std::io::Error::other(
            "the child's output pipes are missing",
        )));
    };
    let mut group = ProcessGroup::new(child);

    let finished = tokio::time::timeout(timeout, async {
        let read_stdout = async {
            let out = read_bounded(&mut stdout, max_stdout)
                .await
                .map_err(RunError::Io)?;
            if out.len() > max_stdout {
                // Fails the join at once: no waiting for stderr to close, which a grandchild
                // still writing to stdout would keep open until the deadline.
                return Err(RunError::TooMuchOutput);
            }
            Ok(out)
        };
        let count_stderr = async { count(&mut stderr).await.map_err(RunError::Io) };
        let (stdout, stderr_len) = tokio::try_join!(read_stdout, count_stderr)?;
        let status = group.wait().await.map_err(RunError::Io)?;
        Ok(Finished {
            status,
            stdout,
            stderr_len,
        })
    })
    .await;

    let err = match finished {
        Ok(Ok(finished)) => return Ok(finished),
        Ok(Err(e)) => e,
        Err(_elapsed) => RunError::TimedOut,
    };
    group.kill_and_reap().await;
    Err(err)
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
