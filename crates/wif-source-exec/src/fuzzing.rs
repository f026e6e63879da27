//! Entry points for the coverage-guided fuzz targets in the repository's `fuzz/` directory: the
//! executable's output (and the command line it is started with) without running anything. Only
//! with the `fuzzing` feature (which `fuzz/Cargo.toml` turns on) and in this crate's own tests; not
//! part of the API: hidden from the documentation, and free to change.

use std::time::SystemTime;

use wif_core::SubjectToken;

/// Validates an executable's response (stdout or the output file) read at `now`; the error is
/// the problem's message.
pub fn executable_response(body: &[u8], now: SystemTime) -> Result<SubjectToken, String> {
    crate::response::parse(body, now)
        .map(|parsed| parsed.token)
        .map_err(|problem| problem.to_string())
}

/// Splits a `command` as the source does before starting it (Python's `shlex.split`).
pub fn command_line(command: &str) -> Result<Vec<String>, String> {
    crate::command::split(command).map_err(|e| e.to_string())
}
