//! The shared storage conformance suite, run against `EmbeddedBackend`.

use coffer_core::storage::SharedBackend;
use coffer_storage_embedded::EmbeddedBackend;
use std::path::Path;
use std::sync::Arc;

coffer_testkit::backend_conformance_tests!(async |dir: &Path| {
    let backend = EmbeddedBackend::open(dir.join("coffer.db"))
        .await
        .expect("open");
    Arc::new(backend) as SharedBackend
});
