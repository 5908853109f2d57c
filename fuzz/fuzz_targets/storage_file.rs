//! The `file` storage backend's mapping of keys to Vault's on-disk layout
//! (`a/b/c` → `<root>/a/b/_c`, JSON `{"Value": base64}`), driven by a
//! script and checked against a map of what should be stored.
//!
//! Script: up to 16 lines `OP KEY[<TAB>VALUE]`, OP one of `put`, `get`,
//! `delete`, `list` (KEY is the prefix) and `raw` (VALUE is written as the
//! entry file's bytes, as a damaged or foreign file would be; then read
//! back through the backend and deleted). Each input runs in a fresh
//! directory (on /dev/shm when present, so fsyncs are cheap).
//!
//! Checks: no panic; every key the backend accepts reads back what was put,
//! is listed by its folder, and is gone after delete; a listing holds
//! exactly the direct children of what is stored; nothing is written
//! outside the root. A key too long for the file system is refused as
//! invalid by every operation, before anything is written.

#![no_main]

mod common;

use coffer_core::storage::{Backend, StorageError, direct_children, validate_key, validate_prefix};
use coffer_storage_file::FileBackend;
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const MAX_OPS: usize = 16;

fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let builder = tempfile::Builder::new()
        .prefix("coffer-fuzz-")
        .tempdir_in(shm);
    builder
        .or_else(|_| tempfile::tempdir())
        .expect("a scratch directory")
}

/// Whether the backend refused `key` as one it cannot store (a segment or
/// path too long for the file system). Such a key must not be in the model;
/// any other error on a valid key is a bug.
fn refused(got: &Result<impl Sized, StorageError>) -> bool {
    matches!(got, Err(StorageError::InvalidKey { .. }))
}

/// Where the backend keeps `key` (Vault's layout), computed independently.
fn entry_file(root: &Path, key: &str) -> PathBuf {
    let (folders, leaf) = key.rsplit_once('/').unwrap_or(("", key));
    let mut p = root.to_path_buf();
    p.extend(folders.split('/').filter(|s| !s.is_empty()));
    p.push(format!("_{leaf}"));
    p
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let dir = scratch();
    // The backend's root is a child, so anything written beside it shows.
    let root = dir.path().join("root");
    let backend = FileBackend::new(&root).expect("backend");
    let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    common::block_on(async {
        for line in text.split('\n').take(MAX_OPS) {
            let (op, rest) = line.split_once(' ').unwrap_or((line, ""));
            let (key, value) = rest.split_once('\t').unwrap_or((rest, ""));
            match op {
                "put" => {
                    if backend.put(key, value.as_bytes()).await.is_ok() {
                        model.insert(key.to_owned(), value.as_bytes().to_vec());
                    }
                }
                "get" => {
                    let got = backend.get(key).await;
                    if validate_key(key).is_err() {
                        assert!(refused(&got), "invalid key {key:?} read");
                    } else if refused(&got) {
                        assert!(!model.contains_key(key), "stored key {key:?} refused");
                    } else {
                        let got = got.expect("get of a valid key");
                        assert_eq!(
                            got.as_deref(),
                            model.get(key).map(Vec::as_slice),
                            "get {key:?}"
                        );
                    }
                }
                "delete" => {
                    if backend.delete(key).await.is_ok() {
                        model.remove(key);
                    }
                }
                "list" => {
                    let got = backend.list(key).await;
                    if validate_prefix(key).is_err() {
                        assert!(refused(&got), "invalid prefix {key:?} listed");
                    } else if refused(&got) {
                        assert!(
                            !model.keys().any(|k| k.starts_with(key)),
                            "prefix {key:?} of stored keys refused"
                        );
                    } else {
                        let got = got.expect("list of a valid prefix");
                        let want = direct_children(key, model.keys().map(String::as_str));
                        assert_eq!(got, want, "list {key:?}");
                    }
                }
                "raw" => {
                    if backend.get(key).await.is_err() || model.contains_key(key) {
                        continue;
                    }
                    let file = entry_file(&root, key);
                    // A folder where the file would go: nothing to write.
                    if file.is_dir() {
                        continue;
                    }
                    let written = file
                        .parent()
                        .is_some_and(|p| std::fs::create_dir_all(p).is_ok())
                        && std::fs::write(&file, value.as_bytes()).is_ok();
                    if written {
                        let _ = backend.get(key).await;
                        backend.delete(key).await.expect("delete of a raw entry");
                    }
                }
                _ => {}
            }
        }
    });
    let outside: Vec<_> = std::fs::read_dir(dir.path())
        .expect("scratch listing")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .filter(|n| n != "root")
        .collect();
    assert!(outside.is_empty(), "written outside the root: {outside:?}");
});
