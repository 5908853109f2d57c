//! The shared storage conformance suite, run against `InmemBackend`.

use coffer_core::storage::{Backend, SharedBackend};
use coffer_storage_inmem::InmemBackend;
use std::path::Path;
use std::sync::Arc;

coffer_testkit::backend_conformance_tests!(async |_dir: &Path| {
    Arc::new(InmemBackend::new()) as SharedBackend
});

#[test]
fn kind_is_inmem() {
    assert_eq!(InmemBackend::new().kind(), "inmem");
}

#[tokio::test]
async fn separate_instances_share_nothing() {
    let (a, b) = (InmemBackend::new(), InmemBackend::new());
    a.put("k", b"v").await.expect("put");
    assert_eq!(b.get("k").await.expect("get"), None);
}
