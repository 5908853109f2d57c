//! End to end: the built `coffer` binary runs `server -dev` on a free loopback port, and the same
//! binary drives it as an operator would (status, secrets, kv, generic read/write/list, login).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

const ROOT_TOKEN: &str = "e2e-root";

/// A `coffer server` child process, killed on drop.
struct TestServer {
    child: Child,
    address: String,
    home: tempfile::TempDir,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn base_command(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coffer"));
    for var in [
        "VAULT_ADDR",
        "VAULT_TOKEN",
        "VAULT_CACERT",
        "VAULT_SKIP_VERIFY",
        "VAULT_FORMAT",
        "COFFER_ADDR",
        "COFFER_TOKEN",
        "COFFER_CACERT",
        "COFFER_SKIP_VERIFY",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", home).stdin(Stdio::null());
    cmd
}

impl TestServer {
    fn start() -> Self {
        let home = tempfile::tempdir().expect("home");
        let port = free_port();
        let args = [
            "server".to_owned(),
            "-dev".to_owned(),
            format!("-dev-listen-address=127.0.0.1:{port}"),
            format!("-dev-root-token-id={ROOT_TOKEN}"),
        ];
        Self::spawn(home, port, &args, 0)
    }

    /// A server from an HCL config (in-memory storage, Shamir seal): starts uninitialised.
    fn from_config() -> Self {
        let home = tempfile::tempdir().expect("home");
        let port = free_port();
        let config = home.path().join("coffer.hcl");
        let hcl = format!(
            "storage \"inmem\" {{}}\n\
             listener \"tcp\" {{\n  address = \"127.0.0.1:{port}\"\n  tls_disable = true\n}}\n\
             disable_mlock = true\n"
        );
        std::fs::write(&config, hcl).expect("write config");
        let args = ["server".to_owned(), format!("-config={}", config.display())];
        Self::spawn(home, port, &args, 2)
    }

    /// Spawns `coffer ARGS` and waits until `coffer status` exits with `ready_code`.
    fn spawn(home: tempfile::TempDir, port: u16, args: &[String], ready_code: i32) -> Self {
        let child = base_command(home.path())
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn coffer server");
        let server = Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
            home,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if server.coffer(&["status"]).status.code() == Some(ready_code) {
                return server;
            }
            assert!(Instant::now() < deadline, "server did not become ready");
            sleep(Duration::from_millis(100));
        }
    }

    /// Runs `coffer ARGS` with VAULT_ADDR set and no token in the environment.
    fn coffer(&self, args: &[&str]) -> Output {
        base_command(self.home.path())
            .env("VAULT_ADDR", &self.address)
            .args(args)
            .output()
            .expect("run coffer")
    }

    /// Runs `coffer ARGS` authenticated with the root token.
    fn root(&self, args: &[&str]) -> Output {
        base_command(self.home.path())
            .env("VAULT_ADDR", &self.address)
            .env("VAULT_TOKEN", ROOT_TOKEN)
            .args(args)
            .output()
            .expect("run coffer")
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[track_caller]
fn assert_ok(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

#[test]
fn dev_server_session_as_an_operator_would_run_it() {
    let server = TestServer::start();

    // status: vault's table, exit 0 when unsealed.
    let status = assert_ok(&server.coffer(&["status"]));
    assert!(status.starts_with("Key "), "{status}");
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("Sealed ") && l.ends_with("false")),
        "{status}"
    );
    assert!(
        status.lines().any(|l| l.starts_with("HA Enabled")),
        "{status}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&assert_ok(&server.coffer(&["status", "-format=json"])))
            .expect("json");
    assert_eq!(json["sealed"], false);
    assert_eq!(json["initialized"], true);

    // Unauthenticated requests to logical paths fail with the server's message and exit 2,
    // vault's code for an error the server returned.
    let denied = server.coffer(&["secrets", "list"]);
    assert_eq!(denied.status.code(), Some(2));
    assert!(stderr(&denied).contains("Code: 403"), "{}", stderr(&denied));

    // login stores the token; later commands use it without VAULT_TOKEN.
    let login = assert_ok(&server.coffer(&["login", ROOT_TOKEN]));
    assert!(
        login.contains("Success! You are now authenticated."),
        "{login}"
    );
    let stored =
        std::fs::read_to_string(server.home.path().join(".vault-token")).expect("token file");
    assert_eq!(stored.trim(), ROOT_TOKEN);
    let bad_login = server.coffer(&["login", "-no-store", "not-a-token"]);
    assert_eq!(bad_login.status.code(), Some(2));
    assert!(
        !stderr(&bad_login).contains("not-a-token"),
        "tokens must not appear in errors"
    );

    // secrets enable / list.
    let enabled = assert_ok(&server.coffer(&[
        "secrets",
        "enable",
        "-path=kv",
        "-description=e2e",
        "-version=2",
        "kv",
    ]));
    assert_eq!(
        enabled.trim(),
        "Success! Enabled the kv secrets engine at: kv/"
    );
    assert_ok(&server.coffer(&["secrets", "enable", "-path=old", "kv"]));
    let list = assert_ok(&server.coffer(&["secrets", "list"]));
    assert!(list.starts_with("Path "), "{list}");
    assert!(
        list.lines()
            .any(|l| l.starts_with("kv/ ") && l.ends_with("e2e")),
        "{list}"
    );
    let detailed = assert_ok(&server.coffer(&["secrets", "list", "-detailed"]));
    assert!(
        detailed
            .lines()
            .next()
            .unwrap_or_default()
            .contains("External Entropy Access"),
        "{detailed}"
    );
    assert!(
        detailed
            .lines()
            .any(|l| l.starts_with("kv/") && l.contains("map[version:2]")),
        "{detailed}"
    );

    // kv v2: put, get (sections), field, list, delete, undelete.
    let put =
        assert_ok(&server.root(&["kv", "put", "kv/app/db", "password=hunter2", "user=admin"]));
    assert!(put.contains("kv/data/app/db"), "{put}");
    assert!(put.contains("Metadata"), "{put}");
    let get = assert_ok(&server.root(&["kv", "get", "kv/app/db"]));
    assert!(get.contains("====== Data ======"), "{get}");
    assert!(get.contains("Metadata ="), "{get}");
    assert!(
        get.lines()
            .any(|l| l.starts_with("password") && l.ends_with("hunter2")),
        "{get}"
    );
    assert_eq!(
        stdout(&server.root(&["kv", "get", "-field=user", "kv/app/db"])),
        "admin"
    );
    let get_mount = assert_ok(&server.root(&["kv", "get", "-mount=kv", "app/db"]));
    assert!(get_mount.contains("hunter2"), "{get_mount}");
    let keys = assert_ok(&server.root(&["kv", "list", "kv/app"]));
    assert_eq!(keys.lines().collect::<Vec<_>>(), ["Keys", "----", "db"]);
    assert_ok(&server.root(&["kv", "delete", "kv/app/db"]));
    assert_eq!(
        server
            .root(&["kv", "get", "-field=user", "kv/app/db"])
            .status
            .code(),
        Some(1)
    );
    assert_ok(&server.root(&["kv", "undelete", "-versions=1", "kv/app/db"]));
    assert!(assert_ok(&server.root(&["kv", "get", "kv/app/db"])).contains("hunter2"));
    let missing = server.root(&["kv", "get", "kv/nope"]);
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));

    // kv v1 and the generic commands.
    assert_ok(&server.root(&["kv", "put", "old/greeting", "text=hello"]));
    let v1 = assert_ok(&server.root(&["kv", "get", "old/greeting"]));
    assert!(!v1.contains("Metadata"), "{v1}");
    assert!(
        v1.lines()
            .any(|l| l.starts_with("text") && l.ends_with("hello")),
        "{v1}"
    );
    assert_eq!(
        assert_ok(&server.root(&["write", "old/n", "count=5"])).trim(),
        "Success! Data written to: old/n"
    );
    let read: serde_json::Value =
        serde_json::from_str(&assert_ok(&server.root(&["read", "-format=json", "old/n"])))
            .expect("json");
    assert_eq!(
        read["data"]["count"], "5",
        "write sends strings, as vault does"
    );
    let listed = assert_ok(&server.root(&["list", "old"]));
    assert!(
        listed.lines().any(|l| l == "greeting") && listed.lines().any(|l| l == "n"),
        "{listed}"
    );
    assert_ok(&server.root(&["delete", "old/n"]));
    assert_eq!(server.root(&["read", "old/n"]).status.code(), Some(2));

    // disable removes the mount.
    assert_ok(&server.root(&["secrets", "disable", "old"]));
    assert!(!assert_ok(&server.root(&["secrets", "list"])).contains("old/"));
}

/// Runs `coffer ARGS` with `input` on stdin (how keys are piped in scripts).
fn with_stdin(server: &TestServer, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = base_command(server.home.path())
        .env("VAULT_ADDR", &server.address)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

#[test]
fn init_unseal_seal_lifecycle_with_exit_codes() {
    let server = TestServer::from_config();

    let uninit = server.coffer(&["operator", "init", "-status"]);
    assert_eq!(uninit.status.code(), Some(2));
    let init =
        assert_ok(&server.coffer(&["operator", "init", "-key-shares=3", "-key-threshold=2"]));
    let keys: Vec<String> = init
        .lines()
        .filter_map(|l| {
            l.strip_prefix("Unseal Key ")
                .and_then(|r| r.split_once(": "))
        })
        .map(|(_, k)| k.to_owned())
        .collect();
    assert_eq!(keys.len(), 3, "{init}");
    let root = init
        .lines()
        .find_map(|l| l.strip_prefix("Initial Root Token: "))
        .expect("root token line")
        .to_owned();
    assert!(
        init.contains("3 key shares and a key threshold of 2"),
        "{init}"
    );

    let first = assert_ok(&server.coffer(&["operator", "unseal", &keys[0]]));
    assert!(
        first
            .lines()
            .any(|l| l.starts_with("Unseal Progress") && l.ends_with("1/2")),
        "{first}"
    );
    assert_eq!(server.coffer(&["status"]).status.code(), Some(2));

    let bad = server.coffer(&["operator", "unseal", "not-a-key"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("Code: 400"), "{}", stderr(&bad));
    assert!(
        !stderr(&bad).contains("not-a-key"),
        "keys must not appear in errors"
    );

    assert_ok(&server.coffer(&["operator", "unseal", "-reset"]));
    assert_ok(&with_stdin(
        &server,
        &["operator", "unseal"],
        &format!("{}\n", keys[1]),
    ));
    let done = assert_ok(&with_stdin(
        &server,
        &["operator", "unseal"],
        &format!("{}\n", keys[2]),
    ));
    assert!(
        done.lines()
            .any(|l| l.starts_with("Sealed") && l.ends_with("false")),
        "{done}"
    );
    assert_eq!(server.coffer(&["status"]).status.code(), Some(0));

    assert_ok(&with_stdin(&server, &["login"], &format!("{root}\n")));
    let sealed = assert_ok(&server.coffer(&["operator", "seal"]));
    assert!(sealed.contains("sealed"), "{sealed}");
    assert_eq!(server.coffer(&["status"]).status.code(), Some(2));
}

#[test]
fn status_against_a_stopped_server_exits_one_and_names_the_address() {
    let home = tempfile::tempdir().expect("home");
    let address = format!("http://127.0.0.1:{}", free_port());
    let out = base_command(home.path())
        .env("VAULT_ADDR", &address)
        .arg("status")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&address), "{}", stderr(&out));
}

fn json_of(output: &Output) -> serde_json::Value {
    let text = assert_ok(output);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn kv_metadata_destroy_and_tune_work_as_in_vault() {
    let server = TestServer::start();
    assert_ok(&server.root(&["secrets", "enable", "-version=2", "-path=app", "kv"]));
    assert_ok(&server.root(&["kv", "put", "app/cfg", "a=1"]));
    assert_ok(&server.root(&["kv", "put", "app/cfg", "a=2"]));

    let meta = json_of(&server.root(&["kv", "metadata", "get", "-format=json", "app/cfg"]));
    assert_eq!(meta["data"]["current_version"], 2, "{meta}");
    assert!(meta["data"]["versions"]["1"].is_object(), "{meta}");

    let old = json_of(&server.root(&["kv", "get", "-format=json", "-version=1", "app/cfg"]));
    assert_eq!(old["data"]["data"]["a"], "1");
    assert_ok(&server.root(&["kv", "destroy", "-versions=1", "app/cfg"]));
    let meta = json_of(&server.root(&["kv", "metadata", "get", "-format=json", "app/cfg"]));
    assert_eq!(meta["data"]["versions"]["1"]["destroyed"], true, "{meta}");
    let latest = json_of(&server.root(&["kv", "get", "-format=json", "app/cfg"]));
    assert_eq!(latest["data"]["data"]["a"], "2");

    assert_ok(&server.root(&["kv", "metadata", "delete", "app/cfg"]));
    let gone = server.root(&["kv", "get", "app/cfg"]);
    assert_eq!(
        gone.status.code(),
        Some(2),
        "vault exits 2 when no value is found: {}",
        stderr(&gone)
    );

    assert_ok(&server.root(&[
        "secrets",
        "tune",
        "-default-lease-ttl=1h",
        "-max-lease-ttl=2h",
        "app",
    ]));
    let tune = json_of(&server.root(&["read", "-format=json", "sys/mounts/app/tune"]));
    assert_eq!(tune["data"]["default_lease_ttl"], 3600, "{tune}");
    assert_eq!(tune["data"]["max_lease_ttl"], 7200, "{tune}");
    let refused = server.root(&["secrets", "tune", "-default-lease-ttl=3h", "app"]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("cannot be greater than max_lease_ttl"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn version_names_the_commit_and_its_date_which_status_reports_too() {
    let server = TestServer::start();
    let git = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("git");
    let revision = String::from_utf8(git.stdout).expect("utf-8");
    let version = assert_ok(&server.coffer(&["version"]));
    let prefix = format!(
        "Coffer v{} ({}), built ",
        env!("CARGO_PKG_VERSION"),
        revision.trim()
    );
    let date = version
        .trim()
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{version:?} does not start with {prefix:?}"));
    assert!(
        date.len() == 20 && date.ends_with('Z') && date.as_bytes()[10] == b'T',
        "RFC 3339 in UTC: {date}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&assert_ok(&server.coffer(&["status", "-format=json"])))
            .expect("json");
    assert_eq!(json["build_date"], date, "sys/seal-status says the same");
    let table = assert_ok(&server.coffer(&["status"]));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("Build Date") && l.ends_with(date)),
        "{table}"
    );
}

#[test]
fn completions_and_man_pages_come_from_the_command_definition() {
    let home = tempfile::tempdir().expect("home");
    let bash = base_command(home.path())
        .args(["completion", "bash"])
        .output()
        .expect("run");
    let script = assert_ok(&bash);
    assert!(
        script.contains("coffer__subcmd__operator,init)"),
        "subcommands completed"
    );
    let file = home.path().join("coffer.bash");
    std::fs::write(&file, &script).expect("write");
    let check = Command::new("bash")
        .arg("-n")
        .arg(&file)
        .output()
        .expect("bash");
    assert!(check.status.success(), "bash parses it: {}", stderr(&check));
    let zsh = assert_ok(
        &base_command(home.path())
            .args(["completion", "zsh"])
            .output()
            .expect("run"),
    );
    assert!(zsh.starts_with("#compdef coffer"), "{zsh:.40}");
    let fish = assert_ok(
        &base_command(home.path())
            .args(["completion", "fish"])
            .output()
            .expect("run"),
    );
    assert!(fish.contains("complete -c coffer"), "{fish:.40}");
    let unknown = base_command(home.path())
        .args(["completion", "tcsh"])
        .output()
        .expect("run");
    assert!(!unknown.status.success() && stderr(&unknown).contains("tcsh"));

    let dir = home.path().join("man");
    let out = assert_ok(
        &base_command(home.path())
            .args(["man", &format!("-dir={}", dir.display())])
            .output()
            .expect("run"),
    );
    assert!(out.contains(&dir.display().to_string()), "{out}");
    for page in ["coffer.1", "coffer-operator-init.1", "coffer-kv-put.1"] {
        let text = std::fs::read_to_string(dir.join(page)).expect(page);
        assert!(
            text.starts_with(".ie") || text.contains("\n.TH "),
            "{page}: {text:.80}"
        );
    }
    let top = std::fs::read_to_string(dir.join("coffer.1")).expect("coffer.1");
    assert!(
        top.contains(&format!("coffer {}", env!("CARGO_PKG_VERSION"))),
        "coffer.1 names the version"
    );
}
