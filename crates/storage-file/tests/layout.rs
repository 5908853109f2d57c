//! The on-disk layout is Vault's: `<root>/a/b/_c` holding `{"Value":"<base64>"}`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffer_core::storage::{Backend, StorageError};
use coffer_storage_file::FileBackend;
use std::os::unix::fs::PermissionsExt;

#[tokio::test]
async fn key_is_stored_as_underscored_leaf_holding_vault_json() {
    let root = tempfile::tempdir().expect("tempdir");
    let backend = FileBackend::new(root.path()).expect("new");
    let value = b"secret\x00\xff bytes";
    backend.put("a/b/c", value).await.expect("put");

    let path = root.path().join("a/b/_c");
    let raw = std::fs::read_to_string(&path).expect("entry file at <root>/a/b/_c");
    let expected = format!("{{\"Value\":\"{}\"}}\n", STANDARD.encode(value));
    assert_eq!(raw, expected);
    let json: serde_json::Value = serde_json::from_str(&raw).expect("JSON");
    assert_eq!(json, serde_json::json!({ "Value": STANDARD.encode(value) }));

    assert!(root.path().join("a").is_dir() && root.path().join("a/b").is_dir());
    assert!(
        !root.path().join("_a").exists(),
        "folders must not get the _ prefix"
    );
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
    assert_eq!(
        mode & 0o077,
        0,
        "entry file is readable by others: {mode:o}"
    );
    let names: Vec<_> = std::fs::read_dir(root.path().join("a/b"))
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["_c"], "no temporary file left behind");
}

#[tokio::test]
async fn entries_written_by_vault_are_readable() {
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(root.path().join("core")).expect("mkdir");
    // Go's json.Encoder output, as Vault writes it.
    std::fs::write(
        root.path().join("core/_seal-config"),
        "{\"Value\":\"eyJ0eXBlIjoic2hhbWlyIn0=\"}\n",
    )
    .expect("write");
    let backend = FileBackend::new(root.path()).expect("new");
    assert_eq!(
        backend
            .get("core/seal-config")
            .await
            .expect("get")
            .as_deref(),
        Some(&b"{\"type\":\"shamir\"}"[..])
    );
    assert_eq!(backend.list("").await.expect("list"), ["core/"]);
    assert_eq!(backend.list("core/").await.expect("list"), ["seal-config"]);
}

#[tokio::test]
async fn delete_prunes_emptied_folders_but_keeps_the_root() {
    let root = tempfile::tempdir().expect("tempdir");
    let backend = FileBackend::new(root.path()).expect("new");
    backend.put("x/y/z/leaf", b"1").await.expect("put");
    backend.put("x/keep", b"2").await.expect("put");
    backend.delete("x/y/z/leaf").await.expect("delete");
    assert!(!root.path().join("x/y").exists(), "emptied folders remain");
    assert!(root.path().join("x/_keep").is_file());
    backend.delete("x/keep").await.expect("delete");
    assert!(!root.path().join("x").exists());
    assert!(root.path().is_dir(), "the root itself must stay");
}

#[tokio::test]
async fn list_ignores_temporary_and_foreign_files() {
    let root = tempfile::tempdir().expect("tempdir");
    let backend = FileBackend::new(root.path()).expect("new");
    backend.put("f/real", b"v").await.expect("put");
    for stray in [".coffer-tmp.1.2.3", "README", "_"] {
        std::fs::write(root.path().join("f").join(stray), b"junk").expect("write");
    }
    assert_eq!(backend.list("f/").await.expect("list"), ["real"]);
}

#[tokio::test]
async fn damaged_entry_is_reported_as_corrupt() {
    let root = tempfile::tempdir().expect("tempdir");
    let backend = FileBackend::new(root.path()).expect("new");
    std::fs::write(root.path().join("_bad"), b"{\"Value\":\"not base64!\"}").expect("write");
    std::fs::write(root.path().join("_worse"), b"\x00\x01").expect("write");
    for key in ["bad", "worse"] {
        let err = backend.get(key).await.expect_err("must fail");
        assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains(key), "{err}");
    }
}

#[tokio::test]
async fn os_errors_reach_the_caller_with_their_text() {
    let root = tempfile::tempdir().expect("tempdir");
    let backend = FileBackend::new(root.path()).expect("new");
    // A stray regular file where the folder for "a/b" belongs.
    std::fs::write(root.path().join("a"), b"x").expect("write");
    let msg = backend
        .put("a/b", b"v")
        .await
        .expect_err("must fail")
        .to_string();
    assert!(msg.contains("\"a/b\""), "{msg}");
    assert!(
        msg.contains(&root.path().join("a").display().to_string()),
        "{msg}"
    );
    assert!(msg.contains("Not a directory (os error 20)"), "{msg}");
    assert_eq!(
        backend.get("a/b").await.expect("absent, not an error"),
        None
    );
}

#[test]
fn new_creates_a_private_root_or_names_the_path_it_cannot_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("new/root");
    let backend = FileBackend::new(&root).expect("new");
    assert_eq!(backend.root(), root);
    assert_eq!(backend.kind(), "file");
    let mode = std::fs::metadata(&root).expect("stat").permissions().mode();
    assert_eq!(mode & 0o077, 0, "root is open to others: {mode:o}");

    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").expect("write");
    let msg = FileBackend::new(&file).expect_err("must fail").to_string();
    assert!(msg.contains(&file.display().to_string()), "{msg}");
    assert!(msg.contains("os error"), "{msg}");
}
