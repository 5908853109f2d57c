//! Test harness: an initialised barrier over a counting in-memory backend,
//! a transit mount view, a settable clock, a switchable and counting key
//! entropy source, and shorthand for calling the engine.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the harness"
)]

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffer_core::engine::{
    Engine, EngineContext, EngineFactory, Operation, Request, Response, ResponseStatus,
};
use coffer_core::managed_keys::MountManagedKeys;
use coffer_core::mount::{MountConfig, MountEntry};
use coffer_core::storage::Barrier;
use coffer_core::storage::View;
use coffer_core::storage::{Backend, SharedBackend, StorageError};
use coffer_core::{CoreError, CoreResult};
use coffer_crypto::{CryptoError, Entropy, Key256, OsEntropy};
use coffer_engine_transit::TransitFactory;
use coffer_storage_inmem::InmemBackend;
use coffer_testkit::clock::TestClock;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::SystemTime;

/// Key entropy that counts the bytes it hands out and can be switched to
/// fail, as the augmented (HSM) source does when the HSM is gone.
#[derive(Debug, Default)]
pub(crate) struct TestEntropy {
    failing: AtomicBool,
    drawn: AtomicUsize,
    calls: AtomicUsize,
}

impl TestEntropy {
    pub(crate) fn fail(&self, on: bool) {
        self.failing.store(on, Ordering::SeqCst);
    }

    /// Bytes handed out so far.
    pub(crate) fn drawn(&self) -> usize {
        self.drawn.load(Ordering::SeqCst)
    }

    /// Successful and failed calls so far.
    pub(crate) fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Entropy for TestEntropy {
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err(CryptoError::Entropy(
                "HSM randomness is unavailable (CKR_DEVICE_REMOVED)".to_owned(),
            ));
        }
        OsEntropy::new().fill(buf)?;
        self.drawn.fetch_add(buf.len(), Ordering::SeqCst);
        Ok(())
    }

    fn source(&self) -> &'static str {
        "seal"
    }
}

/// The in-memory backend, counting reads and writes.
#[derive(Debug, Default)]
pub(crate) struct CountingBackend {
    inner: InmemBackend,
    pub(crate) gets: AtomicUsize,
    pub(crate) puts: AtomicUsize,
}

#[async_trait]
impl Backend for CountingBackend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.puts.fetch_add(1, Ordering::SeqCst);
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

/// One transit mount with its context.
pub(crate) struct Harness {
    pub(crate) engine: Arc<dyn Engine>,
    pub(crate) ctx: EngineContext,
    pub(crate) clock: Arc<TestClock>,
    pub(crate) entropy: Arc<TestEntropy>,
    /// The context's nonce handle, apart from the key entropy.
    pub(crate) nonces: Arc<TestEntropy>,
    pub(crate) backend: Arc<CountingBackend>,
}

impl Harness {
    /// A fresh `transit/` mount.
    pub(crate) async fn new() -> Self {
        let factory = TransitFactory::new();
        let entry = MountEntry {
            path: "transit/".to_owned(),
            engine_type: factory.engine_type().to_owned(),
            description: String::new(),
            accessor: "transit_accessor".to_owned(),
            uuid: "transit-uuid".to_owned(),
            config: MountConfig::default(),
            options: Default::default(),
            local: false,
            seal_wrap: false,
            external_entropy_access: true,
        };
        let engine = factory.create(&entry).expect("create engine");
        let backend = Arc::new(CountingBackend::default());
        let shared: SharedBackend = backend.clone();
        // The barrier keeps the OS CSPRNG: only the engine's key entropy is
        // the test's.
        let os = Arc::new(OsEntropy::new());
        let barrier = Arc::new(Barrier::new(shared, os.clone()));
        let root = Key256::generate(os.as_ref()).expect("root key");
        barrier
            .initialize(root, SystemTime::now())
            .expect("initialise barrier");
        let clock = TestClock::new();
        let entropy = Arc::new(TestEntropy::default());
        let nonces = Arc::new(TestEntropy::default());
        let ctx = EngineContext {
            view: View::new(barrier.clone(), entry.storage_prefix()),
            clock: clock.clone(),
            entropy: entropy.clone(),
            nonces: nonces.clone(),
            managed_keys: MountManagedKeys::none(barrier),
        };
        Self {
            engine,
            ctx,
            clock,
            entropy,
            nonces,
            backend,
        }
    }

    /// Calls the engine.
    pub(crate) async fn call(
        &self,
        op: Operation,
        path: &str,
        body: Value,
    ) -> CoreResult<Option<Response>> {
        let req = Request::new(op, path).with_data(body);
        self.engine.handle(&self.ctx, req).await
    }

    /// A write that must answer 200; returns `data`.
    pub(crate) async fn write(&self, path: &str, body: Value) -> Value {
        self.data(Operation::Update, path, body).await
    }

    /// A read that must answer 200; returns `data`.
    pub(crate) async fn read(&self, path: &str) -> Value {
        self.data(Operation::Read, path, Value::Null).await
    }

    /// A call that must answer 200 with data.
    pub(crate) async fn data(&self, op: Operation, path: &str, body: Value) -> Value {
        let resp = self.response(op, path, body).await;
        assert_eq!(
            resp.status,
            ResponseStatus::Ok,
            "{op:?} {path}: {:?}",
            resp.data
        );
        resp.data
            .unwrap_or_else(|| panic!("{op:?} {path}: no data"))
    }

    /// A call that must succeed with a response (any status).
    pub(crate) async fn response(&self, op: Operation, path: &str, body: Value) -> Response {
        self.call(op, path, body)
            .await
            .unwrap_or_else(|e| panic!("{op:?} {path}: {e}"))
            .unwrap_or_else(|| panic!("{op:?} {path}: no response"))
    }

    /// A write that must answer 204.
    pub(crate) async fn no_content(&self, path: &str, body: Value) {
        let r = self
            .call(Operation::Update, path, body)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(r.is_none(), "{path}: expected no content, got {r:?}");
    }

    /// A write that must fail with 400; returns the message.
    pub(crate) async fn invalid(&self, path: &str, body: Value) -> String {
        match self.call(Operation::Update, path, body).await {
            Err(CoreError::InvalidRequest(msg)) => msg,
            other => panic!("{path}: expected InvalidRequest, got {other:?}"),
        }
    }

    /// Creates a key with `body` (type etc.).
    pub(crate) async fn create(&self, name: &str, body: Value) -> Value {
        self.write(&format!("keys/{name}"), body).await
    }

    /// Encrypts `plaintext` with `name`; returns the ciphertext.
    pub(crate) async fn encrypt(&self, name: &str, plaintext: &[u8]) -> String {
        let d = self
            .write(
                &format!("encrypt/{name}"),
                serde_json::json!({ "plaintext": b64(plaintext) }),
            )
            .await;
        d["ciphertext"].as_str().expect("ciphertext").to_owned()
    }

    /// Decrypts `ciphertext` with `name`; returns the plaintext bytes.
    pub(crate) async fn decrypt(&self, name: &str, ciphertext: &str) -> Vec<u8> {
        let d = self
            .write(
                &format!("decrypt/{name}"),
                serde_json::json!({ "ciphertext": ciphertext }),
            )
            .await;
        unb64(d["plaintext"].as_str().expect("plaintext"))
    }

    /// Allows deletion of `name` and deletes it.
    pub(crate) async fn delete_key(&self, name: &str) {
        self.write(
            &format!("keys/{name}/config"),
            serde_json::json!({ "deletion_allowed": true }),
        )
        .await;
        let r = self
            .call(Operation::Delete, &format!("keys/{name}"), Value::Null)
            .await
            .expect("delete");
        assert!(r.is_none(), "delete answers 204");
    }
}

/// Standard base64.
pub(crate) fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard base64.
pub(crate) fn unb64(s: &str) -> Vec<u8> {
    STANDARD.decode(s).expect("base64")
}
