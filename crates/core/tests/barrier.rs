//! Crate tier: the barrier over a real (in-memory) backend.

use coffer_core::CoreError;
use coffer_core::storage::Barrier;
use coffer_core::storage::SharedBackend;
use coffer_crypto::Key256;
use std::sync::Arc;
use std::time::SystemTime;

use coffer_crypto::OsEntropy;
use coffer_storage_inmem::InmemBackend;

async fn open_barrier() -> (Barrier, SharedBackend) {
    let backend: SharedBackend = Arc::new(InmemBackend::new());
    let e = Arc::new(OsEntropy::new());
    let b = Barrier::new(backend.clone(), e.clone());
    let root = Key256::generate(e.as_ref()).expect("rng");
    b.initialize(root, SystemTime::now()).expect("init");
    b.commit_keyring().await.expect("commit keyring");
    (b, backend)
}

async fn dump(backend: &SharedBackend, prefix: &str, out: &mut Vec<(String, Vec<u8>)>) {
    for child in backend.list(prefix).await.expect("list") {
        let full = format!("{prefix}{child}");
        if child.ends_with('/') {
            Box::pin(dump(backend, &full, out)).await;
        } else {
            let v = backend.get(&full).await.expect("get").expect("present");
            out.push((full, v));
        }
    }
}

#[tokio::test]
async fn storage_never_sees_secret_names_or_values() {
    let (b, backend) = open_barrier().await;
    b.put(
        "logical/abc/payroll-db/password",
        b"correct horse battery staple",
    )
    .await
    .expect("put");
    let mut all = Vec::new();
    dump(&backend, "", &mut all).await;
    for (k, v) in &all {
        assert!(!k.contains("payroll"), "key name leaked: {k}");
        assert!(!k.contains("password"), "key name leaked: {k}");
        let text = String::from_utf8_lossy(v);
        assert!(!text.contains("horse"), "value leaked under {k}");
    }
    assert_eq!(
        b.get("logical/abc/payroll-db/password")
            .await
            .expect("get")
            .expect("present")
            .as_slice(),
        b"correct horse battery staple"
    );
}

#[tokio::test]
async fn list_returns_decrypted_direct_children() {
    let (b, _) = open_barrier().await;
    for p in ["m/a", "m/b/c", "m/b/d", "other"] {
        b.put(p, b"x").await.expect("put");
    }
    assert_eq!(b.list("m/").await.expect("list"), vec!["a", "b/"]);
    assert_eq!(b.list("m/b/").await.expect("list"), vec!["c", "d"]);
    // `core/` holds the barrier's own count of encryptions (storage::usage).
    assert_eq!(
        b.list("").await.expect("list"),
        vec!["core/", "m/", "other"]
    );
    assert!(b.list("missing/").await.expect("list").is_empty());
}

#[tokio::test]
async fn values_from_old_terms_stay_readable_after_rotate() {
    let (b, _) = open_barrier().await;
    b.put("k1", b"old").await.expect("put");
    assert_eq!(b.rotate(SystemTime::now()).await.expect("rotate"), 2);
    b.put("k2", b"new").await.expect("put");
    assert_eq!(
        b.get("k1").await.expect("get").expect("some").as_slice(),
        b"old"
    );
    assert_eq!(b.key_status().expect("status").term, 2);
    let root = b.root_key().expect("root");
    b.seal();
    b.unseal(&root).await.expect("unseal");
    assert_eq!(
        b.get("k1").await.expect("get").expect("some").as_slice(),
        b"old"
    );
    assert_eq!(
        b.get("k2").await.expect("get").expect("some").as_slice(),
        b"new"
    );
}

#[tokio::test]
async fn sealed_barrier_refuses_access_and_wrong_root_key_fails() {
    let (b, _) = open_barrier().await;
    b.seal();
    assert!(matches!(b.get("x").await, Err(CoreError::Sealed)));
    let wrong = Key256::from_slice(&[0; 32]).expect("32 bytes");
    assert!(matches!(
        b.unseal(&wrong).await,
        Err(CoreError::Integrity { .. })
    ));
    assert!(b.is_sealed());
}

#[tokio::test]
async fn tampered_value_is_reported_not_returned() {
    let (b, backend) = open_barrier().await;
    b.put("t", b"value").await.expect("put");
    let mut all = Vec::new();
    dump(&backend, "barrier/", &mut all).await;
    assert!(!all.is_empty());
    for (k, mut v) in all {
        let last = v.len() - 1;
        v[last] ^= 0x80;
        backend.put(&k, &v).await.expect("put");
    }
    assert!(matches!(b.get("t").await, Err(CoreError::Integrity { .. })));
}

#[tokio::test]
async fn keyring_is_not_persisted_until_committed() {
    let backend: SharedBackend = Arc::new(InmemBackend::new());
    let e = Arc::new(OsEntropy::new());
    let b = Barrier::new(backend.clone(), e.clone());
    b.initialize(
        Key256::generate(e.as_ref()).expect("rng"),
        SystemTime::now(),
    )
    .expect("init");
    b.put("x", b"y").await.expect("put while only in memory");
    assert!(
        !b.is_initialized().await.expect("check"),
        "no keyring on disk yet"
    );
    b.commit_keyring().await.expect("commit");
    assert!(b.is_initialized().await.expect("check"));
}

/// A fresh barrier over `backend`, unsealed with `root`: what a restart
/// (after a clean stop or a crash) sees.
async fn reopened(backend: &SharedBackend, root: &Key256) -> Barrier {
    let b = Barrier::new(backend.clone(), Arc::new(OsEntropy::new()));
    b.unseal(root).await.expect("unseal");
    b
}

async fn open_barrier_with_root() -> (Arc<Barrier>, SharedBackend, Key256) {
    let backend: SharedBackend = Arc::new(InmemBackend::new());
    let e = Arc::new(OsEntropy::new());
    let b = Barrier::new(backend.clone(), e.clone());
    let root = Key256::generate(e.as_ref()).expect("rng");
    b.initialize(root.duplicate(), SystemTime::now())
        .expect("init");
    b.commit_keyring().await.expect("commit keyring");
    (Arc::new(b), backend, root)
}

fn encryptions(b: &Barrier) -> u64 {
    b.key_status().expect("status").encryptions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_encryption_count_survives_a_crash_without_falling_behind() {
    let (b, backend, root) = open_barrier_with_root().await;
    // Eight writers, past the first reservation block (65,536), at once.
    let mut writers = Vec::new();
    for w in 0..8 {
        let b = b.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..9_000 {
                b.put(&format!("w{w}/k{}", i % 50), b"v")
                    .await
                    .expect("put");
            }
        }));
    }
    for w in writers {
        w.await.expect("writer");
    }
    let before = encryptions(&b);
    assert!(before >= 72_000, "every write counted: {before}");
    // No seal, no flush: the process is gone.
    let after = reopened(&backend, &root).await;
    let restored = encryptions(&after);
    assert!(
        restored >= before,
        "a restart must never count fewer encryptions than happened: {restored} < {before}"
    );
    assert!(
        restored <= before + (1 << 16) + 1,
        "the over-estimate stays within one reservation block: {restored} vs {before}"
    );
    after.put("one/more", b"v").await.expect("put");
    assert!(encryptions(&after) > restored);
    assert_eq!(
        reopened(&backend, &root)
            .await
            .get("w3/k7")
            .await
            .expect("get")
            .expect("present")
            .as_slice(),
        b"v"
    );
}

#[tokio::test]
async fn a_rotation_starts_the_count_again_and_a_restart_keeps_the_new_term() {
    let (b, backend, root) = open_barrier_with_root().await;
    for i in 0..10 {
        b.put(&format!("k{i}"), b"v").await.expect("put");
    }
    assert!(encryptions(&b) >= 10);
    assert_eq!(b.rotate(SystemTime::now()).await.expect("rotate"), 2);
    assert_eq!(encryptions(&b), 0, "a new term has encrypted nothing yet");
    for i in 0..5 {
        b.put(&format!("n{i}"), b"v").await.expect("put");
    }
    let used = encryptions(&b);
    assert!(
        (5..=6).contains(&used),
        "five writes and one reservation: {used}"
    );
    let after = reopened(&backend, &root).await;
    let status = after.key_status().expect("status");
    assert_eq!(status.term, 2);
    assert!(
        status.encryptions >= used && status.encryptions <= used + (1 << 16) + 1,
        "{} after {used}",
        status.encryptions
    );
}

#[tokio::test]
async fn a_term_that_never_encrypted_restarts_at_zero() {
    let (b, backend, root) = open_barrier_with_root().await;
    b.put("k", b"v").await.expect("put");
    b.rotate(SystemTime::now()).await.expect("rotate");
    let after = reopened(&backend, &root).await;
    assert_eq!(
        after.key_status().expect("status").encryptions,
        0,
        "the stored count is the old term's"
    );
}

#[tokio::test]
async fn an_unreadable_count_unseals_and_counts_the_term_as_used_up() {
    let (b, backend, root) = open_barrier_with_root().await;
    b.put("k", b"v").await.expect("put");
    let mut all = Vec::new();
    dump(&backend, "barrier/", &mut all).await;
    for (k, mut v) in all {
        let last = v.len() - 1;
        v[last] ^= 0x80;
        backend.put(&k, &v).await.expect("tamper");
    }
    let after = reopened(&backend, &root).await;
    assert!(
        encryptions(&after) >= 3_865_470_566,
        "past the default max_operations, so the keyring rotates at once: {}",
        encryptions(&after)
    );
    assert_eq!(after.rotate(SystemTime::now()).await.expect("rotate"), 2);
    assert_eq!(encryptions(&after), 0);
}
