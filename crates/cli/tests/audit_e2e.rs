//! End-to-end: audit devices with the real `coffer` server. A `file` device
//! on a node sealed by a SoftHSM2 token records a KV write and a transit
//! encryption without the secret, the plaintext or the token, and
//! `sys/audit-hash` finds the secret's hash in the log, also after a restart
//! (the salt is stored seal-wrapped and read back). SIGHUP reopens the file
//! after logrotate moved it.

mod common;

use coffer_client::Method;
use common::*;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "hunter2";
/// base64("attack at dawn"), the transit plaintext.
const PLAINTEXT_B64: &str = "YXR0YWNrIGF0IGRhd24=";

fn entries(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("read the audit file")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn enable_file_device(addr: &str, token: &str, name: &str, file: &Path) {
    let (status, body) = raw_as(
        addr,
        Some(token),
        Method::Put,
        &format!("sys/audit/{name}"),
        Some(json!({"type": "file", "options": {"file_path": file.to_str().expect("utf-8")}})),
    );
    assert_eq!(status, 204, "enable audit device: {body}");
}

fn audit_hash(addr: &str, token: &str, name: &str, input: &str) -> String {
    let (status, body) = raw_as(
        addr,
        Some(token),
        Method::Post,
        &format!("sys/audit-hash/{name}"),
        Some(json!({ "input": input })),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["hash"], body["data"]["hash"], "top-level injection");
    body["data"]["hash"].as_str().expect("hash").to_owned()
}

fn mount(addr: &str, token: &str, path: &str, body: Value) {
    let (status, resp) = raw_as(
        addr,
        Some(token),
        Method::Post,
        &format!("sys/mounts/{path}"),
        Some(body),
    );
    assert_eq!(status, 204, "mount {path}: {resp}");
}

#[test]
fn the_audit_file_holds_hashes_that_audit_hash_finds_and_never_the_secret() {
    let hsm = Hsm::new();
    let (config, addr) = hsm.config("  key_label = \"root-key\"\n  generate_key = \"true\"\n");
    let server = hsm.serve(&config, &addr);
    let (token, _) = init_auto(&addr, 1, 1);
    let logs = hsm.dir.path().join("audit");
    std::fs::create_dir(&logs).expect("mkdir");
    let file = logs.join("audit.log");
    enable_file_device(&addr, &token, "file", &file);

    let (status, listed) = raw_as(&addr, Some(&token), Method::Get, "sys/audit", None);
    assert_eq!(status, 200);
    assert_eq!(listed["file/"]["type"], "file");
    assert_eq!(
        listed["data"]["file/"]["options"]["file_path"],
        file.to_str().expect("utf-8")
    );

    mount(
        &addr,
        &token,
        "secret",
        json!({"type": "kv", "options": {"version": "2"}}),
    );
    kv_put(&addr, &token, "secret/app", &format!("password={SECRET}"));
    mount(&addr, &token, "transit", json!({"type": "transit"}));
    ok(&coffer(
        &addr,
        Some(&token),
        &["write", "-force", "transit/keys/orders"],
    ));
    let encrypted = ok(&coffer(
        &addr,
        Some(&token),
        &[
            "write",
            "-field=ciphertext",
            "transit/encrypt/orders",
            &format!("plaintext={PLAINTEXT_B64}"),
        ],
    ));
    let ciphertext = encrypted.trim().to_owned();
    assert!(ciphertext.starts_with("vault:v1:"), "{ciphertext}");

    let text = std::fs::read_to_string(&file).expect("read the audit file");
    for (what, needle) in [
        ("the KV secret", SECRET),
        ("the root token", token.as_str()),
        ("the transit plaintext", PLAINTEXT_B64),
        ("the transit ciphertext", ciphertext.as_str()),
    ] {
        assert!(!text.contains(needle), "{what} is in the audit log");
    }

    let secret_hash = audit_hash(&addr, &token, "file", SECRET);
    let all = entries(&file);
    let kv_write: Vec<&Value> = all
        .iter()
        .filter(|e| {
            e["request"]["path"] == "secret/data/app" && e["request"]["operation"] == "create"
        })
        .collect();
    assert_eq!(kv_write.len(), 2, "request and response: {kv_write:?}");
    for e in &kv_write {
        assert_eq!(e["request"]["data"]["data"]["password"], secret_hash);
        assert_eq!(e["request"]["remote_address"], "127.0.0.1");
        assert_eq!(
            e["request"]["client_token"],
            audit_hash(&addr, &token, "file", &token)
        );
    }
    let encrypt = all
        .iter()
        .find(|e| e["type"] == "response" && e["request"]["path"] == "transit/encrypt/orders")
        .expect("transit encrypt response entry");
    assert_eq!(
        encrypt["request"]["data"]["plaintext"],
        audit_hash(&addr, &token, "file", PLAINTEXT_B64)
    );
    assert_eq!(
        encrypt["response"]["data"]["ciphertext"],
        audit_hash(&addr, &token, "file", &ciphertext)
    );
    assert_eq!(encrypt["request"]["mount_type"], "transit");

    // Restart: the node unseals itself with the HSM, reopens the device with
    // its stored (seal-wrapped) salt, and hashes stay the same.
    stop(server);
    let server = hsm.serve(&config, &addr);
    wait_unsealed(&addr);
    assert_eq!(audit_hash(&addr, &token, "file", SECRET), secret_hash);
    let lines_before = entries(&file).len();
    ok(&coffer(
        &addr,
        Some(&token),
        &["kv", "get", "-field=password", "secret/app"],
    ));
    assert!(
        entries(&file).len() > lines_before,
        "appended after restart"
    );

    let (status, _) = raw_as(&addr, Some(&token), Method::Delete, "sys/audit/file", None);
    assert_eq!(status, 204);
    let (_, listed) = raw_as(&addr, Some(&token), Method::Get, "sys/audit", None);
    assert_eq!(listed["data"], json!({}));
    stop(server);
}

const DEV_ROOT: &str = "audit-e2e-root";

fn dev_server(addr: &str) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args([
            "server",
            "-dev",
            &format!("-dev-listen-address={}", addr.trim_start_matches("http://")),
            &format!("-dev-root-token-id={DEV_ROOT}"),
        ])
        .env_remove("VAULT_ADDR")
        .env_remove("VAULT_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn coffer server -dev");
    wait_up(addr, &mut child);
    wait_unsealed(addr);
    child
}

fn free_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    format!("http://127.0.0.1:{port}")
}

fn paths_in(file: &Path) -> Vec<String> {
    entries(file)
        .iter()
        .filter_map(|e| e["request"]["path"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn sighup_reopens_the_audit_file_after_logrotate_moved_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("audit.log");
    let rotated = dir.path().join("audit.log.1");
    let addr = free_addr();
    let server = dev_server(&addr);
    enable_file_device(&addr, DEV_ROOT, "file", &file);
    kv_put(&addr, DEV_ROOT, "secret/before", "k=v");

    // logrotate: move the file away; the server keeps writing to the moved
    // file until SIGHUP.
    std::fs::rename(&file, &rotated).expect("rename");
    kv_put(&addr, DEV_ROOT, "secret/moved", "k=v");
    assert!(!file.exists());
    assert!(paths_in(&rotated).iter().any(|p| p == "secret/data/moved"));

    let hup = Command::new("kill")
        .args(["-HUP", &server.id().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(hup.success());
    // The signal is handled asynchronously: poll with requests until one
    // lands in a new file at the original path.
    let start = Instant::now();
    let mut n = 0;
    loop {
        n += 1;
        kv_put(&addr, DEV_ROOT, &format!("secret/after-{n}"), "k=v");
        if file.exists() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "no new audit file after SIGHUP"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let rotated_lines = entries(&rotated).len();
    kv_put(&addr, DEV_ROOT, "secret/last", "k=v");
    assert!(
        paths_in(&file).iter().any(|p| p == "secret/data/last"),
        "the next request lands in the new file"
    );
    assert_eq!(
        entries(&rotated).len(),
        rotated_lines,
        "nothing more goes to the rotated file"
    );
    let log = stop(server);
    assert!(log.contains("audit devices reopened"), "{log}");
}
