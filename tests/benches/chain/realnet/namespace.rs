//! A private network for the real-network run: the bench runs itself again inside new network
//! and mount namespaces (`unshare`), where
//!
//! * the only interface is a loopback of its own, carrying `127.0.0.0/8` and the metadata
//!   service's real address, `169.254.169.254`; nothing outside the machine is reachable at all,
//!   and no other program's ports are in the way;
//! * `/etc/resolv.conf`, `/etc/hosts` and `/etc/nsswitch.conf` are bind-mounted over with the
//!   bench's own (name service: files, then DNS at the bench's resolver), visible to this process
//!   and its children only — the machine's files are never written.
//!
//! So every client resolves `sts.googleapis.com` the way it would in production, through the
//! system resolver, and the bench sees each lookup. Needs `unshare`, `mount` and `ip` (util-linux,
//! iproute2) and either root or unprivileged user namespaces.

use std::path::Path;
use std::process::{Command, ExitCode};

/// Set in the environment of the run inside the namespaces.
const INSIDE: &str = "WIF_BENCH_PRIVATE_NETWORK";

/// The resolver's address inside the namespace.
pub const RESOLVER: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 53);

/// The instance metadata service's address (the loopback of the namespace carries it).
pub const METADATA: std::net::Ipv4Addr = std::net::Ipv4Addr::new(169, 254, 169, 254);

/// Whether this process is the run inside the namespaces.
pub fn inside() -> bool {
    std::env::var_os(INSIDE).is_some()
}

/// Runs this bench again, with the same arguments, inside new network and mount namespaces;
/// its exit status.
pub fn run_inside() -> Result<ExitCode, String> {
    let exe = std::env::current_exe().map_err(|e| format!("the bench's own path: {e}"))?;
    let mut command = Command::new("unshare");
    command.args(["--net", "--mount", "--propagation", "private"]);
    if !is_root() {
        command.arg("--map-root-user");
    }
    command
        .arg("--")
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env(INSIDE, "1");
    let status = command
        .status()
        .map_err(|e| format!("could not run `unshare` (util-linux): {e}"))?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Inside the namespaces: brings the loopback up with the metadata address and points name
/// service at the resolver, with files written into `dir`.
pub fn set_up(dir: &Path) -> Result<(), String> {
    run("ip", &["link", "set", "lo", "up"])?;
    run(
        "ip",
        &["addr", "add", &format!("{METADATA}/32"), "dev", "lo"],
    )?;
    let files = [
        (
            "resolv.conf",
            format!("nameserver {RESOLVER}\noptions timeout:2 attempts:1\n"),
        ),
        ("hosts", "127.0.0.1 localhost\n::1 localhost\n".to_owned()),
        ("nsswitch.conf", "hosts: files dns\n".to_owned()),
    ];
    for (name, text) in files {
        let ours = dir.join(name);
        std::fs::write(&ours, text).map_err(|e| format!("{}: {e}", ours.display()))?;
        run(
            "mount",
            &["--bind", &ours.to_string_lossy(), &format!("/etc/{name}")],
        )?;
    }
    // The proof that nothing else is reachable: this namespace has no other interface.
    let interfaces = std::fs::read_to_string("/proc/net/dev").unwrap_or_default();
    let others: Vec<&str> = interfaces
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next().map(str::trim))
        .filter(|name| *name != "lo")
        .collect();
    if others.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the private network has other interfaces: {others:?}"
        ))
    }
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("could not run `{program}`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
