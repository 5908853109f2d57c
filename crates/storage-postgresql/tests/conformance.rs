//! The shared storage conformance suite, run against `PostgresBackend` on a
//! private PostgreSQL server per check.

mod common;

use coffer_core::storage::SharedBackend;
use std::path::Path;
use std::sync::Arc;

coffer_testkit::backend_conformance_tests!(async |_dir: &Path| {
    Arc::new(common::served().await) as SharedBackend
});
