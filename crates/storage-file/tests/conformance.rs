//! The shared storage conformance suite, run against `FileBackend`.

use coffer_core::storage::SharedBackend;
use coffer_storage_file::FileBackend;
use std::path::Path;
use std::sync::Arc;

coffer_testkit::backend_conformance_tests!(async |dir: &Path| {
    Arc::new(FileBackend::new(dir.join("data")).expect("new")) as SharedBackend
});
