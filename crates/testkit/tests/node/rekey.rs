//! Crate tier: `sys/rekey` (unseal keys, Shamir seal) and
//! `sys/rekey-recovery-key` (recovery keys, auto-unseal seal). The auto seal
//! here is a software stand-in that wraps the way the PKCS#11 seal does; the
//! HSM itself is exercised end to end in the CLI tests.

use coffer_core::ceremony::{RekeyParams, RekeyTarget, RekeyUpdate};
use coffer_core::seal::SEAL_CONFIG_PATH;
use coffer_core::storage::SharedBackend;
use coffer_core::{Core, CoreError};
use coffer_crypto::SecretBytes;
use coffer_testkit::node::{
    assert_data, auto_node, b64, generate_root_works, recovery_params, shamir_init_and_unseal,
    shamir_node, write_data,
};
use coffer_testkit::soft_seal::SoftSeal;
use coffer_testkit::storage::{FailingWrites, inmem};
use std::sync::Arc;

fn params(shares: u32, threshold: u32) -> RekeyParams {
    RekeyParams {
        secret_shares: shares,
        secret_threshold: threshold,
        ..RekeyParams::default()
    }
}

async fn unseal(core: &Arc<Core>, keys: &[String]) -> Result<(), CoreError> {
    for k in keys {
        core.submit_unseal_key(k).await?;
    }
    if core.is_sealed() {
        return Err(CoreError::invalid("still sealed"));
    }
    Ok(())
}

/// Feeds `keys` to the attempt; returns the new keys when it completes.
async fn rekey_with(
    core: &Arc<Core>,
    target: RekeyTarget,
    nonce: &str,
    keys: &[String],
) -> Result<Option<Vec<String>>, CoreError> {
    for k in keys {
        if let RekeyUpdate::Complete(done) = core.rekey_update(target, k, nonce).await? {
            assert_eq!(done.nonce, nonce);
            return Ok(Some(done.keys.iter().map(b64).collect()));
        }
    }
    Ok(None)
}

#[tokio::test]
async fn recovery_rekey_3_of_2_to_5_of_3_retires_the_old_recovery_keys() {
    let backend: SharedBackend = inmem();
    let seal = SoftSeal::new();
    let core = auto_node(backend.clone(), seal.clone());
    let init = core.initialize(recovery_params(3, 2)).await.expect("init");
    let old: Vec<String> = init.recovery_keys.iter().map(b64).collect();
    let t = RekeyTarget::RecoveryKeys;

    let idle = core.rekey_status(t).await.expect("status");
    assert_eq!((idle.started, idle.required, idle.progress), (false, 2, 0));
    let start = core.rekey_start(t, params(5, 3)).await.expect("start");
    assert_eq!(
        (start.started, start.shares, start.threshold, start.required),
        (true, 5, 3, 2)
    );
    assert!(!start.nonce.is_empty());
    let new = rekey_with(&core, t, &start.nonce, &old[1..])
        .await
        .expect("rekey")
        .expect("complete");
    assert_eq!(new.len(), 5);
    assert!(!core.rekey_status(t).await.expect("status").started);
    let status = core.seal_status().await.expect("seal status");
    assert_eq!((status.shares, status.threshold), (5, 3));

    assert!(
        !generate_root_works(&core, &old).await,
        "old recovery keys no longer authorise generate-root"
    );
    assert!(
        !generate_root_works(&core, &new[..2]).await,
        "below threshold"
    );
    assert!(generate_root_works(&core, &new[2..]).await);

    drop(core);
    let restarted = auto_node(backend, seal);
    assert!(
        restarted
            .unseal_with_stored_keys()
            .await
            .expect("auto unseal")
    );
    assert!(generate_root_works(&restarted, &new[..3]).await);
}

#[tokio::test]
async fn shamir_rekey_3_of_2_to_2_of_2_old_keys_no_longer_unseal() {
    let core = shamir_node(inmem());
    let (old, token) = shamir_init_and_unseal(&core).await;
    write_data(&core, &token).await;

    let t = RekeyTarget::UnsealKeys;
    let start = core.rekey_start(t, params(2, 2)).await.expect("start");
    assert_eq!(start.required, 2);
    let progress = core
        .rekey_update(t, &old[2], &start.nonce)
        .await
        .expect("first key");
    match progress {
        RekeyUpdate::Progress(p) => assert_eq!((p.progress, p.required), (1, 2)),
        RekeyUpdate::Complete(_) => panic!("one key is below the threshold"),
    }
    let new = rekey_with(&core, t, &start.nonce, &old[..1])
        .await
        .expect("rekey")
        .expect("complete");
    assert_eq!(new.len(), 2);
    let status = core.seal_status().await.expect("seal status");
    assert_eq!((status.shares, status.threshold), (2, 2));

    core.seal_now().await;
    assert!(unseal(&core, &old[..2]).await.is_err(), "old keys fail");
    assert!(core.is_sealed());
    core.reset_unseal();
    unseal(&core, &new).await.expect("new keys unseal");
    assert_data(&core, &token).await;
    assert!(generate_root_works(&core, &new).await);
}

#[tokio::test]
async fn wrong_keys_are_refused_and_reset_the_progress_but_keep_the_attempt() {
    let core = shamir_node(inmem());
    let (old, _) = shamir_init_and_unseal(&core).await;
    let t = RekeyTarget::UnsealKeys;
    let start = core.rekey_start(t, params(3, 2)).await.expect("start");
    let mut wrong = vec![2u8; 33];
    wrong[0] = 7;
    let wrong = b64(&SecretBytes::new(wrong));
    core.rekey_update(t, &old[0], &start.nonce)
        .await
        .expect("first");
    let err = core
        .rekey_update(t, &wrong, &start.nonce)
        .await
        .expect_err("wrong key");
    assert!(matches!(err, CoreError::InvalidRequest(_)), "{err}");
    assert!(err.to_string().contains("progress was reset"), "{err}");
    let status = core.rekey_status(t).await.expect("status");
    assert_eq!(
        (status.started, status.progress, status.nonce.as_str()),
        (true, 0, start.nonce.as_str())
    );
    // A key of another length cannot even be combined: still a 400.
    core.rekey_update(t, &old[0], &start.nonce)
        .await
        .expect("first again");
    let short = b64(&SecretBytes::new(vec![1u8; 5]));
    let err = core
        .rekey_update(t, &short, &start.nonce)
        .await
        .expect_err("short key");
    assert!(matches!(err, CoreError::InvalidRequest(_)), "{err}");

    let new = rekey_with(&core, t, &start.nonce, &old[1..])
        .await
        .expect("right keys")
        .expect("complete");
    assert_eq!(new.len(), 3);
}

#[tokio::test]
async fn wrong_recovery_keys_are_refused_and_nothing_changes() {
    let core = auto_node(inmem(), SoftSeal::new());
    let init = core.initialize(recovery_params(3, 2)).await.expect("init");
    let old: Vec<String> = init.recovery_keys.iter().map(b64).collect();
    let t = RekeyTarget::RecoveryKeys;
    let start = core.rekey_start(t, params(1, 1)).await.expect("start");
    let mut a = vec![3u8; 33];
    a[0] = 1;
    let mut b = vec![4u8; 33];
    b[0] = 2;
    let wrong = [b64(&SecretBytes::new(a)), b64(&SecretBytes::new(b))];
    let err = rekey_with(&core, t, &start.nonce, &wrong)
        .await
        .expect_err("wrong recovery keys");
    assert!(matches!(err, CoreError::InvalidRequest(_)), "{err}");
    assert!(
        generate_root_works(&core, &old[..2]).await,
        "old keys still work"
    );
    let status = core.seal_status().await.expect("seal status");
    assert_eq!((status.shares, status.threshold), (3, 2));
}

#[tokio::test]
async fn nonce_mismatch_and_repeated_key_are_refused() {
    let core = shamir_node(inmem());
    let (old, _) = shamir_init_and_unseal(&core).await;
    let t = RekeyTarget::UnsealKeys;
    let err = core
        .rekey_update(t, &old[0], "no-attempt")
        .await
        .expect_err("nothing in progress");
    assert!(err.to_string().contains("no rekey in progress"), "{err}");
    let start = core.rekey_start(t, params(3, 2)).await.expect("start");
    let err = core
        .rekey_update(t, &old[0], "not-the-nonce")
        .await
        .expect_err("nonce");
    assert!(err.to_string().contains("incorrect nonce"), "{err}");
    core.rekey_update(t, &old[0], &start.nonce)
        .await
        .expect("first");
    let err = core
        .rekey_update(t, &old[0], &start.nonce)
        .await
        .expect_err("same key twice");
    assert!(err.to_string().contains("already entered"), "{err}");
    assert_eq!(core.rekey_status(t).await.expect("status").progress, 1);
}

#[tokio::test]
async fn cancel_discards_the_attempt_and_a_second_start_is_refused() {
    let core = shamir_node(inmem());
    let (old, _) = shamir_init_and_unseal(&core).await;
    let t = RekeyTarget::UnsealKeys;
    let start = core.rekey_start(t, params(3, 2)).await.expect("start");
    let err = core
        .rekey_start(t, params(5, 3))
        .await
        .expect_err("already in progress");
    assert!(err.to_string().contains("already in progress"), "{err}");
    core.rekey_update(t, &old[0], &start.nonce)
        .await
        .expect("first");
    let err = core
        .rekey_cancel(t, Some("other"))
        .await
        .expect_err("wrong nonce");
    assert!(err.to_string().contains("incorrect nonce"), "{err}");
    core.rekey_cancel(t, Some(&start.nonce))
        .await
        .expect("cancel");
    assert!(!core.rekey_status(t).await.expect("status").started);
    core.rekey_cancel(t, None)
        .await
        .expect("cancel again is fine");
    let err = core
        .rekey_update(t, &old[1], &start.nonce)
        .await
        .expect_err("cancelled");
    assert!(err.to_string().contains("no rekey in progress"), "{err}");
    unseal_still_works_after_seal(&core, &old).await;
}

async fn unseal_still_works_after_seal(core: &Arc<Core>, keys: &[String]) {
    core.seal_now().await;
    unseal(core, &keys[1..])
        .await
        .expect("old keys still unseal");
}

#[tokio::test]
async fn start_validates_parameters_and_refuses_unsupported_options() {
    let core = shamir_node(inmem());
    shamir_init_and_unseal(&core).await;
    let t = RekeyTarget::UnsealKeys;
    for (p, fragment) in [
        (params(0, 0), "at least 1"),
        (params(3, 4), "cannot be larger"),
        (params(3, 1), "greater than one"),
        (params(256, 2), "cannot exceed 255"),
        (
            RekeyParams {
                pgp_keys: vec!["key".to_owned()],
                ..params(1, 1)
            },
            "pgp_keys",
        ),
        (
            RekeyParams {
                backup: true,
                ..params(1, 1)
            },
            "backup",
        ),
        (
            RekeyParams {
                require_verification: true,
                ..params(1, 1)
            },
            "require_verification",
        ),
    ] {
        let err = core.rekey_start(t, p).await.expect_err(fragment);
        assert!(
            matches!(
                err,
                CoreError::InvalidRequest(_) | CoreError::NotSupported(_)
            ),
            "{err}"
        );
        assert!(err.to_string().contains(fragment), "{err} lacks {fragment}");
    }
    assert!(!core.rekey_status(t).await.expect("status").started);
}

#[tokio::test]
async fn each_seal_takes_only_its_own_kind_of_rekey_and_a_sealed_node_none() {
    let core = shamir_node(inmem());
    let err = core
        .rekey_status(RekeyTarget::UnsealKeys)
        .await
        .expect_err("uninitialised");
    assert!(matches!(err, CoreError::NotInitialized), "{err}");
    shamir_init_and_unseal(&core).await;
    let err = core
        .rekey_start(RekeyTarget::RecoveryKeys, params(1, 1))
        .await
        .expect_err("no recovery keys with shamir");
    assert!(
        err.to_string()
            .contains("recovery keys are only used with auto-unseal seals"),
        "{err}"
    );
    core.seal_now().await;
    let err = core
        .rekey_status(RekeyTarget::UnsealKeys)
        .await
        .expect_err("sealed");
    assert!(matches!(err, CoreError::Sealed), "{err}");

    let auto = auto_node(inmem(), SoftSeal::new());
    auto.initialize(recovery_params(1, 1)).await.expect("init");
    let err = auto
        .rekey_start(RekeyTarget::UnsealKeys, params(1, 1))
        .await
        .expect_err("no unseal-key rekey with an auto seal");
    assert!(err.to_string().contains("not supported yet"), "{err}");
    assert!(err.to_string().contains("sys/rotate"), "{err}");
}

#[tokio::test]
async fn failed_config_write_puts_the_old_key_back_so_the_old_keys_still_work() {
    let backend = FailingWrites::new(|key| key == SEAL_CONFIG_PATH, "disk full (test)", false);
    let core = auto_node(backend.clone(), SoftSeal::new());
    let init = core.initialize(recovery_params(3, 2)).await.expect("init");
    let old: Vec<String> = init.recovery_keys.iter().map(b64).collect();
    let t = RekeyTarget::RecoveryKeys;
    let start = core.rekey_start(t, params(2, 2)).await.expect("start");
    backend.set_broken(true);
    let err = rekey_with(&core, t, &start.nonce, &old[..2])
        .await
        .expect_err("config write fails");
    assert!(err.to_string().contains("disk full"), "{err}");
    backend.set_broken(false);
    assert!(
        generate_root_works(&core, &old[1..]).await,
        "old keys still work"
    );
    let status = core.rekey_status(t).await.expect("status");
    assert_eq!(
        (status.started, status.progress),
        (true, 0),
        "attempt kept, progress reset"
    );
    let new = rekey_with(&core, t, &start.nonce, &old[..2])
        .await
        .expect("retry")
        .expect("complete");
    assert!(generate_root_works(&core, &new).await);
}

#[tokio::test]
async fn sealing_discards_a_rekey_attempt_and_its_shares() {
    let core = shamir_node(inmem());
    let (old, _) = shamir_init_and_unseal(&core).await;
    let t = RekeyTarget::UnsealKeys;
    let start = core.rekey_start(t, params(3, 2)).await.expect("start");
    core.rekey_update(t, &old[0], &start.nonce)
        .await
        .expect("first share");
    core.seal_now().await;
    unseal(&core, &old[1..]).await.expect("unseal again");
    assert!(!core.rekey_status(t).await.expect("status").started);
    let err = core
        .rekey_update(t, &old[1], &start.nonce)
        .await
        .expect_err("the old attempt is gone");
    assert!(err.to_string().contains("no rekey in progress"), "{err}");
}
