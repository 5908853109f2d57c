//! The SoftHSM2 token fixture: a `softhsm2.conf` of its own whose token
//! directory lives in a test's temp dir, and a throwaway token initialised in
//! it with `softhsm2-util`. The module path comes from
//! `COFFER_TEST_PKCS11_MODULE` (default: Debian's SoftHSM2), so the same tests
//! run against another token; a missing module fails the test, HSM tests are
//! never skipped.
//!
//! SoftHSM reads `SOFTHSM2_CONF` once, at `C_Initialize`, so the variable is
//! handed to the process that loads the module (`Command::env`), never set in
//! the test process itself.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The user PIN (and SO PIN) of every test token.
pub const PIN: &str = "1234";

/// The PKCS#11 module under test: `COFFER_TEST_PKCS11_MODULE`, or Debian's
/// SoftHSM2. Panics when the file is missing.
pub fn module_path() -> PathBuf {
    let path = std::env::var_os("COFFER_TEST_PKCS11_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"));
    assert!(
        path.is_file(),
        "PKCS#11 module {} not found: install SoftHSM2 (apt-get install softhsm2, scripts/setup \
         does) or set COFFER_TEST_PKCS11_MODULE",
        path.display()
    );
    path
}

/// A SoftHSM2 configuration under one folder: `softhsm2.conf` and the token
/// directory `tokens/` it names.
#[derive(Debug, Clone)]
pub struct SoftHsm {
    root: PathBuf,
}

impl SoftHsm {
    /// Writes `softhsm2.conf` and creates `tokens/` under `root` (an existing
    /// folder, usually a temp dir).
    pub fn configure(root: &Path) -> Self {
        let hsm = Self::at(root);
        std::fs::create_dir(hsm.tokendir()).expect("SoftHSM token dir");
        std::fs::write(
            hsm.conf(),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n\
                 slots.removable = false\n",
                hsm.tokendir().display()
            ),
        )
        .expect("write softhsm2.conf");
        hsm
    }

    /// The configuration [`SoftHsm::configure`] wrote under `root` before (in
    /// a child process told where it is).
    pub fn at(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    /// The `softhsm2.conf` to hand out as `SOFTHSM2_CONF`.
    pub fn conf(&self) -> PathBuf {
        self.root.join("softhsm2.conf")
    }

    /// `directories.tokendir`: one folder per token (SoftHSM names it by UUID).
    pub fn tokendir(&self) -> PathBuf {
        self.root.join("tokens")
    }

    /// Initialises a token labelled `label` with [`PIN`] as user and SO PIN in
    /// a free slot; returns the slot SoftHSM moved it to.
    pub fn init_token(&self, label: &str) -> u64 {
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", label])
            .args(["--pin", PIN, "--so-pin", PIN])
            .env("SOFTHSM2_CONF", self.conf())
            .output()
            .expect("softhsm2-util (apt-get install softhsm2)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "softhsm2-util --init-token failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text.split("reassigned to slot ")
            .nth(1)
            .and_then(|s| s.trim().parse().ok())
            .expect("softhsm2-util names the new slot")
    }
}
