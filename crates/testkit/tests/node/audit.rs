//! Crate tier: audit devices wired into the core. Enabling, listing,
//! hashing and disabling through `sys/audit*`, what the file holds for a
//! request (hashed, never the secret or the token), refused requests, fail
//! closed when no device can write, devices at unseal, and the salt's
//! storage (persisted across a reseal, seal-wrapped with an HSM seal).

use coffer_core::CoreError;
use coffer_core::engine::Operation::{Delete, Read, Update};
use coffer_core::engine::{Request, Response};
use coffer_testkit::auth_node::AuthNode;
use coffer_testkit::node::{auto_node, recovery_params, wait_for_rewrap};
use coffer_testkit::soft_seal::SoftSeal;
use coffer_testkit::storage::{all_keys, inmem};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// A temporary directory holding audit files (kept until the test ends).
struct LogDir {
    dir: tempfile::TempDir,
}

impl LogDir {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// `<tmp>/<sub>/audit.log`, with `<sub>` created.
    fn file(&self, sub: &str) -> PathBuf {
        let d = self.dir.path().join(sub);
        std::fs::create_dir_all(&d).expect("mkdir");
        d.join("audit.log")
    }
}

fn file_options(path: &Path) -> Value {
    json!({"type": "file", "options": {"file_path": path.to_str().expect("utf-8")}})
}

/// Every entry of an audit file, parsed.
fn entries(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("read audit file")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l}: {e}")))
        .collect()
}

async fn enable(n: &AuthNode, name: &str, body: Value) {
    n.root_call(Update, &format!("sys/audit/{name}"), body)
        .await;
}

async fn hash(n: &AuthNode, name: &str, input: &str) -> String {
    let r = n
        .root_call(
            Update,
            &format!("sys/audit-hash/{name}"),
            json!({ "input": input }),
        )
        .await
        .expect("hash response");
    r.data.expect("data")["hash"]
        .as_str()
        .expect("hash string")
        .to_owned()
}

async fn write_secret(n: &AuthNode) -> coffer_core::CoreResult<Option<Response>> {
    n.call(
        &n.root.clone(),
        Update,
        "secret/data/app",
        json!({"data": {"password": "hunter2"}}),
    )
    .await
}

#[tokio::test]
async fn enable_list_hash_and_disable_a_file_device() {
    let n = AuthNode::new().await;
    let logs = LogDir::new();
    let file = logs.file("a");
    let mut body = file_options(&file);
    body["description"] = json!("main log");
    enable(&n, "file", body).await;

    let listed = n
        .root_call(Read, "sys/audit", Value::Null)
        .await
        .and_then(|r| r.data)
        .expect("list data");
    assert_eq!(
        listed["file/"],
        json!({
            "type": "file",
            "description": "main log",
            "options": {"file_path": file.to_str().expect("utf-8")},
            "local": false,
            "path": "file/",
        })
    );

    let h = hash(&n, "file", "hunter2").await;
    assert!(h.starts_with("hmac-sha256:") && h.len() == 12 + 64, "{h}");
    assert_eq!(h, hash(&n, "file/", "hunter2").await, "path with slash");
    assert_ne!(h, hash(&n, "file", "hunter3").await);

    n.root_call(Delete, "sys/audit/file", Value::Null).await;
    let listed = n
        .root_call(Read, "sys/audit", Value::Null)
        .await
        .and_then(|r| r.data)
        .expect("list data");
    assert_eq!(listed, json!({}));
    let gone = n
        .call(
            &n.root.clone(),
            Update,
            "sys/audit-hash/file",
            json!({"input": "x"}),
        )
        .await;
    assert!(
        matches!(gone, Err(CoreError::InvalidRequest(_))),
        "{gone:?}"
    );
    // Disabling what is not there is a no-op, as in Vault.
    n.root_call(Delete, "sys/audit/file", Value::Null).await;

    // Enabling again draws a new salt: old hashes no longer match.
    enable(&n, "file", file_options(&file)).await;
    assert_ne!(h, hash(&n, "file", "hunter2").await);
}

#[tokio::test]
async fn the_log_holds_hashes_never_the_secret_or_the_token() {
    let n = AuthNode::new().await;
    let logs = LogDir::new();
    let file = logs.file("a");
    enable(&n, "file", file_options(&file)).await;
    write_secret(&n).await.expect("write");
    let read = n
        .root_call(Read, "secret/data/app", Value::Null)
        .await
        .expect("read");
    assert_eq!(read.data.expect("data")["data"]["password"], "hunter2");

    let text = std::fs::read_to_string(&file).expect("read log");
    assert!(!text.contains("hunter2"), "plaintext in the audit log");
    assert!(!text.contains(&n.root), "root token in the audit log");
    let password = hash(&n, "file", "hunter2").await;
    let token = hash(&n, "file", &n.root).await;

    let all = entries(&file);
    let write: Vec<&Value> = all
        .iter()
        .filter(|e| {
            e["request"]["path"] == "secret/data/app" && e["request"]["operation"] != "read"
        })
        .collect();
    assert_eq!(
        write.len(),
        2,
        "one request and one response entry: {write:?}"
    );
    let (req, resp) = (write[0], write[1]);
    assert_eq!(req["type"], "request");
    assert_eq!(resp["type"], "response");
    assert_eq!(req["request"]["id"], resp["request"]["id"]);
    assert!(!req["request"]["id"].as_str().unwrap_or_default().is_empty());
    assert_eq!(req["request"]["operation"], "create", "first write: create");
    assert_eq!(req["request"]["data"]["data"]["password"], password);
    assert_eq!(req["request"]["client_token"], token);
    assert_eq!(req["auth"]["client_token"], token);
    assert_eq!(req["auth"]["policies"], json!(["root"]));
    assert_eq!(req["auth"]["policy_results"]["allowed"], true);
    assert_eq!(req["request"]["mount_point"], "secret/");
    assert_eq!(req["request"]["mount_type"], "kv");
    assert!(
        req["request"]["mount_accessor"]
            .as_str()
            .is_some_and(|a| a.starts_with("kv_"))
    );
    assert_eq!(resp["response"]["data"]["version"], 1, "numbers stay clear");

    let reads: Vec<&Value> = all
        .iter()
        .filter(|e| e["request"]["path"] == "secret/data/app" && e["type"] == "response")
        .filter(|e| e["request"]["operation"] == "read")
        .collect();
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0]["response"]["data"]["data"]["password"], password);
    // The sys/audit-hash requests are audited too, with `input` hashed.
    assert!(
        all.iter()
            .any(|e| e["request"]["path"] == "sys/audit-hash/file")
    );
}

#[tokio::test]
async fn refused_requests_are_logged_once_with_their_error() {
    let n = AuthNode::new().await;
    let logs = LogDir::new();
    let file = logs.file("a");
    enable(&n, "file", file_options(&file)).await;
    let weak = n.token_with(&[]).await;
    assert!(n.denied(&weak, Read, "secret/data/app", Value::Null).await);
    let unknown = n
        .core
        .handle(Request::new(Read, "secret/data/x"), Some("hvs.not-a-token"))
        .await;
    assert!(matches!(unknown, Err(CoreError::PermissionDenied)));

    let all = entries(&file);
    let denied: Vec<&Value> = all
        .iter()
        .filter(|e| e["request"]["path"] == "secret/data/app")
        .collect();
    assert_eq!(denied.len(), 1, "a request entry only: {denied:?}");
    assert_eq!(denied[0]["type"], "request");
    assert_eq!(denied[0]["error"], "permission denied");
    assert_eq!(denied[0]["auth"]["policy_results"]["allowed"], false);
    assert_eq!(denied[0]["auth"]["policies"], json!(["default"]));

    let rejected: Vec<&Value> = all
        .iter()
        .filter(|e| e["request"]["path"] == "secret/data/x")
        .collect();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0]["error"], "permission denied");
    assert_eq!(
        rejected[0]["request"]["client_token"],
        hash(&n, "file", "hvs.not-a-token").await
    );
    let text = std::fs::read_to_string(&file).expect("read log");
    assert!(!text.contains(&weak) && !text.contains("hvs.not-a-token"));
}

#[tokio::test]
async fn a_token_created_through_the_api_is_hashed_in_the_response_entry() {
    let n = AuthNode::new().await;
    let logs = LogDir::new();
    let file = logs.file("a");
    enable(&n, "file", file_options(&file)).await;
    let child = n.token_with(&[]).await;
    let text = std::fs::read_to_string(&file).expect("read log");
    assert!(!text.contains(&child), "created token in the log");
    let created = entries(&file)
        .into_iter()
        .find(|e| e["type"] == "response" && e["request"]["path"] == "auth/token/create")
        .expect("create response entry");
    assert_eq!(
        created["response"]["auth"]["client_token"],
        hash(&n, "file", &child).await
    );
    assert_eq!(created["request"]["mount_type"], "token");
}

#[tokio::test]
async fn no_writable_device_fails_requests_closed_and_one_is_enough() {
    let n = AuthNode::new().await;
    let logs = LogDir::new();
    let file = logs.file("gone");
    enable(&n, "file", file_options(&file)).await;
    // The open descriptor would keep writing to the deleted file; a reopen
    // (SIGHUP) finds the directory gone, and the device then has no file.
    std::fs::remove_dir_all(file.parent().expect("parent")).expect("rm");
    let reopened = n.core.reopen_audit_devices();
    assert!(
        matches!(&reopened, Err(CoreError::Audit(m)) if m.contains("file/")),
        "{reopened:?}"
    );

    let refused = write_secret(&n).await;
    match refused {
        Err(CoreError::Audit(m)) => {
            assert_eq!(m, "no enabled audit device could record the request");
        }
        other => panic!("expected the audit failure, got {other:?}"),
    }
    // Not dispatched, and the raw seal handler refuses too.
    let sealing = n
        .core
        .authorize(Some(&n.root), &Request::new(Update, "sys/seal"))
        .await;
    assert!(matches!(sealing, Err(CoreError::Audit(_))), "{sealing:?}");
    // Disabling the broken device is a request like any other: refused too.
    let disable = n
        .call(&n.root.clone(), Delete, "sys/audit/file", Value::Null)
        .await;
    assert!(matches!(disable, Err(CoreError::Audit(_))));

    // The directory comes back: the device reopens its file by itself.
    std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
    let read = n.root_call(Read, "secret/data/app", Value::Null).await;
    assert!(read.is_none(), "the refused write must not have run");

    // With a second, working device, a broken one only warns; disabling the
    // broken one leaves requests working.
    let other = logs.file("b");
    enable(&n, "second", file_options(&other)).await;
    std::fs::remove_dir_all(file.parent().expect("parent")).expect("rm");
    assert!(n.core.reopen_audit_devices().is_err());
    write_secret(&n)
        .await
        .expect("recorded by the second device");
    n.root_call(Delete, "sys/audit/file", Value::Null).await;
    write_secret(&n).await.expect("write");
    assert!(
        entries(&other)
            .iter()
            .any(|e| e["request"]["path"] == "sys/audit/file" && e["type"] == "response")
    );
}

#[tokio::test]
async fn bad_options_and_paths_are_refused_with_the_reason() {
    let n = AuthNode::new().await;
    let logs = LogDir::new();
    let root = n.root.clone();
    let missing_dir = logs.dir.path().join("nope").join("audit.log");
    for (path, body, needle) in [
        (
            "f",
            json!({"type": "nope", "options": {}}),
            "unknown audit device type",
        ),
        (
            "f",
            json!({"options": {"file_path": "stdout"}}),
            "type is required",
        ),
        ("f", json!({"type": "file"}), "file_path"),
        (
            "f",
            json!({"type": "socket", "options": {}}),
            "not supported",
        ),
        (
            "f",
            json!({"type": "file", "options": {"file_path": "stdout", "format": "jsonx"}}),
            "jsonx",
        ),
        ("f", file_options(&missing_dir), "audit device"),
        (
            "a/../b",
            json!({"type": "file", "options": {"file_path": "discard"}}),
            "invalid",
        ),
    ] {
        let r = n
            .call(&root, Update, &format!("sys/audit/{path}"), body)
            .await;
        match r {
            Err(CoreError::InvalidRequest(m)) => assert!(m.contains(needle), "{needle}: {m}"),
            other => panic!("{needle}: expected 400, got {other:?}"),
        }
    }
    enable(
        &n,
        "team",
        json!({"type": "file", "options": {"file_path": "discard"}}),
    )
    .await;
    for clash in ["team", "team/sub"] {
        let r = n
            .call(
                &root,
                Update,
                &format!("sys/audit/{clash}"),
                json!({"type": "file", "options": {"file_path": "discard"}}),
            )
            .await;
        assert!(
            matches!(&r, Err(CoreError::InvalidRequest(m)) if m.contains("already in use")),
            "{clash}: {r:?}"
        );
    }
    // Audit endpoints need sudo.
    n.policy(
        "auditor",
        r#"path "sys/audit*" { capabilities = ["read", "update", "delete"] }"#,
    )
    .await;
    let plain = n.token_with(&["auditor"]).await;
    assert!(n.denied(&plain, Read, "sys/audit", Value::Null).await);
    assert!(
        n.denied(
            &plain,
            Update,
            "sys/audit/x",
            json!({"type": "file", "options": {"file_path": "discard"}})
        )
        .await
    );
}

#[tokio::test]
async fn devices_come_back_after_a_reseal_with_the_same_salt() {
    let n = AuthNode::new().await;
    let logs = LogDir::new();
    let (a, b) = (logs.file("a"), logs.file("b"));
    enable(&n, "a", file_options(&a)).await;
    enable(&n, "b", file_options(&b)).await;
    let before = hash(&n, "a", "hunter2").await;
    n.reseal().await;
    assert_eq!(hash(&n, "a", "hunter2").await, before, "salt persisted");

    // One device cannot open at unseal: skipped, the other records.
    n.core.seal_now().await;
    std::fs::remove_dir_all(a.parent().expect("parent")).expect("rm");
    for k in &n.keys[..2] {
        n.core.submit_unseal_key(k).await.expect("unseal");
    }
    assert!(!n.core.is_sealed());
    assert_eq!(n.core.audit_device_paths(), ["b/"]);
    let listed = n
        .root_call(Read, "sys/audit", Value::Null)
        .await
        .and_then(|r| r.data)
        .expect("list");
    assert!(listed["a/"].is_object(), "still in the table: {listed}");
    write_secret(&n).await.expect("audited by b");

    // None can open: the node refuses to unseal, and stays sealed.
    n.core.seal_now().await;
    std::fs::remove_dir_all(b.parent().expect("parent")).expect("rm");
    let mut last = None;
    for k in &n.keys[..2] {
        last = Some(n.core.submit_unseal_key(k).await);
    }
    match last {
        Some(Err(CoreError::Audit(m))) => {
            assert!(m.contains("none of the 2 enabled audit devices"), "{m}");
            assert!(m.contains("a/") && m.contains("b/"), "{m}");
        }
        other => panic!("expected the unseal to fail, got {other:?}"),
    }
    assert!(n.core.is_sealed());

    // Fixed: it unseals with both.
    logs.file("a");
    logs.file("b");
    for k in &n.keys[..2] {
        n.core.submit_unseal_key(k).await.expect("unseal");
    }
    assert_eq!(n.core.audit_device_paths(), ["a/", "b/"]);
    assert_eq!(hash(&n, "a", "hunter2").await, before);
}

#[tokio::test]
async fn the_salt_is_seal_wrapped_with_an_hsm_seal() {
    let backend = inmem();
    let core = auto_node(backend.clone(), SoftSeal::new());
    let init = core.initialize(recovery_params(1, 1)).await.expect("init");
    let token = init.root_token.to_string();
    let enable = |name: &'static str| {
        let core = core.clone();
        let token = token.clone();
        async move {
            core.handle(
                Request::new(Update, format!("sys/audit/{name}"))
                    .with_data(json!({"type": "file", "options": {"file_path": "discard"}})),
                Some(&token),
            )
            .await
            .expect("enable");
        }
    };
    enable("one").await;
    let before = all_keys(&backend).await;
    enable("two").await;
    let created: Vec<String> = all_keys(&backend)
        .await
        .difference(&before)
        .cloned()
        .collect();
    assert_eq!(created.len(), 1, "only the new salt: {created:?}");
    let record = backend
        .get(&created[0])
        .await
        .expect("get")
        .expect("present");
    assert!(record.starts_with(b"CSW"), "salt not seal-wrapped");

    // A re-wrap pass keeps it wrapped (it knows `audit/<uuid>/salt`).
    core.handle(Request::new(Update, "sys/sealwrap/rewrap"), Some(&token))
        .await
        .expect("start re-wrap");
    let status = wait_for_rewrap(&core).await;
    assert_eq!(status.failed, 0, "{status:?}");
    let record = backend
        .get(&created[0])
        .await
        .expect("get")
        .expect("present");
    assert!(
        record.starts_with(b"CSW"),
        "the re-wrap pass unwrapped the salt"
    );
}
