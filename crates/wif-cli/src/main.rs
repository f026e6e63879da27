//! `wif` — Google access tokens through Workload Identity Federation, from the command line.
//!
//! ```text
//! wif token [--credentials FILE] [--scopes S,S] [--format text|json] [--deadline 30s] [--dry-run]
//! wif subject-token [--credentials FILE] [--format text|json]
//! wif explain [--credentials FILE] [--format text|json] [--call-aws]
//! wif emulator [--port N] [--config-dir DIR]
//! wif demo
//! wif gcs cp|ls|rm …            wif bq query|insert …
//! ```
//!
//! Results go to stdout, diagnostics to stderr: the warnings of the resolved settings always,
//! tracing when `RUST_LOG` (e.g. `RUST_LOG=wif=debug`) turns it on; neither ever shows a secret.
//! Exit status: 0 on success, 1 when the chain failed, 2 for bad usage or configuration, 130 /
//! 143 when stopped by SIGINT (Ctrl-C) / SIGTERM, after the running work — an executable
//! source's command included — has been stopped.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod bq;
#[cfg(feature = "emulator")]
mod demo;
#[cfg(feature = "emulator")]
mod demo_apis;
#[cfg(feature = "emulator")]
mod demo_storage;
#[cfg(feature = "emulator")]
mod emulator_cmd;
mod emulator_host;
mod explain;
mod gcs;
mod settings;
mod terminal;
use wif::secrecy::{ExposeSecret, SecretString};
use wif::{Credentials, Error, Step};

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
        /// Print the resolved settings (each with where it came from) and the warnings instead
        /// of a token; nothing is sent anywhere.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the subject token the credential source produces, for debugging.
    ///
    /// The subject token is a credential: whoever holds it can exchange it at Google STS until
    /// it expires. When stdout is a terminal, a warning saying so goes to stderr first; piped
    /// or redirected output gets none.
    SubjectToken {
        #[command(flatten)]
        common: Common,
    },
    /// Serve the loopback emulator of AWS and Google Cloud until Ctrl-C, writing ready-to-use
    /// credential configurations that point at it.
    Emulator {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 8787)]
        port: u16,
        /// Where to write the credential configurations (default: a temporary directory).
        #[arg(long, value_name = "DIR")]
        config_dir: Option<PathBuf>,
    },
    /// Run the whole chain — Lambda credentials → AWS signature → Google STS → impersonation →
    /// BigQuery and Cloud Storage — against the in-process emulator, narrating each step.
    Demo,
    /// Walk the chain step by step (configuration, subject token, STS exchange, impersonation,
    /// token), showing what each step used and proved, and the cause and fix of a failure.
    Explain(explain::ExplainArgs),
    /// Cloud Storage: copy, list and remove objects with the chain's token.
    ///
    /// With STORAGE_EMULATOR_HOST set, requests go to that emulator, anonymously unless
    /// --credentials is given; over plain http it must be this machine (127.0.0.1, ::1,
    /// localhost).
    Gcs {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        command: gcs::GcsCommand,
    },
    /// BigQuery: run queries and insert rows with the chain's token.
    ///
    /// With BIGQUERY_EMULATOR_HOST set, requests go to that emulator, anonymously unless
    /// --credentials is given; over plain http it must be this machine (127.0.0.1, ::1,
    /// localhost).
    Bq {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        command: bq::BqCommand,
    },
}

#[derive(clap::Args, Debug)]
struct Common {
    /// An external_account credential configuration file. Without it, Application Default
    /// Credentials decide (GOOGLE_APPLICATION_CREDENTIALS, then gcloud's well-known file).
    #[arg(long, value_name = "FILE")]
    credentials: Option<PathBuf>,
    /// Also trust the CA certificates of this PEM file for the STS and IAM calls: a private CA
    /// (or TLS-inspecting proxy) in front of Google, or a test server.
    #[arg(long, value_name = "PEM_FILE", env = "WIF_CA_CERTS")]
    ca_certs: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// The longest the whole chain (subject token, STS exchange, impersonation, with their
    /// retries) may take before wif gives up: `45`, `45s`, `1500ms`, `2m` (default 30s).
    #[arg(long, value_name = "DURATION", env = "WIF_DEADLINE", value_parser = parse_deadline)]
    deadline: Option<std::time::Duration>,
}

/// `--deadline`: whole seconds (`45`, `45s`), milliseconds (`1500ms`) or minutes (`2m`), above
/// zero.
fn parse_deadline(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 45s, 1500ms or 2m"))?;
    let deadline = match unit {
        "s" => std::time::Duration::from_secs(value),
        "ms" => std::time::Duration::from_millis(value),
        "m" => std::time::Duration::from_secs(value.saturating_mul(60)),
        _ => return Err(format!("`{text}`: the unit must be ms, s or m")),
    };
    if deadline.is_zero() {
        return Err("the deadline must be longer than zero".to_owned());
    }
    Ok(deadline)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

fn main() -> ExitCode {
    // clap exits by itself: 0 for --help/--version, 2 for usage errors.
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let result = match runtime.block_on(until_interrupted(cli)) {
        Ok(result) => result,
        Err(signal) => {
            eprintln!("wif: stopped by {}", signal.name());
            return ExitCode::from(signal.exit_status());
        }
    };
    match result {
        Ok(Some(out)) => print_result(&out),
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            // Server words in the message are escaped: one line, then our hint line.
            eprintln!("error: {}", terminal::error_text(&e));
            ExitCode::from(exit_status(&e))
        }
    }
}

/// Runs the command until it finishes or a SIGINT (Ctrl-C) or SIGTERM arrives. On a signal the
/// command's work is dropped, here, before the process exits: that is what kills an executable
/// source's command and everything it started (it runs in a process group of its own, out of
/// reach of the terminal's Ctrl-C), and what a process killed outright would never do. `wif
/// emulator` handles Ctrl-C itself, as its way to stop.
async fn until_interrupted(cli: Cli) -> Result<Result<Option<SecretString>, Error>, Interrupt> {
    if matches!(cli.command, Command::Emulator { .. }) {
        return Ok(run(cli).await);
    }
    tokio::select! {
        result = run(cli) => Ok(result),
        signal = interrupted() => Err(signal),
    }
}

/// A signal that stopped the command.
#[derive(Clone, Copy, Debug)]
enum Interrupt {
    Int,
    Term,
}

impl Interrupt {
    fn name(self) -> &'static str {
        match self {
            Interrupt::Int => "SIGINT",
            Interrupt::Term => "SIGTERM",
        }
    }

    /// 128 + the signal's number, as shells report a process a signal ended.
    fn exit_status(self) -> u8 {
        match self {
            Interrupt::Int => 130,
            Interrupt::Term => 143,
        }
    }
}

/// Resolves when SIGINT or SIGTERM arrives; never, for a signal that cannot be listened to.
async fn interrupted() -> Interrupt {
    let int = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = int => Interrupt::Int,
        () = term => Interrupt::Term,
    }
}

/// The chain ran and failed (source, exchange, impersonation).
const EXIT_FAILED: u8 = 1;
/// Bad usage or configuration: fixed by the caller, not by retrying (also clap's usage status).
const EXIT_USAGE: u8 = 2;

fn exit_status(e: &Error) -> u8 {
    // Every problem found before the chain runs (an unreadable configuration file, a source
    // this build cannot do) is the caller's to fix, not only the `InvalidConfig` kind.
    if e.is_config() || e.step() == Step::Config {
        EXIT_USAGE
    } else {
        EXIT_FAILED
    }
}

fn print_result(out: &SecretString) -> ExitCode {
    // `println!` panics when stdout is closed (`wif token | true`); report it instead.
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{}", out.expose_secret()).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: could not write the result to stdout: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// Logs to stderr when `RUST_LOG` is set: a level (`debug`) or `target=level,…`
/// (`wif_sts=trace,hyper=info`). tracing's `Targets` filter, not `EnvFilter`: the regex engine
/// behind `EnvFilter`'s span-field syntax would be a large part of the binary every `wif token`
/// maps, for syntax nobody needs here.
fn init_tracing() {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::fmt::format::FmtSpan;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let Some(spec) = std::env::var_os("RUST_LOG") else {
        return;
    };
    let filter = match spec.to_str().map(str::parse::<Targets>) {
        Some(Ok(filter)) => filter,
        Some(Err(e)) => {
            eprintln!("warning: ignoring RUST_LOG: {e}");
            return;
        }
        None => {
            eprintln!("warning: ignoring RUST_LOG: not UTF-8");
            return;
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not for log files or CI captures.
        .with_ansi(std::io::stderr().is_terminal())
        .with_span_events(FmtSpan::CLOSE)
        .finish()
        .with(filter)
        .try_init();
}

/// The credentials of `common` (and `scopes`), with the plan's warnings on stderr.
fn load(common: &Common, scopes: &[String]) -> Result<Credentials, Error> {
    let builder = settings::builder(common, std::sync::Arc::new(wif::OsEnvironment))?;
    let creds = settings::with_scopes(builder, scopes).build()?;
    settings::print_warnings(&creds.info().warnings);
    Ok(creds)
}

/// `wif token --dry-run`: resolves and assembles (no network), and prints the plan.
fn dry_run(common: &Common, scopes: &[String]) -> Result<SecretString, Error> {
    let builder = settings::builder(common, std::sync::Arc::new(wif::OsEnvironment))?;
    let chain = settings::with_scopes(builder, scopes).build_chain()?;
    let plan = chain.plan();
    // Not a credential, but the result goes out the way every result does.
    Ok(SecretString::from(match common.format {
        Format::Text => format!(
            "wif token --dry-run: the settings `wif token` would use, and where each came from; nothing was sent\n{}",
            plan.to_string().trim_end()
        ),
        Format::Json => {
            let mut json = plan.to_json();
            json["schema"] = serde_json::json!("wif-plan/v1");
            json.to_string()
        }
    }))
}

/// The PEM bundle of `--ca-certs`: a regular file of at most 1 MiB (a system bundle is a few
/// hundred KiB), refused before reading when it is a pipe, a device or larger.
fn read_ca_certs(path: &std::path::Path) -> Result<Vec<u8>, Error> {
    use wif::layers::core::local_file::{self, MAX_LOCAL_FILE_BYTES};
    local_file::read_bounded(path, MAX_LOCAL_FILE_BYTES, "--ca-certs CA bundle")
        .map_err(|e| e.into_error(Step::Config))
}

/// Credentials for `wif gcs` / `wif bq`: with `emulator_var` (`STORAGE_EMULATOR_HOST`,
/// `BIGQUERY_EMULATOR_HOST`) set, none unless `--credentials` is given (see [`emulator_host`]).
fn api_credentials(common: &Common, emulator_var: &str) -> Result<Option<Credentials>, Error> {
    emulator_host::api_credentials(
        emulator_var,
        common.credentials.is_some(),
        &wif::OsEnvironment,
        || load(common, &[]),
    )
}

/// The result to print. It is a credential either way, so it stays a `SecretString` (zeroed on
/// drop) until it is written.
async fn run(cli: Cli) -> Result<Option<SecretString>, Error> {
    match cli.command {
        #[cfg(feature = "emulator")]
        Command::Emulator { port, config_dir } => {
            emulator_cmd::serve(port, config_dir, &mut std::io::stdout()).await?;
            Ok(None)
        }
        #[cfg(feature = "emulator")]
        Command::Demo => {
            demo::run(&mut std::io::stdout()).await?;
            Ok(None)
        }
        #[cfg(not(feature = "emulator"))]
        Command::Emulator { .. } => Err(without_emulator("emulator")),
        #[cfg(not(feature = "emulator"))]
        Command::Demo => Err(without_emulator("demo")),
        Command::Explain(args) => {
            explain::run(args, &mut std::io::stdout()).await?;
            Ok(None)
        }
        Command::Gcs { common, command } => {
            let creds = api_credentials(&common, "STORAGE_EMULATOR_HOST")?;
            gcs::run(command, creds).await?;
            Ok(None)
        }
        Command::Bq { common, command } => {
            let creds = api_credentials(&common, "BIGQUERY_EMULATOR_HOST")?;
            bq::run(command, creds, &mut std::io::stdout()).await?;
            Ok(None)
        }
        Command::Token {
            common,
            scopes,
            dry_run: true,
        } => dry_run(&common, &scopes).map(Some),
        Command::Token {
            common,
            scopes,
            dry_run: false,
        } => {
            let creds = load(&common, &scopes)?;
            let token = creds.token().await?;
            Ok(Some(SecretString::from(match common.format {
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
            })))
        }
        Command::SubjectToken { common } => {
            let creds = load(&common, &[])?;
            let subject = creds.subject_token().await?;
            if let Some(warning) = terminal::subject_token_warning(std::io::stdout().is_terminal())
            {
                eprintln!("{warning}");
            }
            Ok(Some(SecretString::from(match common.format {
                Format::Text => subject.secret().expose_secret().to_owned(),
                Format::Json => serde_json::json!({
                    "subject_token": subject.secret().expose_secret(),
                    "subject_token_type": creds.info().subject_token_type,
                    "source": creds.info().source_kind,
                })
                .to_string(),
            })))
        }
    }
}

/// `wif emulator` and `wif demo` in a build without the emulator (the default: a production
/// `wif` carries no server).
#[cfg(not(feature = "emulator"))]
fn without_emulator(command: &str) -> Error {
    Error::not_supported(
        Step::Config,
        format!("`wif {command}` needs the emulator, which this wif was built without"),
    )
    .with_hint(format!(
        "build it in: `cargo run -p wif-cli --features emulator -- {command}`, or `cargo install wif-cli --features emulator`"
    ))
}

fn rfc3339(t: std::time::SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
