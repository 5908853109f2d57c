//! `p11-kit server` remoting a test token, to make the HSM hang on demand:
//! stop the server (new connections hang) or its per-client workers (live
//! sessions hang) with SIGSTOP.

use super::{Hsm, module};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// p11-kit's client module (reads `P11_KIT_SERVER_ADDRESS`).
pub(crate) fn client_module() -> String {
    let m = std::env::var("COFFER_TEST_P11KIT_CLIENT")
        .unwrap_or_else(|_| "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so".to_owned());
    assert!(
        Path::new(&m).exists(),
        "p11-kit client module {m} not found: install p11-kit-modules (scripts/setup does) or set COFFER_TEST_P11KIT_CLIENT"
    );
    m
}

/// `p11-kit server` remoting the test token; resumes and kills it on drop.
pub(crate) struct Remote {
    server: Child,
    socket: PathBuf,
}

impl Remote {
    pub(crate) fn start(hsm: &Hsm) -> Self {
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

    /// The value for `P11_KIT_SERVER_ADDRESS`.
    pub(crate) fn address(&self) -> String {
        format!("unix:path={}", self.socket.display())
    }

    /// The per-connection `p11-kit-remote` children of the server.
    pub(crate) fn workers(&self) -> Vec<String> {
        let out = Command::new("pgrep")
            .args(["-P", &self.server.id().to_string()])
            .output()
            .expect("pgrep");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    /// Sends `sig` (`-STOP`, `-CONT`, ...) to every worker.
    pub(crate) fn signal_workers(&self, sig: &str) {
        for pid in self.workers() {
            let _ = Command::new("kill").args([sig, &pid]).status();
        }
    }
}

impl Remote {
    /// Sends `sig` to the listening server itself: a stopped server still
    /// accepts connections (the kernel queues them) but never answers.
    pub(crate) fn signal_server(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([sig, &self.server.id().to_string()])
            .status();
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        self.signal_server("-CONT");
        self.signal_workers("-CONT");
        self.signal_workers("-KILL");
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}
