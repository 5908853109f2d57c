//! Crate tier: a storage failure in the middle of `sys/init` leaves the node
//! uninitialised and initialisable again, never half-initialised.

use coffer_testkit::node::{shamir_node, shamir_params};
use coffer_testkit::storage::FailingWrites;

#[tokio::test]
async fn disk_full_during_init_leaves_an_uninitialised_node_that_can_retry() {
    let backend = FailingWrites::new(
        |key| key.starts_with("barrier/"),
        "No space left on device (os error 28)",
        true,
    );
    let core = shamir_node(backend.clone());
    let params = shamir_params(1, 1);
    let err = core
        .initialize(params.clone())
        .await
        .expect_err("disk is full");
    assert!(err.to_string().contains("No space left on device"), "{err}");
    assert!(!core.is_initialized().await.expect("check"));
    assert!(core.is_sealed());

    backend.set_broken(false);
    let init = core
        .initialize(params)
        .await
        .expect("retry after space is freed");
    assert_eq!(init.keys.len(), 1);
    assert!(core.is_initialized().await.expect("check"));
}
