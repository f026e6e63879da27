//! Ctrl-C (SIGINT) or SIGTERM to `wif` while an executable source runs: `wif` stops the command
//! and everything it started (it runs in a process group of its own, so the terminal's Ctrl-C
//! does not reach it), then exits with 128 + the signal.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use support::*;

/// True once `pid` has exited (gone, or a zombie awaiting its reaper).
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

/// Polls `what` until it holds, for at most [`CHILD_TIMEOUT`].
fn eventually(what: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + CHILD_TIMEOUT;
    while Instant::now() < deadline {
        if what() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A wrapper script that starts `sleep 100` in the background, records both pids and waits.
fn wrapper(world: &World) -> (PathBuf, PathBuf) {
    let pids = world.dir.path().join("pids");
    let script = format!(
        "#!/bin/sh\nsleep 100 &\necho \"$$ $!\" > '{0}.tmp'\nmv '{0}.tmp' '{0}'\nwait\n",
        pids.display()
    );
    (world.executable("slow-tool", &script), pids)
}

fn read_pids(pids: &Path) -> Vec<u32> {
    assert!(eventually(|| pids.exists()), "the executable never started");
    std::fs::read_to_string(pids)
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

#[test]
fn a_signal_to_wif_stops_the_executable_and_its_children() {
    for (signal, status) in [("INT", 130), ("TERM", 143)] {
        let world = World::new();
        let (tool, pids) = wrapper(&world);
        let config = json!({
            "type": "external_account",
            "audience": wif::testing::FAKE_AUDIENCE,
            "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
            "token_url": world.google.token_url(),
            "credential_source": {"executable": {
                "command": tool.display().to_string(),
                "timeout_millis": 120000,
            }},
        });
        let config = world.write_config("exec.json", &config.to_string());
        let mut command = wif_command(&world.home());
        command
            .args(["token", "--credentials", path_str(&config)])
            .env("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut wif = ChildGuard(command.spawn().unwrap());
        let started = read_pids(&pids);

        let sent = std::process::Command::new("sh")
            .args(["-c", &format!("kill -{signal} {}", wif.child().id())])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal}");
        let exit = wif
            .wait_within(CHILD_TIMEOUT)
            .unwrap_or_else(|| panic!("wif kept running after SIG{signal}"));
        for pid in started {
            assert!(
                eventually(|| exited(pid)),
                "pid {pid} (the executable or its `sleep`) outlived wif's SIG{signal}"
            );
        }
        assert_eq!(exit.code(), Some(status), "SIG{signal}: {exit:?}");
        let mut stderr = String::new();
        std::io::Read::read_to_string(wif.child().stderr.as_mut().unwrap(), &mut stderr).unwrap();
        assert!(
            stderr.contains(&format!("stopped by SIG{signal}")),
            "{stderr}"
        );
    }
}
