//! The default `wif` (no `emulator` feature: what `cargo install wif-cli` builds) refuses
//! `wif demo` and `wif emulator` with a configuration error that says how to get them.

#![cfg(not(feature = "emulator"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use wif_core::testing::assert_says;

#[test]
fn demo_and_emulator_say_how_to_build_them_in() {
    for command in ["demo", "emulator"] {
        let out = Command::new(env!("CARGO_BIN_EXE_wif"))
            .arg(command)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(out.stdout.is_empty(), "{command}");
        assert_says(
            &stderr,
            &[
                &format!("`wif {command}` needs the emulator"),
                &format!("cargo run -p wif-cli --features emulator -- {command}"),
            ],
        );
    }
}
