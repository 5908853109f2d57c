//! Shared end-to-end harness: a throwaway SoftHSM2 token per test (its own
//! SOFTHSM2_CONF, handed only to the child processes), a seed-004-style
//! config, the real `coffer` server process, and the `coffer` CLI.
//! The module path comes from COFFER_TEST_PKCS11_MODULE; a missing module
//! fails the test, it is never skipped.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub(crate) const PIN: &str = "4321";

pub(crate) fn module() -> String {
    let m = std::env::var("COFFER_TEST_PKCS11_MODULE")
        .unwrap_or_else(|_| "/usr/lib/softhsm/libsofthsm2.so".to_owned());
    assert!(
        Path::new(&m).exists(),
        "PKCS#11 module {m} not found: install softhsm2 (scripts/setup does) or set COFFER_TEST_PKCS11_MODULE"
    );
    m
}

/// A SoftHSM2 token directory of its own, and a data directory.
pub(crate) struct Hsm {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) label: String,
}

impl Hsm {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("tokens")).expect("tokens dir");
        std::fs::write(
            dir.path().join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                dir.path().join("tokens").display()
            ),
        )
        .expect("conf");
        let label = format!("coffer-e2e-{}", std::process::id());
        let out = Command::new("softhsm2-util")
            .args([
                "--init-token",
                "--free",
                "--label",
                &label,
                "--pin",
                PIN,
                "--so-pin",
                PIN,
            ])
            .env("SOFTHSM2_CONF", dir.path().join("softhsm2.conf"))
            .output()
            .expect("softhsm2-util (install softhsm2)");
        assert!(
            out.status.success(),
            "init token: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir, label }
    }

    pub(crate) fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    pub(crate) fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Writes a seed-004-style config and returns (path, address).
    pub(crate) fn config(&self, seal_body: &str) -> (PathBuf, String) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let path = self.dir.path().join("coffer.hcl");
        std::fs::write(
            &path,
            format!(
                "seal \"pkcs11\" {{\n  lib = \"{}\"\n  token_label = \"{}\"\n{seal_body}}}\n\n\
                 storage \"file\" {{\n  path = \"{}\"\n}}\n\n\
                 listener \"tcp\" {{\n  address = \"127.0.0.1:{port}\"\n  tls_disable = \"true\"\n}}\n\n\
                 disable_mlock = true\n",
                module(),
                self.label,
                self.data().display()
            ),
        )
        .expect("config");
        (path, format!("http://127.0.0.1:{port}"))
    }

    pub(crate) fn start(&self, config: &Path, pin: &str) -> Child {
        Command::new(env!("CARGO_BIN_EXE_coffer"))
            .arg("server")
            .arg(format!("-config={}", config.display()))
            .env("SOFTHSM2_CONF", self.conf())
            .env("VAULT_HSM_PIN", pin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn coffer server")
    }
}

pub(crate) fn coffer(addr: &str, token: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_coffer"));
    c.args(args)
        .env("VAULT_ADDR", addr)
        .env("HOME", std::env::temp_dir());
    match token {
        Some(t) => c.env("VAULT_TOKEN", t),
        None => c.env_remove("VAULT_TOKEN"),
    };
    c.output().expect("run coffer")
}

pub(crate) fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Waits until `coffer status` answers (any exit code but 1).
pub(crate) fn wait_up(addr: &str, child: &mut Child) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            let out = child_output(child);
            panic!("server exited early with {status}:\n{out}");
        }
        if coffer(addr, None, &["status"]).status.code() != Some(1) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "server did not come up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(crate) fn wait_unsealed(addr: &str) {
    let start = Instant::now();
    while coffer(addr, None, &["status"]).status.code() != Some(0) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "node did not auto-unseal"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(crate) fn child_output(child: &mut Child) -> String {
    use std::io::Read as _;
    let mut s = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut s);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut s);
    }
    s
}

/// SIGTERM, wait, return everything the server printed.
pub(crate) fn stop(mut child: Child) -> String {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "server ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child_output(&mut child)
}

pub(crate) fn field<'a>(out: &'a str, prefix: &str) -> Vec<&'a str> {
    out.lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .map(str::trim)
        .collect()
}

pub(crate) fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}
