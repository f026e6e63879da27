//! # wif-source-exec — subject tokens printed by an executable
//!
//! The chain's source step ([`Step::Source`], a [`SubjectTokenSource`]) for Google's *pluggable
//! auth* protocol, the `credential_source` of the executable shape:
//!
//! ```json
//! { "executable": { "command": "/usr/local/bin/get-oidc-token --audience=gcp",
//!                   "timeout_millis": 5000, "output_file": "/var/cache/gcp-token.json" } }
//! ```
//!
//! For every STS exchange [`ExecutableSource`] runs the command (split shell-style, but with no
//! shell: no expansion, pipes or redirection) and reads a version-1 response on its stdout:
//!
//! ```json
//! {"version": 1, "success": true, "token_type": "urn:ietf:params:oauth:token-type:id_token",
//!  "id_token": "eyJ…", "expiration_time": 1700000000}
//! ```
//!
//! * **Opt-in.** Running a command named in a configuration file is dangerous, so nothing runs
//!   unless `GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1` ([`ALLOW_EXECUTABLES_ENV`]), read
//!   through the injected [`Environment`] — and this is checked before anything else, the
//!   `output_file` cache included (as Python's google-auth does).
//! * **Environment.** The child inherits this process's environment plus
//!   `GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE`, `…_TOKEN_TYPE`, `…_INTERACTIVE=0`,
//!   `…_IMPERSONATED_EMAIL` (when impersonating) and `…_OUTPUT_FILE` (when configured); the
//!   last two are removed from the inherited environment when they do not apply. As in Go's
//!   x/oauth2, `IMPERSONATED_EMAIL` is set whenever the exchange will impersonate (Python's
//!   refresh path never sets it), and Python's extra `GOOGLE_EXTERNAL_ACCOUNT_ID` and `…_REVOKE`
//!   are not set.
//! * **Time limit and clean-up.** `timeout_millis` (default 30 s, allowed 5–120 s). The command
//!   runs as the leader of a process group of its own, and the whole group — grandchildren
//!   included, such as the command a shell wrapper runs without `exec` — is killed (SIGKILL) when
//!   the timeout passes, as soon as stdout goes past [`MAX_OUTPUT_BYTES`] (reported as too much
//!   output, not as a timeout), and when the future is dropped (a cancelled request; the `wif`
//!   CLI drops its work on Ctrl-C or SIGTERM, so the command does not outlive it). Being in its
//!   own group, the command does not get the terminal's Ctrl-C itself. A command that exits
//!   successfully is not chased further: a background process it leaves behind keeps running.
//! * **Output.** stdout is read up to [`MAX_OUTPUT_BYTES`]. stderr is drained and **never
//!   shown** — errors report only its size and the exit status — because tools print tokens and
//!   credentials in their diagnostics. A response on stdout is never echoed either; errors name
//!   the offending field. If stdout is empty and `output_file` is set, the response is read from
//!   that file (as Python does).
//! * **Cache.** `output_file` is where the executable may leave its last response. A valid,
//!   unexpired response there is used without running the command; an expired, unsuccessful or
//!   unsupported one (or one without `expiration_time`) means: run the command. A malformed one
//!   is an error, so someone looks at it. wif-rs never writes the file.
//!
//! ```no_run
//! use std::time::Duration;
//! use wif_core::{SourceContext, SubjectTokenSource};
//! use wif_source_exec::ExecutableSource;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), wif_core::Error> {
//! // Reads GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES from the process environment.
//! let source = ExecutableSource::builder()
//!     .command("/usr/local/bin/get-oidc-token --audience=gcp")
//!     .timeout(Duration::from_secs(10))
//!     .output_file("/var/cache/gcp-token.json")
//!     .build()?;
//! let ctx = SourceContext::new(
//!     "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/oidc",
//!     "urn:ietf:params:oauth:token-type:id_token",
//! );
//! let token = source.subject_token(&ctx).await?;
//! println!("got a subject token of {} bytes, expiring {:?}", token.len(), token.expires_at());
//! # Ok(()) }
//! ```
//!
//! Interactive mode (gcloud's sign-in flow on a terminal) is not supported.
//!
//! The protocol, its validation order and where Python google-auth and Go x/oauth2 differ:
//! `docs/protocol.md#executable-source` in the repository.

mod command;
// The fuzz targets' entry points: behind the `fuzzing` feature, and compiled into the crate's
// own tests, which exercise them.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod output_file;
mod response;
mod run;

use std::ffi::OsStr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;
use wif_core::{
    Clock, Environment, Error, ErrorKind, OsEnvironment, SourceContext, Step, SubjectToken,
    SubjectTokenSource, SystemClock, async_trait,
};

use crate::output_file::{OutputFileError, read_output_file};
use crate::response::{Problem, ProblemKind};
use crate::run::{RunError, describe_status};

/// The variable that must equal exactly `1` for any executable to run.
pub const ALLOW_EXECUTABLES_ENV: &str = "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES";
/// `timeout_millis` when the configuration has none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The allowed `timeout_millis` range (5 s to 120 s), as in both of Google's libraries.
pub const TIMEOUT_RANGE: RangeInclusive<Duration> =
    Duration::from_secs(5)..=Duration::from_secs(120);
/// The allowed `interactive_timeout_millis` range (30 s to 30 min), as in Python's google-auth.
pub const INTERACTIVE_TIMEOUT_RANGE: RangeInclusive<Duration> =
    Duration::from_secs(30)..=Duration::from_secs(1800);
/// Most bytes of stdout (or of `output_file`) read; a response is well under 1 KiB plus the
/// token, so more is a wrong or runaway executable.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;

const AUDIENCE_ENV: &str = "GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE";
const TOKEN_TYPE_ENV: &str = "GOOGLE_EXTERNAL_ACCOUNT_TOKEN_TYPE";
const INTERACTIVE_ENV: &str = "GOOGLE_EXTERNAL_ACCOUNT_INTERACTIVE";
const IMPERSONATED_EMAIL_ENV: &str = "GOOGLE_EXTERNAL_ACCOUNT_IMPERSONATED_EMAIL";
const OUTPUT_FILE_ENV: &str = "GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE";

const COMMAND_FIELD: &str = "credential_source.executable.command";
const TIMEOUT_FIELD: &str = "credential_source.executable.timeout_millis";
const INTERACTIVE_TIMEOUT_FIELD: &str = "credential_source.executable.interactive_timeout_millis";

const RESPONSE_HINT: &str = "the executable must print a pluggable-auth response on stdout: \
{\"version\": 1, \"success\": true, \"token_type\": \"urn:ietf:params:oauth:token-type:id_token\" \
(or `jwt`, or `saml2`), \"id_token\" (or \"saml_response\"): \"…\", \"expiration_time\": <Unix seconds>}";

/// A subject token printed by a command (Google's pluggable-auth executable source).
///
/// Built with [`ExecutableSource::builder`]. Holds no token material, so its `Debug` is safe.
#[derive(Clone, Debug)]
pub struct ExecutableSource {
    command: String,
    argv: Vec<String>,
    timeout: Duration,
    output_file: Option<PathBuf>,
    interactive_timeout: Option<Duration>,
    env: Arc<dyn Environment>,
    clock: Arc<dyn Clock>,
}

/// Builds an [`ExecutableSource`]; everything is validated in [`build`](Self::build).
#[derive(Debug, Default)]
pub struct ExecutableSourceBuilder {
    command: Option<String>,
    timeout: Option<Duration>,
    output_file: Option<PathBuf>,
    interactive_timeout: Option<Duration>,
    interactive: bool,
    env: Option<Arc<dyn Environment>>,
    clock: Option<Arc<dyn Clock>>,
    /// Tests only: skip the 5 s lower bound so timeouts can be tested quickly.
    #[cfg(test)]
    unchecked_timeout: bool,
}

impl ExecutableSourceBuilder {
    wif_core::builder_setters! {
        /// The command line (`credential_source.executable.command`), split like Python's
        /// `shlex.split`: quotes group words, backslashes escape. No shell is run.
        pub fn command(command: impl Into<String>) => Some(command);

        /// How long the command may run (`timeout_millis`); 5 s to 120 s, default 30 s.
        pub fn timeout(timeout: Duration) => Some(timeout);

        /// The file where the executable caches its response (`output_file`); also passed to it as
        /// `GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE`.
        pub fn output_file(path: impl Into<PathBuf>) => Some(output_file);

        /// `interactive_timeout_millis` (30 s to 30 min). Accepted so gcloud-written
        /// configurations load; it has no effect, because interactive mode is not supported.
        pub fn interactive_timeout(timeout: Duration) => Some(interactive_timeout);

        /// Requests interactive mode (gcloud's sign-in flow). Not supported: `build` fails when
        /// this is `true`.
        pub fn interactive(interactive: bool) => interactive;

        /// Where `GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES` is read (default: the process
        /// environment). The child itself always inherits the real process environment.
        pub fn environment(env: Arc<dyn Environment>) => Some(env);

        /// The wall clock `expiration_time` is compared with (default: the system clock).
        pub fn clock(clock: Arc<dyn Clock>) => Some(clock);
    }

    /// Tests only: a timeout below the 5 s minimum.
    #[cfg(test)]
    pub(crate) fn timeout_unchecked(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self.unchecked_timeout = true;
        self
    }

    /// Validates the settings. Errors name the credential-configuration field.
    pub fn build(self) -> Result<ExecutableSource, Error> {
        let Some(command) = self.command else {
            return Err(Error::config(
                COMMAND_FIELD,
                "is missing; the executable command must be provided",
            ));
        };
        let argv = command::split(&command).map_err(|e| {
            Error::config(COMMAND_FIELD, format!("cannot be split into words: {e}")).with_hint(
                "the command is split like a POSIX shell would (quotes group words, a backslash \
                 escapes the next character); check its quotes",
            )
        })?;
        if argv.first().is_none_or(|p| p.is_empty()) {
            return Err(Error::config(COMMAND_FIELD, "is empty"));
        }

        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        #[cfg(test)]
        let check_timeout = !self.unchecked_timeout;
        #[cfg(not(test))]
        let check_timeout = true;
        if check_timeout && !TIMEOUT_RANGE.contains(&timeout) {
            return Err(Error::config(
                TIMEOUT_FIELD,
                format!(
                    "must be between 5 and 120 seconds (5000 to 120000 milliseconds), not {} ms",
                    timeout.as_millis()
                ),
            ));
        }
        if let Some(t) = self.interactive_timeout
            && !INTERACTIVE_TIMEOUT_RANGE.contains(&t)
        {
            return Err(Error::config(
                INTERACTIVE_TIMEOUT_FIELD,
                format!(
                    "must be between 30 seconds and 30 minutes (30000 to 1800000 milliseconds), not {} ms",
                    t.as_millis()
                ),
            ));
        }
        if self.interactive {
            return Err(Error::not_supported(
                Step::Config,
                "interactive mode of executable-sourced credentials (gcloud's sign-in flow) is not supported",
            )
            .with_hint(
                "run the executable's sign-in step yourself and let it keep its `output_file` \
                 fresh; wif-rs then uses the cached response",
            ));
        }

        Ok(ExecutableSource {
            command,
            argv,
            timeout,
            output_file: self.output_file,
            interactive_timeout: self.interactive_timeout,
            env: self.env.unwrap_or_else(|| Arc::new(OsEnvironment)),
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
        })
    }
}

impl ExecutableSource {
    /// A builder; [`command`](ExecutableSourceBuilder::command) is required.
    pub fn builder() -> ExecutableSourceBuilder {
        ExecutableSourceBuilder::default()
    }

    /// The command line as configured.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// The program and its arguments, as they are passed to the operating system.
    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// How long the command may run before it is killed.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The response cache file, if configured.
    pub fn output_file(&self) -> Option<&Path> {
        self.output_file.as_deref()
    }

    /// The configured interactive timeout (unused: interactive mode is not supported).
    pub fn interactive_timeout(&self) -> Option<Duration> {
        self.interactive_timeout
    }

    /// The program, for messages (not its arguments, which the caller configured anyway).
    fn program(&self) -> &str {
        self.argv.first().map_or("", String::as_str)
    }

    fn check_allowed(&self) -> Result<(), Error> {
        if self.env.var(ALLOW_EXECUTABLES_ENV).as_deref() == Some("1") {
            return Ok(());
        }
        Err(Error::config(
            ALLOW_EXECUTABLES_ENV,
            format!(
                "executables need to be explicitly allowed (set {ALLOW_EXECUTABLES_ENV} to '1') to run `{}`",
                self.program()
            ),
        )
        .with_hint(format!(
            "set {ALLOW_EXECUTABLES_ENV}=1 in this process's environment, but only for \
             credential configurations you trust: the command runs with this process's privileges"
        )))
    }

    /// The `output_file` cache: `Ok(Some)` for a usable response, `Ok(None)` when the command
    /// must run, `Err` for a malformed file.
    async fn cached(&self, path: &Path) -> Result<Option<SubjectToken>, Error> {
        let shown = path.display();
        let body =
            match read_output_file(path, MAX_OUTPUT_BYTES, Instant::now() + self.timeout).await {
                Ok(body) => body,
                // Missing (the usual first run) or unreadable: Google's Python and Go libraries
                // both run the command.
                Err(e) => {
                    tracing::debug!(path = %shown, error = %e, "no cached executable response");
                    return Ok(None);
                }
            };
        if body.iter().all(u8::is_ascii_whitespace) {
            tracing::debug!(path = %shown, "executable output file is empty");
            return Ok(None);
        }
        match response::parse(&body, self.clock.now()) {
            Ok(parsed) if parsed.has_expiration => {
                tracing::debug!(path = %shown, "using the cached executable response");
                Ok(Some(parsed.token))
            }
            Ok(_) => {
                tracing::debug!(path = %shown, "cached executable response has no expiration_time; running the executable");
                Ok(None)
            }
            Err(p) if p.means_run_again() => {
                tracing::debug!(path = %shown, problem = %p, "cached executable response is not usable; running the executable");
                Ok(None)
            }
            Err(p) => Err(problem_error(p, &format!("cached executable response in `{shown}`"))
                .with_hint(format!(
                    "fix the executable that writes `{shown}`, or delete the file; {RESPONSE_HINT}"
                ))),
        }
    }

    async fn execute(&self, ctx: &SourceContext) -> Result<SubjectToken, Error> {
        let program = self.program();
        let what = format!("executable `{program}`");
        let mut set: Vec<(&str, &OsStr)> = vec![
            (AUDIENCE_ENV, ctx.audience.as_ref()),
            (TOKEN_TYPE_ENV, ctx.subject_token_type.as_ref()),
            (INTERACTIVE_ENV, "0".as_ref()),
        ];
        let mut unset = Vec::new();
        match ctx.impersonated_email.as_deref() {
            Some(email) => set.push((IMPERSONATED_EMAIL_ENV, email.as_ref())),
            None => unset.push(IMPERSONATED_EMAIL_ENV),
        }
        // As an OsStr: a path need not be UTF-8.
        match self.output_file.as_deref() {
            Some(file) => set.push((OUTPUT_FILE_ENV, file.as_os_str())),
            None => unset.push(OUTPUT_FILE_ENV),
        }

        wif_core::note_progress(Step::Source, &what, 1);
        let started = Instant::now();
        let finished = run::run(&self.argv, &set, &unset, self.timeout, MAX_OUTPUT_BYTES)
            .await
            .map_err(|e| self.run_error(e, &what))?;
        let stdout = finished.stdout;
        tracing::debug!(
            program,
            status = %describe_status(&finished.status),
            stdout_bytes = stdout.len(),
            stderr_bytes = finished.stderr_len,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "executable finished"
        );
        let streams = format!(
            "stdout: {} bytes, stderr: {} bytes, not shown",
            stdout.len(),
            finished.stderr_len
        );
        if !finished.status.success() {
            let status = describe_status(&finished.status);
            // An executable may exit non-zero *and* explain itself with an unsuccessful response;
            // its code and message are meant to be shown.
            if let Err(p) = response::parse(&stdout, self.clock.now())
                && p.kind == ProblemKind::Unsuccessful
            {
                return Err(problem_error(
                    p,
                    &format!("{what} (which exited with {status})"),
                ));
            }
            return Err(Error::new(
                Step::Source,
                ErrorKind::Io,
                format!("{what} failed with {status} ({streams})"),
            )
            .with_hint(
                "run the command by hand, with the GOOGLE_EXTERNAL_ACCOUNT_* variables it \
                 expects, to see its diagnostics",
            ));
        }

        let (body, from) = if stdout.iter().all(u8::is_ascii_whitespace) {
            let Some(path) = &self.output_file else {
                return Err(Error::invalid_response(
                    Step::Source,
                    format!("{what} exited successfully but printed nothing on stdout ({streams})"),
                )
                .with_hint(RESPONSE_HINT));
            };
            // Python reads the response from output_file when stdout is empty; within the same
            // `timeout_millis` as the command.
            let body = read_output_file(path, MAX_OUTPUT_BYTES, started + self.timeout)
                .await
                .map_err(|e| {
                    let kind = match e {
                        OutputFileError::TimedOut => ErrorKind::Timeout,
                        OutputFileError::Read(_) => ErrorKind::Io,
                    };
                    let err = Error::new(
                        Step::Source,
                        kind,
                        format!(
                            "{what} printed nothing on stdout, and its output file `{}` {e}",
                            path.display()
                        ),
                    );
                    match e.os_error() {
                        Some(io) => err.with_source(std::io::Error::new(io.kind(), io.to_string())),
                        None => err,
                    }
                })?;
            (
                body,
                format!("{what} (response read from `{}`)", path.display()),
            )
        } else {
            (stdout, what)
        };
        response::parse(&body, self.clock.now())
            .map(|parsed| parsed.token)
            .map_err(|p| problem_error(p, &from))
    }

    fn run_error(&self, e: RunError, what: &str) -> Error {
        match e {
            RunError::TooMuchOutput => Error::invalid_response(
                Step::Source,
                format!(
                    "{what} printed more than {MAX_OUTPUT_BYTES} bytes on stdout; it was stopped \
                     (with every process it started)"
                ),
            )
            .with_hint(RESPONSE_HINT),
            RunError::TimedOut => Error::new(
                Step::Source,
                ErrorKind::Timeout,
                format!(
                    "{what} did not finish within {} ms and was killed (with every process it \
                     started)",
                    self.timeout.as_millis()
                ),
            )
            .with_hint(format!(
                "raise `{TIMEOUT_FIELD}` (at most 120000), or check why the command hangs \
                 (it runs without a terminal and with stdin closed)"
            )),
            RunError::Spawn(e) => {
                let hint = match e.kind() {
                    std::io::ErrorKind::NotFound => Some(format!(
                        "`{COMMAND_FIELD}` is run directly, not through a shell: give the full \
                         path of the program, or make sure it is on this process's PATH"
                    )),
                    std::io::ErrorKind::PermissionDenied => Some(
                        "the program must be executable by this process's user (chmod +x)"
                            .to_owned(),
                    ),
                    _ => None,
                };
                let err = Error::new(
                    Step::Source,
                    ErrorKind::Io,
                    format!("could not start {what}"),
                )
                .with_source(e);
                match hint {
                    Some(h) => err.with_hint(h),
                    None => err,
                }
            }
            RunError::Io(e) => Error::new(
                Step::Source,
                ErrorKind::Io,
                format!("could not read the output of {what}"),
            )
            .with_source(e),
        }
    }
}

#[async_trait]
impl SubjectTokenSource for ExecutableSource {
    async fn subject_token(&self, ctx: &SourceContext) -> Result<SubjectToken, Error> {
        let span = tracing::debug_span!("executable_subject_token", program = self.program());
        async {
            // Before the cache, as Python does: a configuration that may not run executables
            // must not half-work from a cache file either.
            self.check_allowed()?;
            if let Some(path) = &self.output_file
                && let Some(token) = self.cached(path).await?
            {
                return Ok(token);
            }
            self.execute(ctx).await
        }
        .instrument(span)
        .await
    }

    fn kind(&self) -> &'static str {
        "executable"
    }
}

/// A response-validation problem as an error at [`Step::Source`], prefixed with where the
/// response came from.
fn problem_error(p: Problem, from: &str) -> Error {
    let kind = match p.kind {
        ProblemKind::Malformed | ProblemKind::Unsupported => ErrorKind::InvalidResponse,
        ProblemKind::Unsuccessful | ProblemKind::Expired => ErrorKind::InvalidToken,
    };
    let err = Error::new(Step::Source, kind, format!("{from}: {}", p.message));
    match p.kind {
        ProblemKind::Malformed | ProblemKind::Unsupported => err.with_hint(RESPONSE_HINT),
        ProblemKind::Expired => err.with_hint(
            "the executable returned a token whose `expiration_time` has passed; check the \
             clock of this machine and the executable's own cache",
        ),
        ProblemKind::Unsuccessful => err,
    }
}

#[cfg(all(test, unix))]
mod tests;
