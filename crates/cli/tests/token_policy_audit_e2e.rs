//! End to end: `coffer token`, `coffer policy` and `coffer audit` against a real `server -dev`,
//! driven by the built binary as an operator would, checking vault's tables, `-format=json`,
//! and exit codes (1 for a usage mistake, 2 when the server refuses).

use std::io::Write as _;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;

const ROOT_TOKEN: &str = "tpa-root";

/// A `coffer server -dev` child process with its own HOME, killed on drop.
struct DevServer {
    child: Child,
    address: String,
    home: tempfile::TempDir,
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl DevServer {
    fn start() -> Self {
        let home = tempfile::tempdir().expect("home");
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let child = clean_command(home.path())
            .args([
                "server".to_owned(),
                "-dev".to_owned(),
                format!("-dev-listen-address=127.0.0.1:{port}"),
                format!("-dev-root-token-id={ROOT_TOKEN}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn coffer server -dev");
        let server = Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
            home,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.run(None, &["status"], None).status.code() != Some(0) {
            assert!(Instant::now() < deadline, "server did not become ready");
            sleep(Duration::from_millis(100));
        }
        server
    }

    /// Runs `coffer ARGS` with `token` as VAULT_TOKEN and `stdin` piped in.
    fn run(&self, token: Option<&str>, args: &[&str], stdin: Option<&str>) -> Output {
        let mut command = clean_command(self.home.path());
        command.env("VAULT_ADDR", &self.address).args(args);
        if let Some(token) = token {
            command.env("VAULT_TOKEN", token);
        }
        let mut child = command
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run coffer");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write stdin");
        }
        child.wait_with_output().expect("wait")
    }

    /// Runs `coffer ARGS` as root.
    fn root(&self, args: &[&str]) -> Output {
        self.run(Some(ROOT_TOKEN), args, None)
    }
}

/// The binary with no inherited VAULT_*/COFFER_* settings and a private HOME.
fn clean_command(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_coffer"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("VAULT_") || name.starts_with("COFFER_") {
            command.env_remove(name);
        }
    }
    command.env("HOME", home);
    command
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[track_caller]
fn assert_exit(output: &Output, code: i32) -> String {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

#[track_caller]
fn json_of(output: &Output) -> Value {
    let text = assert_exit(output, 0);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The value of the `key` row of a Key/Value table.
#[track_caller]
fn row(table: &str, key: &str) -> String {
    table
        .lines()
        .find_map(|line| {
            let (k, v) = line.split_once("    ")?;
            (k.trim_end() == key).then(|| v.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no {key} row in\n{table}"))
}

#[test]
fn token_create_lookup_renew_and_revoke_print_vaults_tables_and_exit_codes() {
    let server = DevServer::start();

    // create: the auth table, durations as vault prints them, metadata rows.
    let created = assert_exit(
        &server.root(&[
            "token",
            "create",
            "-policy=default",
            "-ttl=768h",
            "-metadata=team=blue",
            "-display-name=ci",
        ]),
        0,
    );
    let keys: Vec<&str> = created
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        keys,
        [
            "Key",
            "---",
            "token",
            "token_accessor",
            "token_duration",
            "token_renewable",
            "token_policies",
            "identity_policies",
            "policies",
            "token_meta_team"
        ],
        "{created}"
    );
    assert_eq!(row(&created, "token_duration"), "768h");
    assert_eq!(row(&created, "token_renewable"), "true");
    assert_eq!(row(&created, "token_policies"), r#"["default"]"#);
    assert_eq!(row(&created, "token_meta_team"), "blue");
    let token = row(&created, "token");
    let accessor = row(&created, "token_accessor");

    // -field prints the bare value (no newline when piped), -format=json the API's answer.
    let field = assert_exit(
        &server.root(&["token", "create", "-field=token", "-ttl=1h"]),
        0,
    );
    assert!(
        field.starts_with("hvs.") && !field.ends_with('\n'),
        "{field:?}"
    );
    let json = json_of(&server.root(&[
        "token",
        "create",
        "-format=json",
        "-orphan",
        "-policy=dev",
        "-no-default-policy",
    ]));
    assert_eq!(json["auth"]["orphan"], true, "{json}");
    assert_eq!(json["auth"]["policies"], serde_json::json!(["dev"]));

    // lookup by token, by accessor (no id shown), and the current token.
    let looked = assert_exit(&server.root(&["token", "lookup", &token]), 0);
    assert_eq!(row(&looked, "display_name"), "token-ci");
    assert_eq!(row(&looked, "creation_ttl"), "768h");
    assert_eq!(row(&looked, "policies"), "[default]");
    assert_eq!(row(&looked, "meta"), "map[team:blue]");
    assert_eq!(row(&looked, "explicit_max_ttl"), "0s");
    let by_accessor = assert_exit(
        &server.root(&["token", "lookup", "-accessor", &accessor]),
        0,
    );
    assert_eq!(row(&by_accessor, "id"), "n/a");
    assert_eq!(row(&by_accessor, "accessor"), accessor);
    let own = json_of(&server.run(Some(&token), &["token", "lookup", "-format=json"], None));
    assert_eq!(own["data"]["id"], token.as_str());
    assert_exit(&server.root(&["token", "lookup", "-accessor"]), 1);

    // renew with an increment, then by accessor.
    let renewed = assert_exit(
        &server.root(&["token", "renew", "-increment=30m", &token]),
        0,
    );
    assert_eq!(row(&renewed, "token_duration"), "30m");
    let renewed = assert_exit(&server.root(&["token", "renew", "-accessor", &accessor]), 0);
    assert_eq!(row(&renewed, "token_accessor"), accessor);

    // revoke; the token is then unknown: lookup fails with the server's error and exit 2.
    let revoked = assert_exit(&server.root(&["token", "revoke", &token]), 0);
    assert_eq!(revoked.trim(), "Success! Revoked token (if it existed)");
    let gone = server.root(&["token", "lookup", &token]);
    assert_exit(&gone, 2);
    assert!(
        stderr(&gone).starts_with("Error looking up token: ")
            && stderr(&gone).contains("Code: 403"),
        "{}",
        stderr(&gone)
    );
    let bad_flags = server.root(&["token", "revoke", "-self", "-accessor"]);
    assert_exit(&bad_flags, 1);
    assert!(stderr(&bad_flags).contains("Cannot use -self with -accessor"));
    assert_exit(&server.root(&["token", "revoke"]), 1);
    assert_exit(&server.root(&["token", "create", "-ttl=soon"]), 1);
}

#[test]
fn token_revoke_self_orphan_mode_and_capabilities() {
    let server = DevServer::start();
    let creator = "path \"auth/token/create\" {\n  capabilities = [\"update\"]\n}\n";
    assert_exit(
        &server.run(
            Some(ROOT_TOKEN),
            &["policy", "write", "creator", "-"],
            Some(creator),
        ),
        0,
    );
    let parent = assert_exit(
        &server.root(&["token", "create", "-field=token", "-policy=creator"]),
        0,
    );
    let child = assert_exit(
        &server.run(Some(&parent), &["token", "create", "-field=token"], None),
        0,
    );

    // capabilities: the current token's, another token's, and JSON.
    assert_eq!(
        assert_exit(&server.root(&["token", "capabilities", "sys/mounts"]), 0).trim(),
        "root"
    );
    assert_eq!(
        assert_exit(
            &server.root(&["token", "capabilities", &parent, "secret/foo"]),
            0
        )
        .trim(),
        "deny"
    );
    let caps = json_of(&server.run(
        Some(&parent),
        &[
            "token",
            "capabilities",
            "-format=json",
            "auth/token/lookup-self",
        ],
        None,
    ));
    assert_eq!(caps, serde_json::json!(["read"]));

    // -mode=orphan revokes the parent only; the child lives on.
    assert_exit(
        &server.root(&["token", "revoke", "-mode=orphan", &parent]),
        0,
    );
    assert_exit(&server.root(&["token", "lookup", &parent]), 2);
    let orphan = assert_exit(&server.root(&["token", "lookup", &child]), 0);
    assert_eq!(row(&orphan, "orphan"), "true", "{orphan}");

    // -self revokes the caller's token.
    assert_exit(
        &server.run(Some(&child), &["token", "revoke", "-self"], None),
        0,
    );
    assert_exit(&server.root(&["token", "lookup", &child]), 2);

    // -mode=path goes through sys/leases/revoke-prefix: every token created there goes.
    let doomed = stdout(&server.root(&["token", "create", "-ttl=1h", "-field=token"]));
    assert_exit(&server.root(&["token", "lookup", doomed.trim()]), 0);
    let by_path = server.root(&["token", "revoke", "-mode=path", "auth/token/create"]);
    assert_exit(&by_path, 0);
    assert!(stdout(&by_path).contains("Success! Revoked token"));
    assert_exit(&server.root(&["token", "lookup", doomed.trim()]), 2);
}

#[test]
fn policy_write_read_list_delete_and_malformed_policies_show_the_servers_line() {
    let server = DevServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("ops.hcl");
    let policy = "path \"secret/*\" {\n  capabilities = [\"read\", \"list\"]\n}\n";
    std::fs::write(&file, policy).expect("write policy");

    let written = assert_exit(
        &server.root(&["policy", "write", "Ops", file.to_str().expect("utf-8")]),
        0,
    );
    assert_eq!(written.trim(), "Success! Uploaded policy: ops");
    let from_stdin = server.run(
        Some(ROOT_TOKEN),
        &["policy", "write", "dev", "-"],
        Some("path \"dev/*\" {\n  capabilities = [\"create\"]\n}\n"),
    );
    assert_exit(&from_stdin, 0);

    assert_eq!(
        assert_exit(&server.root(&["policy", "list"]), 0)
            .lines()
            .collect::<Vec<_>>(),
        ["default", "dev", "ops", "root"]
    );
    assert_eq!(
        json_of(&server.root(&["policy", "list", "-format=json"])),
        serde_json::json!(["default", "dev", "ops", "root"])
    );
    assert_eq!(
        assert_exit(&server.root(&["policy", "read", "ops"]), 0),
        policy
    );
    assert_eq!(
        json_of(&server.root(&["policy", "read", "-format=json", "OPS"])),
        serde_json::json!({ "policy": policy })
    );

    // The server's parse error, with its line and column, reaches the user; exit 2.
    std::fs::write(
        &file,
        "path \"secret/*\" {\n  capabilities = [\"read\"\n}\n",
    )
    .expect("write");
    let malformed = server.root(&["policy", "write", "broken", file.to_str().expect("utf-8")]);
    assert_exit(&malformed, 2);
    assert!(
        stderr(&malformed).starts_with("Error uploading policy: ")
            && stderr(&malformed).contains("broken:3:1: syntax error"),
        "{}",
        stderr(&malformed)
    );
    std::fs::write(&file, "path \"a\" {\n  capabilities = [\"lst\"]\n}\n").expect("write");
    let unknown = server.root(&["policy", "write", "broken", file.to_str().expect("utf-8")]);
    assert_exit(&unknown, 2);
    assert!(
        stderr(&unknown).contains("broken:2"),
        "{}",
        stderr(&unknown)
    );

    let missing = server.root(&["policy", "read", "nope"]);
    assert_exit(&missing, 2);
    assert_eq!(stderr(&missing).trim(), "No policy named: nope");
    assert_exit(
        &server.root(&["policy", "write", "x", "/nonexistent.hcl"]),
        2,
    );

    let deleted = assert_exit(&server.root(&["policy", "delete", "dev"]), 0);
    assert_eq!(deleted.trim(), "Success! Deleted policy: dev");
    assert!(
        !assert_exit(&server.root(&["policy", "list"]), 0).contains("dev"),
        "dev was deleted"
    );

    // A token without access to sys/policies is refused: exit 2 with the 403.
    let limited = assert_exit(
        &server.root(&["token", "create", "-field=token", "-policy=default"]),
        0,
    );
    let denied = server.run(Some(&limited), &["policy", "list"], None);
    assert_exit(&denied, 2);
    assert!(stderr(&denied).contains("Code: 403"), "{}", stderr(&denied));
}

#[test]
fn policy_fmt_rewrites_the_file_in_place_without_a_server() {
    let home = tempfile::tempdir().expect("home");
    let file = home.path().join("messy.hcl");
    std::fs::write(
        &file,
        "# ops\npath \"secret/*\" {\ncapabilities=[\"read\",\"list\"]\n    policy = \"read\"\n}\npath \"sys/mounts\" { capabilities = [\"read\"] }\n",
    )
    .expect("write");
    // No VAULT_ADDR: fmt never talks to a server.
    let out = clean_command(home.path())
        .args(["policy", "fmt", file.to_str().expect("utf-8")])
        .output()
        .expect("run");
    assert_exit(&out, 0);
    assert!(stdout(&out).starts_with("Success! Formatted policy: "));
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        "# ops\npath \"secret/*\" {\n  capabilities = [\"read\", \"list\"]\n  policy       = \"read\"\n}\n\n\
         path \"sys/mounts\" {\n  capabilities = [\"read\"]\n}\n"
    );

    let broken = "path \"a\" {\n  capabilities = [\"read\"\n}\n";
    std::fs::write(&file, broken).expect("write");
    let out = clean_command(home.path())
        .args(["policy", "fmt", file.to_str().expect("utf-8")])
        .output()
        .expect("run");
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("3:1: syntax error"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&file).expect("read"), broken);
}

#[test]
fn audit_enable_list_and_disable_print_vaults_tables() {
    let server = DevServer::start();
    let logs = tempfile::tempdir().expect("logs");
    let log = logs.path().join("audit.log");

    let none = server.root(&["audit", "list"]);
    assert_eq!(
        assert_exit(&none, 2).trim(),
        "No audit devices are enabled."
    );
    assert_eq!(
        json_of(&server.root(&["audit", "list", "-format=json"])),
        serde_json::json!({})
    );

    let enabled = assert_exit(
        &server.root(&[
            "audit",
            "enable",
            "-description=main log",
            "file",
            &format!("file_path={}", log.display()),
        ]),
        0,
    );
    assert_eq!(
        enabled.trim(),
        "Success! Enabled the file audit device at: file/"
    );
    assert_exit(
        &server.root(&[
            "audit",
            "enable",
            "-path=node",
            "-local",
            "file",
            "file_path=discard",
        ]),
        0,
    );

    let listed = assert_exit(&server.root(&["audit", "list"]), 0);
    assert_eq!(
        listed.lines().collect::<Vec<_>>(),
        [
            "Path     Type    Description",
            "----     ----    -----------",
            "file/    file    main log",
            "node/    file    n/a",
        ]
    );
    let detailed = assert_exit(&server.root(&["audit", "list", "-detailed"]), 0);
    assert!(
        detailed
            .lines()
            .next()
            .unwrap_or_default()
            .ends_with("Replication    Options"),
        "{detailed}"
    );
    assert!(
        detailed.lines().any(|l| l.starts_with("file/")
            && l.contains("replicated")
            && l.ends_with(&format!("file_path={}", log.display()))),
        "{detailed}"
    );
    assert!(
        detailed.lines().any(|l| l.starts_with("node/")
            && l.contains("local")
            && l.ends_with("file_path=discard")),
        "{detailed}"
    );
    let json = json_of(&server.root(&["audit", "list", "-format=json"]));
    assert_eq!(json["node/"]["local"], true, "{json}");
    assert_eq!(json["file/"]["description"], "main log", "{json}");
    assert!(
        std::fs::read_to_string(&log)
            .expect("audit log")
            .contains("sys/audit"),
        "the device records requests"
    );

    // The server's refusal, kept verbatim; exit 2.
    let taken = server.root(&["audit", "enable", "file", "file_path=discard"]);
    assert_exit(&taken, 2);
    assert!(
        stderr(&taken).starts_with("Error enabling audit device: ")
            && stderr(&taken).contains("path already in use"),
        "{}",
        stderr(&taken)
    );
    assert_exit(&server.root(&["audit", "enable"]), 1);

    let disabled = assert_exit(&server.root(&["audit", "disable", "node"]), 0);
    assert_eq!(
        disabled.trim(),
        "Success! Disabled audit device (if it was enabled) at: node/"
    );
    assert_exit(&server.root(&["audit", "disable", "file/"]), 0);
    assert_exit(&server.root(&["audit", "list"]), 2);
}
