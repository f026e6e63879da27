//! The set-up decisions against a fake machine, and the PATH lookup against directories the
//! tests create.

use super::*;
use std::collections::{BTreeMap, BTreeSet};

/// A machine with the programs and commands a test gives it. Installers "work" by adding what
/// the real package or crate would provide.
#[derive(Default)]
struct FakeMachine {
    vars: BTreeMap<String, String>,
    programs: BTreeSet<String>,
    /// Commands that succeed, as `program arg arg…`.
    working: BTreeSet<String>,
    root_with_apt: bool,
    /// Every installer run, as `program arg arg…`.
    installs: Vec<String>,
    /// Whether installers fail.
    broken_installers: bool,
    /// Whether installers succeed without providing anything.
    hollow_installers: bool,
}

impl FakeMachine {
    /// A machine with everything `ci` needs except what `without` names.
    /// Sets the environment variable `name` the tools see.
    fn set_var(&mut self, name: &str, value: &str) {
        self.vars.insert(name.to_owned(), value.to_owned());
    }

    fn complete_except(without: &[Tool]) -> FakeMachine {
        let mut machine = FakeMachine::default();
        for tool in FOR_CI {
            if !without.contains(&tool) {
                machine.provide(tool);
            }
        }
        machine
    }

    fn provide(&mut self, tool: Tool) {
        match tool {
            Tool::Rustfmt => {
                self.working.insert("cargo fmt --version".to_owned());
            }
            Tool::Clippy => {
                self.working.insert("cargo clippy --version".to_owned());
            }
            Tool::CCompiler => {
                self.programs.insert("cc".to_owned());
            }
            Tool::CxxCompiler => {
                self.programs.insert("c++".to_owned());
            }
            Tool::PythonVenv => {
                self.working
                    .insert("python3 -c import venv, ensurepip".to_owned());
            }
            Tool::CargoFuzz => {
                self.working.insert("cargo fuzz --version".to_owned());
            }
        }
    }
}

impl Machine for FakeMachine {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    fn has_program(&self, program: &str) -> bool {
        self.programs.contains(program)
    }

    fn succeeds(&self, program: &str, args: &[&str]) -> bool {
        self.working
            .contains(&format!("{program} {}", args.join(" ")))
    }

    fn can_apt(&self) -> bool {
        self.root_with_apt
    }

    fn install(
        &mut self,
        program: &str,
        args: &[&str],
        _envs: &[(&str, &str)],
    ) -> Result<(), String> {
        let command = format!("{program} {}", args.join(" "));
        self.installs.push(command.clone());
        if self.broken_installers {
            return Err(format!("`{command}` failed"));
        }
        if self.hollow_installers {
            return Ok(());
        }
        if program == "apt-get" && args.first() == Some(&"install") {
            for package in &args[1..] {
                match *package {
                    "gcc" => self.provide(Tool::CCompiler),
                    "g++" => self.provide(Tool::CxxCompiler),
                    "python3-venv" => self.provide(Tool::PythonVenv),
                    _ => {}
                }
            }
        }
        if args
            == [
                "install",
                "--locked",
                "--version",
                CARGO_FUZZ_VERSION,
                "cargo-fuzz",
            ]
        {
            self.working.insert(format!("{program} fuzz --version"));
        }
        Ok(())
    }
}

const CARGO_FUZZ_INSTALL: &str = "cargo install --locked --version 0.13.2 cargo-fuzz";

#[test]
fn a_complete_machine_installs_nothing() {
    let mut machine = FakeMachine::complete_except(&[]);
    assert_eq!(ensure(&mut machine, &FOR_CI), Ok(()));
    assert!(machine.installs.is_empty(), "{:?}", machine.installs);
}

/// The newcomer's case of issue 14: everything but cargo-fuzz. `ci` used to stop minutes in,
/// at the fuzz step, with "cargo-fuzz is not installed".
#[test]
fn missing_cargo_fuzz_is_installed_at_the_pinned_version() {
    let mut machine = FakeMachine::complete_except(&[Tool::CargoFuzz]);
    assert_eq!(ensure(&mut machine, &FOR_CI), Ok(()));
    assert_eq!(machine.installs, [CARGO_FUZZ_INSTALL]);

    // The fuzz task alone sets itself up the same way.
    let mut machine = FakeMachine::complete_except(&[Tool::CargoFuzz]);
    assert_eq!(ensure(&mut machine, &FOR_FUZZ), Ok(()));
    assert_eq!(machine.installs, [CARGO_FUZZ_INSTALL]);
}

#[test]
fn cargo_fuzz_is_installed_with_the_cargo_that_runs_xtask() {
    let mut machine = FakeMachine::complete_except(&[Tool::CargoFuzz]);
    machine.set_var("CARGO", "/opt/rust/bin/cargo");
    assert_eq!(ensure(&mut machine, &[Tool::CargoFuzz]), Ok(()));
    assert_eq!(
        machine.installs,
        ["/opt/rust/bin/cargo install --locked --version 0.13.2 cargo-fuzz"]
    );
}

#[test]
fn an_install_cargo_cannot_find_afterwards_is_an_error_naming_the_bin_directory() {
    let mut machine = FakeMachine::complete_except(&[Tool::CargoFuzz]);
    machine.set_var("CARGO_INSTALL_ROOT", "/scratch");
    machine.hollow_installers = true;
    let error = ensure(&mut machine, &FOR_FUZZ).expect_err("cargo fuzz still fails");
    assert!(error.contains("still does not run"), "{error}");
    assert!(error.contains("/scratch/bin"), "{error}");
}

#[test]
fn as_root_with_apt_the_system_tools_are_installed_first_then_cargo_fuzz() {
    let mut machine = FakeMachine::complete_except(&[
        Tool::CCompiler,
        Tool::CxxCompiler,
        Tool::PythonVenv,
        Tool::CargoFuzz,
    ]);
    machine.root_with_apt = true;
    machine.programs.insert("apt-get".to_owned());
    assert_eq!(ensure(&mut machine, &FOR_CI), Ok(()));
    assert_eq!(
        machine.installs,
        [
            "apt-get update -qq",
            "apt-get install -y -qq gcc libc6-dev g++ python3 python3-venv",
            CARGO_FUZZ_INSTALL,
        ]
    );
}

#[test]
fn without_root_the_error_names_each_tool_and_the_command_before_any_build() {
    let mut machine =
        FakeMachine::complete_except(&[Tool::CxxCompiler, Tool::PythonVenv, Tool::CargoFuzz]);
    machine.programs.insert("apt-get".to_owned());
    let error = ensure(&mut machine, &FOR_CI).expect_err("nothing can be installed");
    assert!(
        error.contains("a C++ compiler (`c++`, or set CXX)"),
        "{error}"
    );
    assert!(
        error.contains("python3 with the venv and ensurepip"),
        "{error}"
    );
    assert!(
        error.contains("sudo apt-get install -y g++ python3 python3-venv"),
        "{error}"
    );
    // cargo-fuzz would need the C++ compiler's build to be worth starting: nothing ran.
    assert!(machine.installs.is_empty(), "{:?}", machine.installs);
}

#[test]
fn without_apt_the_error_says_what_to_install_elsewhere() {
    let mut machine = FakeMachine::complete_except(&[Tool::CCompiler]);
    let error = ensure(&mut machine, &FOR_CI).expect_err("no apt-get");
    assert!(error.contains("a C compiler and linker"), "{error}");
    assert!(error.contains("dnf install gcc"), "{error}");
    assert!(!error.contains("on this machine:"), "{error}");
    assert!(machine.installs.is_empty());
}

#[test]
fn toolchain_components_are_named_with_rustup() {
    let mut machine = FakeMachine::complete_except(&[Tool::Rustfmt, Tool::Clippy]);
    machine.root_with_apt = true;
    let error = ensure(&mut machine, &FOR_CI).expect_err("rustup components are not apt's");
    assert!(error.contains("rustup component add rustfmt"), "{error}");
    assert!(error.contains("rustup component add clippy"), "{error}");
    assert!(machine.installs.is_empty(), "{:?}", machine.installs);
}

#[test]
fn a_failed_install_stops_with_its_command() {
    let mut machine = FakeMachine::complete_except(&[Tool::PythonVenv]);
    machine.root_with_apt = true;
    machine.broken_installers = true;
    let error = ensure(&mut machine, &FOR_CI).expect_err("apt-get fails");
    assert!(error.contains("apt-get update"), "{error}");
}

#[test]
fn compiler_variables_name_the_compiler_checked() {
    // CXX="ccache clang++": the first word must exist, not `c++`.
    let mut machine = FakeMachine::complete_except(&[Tool::CxxCompiler]);
    machine.set_var("CXX", "ccache clang++");
    machine.programs.insert("ccache".to_owned());
    assert_eq!(ensure(&mut machine, &[Tool::CxxCompiler]), Ok(()));

    // CC names a compiler that isn't there: missing, although `cc` links.
    let mut machine = FakeMachine::complete_except(&[]);
    machine.set_var("CC", "clang");
    assert!(ensure(&mut machine, &[Tool::CCompiler]).is_err());
}

#[test]
fn python_variable_names_the_interpreter_checked() {
    let mut machine = FakeMachine::complete_except(&[]);
    machine.set_var("PYTHON", "python3.12");
    assert!(ensure(&mut machine, &[Tool::PythonVenv]).is_err());
    machine
        .working
        .insert("python3.12 -c import venv, ensurepip".to_owned());
    assert_eq!(ensure(&mut machine, &[Tool::PythonVenv]), Ok(()));
}

#[test]
fn cargo_installs_into_its_install_root_then_home() {
    let mut machine = FakeMachine::default();
    machine.set_var("HOME", "/home/u");
    assert_eq!(cargo_bin_dir(&machine), Path::new("/home/u/.cargo/bin"));
    machine.set_var("CARGO_HOME", "/opt/cargo");
    assert_eq!(cargo_bin_dir(&machine), Path::new("/opt/cargo/bin"));
    machine.set_var("CARGO_INSTALL_ROOT", "/scratch");
    assert_eq!(cargo_bin_dir(&machine), Path::new("/scratch/bin"));
}

/// A directory of its own under the system temp directory, removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(name: &str) -> ScratchDir {
        let dir =
            std::env::temp_dir().join(format!("xtask-preflight-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        ScratchDir(dir)
    }

    #[cfg(unix)]
    fn script(&self, name: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.0.join(name);
        std::fs::write(&path, "#!/bin/sh\nexit 0\n").expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .expect("chmod script");
        path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(unix)]
#[test]
fn programs_are_found_only_as_executables_on_the_given_path() {
    let first = ScratchDir::new("first");
    let second = ScratchDir::new("second");
    first.script("c++", 0o644); // not executable: skipped
    let cxx = second.script("c++", 0o755);
    let path = std::env::join_paths([&first.0, &second.0]).expect("join");

    assert_eq!(find_program("c++", &path), Some(cxx.clone()));
    assert_eq!(find_program("cc", &path), None);
    assert_eq!(find_program("c++", OsStr::new("")), None);
    assert_eq!(
        find_program(cxx.to_str().expect("utf-8"), OsStr::new("")),
        Some(cxx)
    );

    // The host machine answers through that PATH, so a bare machine is one a test can build.
    let host = Host::with_path(path);
    assert!(host.has_program("c++"));
    assert!(!host.has_program("cc"));
    let bare = Host::with_path(first.0.clone().into_os_string());
    assert!(!Tool::CxxCompiler.is_present(&bare));
    let error = missing_report(&bare, &[Tool::CxxCompiler]);
    assert!(error.contains("apt-get install g++"), "{error}");
}

#[cfg(unix)]
#[test]
fn host_path_gets_cargos_install_directory() {
    let dir = ScratchDir::new("root");
    let host = Host::with_path(std::env::join_paths([&dir.0]).expect("join"));
    let bin = Path::new("/scratch/install-root/bin");
    let path = host.path_with(bin);
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    assert_eq!(dirs, [dir.0.clone(), bin.to_path_buf()]);
    // Added once.
    let again = Host::with_path(path.clone()).path_with(bin);
    assert_eq!(again, path);
}
