//! `wif` — Google access tokens through Workload Identity Federation, from the command line.
//!
//! ```text
//! wif token [--credentials FILE] [--scopes S,S] [--format text|json]
//! wif subject-token [--credentials FILE] [--format text|json]
//! ```
//!
//! Results go to stdout, diagnostics to stderr; `RUST_LOG` (e.g. `RUST_LOG=wif=debug`) turns on
//! tracing, which never shows a secret. Exit status: 0 on success, 1 when the chain failed,
//! 2 for bad usage or configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use wif::secrecy::ExposeSecret;
use wif::{Credentials, Error, TokenProvider};

#[derive(Parser, Debug)]
#[command(
    name = "wif",
    version,
    about = "Keyless Google Cloud access through Workload Identity Federation"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print a Google access token obtained through the configured chain.
    Token {
        #[command(flatten)]
        common: Common,
        /// OAuth scopes of the token, comma-separated (default: cloud-platform).
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
    },
    /// Print the subject token the credential source produces (for debugging; it is a credential).
    SubjectToken {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(clap::Args, Debug)]
struct Common {
    /// An external_account credential configuration file. Without it, Application Default
    /// Credentials decide (GOOGLE_APPLICATION_CREDENTIALS, then gcloud's well-known file).
    #[arg(long, value_name = "FILE")]
    credentials: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(if e.is_config() { 2 } else { 1 })
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::fmt::format::FmtSpan;
    let Ok(filter) = EnvFilter::try_from_env("RUST_LOG") else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_span_events(FmtSpan::CLOSE)
        .try_init();
}

fn load(common: &Common, scopes: &[String]) -> Result<Credentials, Error> {
    let builder = Credentials::builder();
    let builder = match &common.credentials {
        Some(path) => builder.config_file(path)?,
        None => builder.adc()?,
    };
    let builder = if scopes.is_empty() {
        builder
    } else {
        builder.scopes(scopes.iter().cloned())
    };
    builder.build()
}

async fn run(cli: Cli) -> Result<String, Error> {
    match cli.command {
        Command::Token { common, scopes } => {
            let creds = load(&common, &scopes)?;
            let token = creds.token().await?;
            Ok(match common.format {
                Format::Text => token.secret().expose_secret().to_owned(),
                Format::Json => {
                    let expires_at = token.expires_at_utc().map(rfc3339);
                    serde_json::json!({
                        "access_token": token.secret().expose_secret(),
                        "token_type": token.token_type(),
                        "expires_at": expires_at,
                    })
                    .to_string()
                }
            })
        }
        Command::SubjectToken { common } => {
            let creds = load(&common, &[])?;
            let subject = creds.subject_token().await?;
            Ok(match common.format {
                Format::Text => subject.secret().expose_secret().to_owned(),
                Format::Json => serde_json::json!({
                    "subject_token": subject.secret().expose_secret(),
                    "subject_token_type": creds.info().subject_token_type,
                    "source": creds.info().source_kind,
                })
                .to_string(),
            })
        }
    }
}

fn rfc3339(t: std::time::SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
