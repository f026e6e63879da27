//! Records the compiler version for the `gl-rust/<version>` token of the `x-goog-api-client`
//! metrics header Google's auth libraries send (Python: `gl-python/3.11.7`, Go: `gl-go/1.22`).
//!
//! Best effort: if `rustc --version` can't be run or parsed, nothing is recorded and the header
//! says `gl-rust/unknown`. A build must never fail over a metrics string.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTC");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let Ok(output) = Command::new(rustc).arg("--version").output() else {
        return;
    };
    if !output.status.success() {
        return;
    }
    // "rustc 1.95.0 (59807616e 2026-04-14)" -> "1.95.0"
    let text = String::from_utf8_lossy(&output.stdout);
    let Some(version) = text.split_whitespace().nth(1) else {
        return;
    };
    if !version.is_empty()
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        println!("cargo:rustc-env=WIF_STS_RUSTC_VERSION={version}");
    }
}
