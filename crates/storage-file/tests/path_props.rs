//! Property tests of the `file` backend's key ↔ file mapping (Vault's
//! layout: `a/b/c` → `<root>/a/b/_c`): every stored key reads back, is
//! listed by its folder and lives at its file; deleting everything leaves
//! an empty root; invalid keys are refused; nothing lands outside the root.
//! The `storage_file` fuzz target checks the same at length
//! (docs/FUZZING.md).
//!
//! Folder names here never start with `_`: in Vault's layout a folder `_x`
//! is the same directory entry as the file of leaf `x` beside it, so keys
//! `x` and `_x/y` cannot both exist (Vault has the same limit). Coffer's
//! physical keys never meet it (their segments are fixed words or
//! encrypted names).

use coffer_core::storage::{Backend, StorageError, direct_children, validate_key};
use coffer_storage_file::FileBackend;
use coffer_testkit::runtime::block_on;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn scratch() -> tempfile::TempDir {
    // Memory-backed when there is /dev/shm: the backend fsyncs every write.
    tempfile::Builder::new()
        .prefix("coffer-file-props-")
        .tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("scratch directory")
}

fn folder() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9.-][a-zA-Z0-9._ -]{0,6}".prop_filter("not . or ..", |s| s != "." && s != "..")
}

fn leaf() -> impl Strategy<Value = String> {
    "[^/\u{0}]{1,10}".prop_filter("not . or ..", |s| s != "." && s != "..")
}

fn key() -> impl Strategy<Value = String> {
    (proptest::collection::vec(folder(), 0..3), leaf()).prop_map(|(mut parts, leaf)| {
        parts.push(leaf);
        parts.join("/")
    })
}

/// Every file and directory under `dir`, relative to it.
fn walk(dir: &Path, rel: PathBuf, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let rel = rel.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            walk(&entry.path(), rel.clone(), out);
        }
        out.push(rel);
    }
}

#[test]
fn a_key_whose_file_name_is_a_folder_reads_as_absent() {
    // Found by the storage_file fuzz target: key `_u/_v` makes the folder
    // `_u`, which is also where key `u` would live (Vault's layout has the
    // same clash). Reading or deleting `u` then failed with EISDIR; `u` is
    // simply not stored. Storing it stays an error, as in Vault.
    let dir = scratch();
    let b = FileBackend::new(dir.path().join("root")).expect("backend");
    block_on(async {
        b.put("_u/_v", b"x").await.expect("put");
        assert_eq!(b.get("u").await.expect("get"), None);
        b.delete("u").await.expect("delete of an absent key");
        assert!(b.put("u", b"y").await.is_err());
        assert_eq!(b.get("u").await.expect("get"), None);
        assert_eq!(
            b.get("_u/_v").await.expect("get").as_deref(),
            Some(&b"x"[..])
        );
    });
}

#[test]
fn a_key_too_long_for_a_file_name_is_refused_and_leaves_nothing_behind() {
    // Found by the storage_file fuzz target: a 300-byte segment is over
    // NAME_MAX. The put used to make the folders before failing on the
    // file, so the empty folder then listed as a child, and a get failed
    // with a bare ENAMETOOLONG. Now every operation refuses the key as
    // invalid before touching the disk.
    let dir = scratch();
    let root = dir.path().join("root");
    let b = FileBackend::new(&root).expect("backend");
    let long = "\u{fffd}".repeat(100);
    block_on(async {
        for key in [format!("ist{long}"), format!("a/b{long}/d")] {
            let err = b.put(&key, b"v").await.expect_err("too long");
            assert!(matches!(err, StorageError::InvalidKey { .. }), "{err}");
            assert!(err.to_string().contains("254 bytes"), "{err}");
            let err = b.get(&key).await.expect_err("too long");
            assert!(matches!(err, StorageError::InvalidKey { .. }), "{err}");
            let err = b.delete(&key).await.expect_err("too long");
            assert!(matches!(err, StorageError::InvalidKey { .. }), "{err}");
            let err = b.list(&format!("{key}/")).await.expect_err("too long");
            assert!(matches!(err, StorageError::InvalidKey { .. }), "{err}");
        }
        assert!(b.list("").await.expect("list").is_empty());
        // The longest leaf that fits (254 bytes plus `_`) works.
        let fits = "x".repeat(254);
        b.put(&fits, b"v").await.expect("254-byte leaf");
        assert_eq!(b.get(&fits).await.expect("get").as_deref(), Some(&b"v"[..]));
        let err = b
            .put(&"x".repeat(255), b"v")
            .await
            .expect_err("255-byte leaf");
        assert!(matches!(err, StorageError::InvalidKey { .. }), "{err}");
        let deep = vec!["y".repeat(200); 30].join("/");
        let err = b.put(&deep, b"v").await.expect_err("over PATH_MAX");
        assert!(
            err.to_string().contains("too long for a file path"),
            "{err}"
        );
    });
    let mut left = Vec::new();
    walk(&root, PathBuf::new(), &mut left);
    assert_eq!(left, vec![PathBuf::from(format!("_{}", "x".repeat(254)))]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn stored_keys_read_back_are_listed_and_leave_nothing_when_deleted(
        entries in proptest::collection::btree_map(key(), proptest::collection::vec(any::<u8>(), 0..32), 1..6),
    ) {
        // A leaf may share its name with a folder (`a` and `a/b`): file `_a`, folder `a`.
        let folders: std::collections::BTreeSet<String> = entries
            .keys()
            .flat_map(|k| {
                let parts: Vec<&str> = k.split('/').collect();
                (1..parts.len()).map(move |n| parts[..n].join("/"))
            })
            .collect();
        let dir = scratch();
        let root = dir.path().join("root");
        let b = FileBackend::new(&root).expect("backend");
        block_on(async {
            for (k, v) in &entries {
                b.put(k, v).await.expect("put");
            }
            for (k, v) in &entries {
                assert_eq!(b.get(k).await.expect("get").as_deref(), Some(v.as_slice()), "{k}");
                let (folders, leaf) = k.rsplit_once('/').unwrap_or(("", k));
                let file = root.join(folders).join(format!("_{leaf}"));
                assert!(file.is_file(), "{k} is not at {}", file.display());
            }
            let model: BTreeMap<&str, ()> = entries.keys().map(|k| (k.as_str(), ())).collect();
            let mut prefixes = vec![String::new()];
            prefixes.extend(folders.iter().map(|f| format!("{f}/")));
            for p in &prefixes {
                let want = direct_children(p, model.keys().copied());
                assert_eq!(b.list(p).await.expect("list"), want, "list {p:?}");
            }
            for k in entries.keys() {
                b.delete(k).await.expect("delete");
                assert_eq!(b.get(k).await.expect("get"), None);
            }
            assert_eq!(b.list("").await.expect("list"), Vec::<String>::new());
        });
        let mut left = Vec::new();
        walk(&root, PathBuf::new(), &mut left);
        prop_assert!(left.is_empty(), "left behind: {:?}", left);
        let mut beside = Vec::new();
        walk(dir.path(), PathBuf::new(), &mut beside);
        prop_assert_eq!(beside, vec![PathBuf::from("root")]);
    }

    #[test]
    fn invalid_keys_are_refused_and_touch_nothing(
        k in prop_oneof![
            "/[a-z]{1,4}",
            "[a-z]{1,4}/",
            "[a-z]{0,3}//[a-z]{1,3}",
            "([a-z]{1,3}/)?\\.\\.?(/[a-z]{1,3})?",
            "[a-z]{1,3}\u{0}[a-z]{0,3}",
            Just(String::new()),
        ],
    ) {
        prop_assert!(validate_key(&k).is_err());
        let dir = scratch();
        let root = dir.path().join("root");
        let b = FileBackend::new(&root).expect("backend");
        block_on(async {
            assert!(b.put(&k, b"v").await.is_err(), "put {k:?}");
            assert!(b.get(&k).await.is_err(), "get {k:?}");
            assert!(b.delete(&k).await.is_err(), "delete {k:?}");
        });
        let mut left = Vec::new();
        walk(dir.path(), PathBuf::new(), &mut left);
        prop_assert_eq!(left, vec![PathBuf::from("root")]);
    }

    #[test]
    fn damaged_entry_files_are_corrupt_errors_not_panics(
        content in proptest::collection::vec(any::<u8>(), 0..64),
        json in "\\{\"Value\":\"[A-Za-z0-9+/=%]{0,12}\"\\}\n?",
    ) {
        let dir = scratch();
        let root = dir.path().join("root");
        let b = FileBackend::new(&root).expect("backend");
        block_on(async {
            for bytes in [content.as_slice(), json.as_bytes()] {
                std::fs::write(root.join("_k"), bytes).expect("write");
                let _ = b.get("k").await;
            }
        });
    }
}
