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
        &json!({
            "type": "external_account",
            "audience": wif::testing::FAKE_AUDIENCE,
            "subject_token_type": "urn:ietf:params:oauth:token-type:mtls",
            "token_url": sts.token_url(),
            "credential_source": {
                "certificate": {
                    "certificate_config_location": files.certificate_config,
                    "trust_chain_path": files.trust_chain,
                }
            }
        })
        .to_string(),
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
