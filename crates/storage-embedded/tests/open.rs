//! Opening the database file: creation, persistence, and clear failures.

use coffer_core::storage::Backend;
use coffer_storage_embedded::EmbeddedBackend;
use std::os::unix::fs::PermissionsExt;

#[tokio::test]
async fn open_creates_missing_parent_directories_and_a_private_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nested/deeper/coffer.db");
    let backend = EmbeddedBackend::open(&path).await.expect("open");
    assert_eq!(backend.kind(), "embedded");
    assert_eq!(backend.path(), path);
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
    assert_eq!(
        mode & 0o077,
        0,
        "database file is readable by others: {mode:o}"
    );
}

#[tokio::test]
async fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("coffer.db");
    let backend = EmbeddedBackend::open(&path).await.expect("open");
    backend
        .put("core/keyring", b"\x00ciphertext\xff")
        .await
        .expect("put");
    backend.put("logical/a/b", b"v").await.expect("put");
    drop(backend);
    let reopened = EmbeddedBackend::open(&path).await.expect("reopen");
    assert_eq!(
        reopened.get("core/keyring").await.expect("get").as_deref(),
        Some(&b"\x00ciphertext\xff"[..])
    );
    assert_eq!(
        reopened.list("").await.expect("list"),
        ["core/", "logical/"]
    );
}

#[tokio::test]
async fn second_open_of_the_same_file_names_the_path_and_the_likely_cause() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("coffer.db");
    let _first = EmbeddedBackend::open(&path).await.expect("open");
    let err = EmbeddedBackend::open(&path)
        .await
        .expect_err("second open must fail");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("is another coffer server using it?"), "{msg}");
}

#[tokio::test]
async fn open_under_a_regular_file_reports_the_os_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"x").expect("write");
    let path = blocker.join("sub/coffer.db");
    let msg = EmbeddedBackend::open(&path)
        .await
        .expect_err("must fail")
        .to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("Not a directory"), "{msg}");
}

#[tokio::test]
async fn open_of_a_file_that_is_not_a_database_fails_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("coffer.db");
    std::fs::write(&path, vec![0x5a; 64 * 1024]).expect("write");
    let msg = EmbeddedBackend::open(&path)
        .await
        .expect_err("must fail")
        .to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
}
