//! Serves an emulator for clients in other processes (the Python google-auth reference check of
//! `cargo xtask reference`, or your own experiments) until standard input closes.
//!
//! ```text
//! cargo run -p wif-emulator --example serve -- CONFIG_DIR [--port N]
//! ```
//!
//! Writes the credential configurations into `CONFIG_DIR`, then prints one line,
//! `WIF_EMULATOR_BASE_URL=http://127.0.0.1:PORT`, on standard output. Closing standard input
//! (Ctrl-D, or the parent process exiting) stops the server, so it can't outlive its user.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use wif_emulator::configs::write_configs;
use wif_emulator::{Emulator, EmulatorConfig};

fn usage() -> ExitCode {
    eprintln!("usage: serve CONFIG_DIR [--port N]");
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut dir = None;
    let mut port = 0u16;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => match args.next().and_then(|p| p.parse().ok()) {
                Some(p) => port = p,
                None => return usage(),
            },
            _ if dir.is_none() && !arg.starts_with('-') => dir = Some(PathBuf::from(arg)),
            _ => return usage(),
        }
    }
    let Some(dir) = dir else {
        return usage();
    };

    let emulator = match Emulator::new(EmulatorConfig::default())
        .start(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
    {
        Ok(emulator) => emulator,
        Err(e) => {
            eprintln!("serve: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = write_configs(&emulator, &dir) {
        eprintln!("serve: cannot write configs into {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "WIF_EMULATOR_BASE_URL={}", emulator.base_url());
    let _ = stdout.flush();
    eprintln!(
        "serve: emulating at {}, configs in {}; close stdin to stop",
        emulator.base_url(),
        dir.display()
    );

    // A blocking thread watches stdin: EOF (or an error) means our user is gone.
    let (closed, stdin_closed) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = [0u8; 256];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        let _ = closed.send(());
    });
    let _ = stdin_closed.await;
    emulator.shutdown().await;
    ExitCode::SUCCESS
}
