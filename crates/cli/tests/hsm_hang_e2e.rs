//! End-to-end: the HSM hangs. The SoftHSM2 token is remoted through
//! `p11-kit server` and the per-client `p11-kit-remote` process is stopped
//! with SIGSTOP, so PKCS#11 calls block instead of failing. Health and
//! status must still answer, an operation that needs the HSM must fail with
//! a timeout instead of hanging, and sealing must not wedge behind it.

mod common;

use coffer_testkit::token::PIN;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn client_module() -> String {
    let m = std::env::var("COFFER_TEST_P11KIT_CLIENT")
        .unwrap_or_else(|_| "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so".to_owned());
    assert!(
        Path::new(&m).exists(),
        "p11-kit client module {m} not found: install p11-kit-modules (scripts/setup does) or set COFFER_TEST_P11KIT_CLIENT"
    );
    m
}

/// `p11-kit server` remoting the test token; resumes and kills it on drop.
struct Remote {
    server: Child,
    socket: PathBuf,
}

impl Remote {
    fn start(hsm: &Hsm) -> Self {
        let socket = hsm.dir.path().join("p11.sock");
        let server = Command::new("p11-kit")
            .args(["server", "-f", "--provider", &module(), "-n"])
            .arg(&socket)
            .arg(format!("pkcs11:token={}", hsm.label))
            .envs([hsm.env()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("p11-kit server (install p11-kit)");
        let start = Instant::now();
        while !socket.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "p11-kit server did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { server, socket }
    }

    fn address(&self) -> String {
        format!("unix:path={}", self.socket.display())
    }

    /// The per-connection `p11-kit-remote` children of the server.
    fn workers(&self) -> Vec<String> {
        let out = Command::new("pgrep")
            .args(["-P", &self.server.id().to_string()])
            .output()
            .expect("pgrep");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    fn signal_workers(&self, sig: &str) {
        for pid in self.workers() {
            let _ = Command::new("kill").args([sig, &pid]).status();
        }
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        self.signal_workers("-CONT");
        self.signal_workers("-KILL");
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

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
