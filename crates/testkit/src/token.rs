//! The PKCS#11 test token fixture: a token store of its own under a test's
//! temp dir, and throwaway tokens initialised in it. The module comes from
//! `COFFER_TEST_PKCS11_MODULE` (default: Debian's SoftHSM2), so the same
//! tests run against another implementation; a missing module fails the
//! test, HSM tests are never skipped.
//!
//! Two implementations are known, told apart by the module's file name:
//! - SoftHSM2: `softhsm2.conf` with a token directory, tokens made with
//!   `softhsm2-util --init-token --free`;
//! - kryoptic (built by `scripts/setup`): a TOML file with a few sqlite-backed
//!   slots, tokens made with `pkcs11-tool --init-token` and `--init-pin`.
//!
//! Both read their configuration file once, at `C_Initialize`, from an
//! environment variable ([`TokenStore::env`]); it is handed to the process
//! that loads the module (`Command::env`), never set in the test process.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The user PIN (and SO PIN) of every test token.
pub const PIN: &str = "1234";

/// How many slots a kryoptic store offers (tokens one test can make).
const KRYOPTIC_SLOTS: u64 = 4;

/// The PKCS#11 module under test: `COFFER_TEST_PKCS11_MODULE`, or Debian's
/// SoftHSM2. Panics when the file is missing.
pub fn module_path() -> PathBuf {
    let path = std::env::var_os("COFFER_TEST_PKCS11_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"));
    assert!(
        path.is_file(),
        "PKCS#11 module {} not found: install SoftHSM2 (apt-get install softhsm2) or build \
         kryoptic (scripts/setup does both), or set COFFER_TEST_PKCS11_MODULE",
        path.display()
    );
    path
}

/// Which token implementation a module is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// SoftHSM 2 (Debian's `softhsm2`).
    SoftHsm2,
    /// kryoptic, the Rust soft token.
    Kryoptic,
}

impl TokenKind {
    /// The kind of the module under test ([`module_path`]).
    pub fn under_test() -> Self {
        Self::of(&module_path())
    }

    /// The kind of `module`, from its file name.
    pub fn of(module: &Path) -> Self {
        let name = module
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if name.contains("kryoptic") {
            Self::Kryoptic
        } else {
            Self::SoftHsm2
        }
    }
}

/// A token store under one folder: the implementation's configuration file
/// and the token data it names.
#[derive(Debug, Clone)]
pub struct TokenStore {
    root: PathBuf,
    kind: TokenKind,
}

impl TokenStore {
    /// Writes the configuration for the module under test under `root` (an
    /// existing folder, usually a temp dir).
    pub fn configure(root: &Path) -> Self {
        let store = Self::at(root);
        match store.kind {
            TokenKind::SoftHsm2 => {
                std::fs::create_dir(store.tokendir()).expect("SoftHSM token dir");
                std::fs::write(
                    store.conf(),
                    format!(
                        "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n\
                         slots.removable = false\n",
                        store.tokendir().display()
                    ),
                )
                .expect("write softhsm2.conf");
            }
            TokenKind::Kryoptic => {
                let slots: String = (1..=KRYOPTIC_SLOTS)
                    .map(|n| {
                        format!(
                            "[[slots]]\nslot = {n}\ndbtype = \"sqlite\"\ndbargs = \"{}\"\n\n",
                            root.join(format!("slot{n}.sql")).display()
                        )
                    })
                    .collect();
                std::fs::write(store.conf(), slots).expect("write kryoptic.toml");
            }
        }
        store
    }

    /// The store [`TokenStore::configure`] wrote under `root` before (in a
    /// child process told where it is).
    pub fn at(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            kind: TokenKind::under_test(),
        }
    }

    /// The implementation this store is for.
    pub fn kind(&self) -> TokenKind {
        self.kind
    }

    /// The configuration file.
    pub fn conf(&self) -> PathBuf {
        self.root.join(match self.kind {
            TokenKind::SoftHsm2 => "softhsm2.conf",
            TokenKind::Kryoptic => "kryoptic.toml",
        })
    }

    /// The environment variable (and value) that points the module at this
    /// store; hand it to every process that loads the module.
    pub fn env(&self) -> (&'static str, PathBuf) {
        let var = match self.kind {
            TokenKind::SoftHsm2 => "SOFTHSM2_CONF",
            TokenKind::Kryoptic => "KRYOPTIC_CONF",
        };
        (var, self.conf())
    }

    /// SoftHSM2's `directories.tokendir`: one folder per token (named by
    /// UUID). Panics for other implementations, whose tokens are not folders.
    pub fn tokendir(&self) -> PathBuf {
        assert_eq!(
            self.kind,
            TokenKind::SoftHsm2,
            "only SoftHSM2 keeps its tokens in a token directory"
        );
        self.root.join("tokens")
    }

    /// Initialises a token labelled `label` with [`PIN`] as user and SO PIN in
    /// a free slot; returns that slot's id.
    pub fn init_token(&self, label: &str) -> u64 {
        match self.kind {
            TokenKind::SoftHsm2 => self.init_softhsm_token(label),
            TokenKind::Kryoptic => self.init_kryoptic_token(label),
        }
    }

    fn init_softhsm_token(&self, label: &str) -> u64 {
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", label])
            .args(["--pin", PIN, "--so-pin", PIN])
            .env("SOFTHSM2_CONF", self.conf())
            .output()
            .expect("softhsm2-util (apt-get install softhsm2)");
        let text = output_text(&out);
        assert!(
            out.status.success(),
            "softhsm2-util --init-token failed: {text}"
        );
        text.split("reassigned to slot ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .expect("softhsm2-util names the new slot")
    }

    fn init_kryoptic_token(&self, label: &str) -> u64 {
        let slot = (1..=KRYOPTIC_SLOTS)
            .find(|n| !self.kryoptic_marker(*n).exists())
            .expect("a free kryoptic slot (each store has four)");
        let slot_arg = slot.to_string();
        self.pkcs11_tool(&[
            "--init-token",
            "--slot",
            &slot_arg,
            "--label",
            label,
            "--so-pin",
            PIN,
        ]);
        self.pkcs11_tool(&[
            "--slot",
            &slot_arg,
            "--login",
            "--login-type",
            "so",
            "--so-pin",
            PIN,
            "--init-pin",
            "--pin",
            PIN,
        ]);
        std::fs::write(self.kryoptic_marker(slot), label).expect("mark the slot used");
        slot
    }

    /// Written once slot `n` holds a token (kryoptic creates the sqlite file
    /// of every slot as soon as it is listed, so the file says nothing).
    fn kryoptic_marker(&self, n: u64) -> PathBuf {
        self.root.join(format!("slot{n}.label"))
    }

    fn pkcs11_tool(&self, args: &[&str]) {
        let (var, conf) = self.env();
        let out = Command::new("pkcs11-tool")
            .arg("--module")
            .arg(module_path())
            .args(args)
            .env(var, conf)
            .output()
            .expect("pkcs11-tool (apt-get install opensc)");
        assert!(
            out.status.success(),
            "pkcs11-tool {args:?} failed: {}",
            output_text(&out)
        );
    }
}

fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
