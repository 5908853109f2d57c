//! Shared end-to-end harness: a throwaway PKCS#11 token per test
//! (`coffer_testkit::token`: SoftHSM2, or the module in
//! `COFFER_TEST_PKCS11_MODULE`; its configuration variable is handed only to
//! the child processes), a seed-004-style config, the real `coffer` server process, and
//! the `coffer` CLI.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

pub(crate) mod managed_keys;
pub(crate) mod p11kit;

use coffer_testkit::token::{PIN, TokenStore, module_path};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The PKCS#11 module under test, as a string for configs and command lines.
pub(crate) fn module() -> String {
    module_path().display().to_string()
}

/// A token store of its own, and a data directory.
pub(crate) struct Hsm {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) label: String,
}

impl Hsm {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let label = format!("coffer-e2e-{}", std::process::id());
        TokenStore::configure(dir.path()).init_token(&label);
        Self { dir, label }
    }

    /// The token store's configuration variable, for every process that
    /// loads the module.
    pub(crate) fn env(&self) -> (&'static str, PathBuf) {
        self.store().env()
    }

    pub(crate) fn store(&self) -> TokenStore {
        TokenStore::at(self.dir.path())
    }

    pub(crate) fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Writes a seed-004-style config with this token's pkcs11 seal, `seal_body`
    /// inside its stanza, and returns (path, address).
    pub(crate) fn config(&self, seal_body: &str) -> (PathBuf, String) {
        self.write_config(&self.pkcs11_stanza(seal_body))
    }

    /// A `seal "pkcs11"` stanza for this token with `body` inside.
    pub(crate) fn pkcs11_stanza(&self, body: &str) -> String {
        self.pkcs11_stanza_with_lib(&module(), body)
    }

    /// A pkcs11 stanza for this token reached through another module (for
    /// example p11-kit's client module remoting it).
    pub(crate) fn pkcs11_stanza_with_lib(&self, lib: &str, body: &str) -> String {
        format!(
            "seal \"pkcs11\" {{\n  lib = \"{lib}\"\n  token_label = \"{}\"\n{body}}}\n",
            self.label
        )
    }

    /// Writes the config with the given seal stanzas (none = Shamir), file
    /// storage and a fresh port; returns (path, address).
    pub(crate) fn write_config(&self, seals: &str) -> (PathBuf, String) {
        let storage = format!(
            "storage \"file\" {{\n  path = \"{}\"\n}}\n",
            self.data().display()
        );
        self.write_config_with(seals, &storage, "")
    }

    /// Writes `coffer.hcl` with the given seal stanzas, storage stanza, extra
    /// top-level settings and a fresh port; returns (path, address).
    pub(crate) fn write_config_with(
        &self,
        seals: &str,
        storage: &str,
        extra: &str,
    ) -> (PathBuf, String) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let path = self.dir.path().join("coffer.hcl");
        std::fs::write(
            &path,
            format!(
                "{seals}\n{storage}\n\
                 listener \"tcp\" {{\n  address = \"127.0.0.1:{port}\"\n  tls_disable = \"true\"\n}}\n\n\
                 disable_mlock = true\n{extra}"
            ),
        )
        .expect("config");
        (path, format!("http://127.0.0.1:{port}"))
    }

    /// Starts the server (right PIN) with its output going to `log`: for
    /// long runs, whose pipes nobody would read. `COFFER_TEST_SERVER_BIN`
    /// runs another `coffer` binary (a release build, for long runs).
    pub(crate) fn start_logged(&self, config: &Path, log: &Path) -> Child {
        let log = std::fs::File::create(log).expect("server log");
        let binary = std::env::var_os("COFFER_TEST_SERVER_BIN").map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_coffer")),
            PathBuf::from,
        );
        Command::new(binary)
            .arg("server")
            .arg(format!("-config={}", config.display()))
            .envs([self.env()])
            .env("VAULT_HSM_PIN", PIN)
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn coffer server")
    }

    /// Deletes the secret key `label` from the token with `pkcs11-tool`, as an
    /// operator retiring an old HSM key would.
    pub(crate) fn delete_secret_key(&self, label: &str) {
        let deleted = Command::new("pkcs11-tool")
            .args([
                "--module",
                &module(),
                "--token-label",
                &self.label,
                "--login",
                "--pin",
                PIN,
            ])
            .args(["--delete-object", "--type", "secrkey", "--label", label])
            .envs([self.env()])
            .output()
            .expect("pkcs11-tool (install opensc)");
        assert!(deleted.status.success(), "{}", text(&deleted));
    }

    /// Starts the server with the right PIN and waits until it answers.
    pub(crate) fn serve(&self, config: &Path, addr: &str) -> Child {
        let mut server = self.start(config, PIN);
        wait_up(addr, &mut server);
        server
    }

    pub(crate) fn start(&self, config: &Path, pin: &str) -> Child {
        self.start_with_env(config, pin, &[])
    }

    /// Starts the server with extra environment variables.
    pub(crate) fn start_with_env(&self, config: &Path, pin: &str, env: &[(&str, &str)]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_coffer"))
            .arg("server")
            .arg(format!("-config={}", config.display()))
            .envs([self.env()])
            .env("VAULT_HSM_PIN", pin)
            .envs(env.iter().copied())
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

/// Asserts the command worked; returns its output.
pub(crate) fn ok(out: &Output) -> String {
    let t = text(out);
    assert!(out.status.success(), "{t}");
    t
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

/// Waits for a node to unseal itself. Generous (90 s): a loaded 2-core CI
/// machine once took over 30 s to start a node that re-wraps its keys.
pub(crate) fn wait_unsealed(addr: &str) {
    let start = Instant::now();
    loop {
        let status = coffer(addr, None, &["status"]);
        if status.status.code() == Some(0) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "node did not auto-unseal within 90 s; last `coffer status`:\n{}",
            text(&status)
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

/// `coffer operator init ARGS`; asserts it worked; returns the root token and
/// the keys it printed (unseal or recovery keys), in order.
pub(crate) fn operator_init(addr: &str, args: &[&str]) -> (String, Vec<String>) {
    let init = ok(&coffer(addr, None, &[&["operator", "init"], args].concat()));
    let keys = init
        .lines()
        .filter_map(|l| {
            l.strip_prefix("Unseal Key ")
                .or_else(|| l.strip_prefix("Recovery Key "))
                .and_then(|r| r.split_once(": "))
        })
        .map(|(_, k)| k.trim().to_owned())
        .collect();
    let token = field(&init, "Initial Root Token:")[0].to_owned();
    (token, keys)
}

/// Initialises an auto-unseal node; returns (root token, recovery keys).
pub(crate) fn init_auto(addr: &str, shares: u8, threshold: u8) -> (String, Vec<String>) {
    operator_init(
        addr,
        &[
            &format!("-recovery-shares={shares}"),
            &format!("-recovery-threshold={threshold}"),
        ],
    )
}

/// Initialises a Shamir node; returns (root token, unseal keys).
pub(crate) fn init_shamir(addr: &str, shares: u8, threshold: u8) -> (String, Vec<String>) {
    operator_init(
        addr,
        &[
            &format!("-key-shares={shares}"),
            &format!("-key-threshold={threshold}"),
        ],
    )
}

/// `secrets enable -path=PATH kv`; asserts it worked.
pub(crate) fn enable_kv(addr: &str, token: &str, path: &str) {
    ok(&coffer(
        addr,
        Some(token),
        &["secrets", "enable", &format!("-path={path}"), "kv"],
    ));
}

/// `kv put PATH PAIR`; asserts it worked.
pub(crate) fn kv_put(addr: &str, token: &str, path: &str, pair: &str) {
    ok(&coffer(addr, Some(token), &["kv", "put", path, pair]));
}

/// An API client for `addr` with no token.
pub(crate) fn api_client(addr: &str) -> coffer_client::Client {
    api_client_with(addr, None)
}

/// An API client for `addr`, sending `token` if given.
pub(crate) fn api_client_with(addr: &str, token: Option<&str>) -> coffer_client::Client {
    let addr = addr.to_owned();
    let token = token.map(str::to_owned);
    let cfg = coffer_client::Config::from_lookup(move |k| match k {
        "VAULT_ADDR" => Some(addr.clone()),
        "VAULT_TOKEN" => token.clone(),
        _ => None,
    })
    .expect("client config");
    coffer_client::Client::new(cfg).expect("client")
}

/// Sends one raw request without a token; returns status and body.
pub(crate) fn raw(
    addr: &str,
    method: coffer_client::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    raw_as(addr, None, method, path, body)
}

/// Sends one raw request with `token`; returns status and body.
pub(crate) fn raw_as(
    addr: &str,
    token: Option<&str>,
    method: coffer_client::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let r = api_client_with(addr, token)
            .raw(method, path, &[], body.as_ref())
            .await
            .expect("request");
        (r.status, r.body.unwrap_or_default())
    })
}

/// How a generate-root attempt ended: its one-time password and the status
/// and body of the last update sent.
pub(crate) struct GenerateRoot {
    pub(crate) otp: String,
    pub(crate) status: u16,
    pub(crate) body: serde_json::Value,
}

impl GenerateRoot {
    pub(crate) fn complete(&self) -> bool {
        self.status == 200 && self.body["complete"] == true
    }
}

/// A whole generate-root over the HTTP API: starts an attempt, sends `keys`
/// until one fails or the attempt completes, then cancels whatever is left.
pub(crate) fn generate_root_with(addr: &str, keys: &[impl AsRef<str>]) -> GenerateRoot {
    use coffer_client::Method;
    let (_, start) = raw(
        addr,
        Method::Put,
        "sys/generate-root/attempt",
        Some(serde_json::json!({})),
    );
    let nonce = start["nonce"].as_str().expect("nonce").to_owned();
    let otp = start["otp"].as_str().unwrap_or_default().to_owned();
    let (mut status, mut body) = (0, serde_json::Value::Null);
    for k in keys {
        (status, body) = raw(
            addr,
            Method::Put,
            "sys/generate-root/update",
            Some(serde_json::json!({"key": k.as_ref(), "nonce": nonce})),
        );
        if status != 200 || body["complete"] == true {
            break;
        }
    }
    raw(addr, Method::Delete, "sys/generate-root/attempt", None);
    GenerateRoot { otp, status, body }
}

/// `GET /v1/sys/metrics?format=prometheus` over plain HTTP; the body.
pub(crate) fn prometheus(addr: &str, token: &str) -> String {
    use std::io::{Read as _, Write as _};
    let host = addr.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(host).expect("connect");
    write!(
        conn,
        "GET /v1/sys/metrics?format=prometheus HTTP/1.1\r\nHost: {host}\r\n\
         X-Vault-Token: {token}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut response = String::new();
    conn.read_to_string(&mut response).expect("read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

/// pkcs11-tool against the test token, logged in; asserts it worked and
/// returns what it printed.
pub(crate) fn pkcs11_tool(hsm: &Hsm, args: &[&str]) -> String {
    let out = Command::new("pkcs11-tool")
        .args([
            "--module",
            &module(),
            "--token-label",
            &hsm.label,
            "--login",
            "--pin",
            PIN,
        ])
        .args(args)
        .envs([hsm.env()])
        .output()
        .expect("pkcs11-tool (install opensc)");
    assert!(out.status.success(), "pkcs11-tool {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
