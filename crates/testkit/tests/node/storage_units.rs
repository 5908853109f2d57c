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

/// One call the backend received: each change's `put`/`delete` and key.
type Call = Vec<(&'static str, String)>;

/// In-memory storage that records every write it is given, one entry per
/// call, and says its units are atomic when `atomic` is set.
#[derive(Default)]
struct RecordingUnits {
    inner: InmemBackend,
    atomic: bool,
    calls: Mutex<Vec<Call>>,
}

impl RecordingUnits {
    fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().expect("lock"))
    }

    fn record(&self, call: Call) {
        self.calls.lock().expect("lock").push(call);
    }
}

/// The operation names of each call.
fn shapes(calls: &[Call]) -> Vec<Vec<&'static str>> {
    calls
        .iter()
        .map(|call| call.iter().map(|(name, _)| *name).collect())
        .collect()
}

#[async_trait]
impl Backend for RecordingUnits {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.record(vec![("single put", key.to_owned())]);
        self.inner.put(key, value).await
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.record(vec![("single delete", key.to_owned())]);
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.inner.list(prefix).await
    }
    async fn apply(&self, ops: Vec<WriteOp>) -> Result<(), StorageError> {
        self.record(
            ops.iter()
                .map(|op| (op.name(), op.key().to_owned()))
                .collect(),
        );
        self.inner.apply(ops).await
    }
    fn applies_atomically(&self) -> bool {
        self.atomic
    }
    fn kind(&self) -> &'static str {
        "inmem"
    }
}

/// An unsealed core on `backend` with a KV v2 mount at `secret/` keeping
/// two versions per key; returns the core and its root token.
async fn kv_node(backend: Arc<RecordingUnits>) -> (Arc<coffer_core::Core>, String) {
    let core = coffer_core::Core::new(node_options(backend, None));
    let init = core.initialize(shamir_params(1, 1)).await.expect("init");
    core.submit_unseal_key(&b64(&init.keys[0]))
        .await
        .expect("unseal");
    let token = init.root_token.to_string();
    for (path, data) in [
        (
            "sys/mounts/secret",
            json!({"type": "kv", "options": {"version": "2"}}),
        ),
        ("secret/config", json!({"max_versions": 2})),
    ] {
        core.handle(
            Request::new(Operation::Update, path).with_data(data),
            Some(&token),
        )
        .await
        .expect(path);
    }
    (core, token)
}

fn write(v: &str) -> Request {
    Request::new(Operation::Update, "secret/data/app").with_data(json!({"data": {"v": v}}))
}

fn read(version: u64) -> Request {
    Request::new(Operation::Read, "secret/data/app")
        .with_data(json!({"version": version.to_string()}))
}

/// Writes versions 1, 2 and 3 of `secret/app`, returning what the backend
/// saw of each, and checks what is left to read.
async fn three_writes(atomic: bool) -> [Vec<Call>; 3] {
    let backend = Arc::new(RecordingUnits {
        atomic,
        ..RecordingUnits::default()
    });
    let (core, token) = kv_node(backend.clone()).await;
    backend.take();
    let mut seen = Vec::new();
    for v in ["1", "2", "3"] {
        core.handle(write(v), Some(&token)).await.expect("write");
        // Only the unit's own changes: the barrier's usage record is
        // reserved once per 65,536 encryptions, on the first write here.
        seen.push(
            backend
                .take()
                .into_iter()
                .filter(|call| call.len() > 1 || call[0].0 != "single put" || v != "1")
                .collect(),
        );
    }
    let latest = core.handle(read(0), Some(&token)).await.expect("read");
    let data = latest.expect("a response").data.expect("data");
    assert_eq!(data["data"]["v"], "3");
    assert_eq!(data["metadata"]["version"], 3);
    let pruned = core.handle(read(1), Some(&token)).await.expect("read");
    assert!(pruned.is_none(), "version 1 was pruned: {pruned:?}");
    seen.try_into().expect("three writes")
}

#[tokio::test]
async fn a_kv_v2_write_is_one_atomic_unit_of_version_metadata_and_pruned_versions() {
    let [first, _, third] = three_writes(true).await;
    assert_eq!(shapes(&first), [vec!["put", "put"]], "version and metadata");
    assert_eq!(
        shapes(&third),
        [vec!["put", "put", "delete"]],
        "version, metadata and the version max_versions prunes, in one call"
    );
    let (version_1, metadata) = (&first[0][0].1, &first[0][1].1);
    let unit = &third[0];
    assert_ne!(&unit[0].1, version_1, "version 3 has a key of its own");
    assert_eq!(&unit[1].1, metadata, "the metadata comes second");
    assert_eq!(&unit[2].1, version_1, "the delete removes version 1");
}

#[tokio::test]
async fn without_atomic_units_the_pruned_version_goes_after_the_write_lands() {
    let [first, _, third] = three_writes(false).await;
    assert_eq!(shapes(&first), [vec!["put", "put"]], "version and metadata");
    assert_eq!(
        shapes(&third),
        [vec!["put", "put"], vec!["delete"]],
        "the removal is a step of its own, so its failure cannot fail the write"
    );
    assert_eq!(third[1][0].1, first[0][0].1, "the delete removes version 1");
}
