//! The `wif` binary with an X.509 (certificate) credential configuration, against an STS fake
//! on 127.0.0.1 that requires a client certificate (`wif_source_x509::testing`). The fake's
//! private CA is trusted through `--ca-certs` / `WIF_CA_CERTS`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::json;
use support::*;
use wif_source_x509::testing::{MtlsStsServer, TestPki};

#[test]
fn token_over_mtls_from_a_certificate_configuration() {
    let world = World::new();
    let pki = TestPki::new().unwrap();
    let files = pki.write_files(&world.dir.path().join("pki")).unwrap();
    let sts = world.runtime.block_on(MtlsStsServer::start(&pki)).unwrap();
    let config = world.write_config(
        "x509.json",
        &certificate_config(
            json!({
                "certificate_config_location": files.certificate_config,
                "trust_chain_path": files.trust_chain,
            }),
            Some(&sts.token_url()),
        ),
    );
    let key_line = pki.leaf.key_pem.lines().nth(1).unwrap().to_owned();

    let run = world.token(&config, &["--ca-certs", path_str(&files.root)]);
    run.assert_code(0).assert_stderr_clean(&[&key_line]);
    assert_eq!(run.stdout, "mtls-federated-1\n");
    let requests = sts.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].client_certificates[0].as_ref(),
        pki.leaf.cert_der.as_ref(),
        "the workload certificate was presented"
    );

    // The variable works as the flag does.
    let run = world.token_with_env(&config, &[("WIF_CA_CERTS", &files.root)]);
    run.assert_code(0);
    assert_eq!(run.stdout, "mtls-federated-2\n");

    // Without the private CA the fake's certificate is not trusted: the exchange fails.
    let run = world.token(&config, &[]);
    run.assert_code(1).assert_stderr_clean(&[&key_line]);
    assert!(run.stderr.contains("STS token exchange"), "{}", run.stderr);
    assert_eq!(sts.requests().len(), 2);

    // A bundle with no certificate is a usage error.
    let run = world.token(&config, &["--ca-certs", path_str(&config)]);
    run.assert_code(2);
    assert!(run.stderr.contains("root_certificates"), "{}", run.stderr);
}

/// `wif explain` shows the STS endpoint the chain calls: for a certificate configuration that
/// leaves `token_url` to the default, the universe's mTLS host (the plan's rule), not the plain
/// default. The certificate configuration does not exist, so the walk stops at the source and
/// nothing is sent.
#[test]
fn explain_shows_the_mtls_sts_host_of_a_certificate_configuration() {
    let world = World::new();
    let missing = world.dir.path().join("missing-certificate-config.json");
    let config = world.write_config(
        "x509.json",
        &certificate_config(json!({ "certificate_config_location": missing }), None),
    );
    let run = world.wif(
        &[
            "explain",
            "--credentials",
            path_str(&config),
            "--format",
            "json",
        ],
        &[],
    );
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let mtls = "https://sts.mtls.googleapis.com/v1/token";
    assert_eq!(
        report["plan"]["settings"]["token_url"]["value"], mtls,
        "{report:#}"
    );
    assert_eq!(report["plan"]["settings"]["token_url"]["from"], "rule");
    assert_eq!(report["steps"][0]["used"]["token_url"], mtls, "{report:#}");
    assert_eq!(report["failed_step"], "source", "{report:#}");
    assert!(world.requests().is_empty());
}

/// `--ca-certs` goes through the builder's rule for `wif explain` as for `wif token`: a file
/// without a certificate is refused before anything runs.
#[test]
fn explain_refuses_a_ca_bundle_without_a_certificate() {
    let world = World::new();
    let config = world.config(None);
    let run = world.wif(
        &[
            "explain",
            "--credentials",
            path_str(&config),
            "--ca-certs",
            path_str(&config),
        ],
        &[],
    );
    run.assert_code(2);
    for needle in ["1. Configuration: FAILED", "root_certificates"] {
        assert!(run.stdout.contains(needle), "{needle}: {}", run.stdout);
    }
    assert!(world.requests().is_empty());
}
