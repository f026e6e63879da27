//! `cargo xtask bench`: measures wif against its peers and writes `docs/benchmarks.md`.
//!
//! 1. builds the release `wif` CLI and Lambda example, and the google-cloud-auth peers
//!    (`xtask/peers/gcauth-bench`, its own workspace, into `target/peers`: the bench binary and
//!    `gcauth-lambda`, the Lambda example's shape);
//! 2. prepares the Python venv of `cargo xtask reference` (google-auth from PyPI, once);
//! 3. runs criterion on the cached token (`tests/benches/cached_token.rs`);
//! 4. runs the chain bench (`tests/benches/chain/`), which starts one emulator and measures wif
//!    and both peers against it: cold chain, round trips, connections, cached token, thundering
//!    herd, peer behaviours under faults, footprint;
//! 5. runs the chain bench's real-network mode (`--realnet`, `tests/benches/chain/realnet/`):
//!    the same clients over HTTPS to the production host names, with DNS, at round trips of 20
//!    and 100 ms, in a private network namespace;
//! 6. runs the emulator at scale (`tests/benches/emulator_scale.rs`: 1 million BigQuery rows,
//!    1 GiB of objects);
//! 7. writes `docs/benchmarks.md`: machine facts, date, commit, how to reproduce, then the
//!    chain bench's report (which includes criterion's results and the targets), the
//!    real-network section, then the emulator's.
//!
//! Never part of `cargo xtask ci` (CI only compiles the benches). `--runs N` sets the cold-start
//! repetitions (default 10).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Short criterion runs: the cached token is a sub-microsecond call, 3 s is plenty.
const CRITERION_ARGS: [&str; 4] = ["--warm-up-time", "1", "--measurement-time", "3"];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let runs = match args {
        [] => 10,
        [flag, n] if flag == "--runs" => n
            .parse::<usize>()
            .map_err(|_| format!("--runs needs a number, not {n:?}"))?,
        _ => return Err("usage: cargo xtask bench [--runs N]".to_owned()),
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("xtask has no parent directory")?
        .to_path_buf();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let exe = |dir: &Path, name: &str| dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));

    crate::cargo(
        &[
            "build",
            "--release",
            "--locked",
            "-p",
            "wif-cli",
            "-p",
            "wif-example-aws-lambda",
        ],
        &[],
    )?;
    let peer_manifest = root.join("xtask/peers/gcauth-bench/Cargo.toml");
    let peer_target = target.join("peers");
    // Twice, as wif is: the release profile (size-optimized, like the `wif` binary) for whole
    // processes and footprint, and `inprocess` (O3, like wif's bench profile) for the library
    // measured inside a process (cached token, thundering herd; the bench binary only).
    for (profile, only) in [("release", None), ("inprocess", Some("gcauth-bench"))] {
        let mut args = vec![
            "build".to_owned(),
            "--profile".to_owned(),
            profile.to_owned(),
            "--locked".to_owned(),
            "--manifest-path".to_owned(),
            peer_manifest.to_string_lossy().into_owned(),
            "--target-dir".to_owned(),
            peer_target.to_string_lossy().into_owned(),
        ];
        if let Some(bin) = only {
            args.extend(["--bin".to_owned(), bin.to_owned()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        crate::cargo(&args, &[])?;
    }
    let python = crate::reference::prepare_venv(&target.join("reference-venv"))?;

    // Criterion keeps old results next to new ones; only this run's may reach the document.
    let criterion_dir = target.join("criterion");
    if criterion_dir.exists() {
        std::fs::remove_dir_all(&criterion_dir)
            .map_err(|e| format!("cannot clear {}: {e}", criterion_dir.display()))?;
    }
    let mut criterion = vec![
        "bench",
        "--locked",
        "-p",
        "wif-tests",
        "--bench",
        "cached_token",
        "--",
    ];
    criterion.extend(CRITERION_ARGS);
    crate::cargo(&criterion, &[])?;

    let bench_dir = target.join("bench");
    std::fs::create_dir_all(&bench_dir)
        .map_err(|e| format!("cannot create {}: {e}", bench_dir.display()))?;
    let chain_out = bench_dir.join("chain.md");
    let release = target.join("release");
    let paths = [
        ("--wif-cli", exe(&release, "wif")),
        ("--lambda", exe(&release, "wif-example-aws-lambda")),
        (
            "--gcauth",
            exe(&peer_target.join("release"), "gcauth-bench"),
        ),
        (
            "--gcauth-inprocess",
            exe(&peer_target.join("inprocess"), "gcauth-bench"),
        ),
        (
            "--gcauth-lambda",
            exe(&peer_target.join("release"), "gcauth-lambda"),
        ),
        ("--python", python.clone()),
        ("--script", root.join("xtask/peers/google_auth_bench.py")),
        ("--criterion", criterion_dir.clone()),
        ("--out", chain_out.clone()),
    ];
    let paths: Vec<(&str, String)> = paths
        .iter()
        .map(|(flag, path)| (*flag, path.to_string_lossy().into_owned()))
        .collect();
    let runs_arg = runs.to_string();
    let mut chain = vec![
        "bench",
        "--locked",
        "-p",
        "wif-tests",
        "--bench",
        "chain",
        "--",
    ];
    for (flag, path) in &paths {
        chain.push(flag);
        chain.push(path);
    }
    chain.extend(["--runs", &runs_arg]);
    crate::cargo(&chain, &[])?;
    let chain_md = std::fs::read_to_string(&chain_out)
        .map_err(|e| format!("cannot read {}: {e}", chain_out.display()))?;

    let realnet_out = bench_dir.join("realnet.md");
    let realnet_arg = realnet_out.to_string_lossy().into_owned();
    let mut realnet = chain.clone();
    if let Some(out) = realnet.iter().position(|a| *a == "--out") {
        realnet[out + 1] = &realnet_arg;
    }
    realnet.push("--realnet");
    crate::cargo(&realnet, &[])?;
    let realnet_md = std::fs::read_to_string(&realnet_out)
        .map_err(|e| format!("cannot read {}: {e}", realnet_out.display()))?;

    let scale_out = bench_dir.join("emulator_scale.md");
    crate::cargo(
        &[
            "bench",
            "--locked",
            "-p",
            "wif-tests",
            "--bench",
            "emulator_scale",
            "--",
            "--out",
            &scale_out.to_string_lossy(),
        ],
        &[],
    )?;
    let scale_md = std::fs::read_to_string(&scale_out)
        .map_err(|e| format!("cannot read {}: {e}", scale_out.display()))?;

    let doc = document(
        &root,
        &python,
        runs,
        &format!(
            "{}\n\n{}\n\n{}",
            chain_md.trim_end(),
            realnet_md.trim_end(),
            scale_md
        ),
    );
    let out = root.join("docs/benchmarks.md");
    std::fs::write(&out, doc).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    eprintln!("xtask: wrote {}", out.display());
    Ok(())
}

fn document(root: &Path, python: &Path, runs: usize, chain: &str) -> String {
    let google_auth = crate::reference::REQUIREMENTS[0].replace("==", " ");
    let gcauth = locked_version(
        &root.join("xtask/peers/gcauth-bench/Cargo.lock"),
        "google-cloud-auth",
    )
    .map_or("google-cloud-auth".to_owned(), |v| {
        format!("google-cloud-auth {v}")
    });
    let hash = output("git", &["rev-parse", "--short", "HEAD"], root).unwrap_or_default();
    // Read-only: whether the tree measured differs from the commit named.
    let dirty = output(
        "git",
        &["status", "--porcelain", "--untracked-files=no"],
        root,
    )
    .is_some_and(|s| !s.is_empty());
    let commit = if dirty {
        format!("`{hash}` plus uncommitted changes")
    } else {
        format!("`{hash}`")
    };
    let mut doc = String::new();
    let _ = write!(
        doc,
        "# Benchmarks\n\n\
         Generated by `cargo xtask bench` on {date} at commit {commit} — rerun it to refresh, \
         don't edit by hand. Every number below comes from that one run, every client against \
         the same [wif-emulator](../crates/wif-emulator) on loopback (IMDSv2 required), except \
         the [real-network section](#real-network-tls-dns-and-round-trips): there the clients \
         reach their own emulator over HTTPS, DNS and links with round-trip times, in a \
         private network.\n\n\
         ## What is compared\n\n\
         * **wif** at this commit: the library in-process, and the release `wif token`.\n\
         * **{gcauth}**, the official Rust client: `external_account` credentials built from \
           the same configuration files (`xtask/peers/gcauth-bench`, its own workspace; \
           default features off, rustls on ring like wif, same release profile).\n\
         * **{google_auth}** (Python, with `requests`), Google's reference client, in the venv \
           `cargo xtask reference` uses (`xtask/peers/google_auth_bench.py`).\n\n\
         Loopback has no network latency, so the cold-chain times are the clients' own cost \
         (process start, configuration, signing, plain-HTTP connections, JSON). Against Google \
         the round trips dominate, which is why their count is reported too, with a run at \
         20 ms per request. The emulator, the counting proxy and the client share the machine's \
         cores, the same for every client.\n\n\
         ## Machine\n\n{machine}\n\
         ## Reproduce\n\n\
         ```sh\n\
         cargo xtask bench               # all of it ({runs} cold runs per client); writes this file\n\
         cargo xtask bench --runs 20     # more cold-start repetitions\n\
         # the parts alone:\n\
         cargo bench -p wif-tests --bench cached_token -- {criterion_args}\n\
         cargo bench -p wif-tests --bench chain          # wif in-process only, markdown on stdout\n\
         cargo bench -p wif-tests --bench chain -- --realnet  # the same over a real network\n\
         cargo bench -p wif-tests --bench emulator_scale # the emulator at 1 M rows / 1 GiB\n\
         ```\n\n\
         Needs Python 3 with `venv` (the first run installs google-auth from PyPI), GNU \
         `/usr/bin/time` for peak RSS (without it that column says –), and for the real-network \
         section `unshare`, `mount` and `ip` (util-linux, iproute2) with root or unprivileged \
         user namespaces.\n\n",
        date = now_utc(),
        machine = machine(python),
        criterion_args = CRITERION_ARGS.join(" "),
    );
    doc.push_str(chain.trim_end());
    doc.push('\n');
    doc
}

/// `version = "…"` of package `name` in a Cargo.lock.
fn locked_version(lock: &Path, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(lock).ok()?;
    let at = text.find(&format!("name = \"{name}\"\n"))?;
    let line = text[at..].lines().nth(1)?;
    Some(
        line.strip_prefix("version = \"")?
            .strip_suffix('"')?
            .to_owned(),
    )
}

fn output(program: &str, args: &[&str], dir: &Path) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    out.status.success().then(|| {
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if text.is_empty() {
            String::from_utf8_lossy(&out.stderr).trim().to_owned()
        } else {
            text
        }
    })
}

/// The machine, as a table.
fn machine(python: &Path) -> String {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = read("/proc/meminfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("MemTotal:")?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or("unknown".to_owned(), |kb| {
            format!("{:.1} GiB", kb / 1024.0 / 1024.0)
        });
    let os = read("/etc/os-release")
        .lines()
        .find_map(|l| Some(l.strip_prefix("PRETTY_NAME=")?.trim_matches('"').to_owned()))
        .unwrap_or_else(|| std::env::consts::OS.to_owned());
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_owned();
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let here = Path::new(".");
    let rustc = output(&rustc, &["-V"], here).unwrap_or_default();
    let python = output(&python.to_string_lossy(), &["--version"], here).unwrap_or_default();
    format!(
        "| CPU | cores (available) | memory | OS | kernel | Rust | Python |\n\
         |---|---|---|---|---|---|---|\n\
         | {cpu} | {cores} | {memory} | {os} | {kernel} | {rustc} | {python} |\n"
    )
}

/// `YYYY-MM-DD HH:MM UTC`.
fn now_utc() -> String {
    time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_default()
}
