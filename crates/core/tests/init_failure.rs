//! Crate tier: a storage failure in the middle of `sys/init` leaves the node
//! uninitialised and initialisable again, never half-initialised.

use async_trait::async_trait;
use coffer_core::clock::SystemClock;
use coffer_core::init::InitParams;
use coffer_core::seal::ShamirSeal;
use coffer_core::storage::{Backend, SharedBackend, StorageError};
use coffer_core::{Core, CoreOptions};
use coffer_crypto::OsEntropy;
use coffer_storage_inmem::InmemBackend;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Real in-memory storage whose writes under `barrier/` fail while `broken`.
struct FailingBarrierWrites {
    inner: InmemBackend,
    broken: AtomicBool,
}

#[async_trait]
impl Backend for FailingBarrierWrites {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        if self.broken.load(Ordering::SeqCst) && key.starts_with("barrier/") {
            return Err(StorageError::Io {
                op: "put",
                key: key.to_owned(),
                cause: "No space left on device (os error 28)".to_owned(),
            });
        }
        self.inner.put(key, value).await
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.inner.list(prefix).await
    }
    fn kind(&self) -> &'static str {
        "inmem"
    }
}

#[tokio::test]
async fn disk_full_during_init_leaves_an_uninitialised_node_that_can_retry() {
    let backend = Arc::new(FailingBarrierWrites {
        inner: InmemBackend::new(),
        broken: AtomicBool::new(true),
    });
    let entropy = Arc::new(OsEntropy::new());
    let shamir = Arc::new(ShamirSeal::new(entropy.clone()));
    let shared: SharedBackend = backend.clone();
    let core = Core::new(CoreOptions {
        backend: shared,
        seal: shamir.clone(),
        shamir: Some(shamir),
        migration_from: None,
        entropy,
        clock: Arc::new(SystemClock),
        factories: vec![
            Arc::new(coffer_engine_kv::KvFactory::new()),
            Arc::new(coffer_engine_kv::CubbyholeFactory::new()),
        ],
        cluster_name: None,
    });
    let params = InitParams {
        secret_shares: 1,
        secret_threshold: 1,
        ..InitParams::default()
    };
    let err = core
        .initialize(params.clone())
        .await
        .expect_err("disk is full");
    assert!(err.to_string().contains("No space left on device"), "{err}");
    assert!(!core.is_initialized().await.expect("check"));
    assert!(core.is_sealed());

    backend.broken.store(false, Ordering::SeqCst);
    let init = core
        .initialize(params)
        .await
        .expect("retry after space is freed");
    assert_eq!(init.keys.len(), 1);
    assert!(core.is_initialized().await.expect("check"));
}
