//! The Lambda entry point: builds one [`Handler`] per container (cold start), keeps it in a
//! process-wide `static`, and hands every invocation to it. The credentials' token cache lives
//! as long as the container does, so warm invocations reuse the Google token.

use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use lambda_runtime::{LambdaEvent, service_fn};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use wif_example_aws_lambda::{Handler, ListRequest};
#[cfg(feature = "official-client")]
use wif_example_aws_lambda::{OfficialWriter, WriteRequest};

/// The one handler of this container.
static HANDLER: OnceLock<Handler> = OnceLock::new();

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // `RUST_LOG` as `level` or `target=level,…` (tracing's `Targets`: no regex engine in the
    // binary, which keeps it and its cold start small); `info` when unset or unreadable.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    // CloudWatch stamps each line with the time; colours would show as escape codes.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .without_time()
        .with_ansi(false)
        .finish()
        .with(filter)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Display, not Debug: the message, the server's words and the hint, readable in
            // CloudWatch (and never a token).
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), lambda_runtime::Error> {
    // lambda_runtime panics without these (Lambda always sets them); say what is wrong instead.
    for var in [
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
    ] {
        if std::env::var_os(var).is_none() {
            return Err(format!(
                "{var} is not set: run this on AWS Lambda, or locally with `cargo lambda watch` \
                 and `cargo lambda invoke`"
            )
            .into());
        }
    }

    #[cfg(feature = "official-client")]
    if std::env::var("WIF_EXAMPLE_HANDLER").is_ok_and(|h| h == "write") {
        // Boxed: the official client's futures are deep enough to overflow the compiler's
        // layout query depth when nested in this one.
        return Box::pin(run_official_writer()).await;
    }
    // A broken configuration fails the cold start (Lambda reports an init error), before any
    // invocation is accepted. No token is fetched here: the first invocation does that.
    let handler = Handler::from_environment(Arc::new(wif::OsEnvironment))?;
    tracing::info!(
        credentials = ?handler.credentials().info(),
        gcs = %handler.gcs_base(),
        "handler ready"
    );
    let handler: &'static Handler = HANDLER.get_or_init(|| handler);

    lambda_runtime::run(service_fn(move |event: LambdaEvent<ListRequest>| {
        handler.invoke(event)
    }))
    .await
}

/// The second handler (`WIF_EXAMPLE_HANDLER=write`): writes objects through Google's official
/// Cloud Storage client on the same credentials.
#[cfg(feature = "official-client")]
async fn run_official_writer() -> Result<(), lambda_runtime::Error> {
    static WRITER: OnceLock<OfficialWriter> = OnceLock::new();
    // The official client's HTTP stack takes rustls' process-wide provider: install wif's.
    let _ = Arc::unwrap_or_clone(wif::layers::core::http::crypto_provider()).install_default();
    let writer = OfficialWriter::from_environment(Arc::new(wif::OsEnvironment)).await?;
    tracing::info!(credentials = ?writer.credentials().info(), "writer ready");
    let writer: &'static OfficialWriter = WRITER.get_or_init(|| writer);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<WriteRequest>| {
        writer.invoke(event)
    }))
    .await
}
