//! Executable-sourced credentials (pluggable auth, step 1): the program's JSON response on stdout
//! or in its output file, and the `command` string split into a program and arguments.

#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use wif_source_exec::fuzzing::{command_line, executable_response};

/// A fixed "now" (2023-11-14), so expiry checks are reproducible.
const NOW: Duration = Duration::from_secs(1_700_000_000);

fuzz_target!(|data: &[u8]| {
    match executable_response(data, SystemTime::UNIX_EPOCH + NOW) {
        Ok(token) => {
            let _ = (token.expires_at(), format!("{token:?}"));
        }
        Err(problem) => assert!(!problem.is_empty()),
    }
    if let Ok(command) = std::str::from_utf8(data)
        && let Ok(argv) = command_line(command)
    {
        // Each word is made of the input's characters, so none can be longer than the input.
        assert!(argv.iter().all(|word| word.len() <= command.len()));
    }
});
