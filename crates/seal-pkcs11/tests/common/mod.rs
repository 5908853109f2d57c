//! Process isolation for the seal's PKCS#11 tests, on the token fixture of
//! `coffer_testkit::token` (SoftHSM2, or the module in
//! `COFFER_TEST_PKCS11_MODULE`).
//!
//! The module reads its configuration variable (`SOFTHSM2_CONF`,
//! `KRYOPTIC_CONF`) once, at `C_Initialize`, and a PKCS#11 module is a
//! per-process singleton; setting the variable from inside the
//! test process would need `std::env::set_var`, which is `unsafe` in edition
//! 2024 (and `unsafe` is forbidden here). So each test re-executes this test
//! binary for itself — `<binary> <test-name> --exact` — with that variable
//! set on the child through `std::process::Command::env`, pointing at a conf
//! file whose token directory lives in a fresh temp dir. The child initialises
//! a throwaway token and runs the test body; the parent
//! only checks that exactly that one test passed. This works the same under
//! `cargo test` (tests as threads) and `cargo nextest` (tests as processes),
//! and every test gets its own module instance and token.

use std::future::Future;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use coffer_seal_pkcs11::{Pkcs11Options, SecretString};
use coffer_testkit::token::{PIN, TokenKind, TokenStore, module_path};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::session::{Session, UserType};

/// Marks the child process and names the test it runs.
const CHILD_ENV: &str = "COFFER_SEAL_PKCS11_TEST_CHILD";
/// Where the parent tells the child its temp dir is.
const DIR_ENV: &str = "COFFER_SEAL_PKCS11_TEST_DIR";
/// Upper bound for one test, so a hung HSM call fails the run instead of stalling CI.
const CHILD_TIMEOUT: Duration = Duration::from_secs(120);

/// Declares a test that runs in its own process against a fresh token.
#[macro_export]
macro_rules! hsm_test {
    ($(#[$meta:meta])* async fn $name:ident($token:ident: Token) $body:block) => {
        $(#[$meta])*
        #[test]
        fn $name() {
            common::isolated(stringify!($name), |$token: common::Token| async move $body);
        }
    };
}

/// Runs `body` in a child process with its own token store and token.
pub(crate) fn isolated<F, Fut>(name: &str, body: F)
where
    F: FnOnce(Token) -> Fut,
    Fut: Future<Output = ()>,
{
    if std::env::var(CHILD_ENV).as_deref() == Ok(name) {
        let token = Token::create();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        runtime.block_on(body(token));
        return;
    }
    run_child(name);
}

fn run_child(name: &str) {
    let lib = module_path();
    let dir = tempfile::tempdir().expect("temp dir");
    let store = TokenStore::configure(dir.path());
    let exe = std::env::current_exe().expect("current test binary");
    let mut child = Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .envs([store.env()])
        .env("COFFER_TEST_PKCS11_MODULE", &lib)
        .env(CHILD_ENV, name)
        .env(DIR_ENV, dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("re-run the test binary");
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let deadline = Instant::now() + CHILD_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let report = format!("--- child stdout ---\n{stdout}\n--- child stderr ---\n{stderr}");
    match status {
        None => panic!("{name} did not finish within {CHILD_TIMEOUT:?}\n{report}"),
        Some(s) if !s.success() => panic!("{name} failed in its token child ({s})\n{report}"),
        // A filter that matched nothing would "pass" with 0 tests: insist on one.
        Some(_) => assert!(
            stdout.contains("1 passed"),
            "{name}: the child did not run exactly this test\n{report}"
        ),
    }
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_string(&mut s);
        }
        s
    })
}

/// A freshly initialised token, private to one test process.
pub(crate) struct Token {
    /// Token label (unique per process).
    pub(crate) label: String,
    /// The slot the token was initialised in.
    pub(crate) slot: u64,
    /// The store it lives in.
    pub(crate) store: TokenStore,
    /// The temp dir of this test (conf, tokens, and room to move things to).
    pub(crate) dir: PathBuf,
    /// The PKCS#11 module.
    pub(crate) lib: PathBuf,
}

impl Token {
    fn create() -> Self {
        let dir = PathBuf::from(std::env::var_os(DIR_ENV).expect("child knows its dir"));
        let label = format!("coffer-{}", std::process::id());
        let store = TokenStore::at(&dir);
        let slot = store.init_token(&label);
        Self {
            label,
            slot,
            store,
            dir,
            lib: module_path(),
        }
    }

    /// Options for this token and `key_label`, with key generation on.
    pub(crate) fn options(&self, key_label: &str) -> Pkcs11Options {
        let mut o = Pkcs11Options::new(&self.lib, &self.label, SecretString::from(PIN), key_label);
        o.generate_key = true;
        o
    }

    /// Which implementation the token is.
    pub(crate) fn kind(&self) -> TokenKind {
        self.store.kind()
    }

    /// The token's own directory under `tokendir` (SoftHSM names it by UUID).
    pub(crate) fn object_dir(&self) -> PathBuf {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(self.store.tokendir())
            .expect("read tokendir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        assert_eq!(
            dirs.len(),
            1,
            "one token directory in {}",
            self.store.tokendir().display()
        );
        dirs.remove(0)
    }

    /// Moves the token's directory out of `tokendir`: the token is gone.
    pub(crate) fn remove(&self) -> PathBuf {
        let from = self.object_dir();
        let away = self.dir.join("away");
        std::fs::rename(&from, &away).expect("move the token away");
        from
    }

    /// Puts a removed token back where it was.
    pub(crate) fn restore(&self, original: &Path) {
        std::fs::rename(self.dir.join("away"), original).expect("move the token back");
    }

    /// Runs `f` with a logged-in read-write session of our own (to inspect
    /// or plant objects). Call it only while a seal is open: the seal's
    /// module keeps the library loaded and initialised.
    pub(crate) fn with_session<T>(&self, f: impl FnOnce(&Session) -> T) -> T {
        let ctx = Pkcs11::new(&self.lib).expect("load module");
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(())
            | Err(cryptoki::error::Error::Pkcs11(
                cryptoki::error::RvError::CryptokiAlreadyInitialized,
                _,
            )) => {}
            Err(e) => panic!("C_Initialize: {e}"),
        }
        let slot = ctx
            .get_slots_with_initialized_token()
            .expect("slots")
            .into_iter()
            .find(|s| {
                ctx.get_token_info(*s)
                    .is_ok_and(|i| i.label().trim_end() == self.label)
            })
            .expect("our token");
        let session = ctx.open_rw_session(slot).expect("open session");
        match session.login(UserType::User, Some(&SecretString::from(PIN))) {
            Ok(())
            | Err(cryptoki::error::Error::Pkcs11(
                cryptoki::error::RvError::UserAlreadyLoggedIn,
                _,
            )) => {}
            Err(e) => panic!("C_Login: {e}"),
        }
        f(&session)
    }
}
