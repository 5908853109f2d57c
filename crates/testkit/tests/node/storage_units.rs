//! Crate tier: what the storage backend sees of one request. A KV v2 write
//! hands its new version and the key's metadata to the backend as one unit
//! (`Backend::apply`), so a backend with transactions commits them together
//! (one fsync on embedded storage) or not at all.

use async_trait::async_trait;
use coffer_core::engine::{Operation, Request};
use coffer_core::storage::{Backend, StorageError, WriteOp};
use coffer_storage_inmem::InmemBackend;
use coffer_testkit::node::{b64, node_options, shamir_params};
use serde_json::json;
use std::sync::{Arc, Mutex};

/// In-memory storage that records the shape of every write it is given:
/// one entry per call, `put`/`delete` per change of a unit.
#[derive(Default)]
struct RecordingUnits {
    inner: InmemBackend,
    calls: Mutex<Vec<Vec<&'static str>>>,
}

impl RecordingUnits {
    fn take(&self) -> Vec<Vec<&'static str>> {
        std::mem::take(&mut *self.calls.lock().expect("lock"))
    }
}

#[async_trait]
impl Backend for RecordingUnits {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.calls.lock().expect("lock").push(vec!["single put"]);
        self.inner.put(key, value).await
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.calls.lock().expect("lock").push(vec!["single delete"]);
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.inner.list(prefix).await
    }
    async fn apply(&self, ops: Vec<WriteOp>) -> Result<(), StorageError> {
        let shape = ops.iter().map(WriteOp::name).collect();
        self.calls.lock().expect("lock").push(shape);
        self.inner.apply(ops).await
    }
    fn kind(&self) -> &'static str {
        "inmem"
    }
}

#[tokio::test]
async fn a_kv_v2_write_reaches_storage_as_one_unit_of_version_and_metadata() {
    let backend = Arc::new(RecordingUnits::default());
    let core = coffer_core::Core::new(node_options(backend.clone(), None));
    let init = core.initialize(shamir_params(1, 1)).await.expect("init");
    core.submit_unseal_key(&b64(&init.keys[0]))
        .await
        .expect("unseal");
    let token = init.root_token.to_string();
    core.handle(
        Request::new(Operation::Update, "sys/mounts/secret")
            .with_data(json!({"type": "kv", "options": {"version": "2"}})),
        Some(&token),
    )
    .await
    .expect("mount");
    core.handle(
        Request::new(Operation::Update, "secret/config").with_data(json!({"max_versions": 2})),
        Some(&token),
    )
    .await
    .expect("config");
    // Settle anything the mount or the first write start (the usage record).
    let write = |v: &str| {
        Request::new(Operation::Update, "secret/data/app").with_data(json!({"data": {"v": v}}))
    };
    core.handle(write("1"), Some(&token)).await.expect("write");
    backend.take();

    core.handle(write("2"), Some(&token)).await.expect("write");
    assert_eq!(backend.take(), [vec!["put", "put"]], "version and metadata");
    core.handle(write("3"), Some(&token)).await.expect("write");
    assert_eq!(
        backend.take(),
        [vec!["put", "put", "delete"]],
        "version, metadata and the version max_versions prunes"
    );

    let read = |version: u64| {
        Request::new(Operation::Read, "secret/data/app")
            .with_data(json!({"version": version.to_string()}))
    };
    let latest = core.handle(read(0), Some(&token)).await.expect("read");
    let data = latest.expect("a response").data.expect("data");
    assert_eq!(data["data"]["v"], "3");
    assert_eq!(data["metadata"]["version"], 3);
    let pruned = core.handle(read(1), Some(&token)).await.expect("read");
    assert!(pruned.is_none(), "version 1 was pruned: {pruned:?}");
}
