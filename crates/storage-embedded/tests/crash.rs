//! Kill -9 a writer mid-stream; every acknowledged write must survive.

use coffer_core::storage::SharedBackend;
use coffer_storage_embedded::EmbeddedBackend;
use coffer_testkit::conformance::crash;
use std::path::Path;
use std::sync::Arc;

#[test]
fn acknowledged_writes_survive_kill_9() {
    crash::acknowledged_writes_survive_kill(
        "acknowledged_writes_survive_kill_9",
        async |dir: &Path| {
            let backend = EmbeddedBackend::open(dir.join("coffer.db"))
                .await
                .expect("open");
            Arc::new(backend) as SharedBackend
        },
    );
}
