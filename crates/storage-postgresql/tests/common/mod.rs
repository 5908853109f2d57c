//! Shared by the integration tests: a backend that owns the throwaway server
//! it talks to, and a plain SQL connection to look behind the backend's back.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

use async_trait::async_trait;
use coffer_core::storage::{Backend, StorageError};
use coffer_storage_postgresql::{ConnectionUrl, PostgresBackend, PostgresConfig};
use coffer_testkit::postgres::PgServer;
use std::time::Duration;

/// A backend together with its private server, so the server lives exactly as
/// long as the backend (the conformance suite only keeps the backend).
pub(crate) struct Served {
    pub(crate) backend: PostgresBackend,
    pub(crate) server: PgServer,
}

#[async_trait]
impl Backend for Served {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.backend.get(key).await
    }
    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.backend.put(key, value).await
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.backend.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.backend.list(prefix).await
    }
    fn kind(&self) -> &'static str {
        self.backend.kind()
    }
}

/// A fresh server and a backend on its default table.
pub(crate) async fn served() -> Served {
    let server = PgServer::start();
    let backend = PostgresBackend::open(&config(&server.url()))
        .await
        .expect("open");
    Served { backend, server }
}

/// Vault's defaults for `url`, with quick start-up retries.
pub(crate) fn config(url: &str) -> PostgresConfig {
    let mut c = PostgresConfig::new(ConnectionUrl::new(url));
    c.connect_retry_delay = Duration::from_millis(20);
    c
}

/// A plain connection as the superuser, for inspecting what the backend did.
pub(crate) async fn sql(server: &PgServer) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&server.url(), tokio_postgres::NoTls)
        .await
        .expect("inspection connection");
    tokio::spawn(connection);
    client
}
