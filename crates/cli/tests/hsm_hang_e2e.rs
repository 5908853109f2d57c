//! End-to-end: the HSM hangs. The SoftHSM2 token is remoted through
//! `p11-kit server` and the per-client `p11-kit-remote` process is stopped
//! with SIGSTOP, so PKCS#11 calls block instead of failing. Health and
//! status must still answer, an operation that needs the HSM must fail with
//! a timeout instead of hanging, and sealing must not wedge behind it.

mod common;

use coffer_testkit::token::PIN;
use common::p11kit::{Remote, client_module};
use common::*;
use std::process::Command;
use std::time::Duration;

/// Runs the CLI with a hard limit, so a hang fails the test instead of
/// stalling it; returns the output (exit code 124 means it hung).
fn coffer_bounded(addr: &str, token: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut c = Command::new("timeout");
    c.arg("30").arg(env!("CARGO_BIN_EXE_coffer")).args(args);
    c.env("VAULT_ADDR", addr).env("HOME", std::env::temp_dir());
    match token {
        Some(t) => c.env("VAULT_TOKEN", t),
        None => c.env_remove("VAULT_TOKEN"),
    };
    c.output().expect("run coffer")
}

#[test]
fn hung_hsm_fails_operations_with_a_timeout_and_never_wedges_health_or_seal() {
    let hsm = Hsm::new();
    let remote = Remote::start(&hsm);
    let stanza = hsm.pkcs11_stanza_with_lib(
        &client_module(),
        "  key_label = \"rsa-root\"\n  generate_key = \"true\"\n  mechanism = \"0x0009\"\n  rsa_oaep_hash = \"sha1\"\n",
    );
    let (config, addr) = hsm.write_config(&stanza);
    let p11_address = remote.address();
    let mut server = hsm.start_with_env(&config, PIN, &[("P11_KIT_SERVER_ADDRESS", &p11_address)]);
    wait_up(&addr, &mut server);
    let (token, recovery) = init_auto(&addr, 1, 1);
    assert!(
        !remote.workers().is_empty(),
        "the server holds a p11-kit connection"
    );

    remote.signal_workers("-STOP");
    let status = coffer_bounded(&addr, None, &["status"]);
    assert_eq!(
        status.status.code(),
        Some(0),
        "status answers while the HSM hangs: {}",
        text(&status)
    );

    let addr_for_thread = addr.clone();
    let stuck = std::thread::spawn(move || generate_root_with(&addr_for_thread, &recovery));
    std::thread::sleep(Duration::from_millis(500));
    let sealed = coffer_bounded(&addr, Some(&token), &["operator", "seal"]);
    assert_eq!(
        sealed.status.code(),
        Some(0),
        "seal must not wedge behind a hung HSM call: {}",
        text(&sealed)
    );
    let attempt = stuck.join().expect("generate-root thread");
    assert!(!attempt.complete(), "the HSM never answered");
    assert!(
        attempt.body.to_string().contains("did not answer within"),
        "a hung HSM is reported as a timeout: {}",
        attempt.body
    );
    let health = coffer_bounded(&addr, None, &["status"]);
    assert_eq!(
        health.status.code(),
        Some(2),
        "sealed now: {}",
        text(&health)
    );

    remote.signal_workers("-CONT");
    stop(server);
}
