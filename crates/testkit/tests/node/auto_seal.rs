//! Crate tier: the core's auto-unseal flow (recovery keys, unseal with stored
//! keys, rotation upgrade) against a software seal that labels its blobs the
//! way the PKCS#11 seal does. The HSM itself is exercised end to end in the
//! seal-pkcs11 and server tests.

use coffer_core::CoreError;
use coffer_core::ceremony::InitParams;
use coffer_core::seal::ROOT_KEY_PATH;
use coffer_core::storage::SharedBackend;
use coffer_crypto::SecretBytes;
use coffer_testkit::node::{assert_data, auto_node, b64, recovery_params, write_data};
use coffer_testkit::soft_seal::SoftSeal;
use coffer_testkit::storage::inmem;

#[tokio::test]
async fn auto_seal_init_returns_recovery_keys_and_stays_unsealed() {
    let backend: SharedBackend = inmem();
    let core = auto_node(backend, SoftSeal::with_label("key-1"));
    let err = core
        .initialize(InitParams {
            secret_shares: 5,
            secret_threshold: 3,
            ..recovery_params(3, 2)
        })
        .await
        .expect_err("secret_shares must be refused");
    assert!(
        err.to_string()
            .contains("not applicable to seal type pkcs11"),
        "{err}"
    );
    let init = core.initialize(recovery_params(3, 2)).await.expect("init");
    assert!(init.keys.is_empty());
    assert_eq!(init.recovery_keys.len(), 3);
    assert!(!core.is_sealed());
    let status = core.seal_status().await.expect("status");
    assert!(status.recovery_seal);
    assert_eq!((status.shares, status.threshold), (3, 2));
}

#[tokio::test]
async fn restart_unseals_with_stored_keys_and_data_is_intact() {
    let backend: SharedBackend = inmem();
    let seal = SoftSeal::with_label("key-1");
    let core = auto_node(backend.clone(), seal.clone());
    let init = core.initialize(recovery_params(3, 2)).await.expect("init");
    let token = init.root_token.to_string();
    write_data(&core, &token).await;
    drop(core);

    let restarted = auto_node(backend, seal);
    assert!(restarted.is_sealed());
    let err = restarted
        .submit_unseal_key(&b64(&init.recovery_keys[0]))
        .await
        .expect_err("recovery keys do not unseal an auto-seal node");
    assert!(matches!(err, CoreError::InvalidRequest(_)));
    assert!(
        restarted
            .unseal_with_stored_keys()
            .await
            .expect("auto unseal")
    );
    assert_data(&restarted, &token).await;
}

#[tokio::test]
async fn rotated_seal_key_upgrades_stored_keys_so_the_old_key_can_go() {
    let backend: SharedBackend = inmem();
    let seal = SoftSeal::with_label("key-1");
    auto_node(backend.clone(), seal.clone())
        .initialize(recovery_params(1, 1))
        .await
        .expect("init");

    seal.rotate_to("key-2");
    assert!(
        auto_node(backend.clone(), seal.clone())
            .unseal_with_stored_keys()
            .await
            .expect("unseal with old key")
    );
    let blob = backend
        .get(ROOT_KEY_PATH)
        .await
        .expect("get")
        .expect("present");
    assert_eq!(
        SoftSeal::label_of(&blob),
        "key-2",
        "root key re-wrapped with the new key"
    );

    seal.forget("key-1");
    assert!(
        auto_node(backend, seal)
            .unseal_with_stored_keys()
            .await
            .expect("unseal with only the new key")
    );
}

#[tokio::test]
async fn generate_root_with_auto_seal_takes_recovery_keys() {
    let backend: SharedBackend = inmem();
    let core = auto_node(backend, SoftSeal::with_label("key-1"));
    let init = core.initialize(recovery_params(3, 2)).await.expect("init");
    let start = core.generate_root_start(None, None).await.expect("start");
    assert_eq!(start.required, 2);
    core.generate_root_update(&b64(&init.recovery_keys[0]), &start.nonce)
        .await
        .expect("first");
    let done = core
        .generate_root_update(&b64(&init.recovery_keys[2]), &start.nonce)
        .await
        .expect("second");
    assert!(done.complete);

    let start = core
        .generate_root_start(None, None)
        .await
        .expect("start again");
    let wrong = SecretBytes::new(vec![1u8; 33]);
    let mut other = vec![2u8; 33];
    other[0] = 2;
    core.generate_root_update(&b64(&wrong), &start.nonce)
        .await
        .expect("first");
    let err = core
        .generate_root_update(&b64(&SecretBytes::new(other)), &start.nonce)
        .await
        .expect_err("wrong recovery keys");
    assert!(err.to_string().contains("do not match"), "{err}");
}
