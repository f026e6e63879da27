//! `cargo xtask reference`: proves the emulator speaks the real protocol by letting Google's own
//! Python library, google-auth, obtain tokens from it.
//!
//! 1. builds `wif-emulator`'s `serve` example;
//! 2. creates a venv at `target/reference-venv` and installs [`REQUIREMENTS`] from PyPI (once:
//!    a marker file remembers what is installed);
//! 3. starts the emulator, which writes its credential configurations into
//!    `target/reference-configs` and prints its base URL;
//! 4. runs `xtask/reference/google_auth_token.py`, which loads `file.json`, `url.json`,
//!    `aws-lambda.json` (with `aws-lambda.env`) and `aws-ec2-imdsv2.json` with google-auth,
//!    calls `refresh()`, and checks each token at the emulator's tokeninfo.
//!
//! Every step has a deadline; the emulator is stopped (stdin closed, then killed) on every path.
//! Set `PYTHON` to choose the interpreter that creates the venv (default `python3`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What the venv holds. google-auth is pinned to 2.63.0: 2.62.x starts a background lookup at a
/// real Google host from `before_request()` (not from the `refresh()` we call, but pinning keeps
/// the check reproducible).
pub(crate) const REQUIREMENTS: [&str; 2] = ["google-auth==2.63.0", "requests>=2.31,<3"];

const VENV_TIMEOUT: Duration = Duration::from_secs(120);
const PIP_TIMEOUT: Duration = Duration::from_secs(600);
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(30);
const PYTHON_TIMEOUT: Duration = Duration::from_secs(180);

pub(crate) fn run() -> Result<(), String> {
    let root = crate::repository_root();
    let target = target_dir();
    if !venv_ready() {
        crate::preflight::ensure(
            &mut crate::preflight::Host::from_env(),
            &crate::preflight::FOR_REFERENCE,
        )?;
    }

    crate::cargo(
        &[
            "build",
            "-p",
            "wif-emulator",
            "--example",
            "serve",
            "--locked",
        ],
        // The same build settings as `ci`'s tests, so inside `ci` this reuses their artifacts.
        crate::CI_ENV,
    )?;
    let server_binary = target
        .join("debug")
        .join("examples")
        .join(format!("serve{}", std::env::consts::EXE_SUFFIX));

    let python = prepare_venv(&venv_dir())?;

    let config_dir = target.join("reference-configs");
    if config_dir.exists() {
        std::fs::remove_dir_all(&config_dir)
            .map_err(|e| format!("cannot clear {}: {e}", config_dir.display()))?;
    }
    let server = Server::start(&server_binary, &config_dir)?;

    let script = root
        .join("xtask")
        .join("reference")
        .join("google_auth_token.py");
    let mut command = Command::new(&python);
    command
        .arg(&script)
        .arg(&config_dir)
        .arg(&server.base_url)
        .env("GOOGLE_CLOUD_PROJECT", "wif-demo")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1");
    // The script sets the AWS variables it means to; nothing may leak in from this shell.
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GOOGLE_SDK_EXPERIMENTAL_PYTHON_REGIONAL_ACCESS_BOUNDARY_LOOKUP_ENABLED",
    ] {
        command.env_remove(var);
    }
    let result = run_with_timeout(
        &mut command,
        PYTHON_TIMEOUT,
        "the google-auth reference script",
    );
    server.stop();
    result.map_err(|e| format!("{e}: Python google-auth did not obtain accepted tokens"))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::repository_root().join("target"))
}

/// Where `reference` and `bench` keep their venv.
pub(crate) fn venv_dir() -> PathBuf {
    target_dir().join("reference-venv")
}

fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// Whether the venv of [`venv_dir`] exists with [`REQUIREMENTS`] installed: then no system
/// Python is needed.
pub(crate) fn venv_ready() -> bool {
    has_requirements(&venv_dir())
}

fn has_requirements(venv: &Path) -> bool {
    let marker = venv.join(".wif-reference-requirements");
    venv_python(venv).exists()
        && std::fs::read_to_string(marker).is_ok_and(|have| have == REQUIREMENTS.join("\n"))
}

/// Creates the venv and installs the requirements unless the marker says they are there.
/// Returns the venv's interpreter.
pub(crate) fn prepare_venv(venv: &Path) -> Result<PathBuf, String> {
    let python = venv_python(venv);
    let marker = venv.join(".wif-reference-requirements");
    let wanted = REQUIREMENTS.join("\n");
    if has_requirements(venv) {
        return Ok(python);
    }
    let started = Instant::now();
    if !python.exists() {
        let base = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
        eprintln!("xtask: creating {} with {base}", venv.display());
        run_with_timeout(
            Command::new(&base).args(["-m", "venv"]).arg(venv),
            VENV_TIMEOUT,
            "python -m venv",
        )
        .map_err(|e| {
            format!("{e} (is Python 3 with the venv module installed? set PYTHON to choose one)")
        })?;
    }
    eprintln!("xtask: pip install {}", REQUIREMENTS.join(" "));
    run_with_timeout(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--timeout",
                "60",
            ])
            .args(REQUIREMENTS),
        PIP_TIMEOUT,
        "pip install",
    )
    .map_err(|e| format!("{e} (PyPI must be reachable for the first run)"))?;
    std::fs::write(&marker, wanted)
        .map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    eprintln!("xtask: venv ready in {:.1?}", started.elapsed());
    Ok(python)
}

/// Runs `command` to completion, killing it after `timeout`.
fn run_with_timeout(command: &mut Command, timeout: Duration, what: &str) -> Result<(), String> {
    let mut child = command
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("could not run {what}: {e}"))?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("{what} failed ({status})")),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what} did not finish within {timeout:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("waiting for {what}: {e}"));
            }
        }
    }
}

/// The emulator process. It serves until its stdin closes; dropping this kills it regardless.
struct Server {
    child: Child,
    base_url: String,
}

impl Server {
    fn start(binary: &Path, config_dir: &Path) -> Result<Server, String> {
        let mut child = Command::new(binary)
            .arg(config_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", binary.display()))?;
        let stdout = child.stdout.take();
        // From here on, `server` kills the child on every early return.
        let mut server = Server {
            child,
            base_url: String::new(),
        };
        let stdout = stdout.ok_or("the emulator's stdout was not captured")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(SERVER_START_TIMEOUT).map_err(|_| {
            format!("the emulator did not report its URL within {SERVER_START_TIMEOUT:?}")
        })?;
        server.base_url = line
            .trim()
            .strip_prefix("WIF_EMULATOR_BASE_URL=")
            .ok_or_else(|| format!("unexpected first line from the emulator: {:?}", line.trim()))?
            .to_owned();
        Ok(server)
    }

    /// Closes stdin (a clean stop) and waits briefly; `Drop` kills it if it lingers.
    fn stop(mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
