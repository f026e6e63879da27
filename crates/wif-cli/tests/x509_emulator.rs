//! The `wif` binary with an X.509 (certificate) credential configuration against the emulator's
//! mTLS listener: the handshake presents the workload certificate, the emulator's Google STS
//! checks that the subject token's leaf is that certificate and maps its common name, and IAM
//! Credentials (reached over mTLS too, as clients send the certificate on both calls)
//! impersonates. The emulator's server certificate chains to a private CA, trusted through
//! `--ca-certs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::Value;
use support::*;
use wif_emulator::config::DEFAULT_SERVICE_ACCOUNT;
use wif_emulator::configs::certificate_config;
use wif_emulator::{Emulator, EmulatorConfig, Endpoint, MtlsConfig, RunningEmulator};
use wif_source_x509::testing::{TestFiles, TestPki};

/// An emulator serving mTLS with `pki`'s server certificate, trusting `pki`'s root for clients.
fn start(world: &World, pki: &TestPki) -> RunningEmulator {
    let mtls = MtlsConfig::new(
        pki.server.cert_pem.clone(),
        pki.server.key_pem.clone(),
        pki.root_pem(),
    );
    world
        .runtime
        .block_on(
            Emulator::new(EmulatorConfig::default())
                .with_mtls(mtls)
                .start_local(),
        )
        .unwrap()
}

/// The emulator's certificate configuration for `files`, written as `name`.
fn write_config(
    world: &World,
    emulator: &RunningEmulator,
    files: &TestFiles,
    name: &str,
    impersonate: bool,
) -> std::path::PathBuf {
    let mut config = certificate_config(
        emulator,
        &files.certificate_config,
        Some(&files.trust_chain),
    )
    .unwrap();
    if !impersonate {
        config
            .as_object_mut()
            .unwrap()
            .remove("service_account_impersonation_url");
    }
    world.write_config(name, &config.to_string())
}

/// A private PKI written to disk and an emulator serving mTLS with it.
struct Mtls {
    world: World,
    pki: TestPki,
    files: TestFiles,
    emulator: RunningEmulator,
}

impl Mtls {
    fn new() -> Self {
        let world = World::new();
        let pki = TestPki::new().unwrap();
        let files = pki.write_files(&world.dir.path().join("pki")).unwrap();
        let emulator = start(&world, &pki);
        Mtls {
            world,
            pki,
            files,
            emulator,
        }
    }

    /// A line of the workload's private key, which no output may contain.
    fn key_line(&self) -> String {
        self.pki.leaf.key_pem.lines().nth(1).unwrap().to_owned()
    }

    /// `wif COMMAND --credentials CONFIG --ca-certs <the emulator's CA> EXTRA…`.
    fn wif(
        &self,
        command: &str,
        config: &std::path::Path,
        extra: &[&str],
        env: &[(&str, &std::path::Path)],
    ) -> Run {
        let mut args = vec![
            command,
            "--credentials",
            path_str(config),
            "--ca-certs",
            path_str(&self.files.root),
        ];
        args.extend_from_slice(extra);
        self.world.wif(&args, env)
    }
}

#[test]
fn a_workload_certificate_gets_tokens_over_mtls() {
    let m = Mtls::new();
    let (world, emulator, files) = (&m.world, &m.emulator, &m.files);
    let key_line = m.key_line();

    // Exchange and impersonation, both on the mTLS port.
    let config = write_config(world, emulator, files, "x509.json", true);
    let run = m.wif(
        "token",
        &config,
        &[],
        &[("RUST_LOG", std::path::Path::new("debug"))],
    );
    run.assert_code(0).assert_stderr_clean(&[&key_line]);
    let token = run.stdout.trim_end();
    assert!(token.starts_with("emu-sa."), "{}", run.stdout);
    run.assert_stderr_clean(&[token]);
    assert_eq!(
        tokeninfo(world, emulator, token)["principal"],
        DEFAULT_SERVICE_ACCOUNT
    );
    assert_eq!(emulator.requests(Endpoint::GoogleSts), 1);
    assert_eq!(emulator.requests(Endpoint::IamCredentials), 1);

    // The federated token alone: google.subject is the leaf's common name.
    let config = write_config(world, emulator, files, "x509-federated.json", false);
    let run = m.wif("token", &config, &[], &[]);
    run.assert_code(0);
    let token = run.stdout.trim_end();
    assert!(token.starts_with("emu-federated."), "{}", run.stdout);
    assert_eq!(
        tokeninfo(world, emulator, token)["principal"],
        emulator.config().principal_for_subject("workload-1")
    );
    assert_eq!(emulator.requests(Endpoint::GoogleSts), 2);
}

#[test]
fn a_certificate_from_another_ca_fails_the_handshake() {
    let m = Mtls::new();
    let (world, emulator) = (&m.world, &m.emulator);
    // A workload whose certificate the emulator's client CA did not issue.
    let stranger = TestPki::new().unwrap();
    let stranger_files = stranger
        .write_files(&world.dir.path().join("stranger"))
        .unwrap();
    let config = write_config(world, emulator, &stranger_files, "stranger.json", true);

    let run = m.wif("token", &config, &[], &[]);
    run.assert_code(1);
    assert!(run.stderr.contains("STS token exchange"), "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert_eq!(
        emulator.requests(Endpoint::GoogleSts),
        0,
        "no request got past the handshake"
    );
}

/// `wif explain` runs an X.509 chain to the end: its exchange step presents the workload
/// certificate (the same mTLS client as `wif token`), and the report shows no key material.
#[test]
fn explain_walks_an_x509_chain_through_the_mtls_exchange() {
    let m = Mtls::new();
    let emulator = &m.emulator;
    let key_line = m.key_line();
    let config = write_config(&m.world, emulator, &m.files, "x509.json", true);

    let run = m.wif("explain", &config, &["--format", "json"], &[]);
    run.assert_code(0).assert_stderr_clean(&[&key_line]);
    assert!(!run.stdout.contains(&key_line), "{}", run.stdout);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["ok"], true, "{report:#}");
    let steps = report["steps"].as_array().unwrap();
    for s in steps {
        assert_eq!(s["status"], "ok", "{s:#}");
    }
    assert_eq!(emulator.requests(Endpoint::GoogleSts), 1);
    assert_eq!(emulator.requests(Endpoint::IamCredentials), 1);
}
