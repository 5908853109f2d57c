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
    assert_eq!(b.list("").await.expect("list"), vec!["m/", "other"]);
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
    let (k, mut v) = all.pop().expect("one value");
    let last = v.len() - 1;
    v[last] ^= 0x80;
    backend.put(&k, &v).await.expect("put");
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
