//! Child processes (the `wif` CLI, the peers, the Lambda example): run with a clean environment
//! and a deadline, timed from spawn to exit, and their peak RSS taken with `/usr/bin/time`.
//! Statistics over repeated runs.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How a child run ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Spawn to exit (or to the kill at the deadline).
    pub wall: Duration,
    /// Exit status 0.
    pub success: bool,
    /// Killed at the deadline.
    pub timed_out: bool,
    /// The first line of stdout — empty for children whose stdout is a secret (`wif token`).
    pub line: String,
    /// The last line of stderr, for error reports.
    pub stderr_tail: String,
}

impl Outcome {
    /// `key=value` from the `ok …` line, as a number.
    pub fn field(&self, key: &str) -> Option<f64> {
        self.line
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
    }

    /// A short account of a failure.
    pub fn failure(&self) -> String {
        if self.timed_out {
            format!("no answer within {:.0?} (killed)", self.wall)
        } else if !self.line.is_empty() {
            self.line.chars().take(160).collect()
        } else {
            self.stderr_tail.chars().take(160).collect()
        }
    }
}

/// A command with nothing of this process's environment but `PATH`, plus `env`.
pub fn command(program: &Path, args: &[&str], env: &[(String, String)]) -> Command {
    let mut command = Command::new(program);
    command.args(args).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    command
}

/// Runs `command` to exit or `deadline`. With `secret_stdout`, stdout is read and dropped.
pub fn run(command: &mut Command, deadline: Duration, secret_stdout: bool) -> Outcome {
    let started = Instant::now();
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            return Outcome {
                wall: started.elapsed(),
                success: false,
                timed_out: false,
                line: String::new(),
                stderr_tail: format!("could not start: {e}"),
            };
        }
    };
    // Pipes are drained on threads so a chatty child never blocks on a full pipe.
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let (success, timed_out) = wait(&mut child, deadline);
    let wall = started.elapsed();
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let line = if secret_stdout {
        String::new()
    } else {
        stdout.lines().next().unwrap_or("").trim().to_owned()
    };
    // `wif token` prints the token and nothing else: success needs a non-empty stdout.
    let success = success && !stdout.trim().is_empty();
    drop(stdout);
    Outcome {
        wall,
        success: success && (secret_stdout || line.starts_with("ok")),
        timed_out,
        line,
        stderr_tail: stderr.lines().last().unwrap_or("").trim().to_owned(),
    }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    })
}

/// Polls for exit every 100 µs (the timing's resolution); kills our child at the deadline.
fn wait(child: &mut Child, deadline: Duration) -> (bool, bool) {
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return (status.success(), false),
            Ok(None) if started.elapsed() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return (false, true);
            }
            Ok(None) => std::thread::sleep(Duration::from_micros(100)),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return (false, false);
            }
        }
    }
}

/// `/usr/bin/time`, if this machine has it (GNU time: `-f %M` is the peak RSS in KiB).
pub fn gnu_time() -> Option<PathBuf> {
    let path = PathBuf::from("/usr/bin/time");
    path.exists().then_some(path)
}

/// Peak RSS in KiB of one run of `program args` under `/usr/bin/time`.
pub fn peak_rss_kib(
    time: &Path,
    program: &Path,
    args: &[&str],
    env: &[(String, String)],
    secret_stdout: bool,
    scratch: &Path,
) -> Result<u64, String> {
    let report = scratch.join("peak-rss.txt");
    let _ = std::fs::remove_file(&report);
    let report_arg = report.to_string_lossy().into_owned();
    let program_arg = program.to_string_lossy().into_owned();
    let mut time_args = vec!["-f", "%M", "-o", report_arg.as_str(), program_arg.as_str()];
    time_args.extend_from_slice(args);
    let outcome = run(
        &mut command(time, &time_args, env),
        Duration::from_secs(60),
        secret_stdout,
    );
    if !outcome.success {
        return Err(format!(
            "run under /usr/bin/time failed: {}",
            outcome.failure()
        ));
    }
    let text = std::fs::read_to_string(&report).map_err(|e| format!("{e}"))?;
    text.lines()
        .rev()
        .find_map(|l| l.trim().parse().ok())
        .ok_or_else(|| format!("unexpected /usr/bin/time output {text:?}"))
}

/// Median, minimum and maximum of repeated measurements.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    /// The median.
    pub median: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// How many.
    pub n: usize,
}

impl Stats {
    /// Of `values` (None when empty).
    pub fn of(values: &[f64]) -> Option<Stats> {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Some(Stats {
            median,
            min: sorted[0],
            max: sorted[n - 1],
            n,
        })
    }
}
