//! Test harness: an initialised barrier over `InmemBackend`, a mount view,
//! a settable clock, and shorthand for calling an engine.

use coffer_core::engine::{
    Engine, EngineContext, EngineFactory, Operation, Request, Response, ResponseStatus,
};
use coffer_core::managed_keys::MountManagedKeys;
use coffer_core::mount::{MountConfig, MountEntry};
use coffer_core::storage::Barrier;
use coffer_core::storage::SharedBackend;
use coffer_core::storage::View;
use coffer_core::{CoreError, CoreResult};
use coffer_crypto::{Key256, OsEntropy};
use coffer_engine_kv::{CubbyholeFactory, KvFactory};
use coffer_storage_inmem::InmemBackend;
use coffer_testkit::clock::TestClock;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

/// One mounted engine with its context.
pub(crate) struct Harness {
    pub(crate) engine: Arc<dyn Engine>,
    pub(crate) ctx: EngineContext,
    pub(crate) clock: Arc<TestClock>,
    pub(crate) token_id: String,
}

impl Harness {
    /// A `kv` mount with `options.version = version`.
    pub(crate) async fn kv(version: &str) -> Self {
        let options = BTreeMap::from([("version".to_owned(), version.to_owned())]);
        let factory = KvFactory::new();
        let options = factory.normalize_options(options).expect("options");
        Self::mount(&factory, options).await
    }

    /// A `cubbyhole` mount, called as token `token-a`.
    pub(crate) async fn cubbyhole() -> Self {
        Self::mount(&CubbyholeFactory::new(), BTreeMap::new()).await
    }

    async fn mount(factory: &dyn EngineFactory, options: BTreeMap<String, String>) -> Self {
        let entry = MountEntry {
            path: "test/".to_owned(),
            engine_type: factory.engine_type().to_owned(),
            description: String::new(),
            accessor: "test_accessor".to_owned(),
            uuid: "test".to_owned(),
            config: MountConfig::default(),
            options,
            local: false,
            seal_wrap: false,
            external_entropy_access: false,
        };
        let engine = factory.create(&entry).expect("create engine");
        let backend: SharedBackend = Arc::new(InmemBackend::new());
        let entropy = Arc::new(OsEntropy::new());
        let barrier = Arc::new(Barrier::new(backend, entropy.clone()));
        let root = Key256::generate(entropy.as_ref()).expect("root key");
        barrier
            .initialize(root, SystemTime::now())
            .expect("initialise barrier");
        let clock = TestClock::new();
        let ctx = EngineContext {
            view: View::new(barrier.clone(), entry.storage_prefix()),
            clock: clock.clone(),
            entropy: entropy.clone(),
            nonces: entropy,
            managed_keys: MountManagedKeys::none(barrier),
        };
        Self {
            engine,
            ctx,
            clock,
            token_id: "token-a".to_owned(),
        }
    }

    /// Calls the engine as this harness's token.
    pub(crate) async fn call(
        &self,
        op: Operation,
        path: &str,
        body: Value,
    ) -> CoreResult<Option<Response>> {
        self.call_as(&self.token_id, op, path, body).await
    }

    /// Calls the engine as `token_id`.
    pub(crate) async fn call_as(
        &self,
        token_id: &str,
        op: Operation,
        path: &str,
        body: Value,
    ) -> CoreResult<Option<Response>> {
        let mut req = Request::new(op, path).with_data(body);
        req.token_id = token_id.to_owned();
        self.engine.handle(&self.ctx, req).await
    }

    /// A call that must succeed.
    pub(crate) async fn ok(&self, op: Operation, path: &str, body: Value) -> Option<Response> {
        self.call(op, path, body)
            .await
            .unwrap_or_else(|e| panic!("{op:?} {path}: {e}"))
    }

    /// A call that must succeed with a 200 body; returns `data`.
    pub(crate) async fn data(&self, op: Operation, path: &str, body: Value) -> Value {
        let resp = self
            .ok(op, path, body)
            .await
            .unwrap_or_else(|| panic!("{op:?} {path}: no response"));
        assert_eq!(resp.status, ResponseStatus::Ok, "{op:?} {path}");
        resp.data
            .unwrap_or_else(|| panic!("{op:?} {path}: no data"))
    }

    /// Writes `data` as a new version of the KV v2 secret at `path`; returns
    /// the write's `data` (the version's metadata).
    pub(crate) async fn put(&self, path: &str, data: Value) -> Value {
        self.data(
            Operation::Update,
            &format!("data/{path}"),
            json!({ "data": data }),
        )
        .await
    }

    /// A call that must fail with 400; returns the message.
    pub(crate) async fn invalid(&self, op: Operation, path: &str, body: Value) -> String {
        match self.call(op, path, body).await {
            Err(CoreError::InvalidRequest(msg)) => msg,
            other => panic!("{op:?} {path}: expected InvalidRequest, got {other:?}"),
        }
    }
}

/// The sorted key names of a JSON object.
pub(crate) fn keys_of(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}
