//! The X.509 source's certificate configuration (`certificate_config.json`): its
//! `cert_configs.workload.cert_path` and `key_path`. Input: the file's content, where each 0xFF
//! byte stands for a secret the file carries.
//!
//! Beyond "no panic": accepted paths are non-blank and no longer than the file; an error names
//! the file and the field, is short, and never quotes the content.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wif_source_x509::fuzzing::{CONFIG_PATH, certificate_config};

const SECRET: &str = "fuzz-config-secret-41c9";

fuzz_target!(|data: &[u8]| {
    let mut bytes = Vec::with_capacity(data.len());
    for &b in data {
        match b {
            0xFF => bytes.extend_from_slice(SECRET.as_bytes()),
            _ => bytes.push(b),
        }
    }
    match certificate_config(&bytes) {
        Ok(paths) => {
            for path in [&paths.cert_path, &paths.key_path] {
                let shown = path.to_string_lossy();
                assert!(!shown.trim().is_empty(), "a blank path");
                assert!(shown.len() <= bytes.len(), "a path longer than the file");
            }
        }
        Err(e) => {
            let shown = format!("{e} {e:?}");
            assert!(
                shown.contains(CONFIG_PATH),
                "the error names no file: {shown}"
            );
            assert!(shown.len() <= 1000, "{} bytes: {shown}", shown.len());
            assert!(
                !shown.contains(SECRET),
                "the error quotes the file: {shown}"
            );
        }
    }
});
