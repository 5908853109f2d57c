//! The key cache: storage is read when a key is first used or changed, not
//! on every encrypt/decrypt; concurrent rotations and encryptions agree.

use crate::support::Harness;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;

#[tokio::test]
async fn encrypt_and_decrypt_do_not_touch_storage_once_the_key_is_cached() {
    let h = Harness::new().await;
    h.create("k", json!({})).await;
    let gets = h.backend.gets.load(Ordering::SeqCst);
    let puts = h.backend.puts.load(Ordering::SeqCst);
    for i in 0..20u8 {
        let ct = h.encrypt("k", &[i]).await;
        assert_eq!(h.decrypt("k", &ct).await, [i]);
    }
    assert_eq!(h.backend.gets.load(Ordering::SeqCst), gets);
    assert_eq!(h.backend.puts.load(Ordering::SeqCst), puts);
}

#[tokio::test]
async fn changes_replace_the_cached_key_at_once() {
    let h = Harness::new().await;
    h.create("k", json!({})).await;
    let v1 = h.encrypt("k", b"a").await;
    h.write("keys/k/rotate", json!({})).await;
    assert!(h.encrypt("k", b"a").await.starts_with("vault:v2:"));
    h.write("keys/k/config", json!({"min_decryption_version": 2}))
        .await;
    assert!(
        h.invalid("decrypt/k", json!({"ciphertext": v1}))
            .await
            .contains("too old")
    );
    h.delete_key("k").await;
    // Encrypting again upserts a brand-new key: version 1, and the old
    // ciphertext does not decrypt under it.
    assert!(h.encrypt("k", b"a").await.starts_with("vault:v1:"));
    assert_eq!(
        h.invalid("decrypt/k", json!({"ciphertext": v1})).await,
        "cipher: message authentication failed"
    );
}

#[tokio::test]
async fn a_new_engine_on_the_same_storage_loads_keys_from_storage() {
    let h = Harness::new().await;
    h.create("k", json!({})).await;
    let ct = h.encrypt("k", b"persisted").await;
    // What unseal does: a fresh engine instance, an empty cache.
    let fresh = coffer_core::engine::EngineFactory::create(
        &coffer_engine_transit::TransitFactory::new(),
        &dummy_mount(),
    )
    .expect("engine");
    let req =
        coffer_core::engine::Request::new(coffer_core::engine::Operation::Update, "decrypt/k")
            .with_data(json!({ "ciphertext": ct }));
    let gets = h.backend.gets.load(Ordering::SeqCst);
    let resp = fresh
        .handle(&h.ctx, req)
        .await
        .expect("decrypt")
        .expect("data");
    assert!(h.backend.gets.load(Ordering::SeqCst) > gets);
    assert_eq!(
        resp.data.expect("data")["plaintext"],
        crate::support::b64(b"persisted")
    );
}

fn dummy_mount() -> coffer_core::mount::MountEntry {
    coffer_core::mount::MountEntry {
        path: "transit/".to_owned(),
        engine_type: "transit".to_owned(),
        description: String::new(),
        accessor: "a".to_owned(),
        uuid: "u".to_owned(),
        config: Default::default(),
        options: Default::default(),
        local: false,
        seal_wrap: false,
        external_entropy_access: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_rotations_and_encryptions_stay_consistent() {
    let h = Arc::new(Harness::new().await);
    h.create("k", json!({})).await;
    let mut tasks = Vec::new();
    for r in 0..5 {
        let h = Arc::clone(&h);
        tasks.push(tokio::spawn(async move {
            h.write("keys/k/rotate", json!({})).await;
            vec![(format!("rotate {r}"), String::new())]
        }));
    }
    for w in 0..8 {
        let h = Arc::clone(&h);
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in 0..10 {
                let pt = format!("{w}-{i}");
                let ct = h.encrypt("k", pt.as_bytes()).await;
                out.push((pt, ct));
            }
            out
        }));
    }
    let mut pairs = Vec::new();
    for t in tasks {
        pairs.extend(t.await.expect("task"));
    }
    // Every rotation landed exactly once (no lost update)...
    assert_eq!(h.read("keys/k").await["latest_version"], 6);
    // ...and every ciphertext, whatever version it got, decrypts.
    for (pt, ct) in pairs.into_iter().filter(|(_, ct)| !ct.is_empty()) {
        assert_eq!(h.decrypt("k", &ct).await, pt.as_bytes());
    }
}
