//! `wif emulator`: serve the emulator standalone until Ctrl-C, with ready-to-use credential
//! configurations pointing at it.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use wif::{Error, ErrorKind, Step};
use wif_emulator::{Emulator, EmulatorConfig};

fn failed(what: &str, e: std::io::Error) -> Error {
    Error::new(Step::Config, ErrorKind::Io, what.to_owned()).with_source(e)
}

/// Serves on `127.0.0.1:port` (0 = any free port), writes configurations into `config_dir` (or a
/// temporary directory kept while serving), prints how to use them, and waits for Ctrl-C.
pub(crate) async fn serve(
    port: u16,
    config_dir: Option<PathBuf>,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let emulator = Emulator::new(EmulatorConfig::default())
        .start(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .map_err(|e| failed(&format!("could not listen on 127.0.0.1:{port}"), e))?;
    crate::demo_apis::seed(&emulator)?;
    let (_temp, dir) = match config_dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| failed(&format!("could not create {}", dir.display()), e))?;
            (None, dir)
        }
        None => {
            let temp = tempfile::tempdir()
                .map_err(|e| failed("could not create a temporary directory", e))?;
            let dir = temp.path().to_path_buf();
            (Some(temp), dir)
        }
    };
    wif_emulator::configs::write_configs(&emulator, &dir).map_err(|e| {
        failed(
            &format!("could not write configurations into {}", dir.display()),
            e,
        )
    })?;
    let d = dir.display();
    let _ = writeln!(
        out,
        "wif emulator listening on {base}\n\
         \n\
         credential configurations in {d}:\n\
         \x20 aws-lambda.json       AWS source, credentials from the environment (as on Lambda)\n\
         \x20 aws-ec2-imdsv2.json   AWS source, credentials from the emulated instance metadata (IMDSv2)\n\
         \x20 file.json             OIDC token from a file\n\
         \x20 url.json              OIDC token from a URL\n\
         \x20 executable.json       OIDC token from a program (set GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1)\n\
         \n\
         try it:\n\
         \x20 set -a; . {d}/aws-lambda.env; set +a\n\
         \x20 export GOOGLE_APPLICATION_CREDENTIALS={d}/aws-lambda.json\n\
         \x20 wif token\n\
         \n\
         Ctrl-C stops the emulator.",
        base = emulator.base_url(),
    );
    let _ = out.flush();
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| failed("could not wait for Ctrl-C", e))?;
    emulator.shutdown().await;
    Ok(())
}
