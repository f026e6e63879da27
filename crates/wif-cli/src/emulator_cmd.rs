//! `wif emulator`: serve the emulator standalone until Ctrl-C, with ready-to-use credential
//! configurations pointing at it.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use wif::{Error, ErrorKind, Step};
use wif_emulator::{Emulator, EmulatorConfig, RunningEmulator};

use crate::demo_apis::{DATASET, TABLE};
use crate::demo_storage::BUCKET;

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
    // Google's client libraries (and `wif gcs` / `wif bq`) call an emulator without a token.
    let mut config = EmulatorConfig::default();
    config.anonymous_access = true;
    let emulator = Emulator::new(config)
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
    let written = wif_emulator::configs::write_configs(&emulator, &dir).map_err(|e| {
        failed(
            &format!("could not write configurations into {}", dir.display()),
            e,
        )
    })?;
    let _ = writeln!(out, "{}", banner(&emulator, &written.dir));
    let _ = out.flush();
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| failed("could not wait for Ctrl-C", e))?;
    emulator.shutdown().await;
    Ok(())
}

/// What `wif emulator` prints: where it listens, what exists in it, the credential
/// configurations, and the exact environment to use it from another shell.
fn banner(emulator: &RunningEmulator, dir: &std::path::Path) -> String {
    let d = dir.display();
    let base = emulator.base_url();
    let addr = emulator.addr();
    let project = &emulator.config().project_id;
    let schema = emulator
        .state()
        .table_schema(project, DATASET, TABLE)
        .unwrap_or_default()
        .iter()
        .map(|f| match f.mode.as_deref() {
            Some("REQUIRED") | Some("REPEATED") => {
                format!(
                    "{} {} {}",
                    f.name,
                    f.field_type,
                    f.mode.as_deref().unwrap_or_default()
                )
            }
            _ => format!("{} {}", f.name, f.field_type),
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "wif emulator listening on {base}\n\
         \n\
         it holds, in project {project}:\n\
         \x20 Cloud Storage bucket  gs://{BUCKET}\n\
         \x20 BigQuery table        {project}.{DATASET}.{TABLE} ({schema})\n\
         \n\
         use it from another shell (Google's client libraries read the same variables):\n\
         \x20 export STORAGE_EMULATOR_HOST={base}\n\
         \x20 export BIGQUERY_EMULATOR_HOST={addr}\n\
         \x20 export GOOGLE_CLOUD_PROJECT={project}\n\
         \x20 wif gcs ls gs://{BUCKET}\n\
         \x20 wif bq query 'SELECT COUNT(*) AS n FROM `{project}.{DATASET}.{TABLE}`'\n\
         requests without a token are accepted; a token that is sent must be one this emulator's\n\
         chain issued (any other gets 401). To send one, give the commands\n\
         --credentials {d}/aws-lambda.json after loading the Lambda environment below.\n\
         \n\
         credential configurations in {d} (absolute paths inside):\n\
         \x20 aws-lambda.json       AWS source, credentials from the environment (as on Lambda)\n\
         \x20 aws-ec2-imdsv2.json   AWS source, credentials from the emulated instance metadata (IMDSv2)\n\
         \x20 file.json             OIDC token from a file\n\
         \x20 url.json              OIDC token from a URL\n\
         \x20 executable.json       OIDC token from a program (set GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1)\n\
         \n\
         the whole chain (AWS SigV4 -> Google STS -> impersonation) for a token:\n\
         \x20 set -a; . {d}/aws-lambda.env; set +a\n\
         \x20 export GOOGLE_APPLICATION_CREDENTIALS={d}/aws-lambda.json\n\
         \x20 wif token\n\
         the same aws-lambda.json on an ECS task, an EKS pod with Pod Identity, or with IRSA:\n\
         load aws-ecs.env, aws-eks-pod-identity.env or aws-eks-irsa.env instead (in a new shell).\n\
         \n\
         Ctrl-C stops the emulator."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_banner_names_what_exists_and_what_to_export() {
        let emulator = Emulator::new(EmulatorConfig::default())
            .start_local()
            .await
            .expect("emulator starts");
        crate::demo_apis::seed(&emulator).expect("seeded");
        let text = banner(&emulator, std::path::Path::new("/abs/dir"));
        let addr = emulator.addr().to_string();
        for want in [
            format!("wif emulator listening on http://{addr}\n"),
            "gs://wif-demo-bucket".to_owned(),
            "wif-demo.demo.events (id INTEGER REQUIRED, source STRING, message STRING, at TIMESTAMP)".to_owned(),
            format!("export STORAGE_EMULATOR_HOST=http://{addr}\n"),
            format!("export BIGQUERY_EMULATOR_HOST={addr}\n"),
            "export GOOGLE_CLOUD_PROJECT=wif-demo\n".to_owned(),
            "wif gcs ls gs://wif-demo-bucket".to_owned(),
            "wif bq query 'SELECT COUNT(*) AS n FROM `wif-demo.demo.events`'".to_owned(),
            "--credentials /abs/dir/aws-lambda.json".to_owned(),
            "export GOOGLE_APPLICATION_CREDENTIALS=/abs/dir/aws-lambda.json".to_owned(),
            "aws-ecs.env, aws-eks-pod-identity.env or aws-eks-irsa.env".to_owned(),
        ] {
            assert!(text.contains(&want), "{want:?} missing from:\n{text}");
        }
    }
}
