//! Crate tier: seal wrap against a software seal that labels its blobs the
//! way the PKCS#11 seal does. What lands in storage, tamper detection,
//! re-wrap after a key rotation, and the Shamir refusal. The real HSM and
//! the file storage are exercised in `crates/cli/tests/seal_wrap_e2e.rs`.

use coffer_core::CoreError;
use coffer_core::engine::{Operation, Request};
use coffer_core::storage::KEYRING_PATH;
use coffer_core::storage::SharedBackend;
use coffer_core::{Core, CoreOptions};
use coffer_testkit::node::{
    auto_node, b64, node_options, recovery_params, shamir_init_and_unseal, shamir_node,
    wait_for_rewrap,
};
use coffer_testkit::soft_seal::SoftSeal;
use coffer_testkit::storage::{all_keys, inmem};
use serde_json::json;
use std::sync::Arc;

const WRAP_MAGIC: &[u8] = b"CSW\x01\x06pkcs11";

async fn enable(core: &Arc<Core>, token: &str, path: &str, body: serde_json::Value) {
    core.handle(
        Request::new(Operation::Update, format!("sys/mounts/{path}")).with_data(body),
        Some(token),
    )
    .await
    .unwrap_or_else(|e| panic!("mount {path}: {e}"));
}

async fn put(core: &Arc<Core>, token: &str, path: &str) {
    core.handle(
        Request::new(Operation::Update, path).with_data(json!({"password": "my-long-password"})),
        Some(token),
    )
    .await
    .unwrap_or_else(|e| panic!("write {path}: {e}"));
}

async fn read(core: &Arc<Core>, token: &str, path: &str) -> Result<String, CoreError> {
    let r = core
        .handle(Request::new(Operation::Read, path), Some(token))
        .await?
        .expect("present");
    Ok(r.data.expect("data")["password"]
        .as_str()
        .expect("string")
        .to_owned())
}

/// Runs `write` and returns the one physical key it created.
async fn new_key_after(backend: &SharedBackend, write: impl Future<Output = ()>) -> String {
    let before = all_keys(backend).await;
    write.await;
    let after = all_keys(backend).await;
    let mut created: Vec<_> = after.difference(&before).cloned().collect();
    assert_eq!(created.len(), 1, "{created:?}");
    created.remove(0)
}

async fn raw(backend: &SharedBackend, key: &str) -> Vec<u8> {
    backend.get(key).await.expect("get").expect("present")
}

/// An auto-sealed node with `kv-unwrapped/` and `kv-seal-wrapped/` (KV v1),
/// its root token and its one recovery key (base64).
async fn node_with_keys(
    backend: SharedBackend,
    seal: Arc<SoftSeal>,
) -> (Arc<Core>, String, String) {
    let core = auto_node(backend, seal);
    let init = core.initialize(recovery_params(1, 1)).await.expect("init");
    let token = init.root_token.to_string();
    let recovery = b64(&init.recovery_keys[0]);
    enable(&core, &token, "kv-unwrapped", json!({"type": "kv"})).await;
    enable(
        &core,
        &token,
        "kv-seal-wrapped",
        json!({"type": "kv", "seal_wrap": true}),
    )
    .await;
    (core, token, recovery)
}

async fn two_mounts(backend: SharedBackend, seal: Arc<SoftSeal>) -> (Arc<Core>, String) {
    let (core, token, _) = node_with_keys(backend, seal).await;
    (core, token)
}

#[tokio::test]
async fn a_seal_wrapped_mount_stores_a_longer_record_made_by_the_seal() {
    let backend = inmem();
    let (core, token) = two_mounts(backend.clone(), SoftSeal::new()).await;
    let plain_key = new_key_after(&backend, put(&core, &token, "kv-unwrapped/unwrapped")).await;
    let wrapped_key = new_key_after(&backend, put(&core, &token, "kv-seal-wrapped/wrapped")).await;
    let plain = raw(&backend, &plain_key).await;
    let wrapped = raw(&backend, &wrapped_key).await;
    assert!(
        !plain.starts_with(b"CSW"),
        "unwrapped mount is barrier-only"
    );
    assert!(
        wrapped.starts_with(WRAP_MAGIC),
        "record names the pkcs11 seal"
    );
    assert!(
        wrapped.len() > plain.len(),
        "wrapped {} bytes vs unwrapped {}",
        wrapped.len(),
        plain.len()
    );
    for bytes in [&plain, &wrapped] {
        assert!(
            !bytes
                .windows(b"my-long-password".len())
                .any(|w| w == b"my-long-password")
        );
    }
    assert_eq!(
        read(&core, &token, "kv-unwrapped/unwrapped")
            .await
            .expect("read"),
        "my-long-password"
    );
    assert_eq!(
        read(&core, &token, "kv-seal-wrapped/wrapped")
            .await
            .expect("read"),
        "my-long-password"
    );
    let mounts = core
        .handle(Request::new(Operation::Read, "sys/mounts"), Some(&token))
        .await
        .expect("mounts")
        .expect("data")
        .data
        .expect("data");
    assert_eq!(mounts["kv-seal-wrapped/"]["seal_wrap"], true);
    assert_eq!(mounts["kv-unwrapped/"]["seal_wrap"], false);
}

#[tokio::test]
async fn the_keyring_token_salt_and_wrapping_key_are_always_wrapped_by_an_hsm_seal() {
    let backend = inmem();
    let core = auto_node(backend.clone(), SoftSeal::new());
    core.initialize(recovery_params(1, 1)).await.expect("init");
    assert!(raw(&backend, KEYRING_PATH).await.starts_with(WRAP_MAGIC));
    let wrapped = {
        let mut n = 0;
        for k in all_keys(&backend).await {
            if k.starts_with("barrier/") && raw(&backend, &k).await.starts_with(WRAP_MAGIC) {
                n += 1;
            }
        }
        n
    };
    assert_eq!(
        wrapped, 2,
        "the token salt and the response-wrapping signing key, nothing else yet"
    );
}

#[tokio::test]
async fn a_tampered_wrapped_record_is_reported_never_returned() {
    let backend = inmem();
    let (core, token) = two_mounts(backend.clone(), SoftSeal::new()).await;
    let key = new_key_after(&backend, put(&core, &token, "kv-seal-wrapped/wrapped")).await;
    let mut bytes = raw(&backend, &key).await;
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    backend.put(&key, &bytes).await.expect("tamper");
    let err = read(&core, &token, "kv-seal-wrapped/wrapped")
        .await
        .expect_err("tampered");
    assert!(matches!(err, CoreError::SealWrapIntegrity { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("failed the seal's integrity check"), "{msg}");
    assert!(msg.contains(&key), "names the physical key: {msg}");
    assert!(!msg.contains("my-long-password"));
}

#[tokio::test]
async fn after_an_hsm_key_rotation_values_are_rewrapped_in_the_background() {
    let backend = inmem();
    let seal = SoftSeal::with_label("key-1");
    let (core, token) = two_mounts(backend.clone(), seal.clone()).await;
    let key = new_key_after(&backend, put(&core, &token, "kv-seal-wrapped/wrapped")).await;
    drop(core);

    seal.rotate_to("key-2");
    let node = auto_node(backend.clone(), seal.clone());
    assert!(node.unseal_with_stored_keys().await.expect("unseal"));
    assert_eq!(
        read(&node, &token, "kv-seal-wrapped/wrapped")
            .await
            .expect("old key reads"),
        "my-long-password"
    );
    let status = wait_for_rewrap(&node).await;
    assert_eq!(status.failed, 0, "{status:?}");
    assert!(status.rewritten >= 1, "{status:?}");
    let record = raw(&backend, &key).await;
    assert_eq!(SoftSeal::label_of(&record[WRAP_MAGIC.len()..]), "key-2");
    drop(node);

    seal.forget("key-1");
    let node = auto_node(backend, seal);
    assert!(
        node.unseal_with_stored_keys()
            .await
            .expect("only key-2 left")
    );
    assert_eq!(
        read(&node, &token, "kv-seal-wrapped/wrapped")
            .await
            .expect("read"),
        "my-long-password"
    );
    let idle = wait_for_rewrap(&node).await;
    assert_eq!(idle.processed, 0, "nothing stale, no pass: {idle:?}");
}

#[tokio::test]
async fn sealwrap_rewrap_endpoint_reports_progress_and_starts_a_pass() {
    let backend = inmem();
    let (core, token) = two_mounts(backend, SoftSeal::new()).await;
    put(&core, &token, "kv-seal-wrapped/wrapped").await;
    let started = core
        .handle(
            Request::new(Operation::Update, "sys/sealwrap/rewrap"),
            Some(&token),
        )
        .await
        .expect("post");
    assert!(started.is_none(), "204 when started");
    wait_for_rewrap(&core).await;
    let status = core
        .handle(
            Request::new(Operation::Read, "sys/sealwrap/rewrap"),
            Some(&token),
        )
        .await
        .expect("get")
        .expect("body")
        .data
        .expect("data");
    assert_eq!(status["is_running"], false);
    assert!(
        status["entries"]["processed"].as_u64().expect("n") >= 3,
        "{status}"
    );
    assert_eq!(status["entries"]["failed"], 0);
    assert_eq!(
        status["entries"]["rewritten"], 0,
        "everything already current"
    );
}

#[tokio::test]
async fn reading_a_wrapped_value_again_needs_no_hsm_call_unless_storage_changed() {
    let backend = inmem();
    let seal = SoftSeal::new();
    let (core, token) = two_mounts(backend.clone(), seal.clone()).await;
    let key = new_key_after(&backend, put(&core, &token, "kv-seal-wrapped/wrapped")).await;
    let unwraps = || seal.unwraps.load(std::sync::atomic::Ordering::SeqCst);
    let before = unwraps();
    for _ in 0..3 {
        read(&core, &token, "kv-seal-wrapped/wrapped")
            .await
            .expect("read");
    }
    assert_eq!(unwraps(), before, "written by this node: already known");
    let mut bytes = raw(&backend, &key).await;
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    backend.put(&key, &bytes).await.expect("tamper");
    assert!(
        read(&core, &token, "kv-seal-wrapped/wrapped")
            .await
            .is_err()
    );
    assert_eq!(unwraps(), before + 1, "changed bytes go back to the seal");
}

#[tokio::test]
async fn seal_wrap_cannot_be_changed_by_tune() {
    let (core, token) = two_mounts(inmem(), SoftSeal::new()).await;
    for (mount, value) in [("kv-seal-wrapped", false), ("kv-unwrapped", true)] {
        let err = core
            .handle(
                Request::new(Operation::Update, format!("sys/mounts/{mount}/tune"))
                    .with_data(json!({ "seal_wrap": value })),
                Some(&token),
            )
            .await
            .expect_err("refused");
        assert!(err.to_string().contains("cannot be changed"), "{err}");
    }
}

#[tokio::test]
async fn the_shamir_seal_refuses_seal_wrap_mounts_with_a_reason() {
    let backend = inmem();
    let core = shamir_node(backend.clone());
    let (_, token) = shamir_init_and_unseal(&core).await;
    let err = core
        .handle(
            Request::new(Operation::Update, "sys/mounts/kv-seal-wrapped")
                .with_data(json!({"type": "kv", "seal_wrap": true})),
            Some(&token),
        )
        .await
        .expect_err("refused");
    assert!(matches!(err, CoreError::InvalidRequest(_)), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("seal \"pkcs11\"") && msg.contains("shamir"),
        "{msg}"
    );
    assert!(!raw(&backend, KEYRING_PATH).await.starts_with(b"CSW"));
}

#[tokio::test]
async fn migrating_to_shamir_unwraps_every_value_while_the_hsm_can() {
    let backend = inmem();
    let seal = SoftSeal::new();
    let (core, token, recovery) = node_with_keys(backend.clone(), seal.clone()).await;
    put(&core, &token, "kv-seal-wrapped/wrapped").await;
    drop(core);

    let migrating = Core::new(CoreOptions {
        migration_from: Some(seal),
        ..node_options(backend.clone(), None)
    });
    migrating
        .submit_migration_key(&recovery)
        .await
        .expect("migrate");
    assert!(!migrating.is_sealed());
    for k in all_keys(&backend).await {
        assert!(
            !raw(&backend, &k).await.starts_with(b"CSW"),
            "{k} is still seal-wrapped after the migration"
        );
    }
    drop(migrating);

    let shamir = shamir_node(backend);
    shamir
        .submit_unseal_key(&recovery)
        .await
        .expect("the recovery key is the unseal key now");
    assert_eq!(
        read(&shamir, &token, "kv-seal-wrapped/wrapped")
            .await
            .expect("read"),
        "my-long-password"
    );
    put(&shamir, &token, "kv-seal-wrapped/after").await;
    assert_eq!(
        read(&shamir, &token, "kv-seal-wrapped/after")
            .await
            .expect("read"),
        "my-long-password"
    );
}

#[tokio::test]
async fn transit_key_material_is_wrapped_even_on_a_mount_without_seal_wrap() {
    let backend = inmem();
    let (core, token) = two_mounts(backend.clone(), SoftSeal::new()).await;
    enable(&core, &token, "transit", json!({"type": "transit"})).await;
    let before = all_keys(&backend).await;
    core.handle(
        Request::new(Operation::Update, "transit/keys/orders"),
        Some(&token),
    )
    .await
    .expect("create key");
    let created: Vec<_> = all_keys(&backend)
        .await
        .difference(&before)
        .cloned()
        .collect();
    assert!(!created.is_empty());
    for key in &created {
        assert!(
            raw(&backend, key).await.starts_with(WRAP_MAGIC),
            "{key}: transit's policy/ and archive/ are seal_wrap_storage"
        );
    }
}
