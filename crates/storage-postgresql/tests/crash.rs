//! Kill -9 a writer mid-stream, then crash PostgreSQL itself (immediate
//! shutdown: no checkpoint, WAL replay at restart); every acknowledged write
//! must survive both.

mod common;

use coffer_core::storage::SharedBackend;
use coffer_storage_postgresql::PostgresBackend;
use coffer_testkit::conformance::crash;
use coffer_testkit::postgres::PgServer;
use std::path::Path;
use std::sync::Arc;

/// Tells the writer child which server the parent started.
const URL_ENV: &str = "COFFER_TEST_PG_CRASH_URL";

#[test]
fn acknowledged_writes_survive_kill_9() {
    // The parent owns the server; the writer child only connects to it.
    let server = (!crash::is_writer()).then(PgServer::start);
    let url = match &server {
        Some(s) => s.url(),
        None => std::env::var(URL_ENV).expect("the parent names its server"),
    };
    crash::acknowledged_writes_survive_kill_with_env(
        "acknowledged_writes_survive_kill_9",
        &[(URL_ENV, url.as_str())],
        async |_dir: &Path| {
            // In the parent this runs after the writer was killed: crash the
            // database too before reading, so only what reached its WAL counts.
            if let Some(s) = &server {
                s.crash_and_restart();
            }
            let backend = PostgresBackend::open(&common::config(&url))
                .await
                .expect("open");
            Arc::new(backend) as SharedBackend
        },
    );
}
