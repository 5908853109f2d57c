//! End-to-end: `coffer server` with `seal "pkcs11"` on a real SoftHSM2 token
//! (a throwaway token per test under its own SOFTHSM2_CONF), the PIN from
//! VAULT_HSM_PIN as seed 004 recommends, driven by the `coffer` CLI.
//! The module path comes from COFFER_TEST_PKCS11_MODULE; a missing module
//! fails the test, it is never skipped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const PIN: &str = "4321";

fn module() -> String {
    let m = std::env::var("COFFER_TEST_PKCS11_MODULE")
        .unwrap_or_else(|_| "/usr/lib/softhsm/libsofthsm2.so".to_owned());
    assert!(
        Path::new(&m).exists(),
        "PKCS#11 module {m} not found: install softhsm2 (scripts/setup does) or set COFFER_TEST_PKCS11_MODULE"
    );
    m
}

/// A SoftHSM2 token directory of its own, and a data directory.
struct Hsm {
    dir: tempfile::TempDir,
    label: String,
}

impl Hsm {
    fn new() -> Self {
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

    fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Writes a seed-004-style config and returns (path, address).
    fn config(&self, seal_body: &str) -> (PathBuf, String) {
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

    fn start(&self, config: &Path, pin: &str) -> Child {
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

fn coffer(addr: &str, token: Option<&str>, args: &[&str]) -> Output {
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

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Waits until `coffer status` answers (any exit code but 1).
fn wait_up(addr: &str, child: &mut Child) {
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

fn wait_unsealed(addr: &str) {
    let start = Instant::now();
    while coffer(addr, None, &["status"]).status.code() != Some(0) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "node did not auto-unseal"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn child_output(child: &mut Child) -> String {
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
fn stop(mut child: Child) -> String {
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

fn field<'a>(out: &'a str, prefix: &str) -> Vec<&'a str> {
    out.lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .map(str::trim)
        .collect()
}

#[test]
fn pkcs11_seal_inits_with_recovery_keys_and_auto_unseals_after_restart() {
    let hsm = Hsm::new();
    let (config, addr) = hsm.config(
        "  key_label = \"coffer-root-key\"\n  hmac_key_label = \"coffer-hmac-key\"\n  generate_key = \"true\"\n  mechanism = \"0x1087\"\n",
    );
    let mut server = hsm.start(&config, PIN);
    wait_up(&addr, &mut server);
    let init = coffer(
        &addr,
        None,
        &[
            "operator",
            "init",
            "-recovery-shares=3",
            "-recovery-threshold=2",
        ],
    );
    let init_text = text(&init);
    assert!(init.status.success(), "{init_text}");
    assert_eq!(field(&init_text, "Recovery Key ").len(), 3, "{init_text}");
    let token = field(&init_text, "Initial Root Token:")[0].to_owned();
    let status = coffer(&addr, None, &["status"]);
    let status_text = text(&status);
    assert_eq!(
        status.status.code(),
        Some(0),
        "auto-seal node is unsealed after init: {status_text}"
    );
    assert!(status_text.contains("pkcs11"), "{status_text}");
    assert!(status_text.contains("Recovery Seal Type"), "{status_text}");
    assert!(
        coffer(
            &addr,
            Some(&token),
            &["secrets", "enable", "-path=morekv", "kv"]
        )
        .status
        .success()
    );
    assert!(
        coffer(&addr, Some(&token), &["kv", "put", "morekv/foo", "bar=baz"])
            .status
            .success()
    );
    let first_run = stop(server);
    assert!(first_run.contains("HSM PKCS#11 Version"), "{first_run}");
    assert!(first_run.contains("HSM Manufacturer ID"), "{first_run}");

    let mut server = hsm.start(&config, PIN);
    wait_up(&addr, &mut server);
    wait_unsealed(&addr);
    let got = coffer(
        &addr,
        Some(&token),
        &["kv", "get", "-field=bar", "morekv/foo"],
    );
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        "baz",
        "{}",
        text(&got)
    );
    let second_run = stop(server);
    assert!(
        second_run.contains("stored unseal keys supported, attempting fetch"),
        "{second_run}"
    );
    assert!(
        second_run.contains("unsealed with stored keys"),
        "{second_run}"
    );

    for f in walk(&hsm.data()) {
        let bytes = std::fs::read(&f).expect("read");
        assert!(
            !bytes.windows(3).any(|w| w == b"baz"),
            "plaintext in {}",
            f.display()
        );
    }
}

#[test]
fn rotating_the_hsm_key_rewraps_stored_keys_so_the_old_key_can_be_deleted() {
    let hsm = Hsm::new();
    let (config, addr) = hsm.config("  key_label = \"root-key-1\"\n  generate_key = \"true\"\n");
    let mut server = hsm.start(&config, PIN);
    wait_up(&addr, &mut server);
    let init = coffer(
        &addr,
        None,
        &[
            "operator",
            "init",
            "-recovery-shares=1",
            "-recovery-threshold=1",
        ],
    );
    let token = field(&text(&init), "Initial Root Token:")[0].to_owned();
    assert!(
        coffer(
            &addr,
            Some(&token),
            &["secrets", "enable", "-path=kv", "kv"]
        )
        .status
        .success()
    );
    assert!(
        coffer(&addr, Some(&token), &["kv", "put", "kv/a", "v=1"])
            .status
            .success()
    );
    stop(server);

    let (config, addr) = hsm.config(
        "  key_label = \"root-key-2\"\n  default_key_label = \"root-key-1\"\n  generate_key = \"true\"\n",
    );
    let mut server = hsm.start(&config, PIN);
    wait_up(&addr, &mut server);
    wait_unsealed(&addr);
    let log = stop(server);
    assert!(log.contains("upgrading stored keys"), "{log}");

    let deleted = Command::new("pkcs11-tool")
        .args([
            "--module",
            &module(),
            "--token-label",
            &hsm.label,
            "--login",
            "--pin",
            PIN,
        ])
        .args([
            "--delete-object",
            "--type",
            "secrkey",
            "--label",
            "root-key-1",
        ])
        .env("SOFTHSM2_CONF", hsm.conf())
        .output()
        .expect("pkcs11-tool (install opensc)");
    assert!(deleted.status.success(), "{}", text(&deleted));

    let (config, addr) = hsm.config("  key_label = \"root-key-2\"\n");
    let mut server = hsm.start(&config, PIN);
    wait_up(&addr, &mut server);
    wait_unsealed(&addr);
    let got = coffer(&addr, Some(&token), &["kv", "get", "-field=v", "kv/a"]);
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        "1",
        "{}",
        text(&got)
    );
    stop(server);
}

#[test]
fn wrong_pin_stops_startup_with_ckr_pin_incorrect_and_touches_nothing() {
    let hsm = Hsm::new();
    let (config, _) = hsm.config("  key_label = \"k\"\n  generate_key = \"true\"\n");
    let out = hsm.start(&config, "0000").wait_with_output().expect("wait");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success());
    assert!(all.contains("CKR_PIN_INCORRECT"), "{all}");
    assert!(
        !hsm.data().exists() || walk(&hsm.data()).is_empty(),
        "storage was touched"
    );
}

#[test]
fn missing_key_without_generate_key_names_the_label() {
    let hsm = Hsm::new();
    let (config, _) = hsm.config("  key_label = \"no-such-key\"\n");
    let out = hsm.start(&config, PIN).wait_with_output().expect("wait");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success());
    assert!(all.contains("no-such-key"), "{all}");
}

#[test]
fn rsa_oaep_seal_with_sha1_auto_unseals() {
    let hsm = Hsm::new();
    let (config, addr) = hsm.config(
        "  key_label = \"rsa-root\"\n  generate_key = \"true\"\n  mechanism = \"0x0009\"\n  rsa_oaep_hash = \"sha1\"\n",
    );
    let mut server = hsm.start(&config, PIN);
    wait_up(&addr, &mut server);
    let init = coffer(
        &addr,
        None,
        &[
            "operator",
            "init",
            "-recovery-shares=1",
            "-recovery-threshold=1",
        ],
    );
    assert!(init.status.success(), "{}", text(&init));
    stop(server);
    let mut server = hsm.start(&config, PIN);
    wait_up(&addr, &mut server);
    wait_unsealed(&addr);
    stop(server);
}

fn walk(root: &Path) -> Vec<PathBuf> {
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
