//! Crate tier: sealing while other work runs never leaves the barrier open
//! behind the seal (the review reproduced this with concurrent sys/rotate).

use coffer_core::CoreError;
use coffer_core::engine::{Operation, Request};
use coffer_testkit::node::{shamir_node, shamir_params};
use coffer_testkit::storage::inmem;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seal_during_concurrent_rotations_and_mounts_always_ends_sealed() {
    let core = shamir_node(inmem());
    let init = core.initialize(shamir_params(1, 1)).await.expect("init");
    let key = hex::encode(init.keys[0].expose());
    let token = init.root_token.to_string();
    for round in 0..15 {
        core.submit_unseal_key(&key).await.expect("unseal");
        let mut tasks = Vec::new();
        for i in 0..20 {
            let (core, token) = (core.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                let req = if i % 2 == 0 {
                    Request::new(Operation::Update, "sys/rotate")
                } else {
                    Request::new(Operation::Update, format!("sys/mounts/m{round}-{i}"))
                        .with_data(serde_json::json!({"type": "kv"}))
                };
                let _ = core.handle(req, Some(&token)).await;
            }));
        }
        let sealer = core.clone();
        tasks.push(tokio::spawn(async move { sealer.seal_now().await }));
        for t in tasks {
            t.await.expect("task");
        }
        assert!(core.is_sealed(), "round {round}: barrier open after seal");
        assert!(core.seal_status().await.expect("status").sealed);
        let after = core
            .handle(Request::new(Operation::Read, "sys/mounts"), Some(&token))
            .await;
        assert!(
            matches!(after, Err(CoreError::Sealed)),
            "round {round}: {after:?}"
        );
    }
}
