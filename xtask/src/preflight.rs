//! Set-up before the long steps: every tool `cargo xtask ci` (or `fuzz`, or `reference`) runs is
//! checked first, and installed when xtask can do so itself, so a bare machine either gets
//! through the whole run or stops within seconds saying exactly what to install, never after
//! minutes of building.
//!
//! * cargo-fuzz: `cargo install --locked --version 0.13.2 cargo-fuzz` (the pinned release)
//!   into cargo's usual bin directory, so later runs find it.
//! * A C compiler and linker (`cc`: rustc links with it, ring compiles its C and assembly with
//!   it), a C++ compiler (`c++`: libfuzzer-sys compiles libFuzzer), python3 with the `venv` and
//!   `ensurepip` modules (the google-auth venv of `cargo xtask reference`): installed with
//!   apt-get when xtask runs as root on a machine that has it; otherwise named, with the command
//!   that installs them.
//! * rustfmt and clippy come with the Rust toolchain; a toolchain without them is named with the
//!   `rustup component add` that completes it.
//!
//! Everything xtask asks of the machine goes through [`Machine`], so the decisions are tested
//! with a fake machine and the PATH lookup with a PATH of the test's choosing.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The cargo-fuzz release the fuzz targets are run with.
pub(crate) const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// A tool a step of `ci` runs, beyond cargo and rustc themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tool {
    /// `cargo fmt`, for the format check.
    Rustfmt,
    /// `cargo clippy`, for the lints.
    Clippy,
    /// `cc` (or `$CC`): rustc's linker on Linux, and ring's C compiler.
    CCompiler,
    /// `c++` (or `$CXX`): libfuzzer-sys builds libFuzzer with it.
    CxxCompiler,
    /// python3 (or `$PYTHON`) with the `venv` and `ensurepip` modules, which create the
    /// google-auth venv of `cargo xtask reference`.
    PythonVenv,
    /// `cargo fuzz`, which builds and runs the fuzz targets.
    CargoFuzz,
}

/// What `cargo xtask ci` needs, in the order it is checked.
pub(crate) const FOR_CI: [Tool; 6] = [
    Tool::Rustfmt,
    Tool::Clippy,
    Tool::CCompiler,
    Tool::CxxCompiler,
    Tool::PythonVenv,
    Tool::CargoFuzz,
];

/// What `cargo xtask fuzz` needs.
pub(crate) const FOR_FUZZ: [Tool; 3] = [Tool::CCompiler, Tool::CxxCompiler, Tool::CargoFuzz];

/// What `cargo xtask reference` needs.
pub(crate) const FOR_REFERENCE: [Tool; 2] = [Tool::CCompiler, Tool::PythonVenv];

/// What xtask asks of the machine it runs on.
pub(crate) trait Machine {
    /// The value of an environment variable, if set and not empty.
    fn var(&self, name: &str) -> Option<String>;
    /// Whether `program` (a bare name looked up on PATH, or a path) is an executable file.
    fn has_program(&self, program: &str) -> bool;
    /// Whether `program args…` runs and exits with success (its output is discarded).
    fn succeeds(&self, program: &str, args: &[&str]) -> bool;
    /// Whether this process may install system packages itself: root, with apt-get.
    fn can_apt(&self) -> bool;
    /// Runs an installer to completion, its output shown.
    fn install(
        &mut self,
        program: &str,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Result<(), String>;
}

impl Tool {
    /// How the tool is named in messages.
    fn name(self) -> &'static str {
        match self {
            Tool::Rustfmt => "rustfmt (cargo fmt)",
            Tool::Clippy => "clippy (cargo clippy)",
            Tool::CCompiler => "a C compiler and linker (`cc`, or set CC)",
            Tool::CxxCompiler => "a C++ compiler (`c++`, or set CXX)",
            Tool::PythonVenv => {
                "python3 with the venv and ensurepip modules (or set PYTHON to one that has them)"
            }
            Tool::CargoFuzz => "cargo-fuzz",
        }
    }

    fn is_present(self, machine: &dyn Machine) -> bool {
        let cargo = cargo_program(machine);
        match self {
            Tool::Rustfmt => machine.succeeds(&cargo, &["fmt", "--version"]),
            Tool::Clippy => machine.succeeds(&cargo, &["clippy", "--version"]),
            // rustc links with `cc` whatever CC says; CC, when set, compiles ring's C.
            Tool::CCompiler => {
                machine.has_program("cc")
                    && compiler_from(machine, "CC").is_none_or(|cc| machine.has_program(&cc))
            }
            Tool::CxxCompiler => machine
                .has_program(&compiler_from(machine, "CXX").unwrap_or_else(|| "c++".to_owned())),
            Tool::PythonVenv => {
                machine.succeeds(&python_program(machine), &["-c", "import venv, ensurepip"])
            }
            Tool::CargoFuzz => machine.succeeds(&cargo, &["fuzz", "--version"]),
        }
    }

    /// The Debian/Ubuntu packages that provide the tool, if it is a system package.
    fn apt_packages(self) -> &'static [&'static str] {
        match self {
            Tool::CCompiler => &["gcc", "libc6-dev"],
            Tool::CxxCompiler => &["g++"],
            Tool::PythonVenv => &["python3", "python3-venv"],
            Tool::Rustfmt | Tool::Clippy | Tool::CargoFuzz => &[],
        }
    }

    /// How to install the tool by hand, beyond apt-get.
    fn manual_install(self) -> &'static str {
        match self {
            Tool::Rustfmt => "`rustup component add rustfmt`",
            Tool::Clippy => "`rustup component add clippy`",
            Tool::CCompiler => {
                "Debian/Ubuntu: `apt-get install gcc libc6-dev`; Fedora: `dnf install gcc`; macOS: `xcode-select --install`"
            }
            Tool::CxxCompiler => {
                "Debian/Ubuntu: `apt-get install g++`; Fedora: `dnf install gcc-c++`; macOS: `xcode-select --install`"
            }
            Tool::PythonVenv => {
                "Debian/Ubuntu: `apt-get install python3 python3-venv`; Fedora: `dnf install python3`; or any Python ≥ 3.9 from python.org"
            }
            Tool::CargoFuzz => "`cargo install --locked --version 0.13.2 cargo-fuzz`",
        }
    }
}

/// Makes sure every one of `tools` is there: installs what is missing where xtask can (system
/// packages with apt-get as root, cargo-fuzz with `cargo install`), and otherwise fails before
/// any long step, naming each missing tool and how to install it.
pub(crate) fn ensure(machine: &mut dyn Machine, tools: &[Tool]) -> Result<(), String> {
    let missing: Vec<Tool> = tools
        .iter()
        .copied()
        .filter(|tool| !tool.is_present(machine))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!(
        "xtask: missing on this machine: {}",
        missing
            .iter()
            .map(|t| t.name())
            .collect::<Vec<_>>()
            .join("; ")
    );

    let packages = apt_packages(&missing);
    if !packages.is_empty() && machine.can_apt() {
        let env = [("DEBIAN_FRONTEND", "noninteractive")];
        machine.install("apt-get", &["update", "-qq"], &env)?;
        let mut args = vec!["install", "-y", "-qq"];
        args.extend(&packages);
        machine.install("apt-get", &args, &env)?;
    }
    // cargo-fuzz is compiled, so it waits for the compilers; the rest is reported together.
    let system_missing: Vec<Tool> = missing
        .iter()
        .copied()
        .filter(|t| *t != Tool::CargoFuzz && !t.is_present(machine))
        .collect();
    if !system_missing.is_empty() {
        return Err(missing_report(machine, &system_missing));
    }
    if missing.contains(&Tool::CargoFuzz) {
        let cargo = cargo_program(machine);
        eprintln!("xtask: installing cargo-fuzz {CARGO_FUZZ_VERSION} (about two minutes, once)");
        machine.install(
            &cargo,
            &[
                "install",
                "--locked",
                "--version",
                CARGO_FUZZ_VERSION,
                "cargo-fuzz",
            ],
            &[],
        )?;
        if !Tool::CargoFuzz.is_present(machine) {
            return Err(format!(
                "cargo-fuzz was installed but `cargo fuzz` still does not run; is cargo's bin directory ({}) on PATH?",
                cargo_bin_dir(machine).display()
            ));
        }
    }
    Ok(())
}

/// Prints the first line of each tool's `--version`, for the CI log.
pub(crate) fn print_versions(host: &Host) {
    let cargo = cargo_program(host);
    let cxx = compiler_from(host, "CXX").unwrap_or_else(|| "c++".to_owned());
    let python = python_program(host);
    for (program, args) in [
        (cargo.as_str(), &["--version"][..]),
        (cargo.as_str(), &["fmt", "--version"][..]),
        (cargo.as_str(), &["clippy", "--version"][..]),
        (cargo.as_str(), &["fuzz", "--version"][..]),
        (cxx.as_str(), &["--version"][..]),
        (python.as_str(), &["--version"][..]),
    ] {
        let line = Command::new(program)
            .args(args)
            .env("PATH", &host.path)
            .stdin(Stdio::null())
            .output()
            .ok()
            .and_then(|o| {
                let text = String::from_utf8_lossy(&o.stdout).into_owned();
                text.lines().next().map(str::to_owned)
            })
            .unwrap_or_else(|| format!("{program}: no version"));
        eprintln!("xtask: {line}");
    }
}

/// The apt packages that provide `missing`, each once, in order.
fn apt_packages(missing: &[Tool]) -> Vec<&'static str> {
    let mut packages = Vec::new();
    for package in missing.iter().flat_map(|t| t.apt_packages()) {
        if !packages.contains(package) {
            packages.push(*package);
        }
    }
    packages
}

/// The error for tools xtask could not install: each one and how to install it, then one
/// apt-get line for all of them where that applies.
fn missing_report(machine: &dyn Machine, missing: &[Tool]) -> String {
    let mut report = String::from("this machine lacks what the next steps run; install:");
    for tool in missing {
        report.push_str(&format!(
            "\n  - {} ({})",
            tool.name(),
            tool.manual_install()
        ));
    }
    let packages = apt_packages(missing);
    if !packages.is_empty() && machine.has_program("apt-get") {
        let sudo = if machine.can_apt() { "" } else { "sudo " };
        report.push_str(&format!(
            "\non this machine: {sudo}apt-get install -y {}",
            packages.join(" ")
        ));
    }
    report.push_str("\nthen run the command again.");
    report
}

/// The cargo xtask runs under (cargo sets CARGO for `cargo run`).
fn cargo_program(machine: &dyn Machine) -> String {
    machine.var("CARGO").unwrap_or_else(|| "cargo".to_owned())
}

fn python_program(machine: &dyn Machine) -> String {
    machine
        .var("PYTHON")
        .unwrap_or_else(|| "python3".to_owned())
}

/// The program of a compiler variable such as `CC="ccache gcc"` (the first word is what runs).
fn compiler_from(machine: &dyn Machine, var: &str) -> Option<String> {
    machine
        .var(var)?
        .split_whitespace()
        .next()
        .map(str::to_owned)
}

/// Where `cargo install` puts binaries by default: `$CARGO_INSTALL_ROOT/bin`, else
/// `$CARGO_HOME/bin`, else `~/.cargo/bin`.
pub(crate) fn cargo_bin_dir(machine: &dyn Machine) -> PathBuf {
    if let Some(root) = machine.var("CARGO_INSTALL_ROOT") {
        return Path::new(&root).join("bin");
    }
    let home = machine
        .var("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| machine.var("HOME").map(|h| Path::new(&h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"));
    home.join("bin")
}

/// The machine xtask runs on, with the PATH it searches (the process's, or a test's).
pub(crate) struct Host {
    path: OsString,
}

impl Host {
    /// This process's machine and PATH, with cargo's install directory added at the end: cargo
    /// finds subcommands in `$CARGO_HOME/bin` whatever PATH says, but an install root set with
    /// CARGO_INSTALL_ROOT is found only through PATH.
    pub(crate) fn from_env() -> Host {
        let mut host = Host {
            path: std::env::var_os("PATH").unwrap_or_default(),
        };
        host.path = host.path_with(&cargo_bin_dir(&host));
        host
    }

    /// A machine whose PATH is `path`.
    #[cfg(test)]
    fn with_path(path: OsString) -> Host {
        Host { path }
    }

    /// The PATH that child processes get: ours, which includes cargo's install directory.
    pub(crate) fn path(&self) -> &OsStr {
        &self.path
    }

    fn path_with(&self, dir: &Path) -> OsString {
        let mut dirs: Vec<PathBuf> = std::env::split_paths(&self.path).collect();
        if !dirs.iter().any(|d| d == dir) {
            dirs.push(dir.to_path_buf());
        }
        std::env::join_paths(dirs).unwrap_or_else(|_| self.path.clone())
    }
}

impl Machine for Host {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }

    fn has_program(&self, program: &str) -> bool {
        find_program(program, &self.path).is_some()
    }

    fn succeeds(&self, program: &str, args: &[&str]) -> bool {
        Command::new(program)
            .args(args)
            .env("PATH", &self.path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn can_apt(&self) -> bool {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.status.success() && o.stdout.trim_ascii() == b"0");
        root && self.has_program("apt-get")
    }

    fn install(
        &mut self,
        program: &str,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Result<(), String> {
        let shown = format!("{program} {}", args.join(" "));
        eprintln!("xtask: {shown}");
        let status = Command::new(program)
            .args(args)
            .envs(envs.iter().copied())
            .env("PATH", &self.path)
            .stdin(Stdio::null())
            .status()
            .map_err(|e| format!("could not run `{shown}`: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("`{shown}` failed ({status})"))
        }
    }
}

/// The executable file `program` names: a path as given, a bare name in the first directory of
/// `path` that has it.
pub(crate) fn find_program(program: &str, path: &OsStr) -> Option<PathBuf> {
    if program.contains(std::path::MAIN_SEPARATOR) {
        let candidate = PathBuf::from(program);
        return is_executable(&candidate).then_some(candidate);
    }
    std::env::split_paths(path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
        || std::fs::metadata(path.with_extension("exe")).is_ok_and(|m| m.is_file())
}

#[cfg(test)]
mod tests;
