//! Shared crate-tier harness: a software auto-unseal seal that wraps the way
//! the PKCS#11 seal does (blobs name the key that wrapped them), in-memory
//! storage whose writes can be made to fail, one node builder, and the
//! init / data / generate-root steps several tests take.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

use async_trait::async_trait;
use base64::Engine as _;
use coffer_core::ceremony::InitParams;
use coffer_core::clock::SystemClock;
use coffer_core::engine::{Operation, Request};
use coffer_core::seal::{Seal, SealError, SealHealth, ShamirSeal};
use coffer_core::storage::{Backend, SharedBackend, StorageError};
use coffer_core::{Core, CoreOptions};
use coffer_crypto::{Entropy, Key256, OsEntropy, SecretBytes, envelope};
use coffer_storage_inmem::InmemBackend;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const SOFT_MAGIC: &[u8] = b"soft-seal:";

/// Plays the pkcs11 seal (kind "pkcs11", stored keys): AES keys by label,
/// wraps with the `current` one. Blob = magic, label length, label, envelope,
/// so foreign bytes are told apart and an old key's blobs are recognised.
pub(crate) struct SoftSeal {
    keys: Mutex<BTreeMap<String, Key256>>,
    current: Mutex<String>,
    entropy: Arc<dyn Entropy>,
    /// Unwrap calls so far (an HSM round trip each, for the real seal).
    pub(crate) unwraps: std::sync::atomic::AtomicUsize,
}

impl SoftSeal {
    /// One key, labelled "key-1".
    pub(crate) fn new() -> Arc<Self> {
        Self::with_label("key-1")
    }

    pub(crate) fn with_label(label: &str) -> Arc<Self> {
        let s = Arc::new(Self {
            keys: Mutex::new(BTreeMap::new()),
            current: Mutex::new(String::new()),
            entropy: Arc::new(OsEntropy::new()),
            unwraps: std::sync::atomic::AtomicUsize::new(0),
        });
        s.rotate_to(label);
        s
    }

    /// Wraps with the key `label` from now on (made when new); old keys stay.
    pub(crate) fn rotate_to(&self, label: &str) {
        let key = Key256::generate(self.entropy.as_ref()).expect("rng");
        self.keys
            .lock()
            .expect("lock")
            .entry(label.to_owned())
            .or_insert(key);
        *self.current.lock().expect("lock") = label.to_owned();
    }

    /// Deletes the key `label`, as deleting it from the HSM would.
    pub(crate) fn forget(&self, label: &str) {
        self.keys.lock().expect("lock").remove(label);
    }

    /// The label of the key that wrapped `blob` (which must be ours).
    pub(crate) fn label_of(blob: &[u8]) -> String {
        Self::parse(blob).expect("a soft-seal blob").0
    }

    fn parse(blob: &[u8]) -> Result<(String, &[u8]), SealError> {
        let foreign = || SealError::Integrity("not a soft-seal blob".to_owned());
        let rest = blob.strip_prefix(SOFT_MAGIC).ok_or_else(foreign)?;
        let (&n, rest) = rest.split_first().ok_or_else(foreign)?;
        let n = usize::from(n);
        let label = rest.get(..n).ok_or_else(foreign)?;
        let label = String::from_utf8(label.to_vec()).map_err(|_| foreign())?;
        Ok((label, &rest[n..]))
    }
}

#[async_trait]
impl Seal for SoftSeal {
    fn kind(&self) -> &'static str {
        "pkcs11"
    }
    fn stored_keys(&self) -> bool {
        true
    }
    async fn wrap(&self, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let label = self.current.lock().expect("lock").clone();
        let keys = self.keys.lock().expect("lock");
        let key = keys
            .get(&label)
            .ok_or_else(|| SealError::KeyMissing(label.clone()))?;
        let mut out = SOFT_MAGIC.to_vec();
        out.push(u8::try_from(label.len()).expect("short label"));
        out.extend_from_slice(label.as_bytes());
        out.extend(
            envelope::seal(key, 0, self.entropy.as_ref(), b"", plaintext)
                .map_err(|e| SealError::Unavailable(e.to_string()))?,
        );
        Ok(out)
    }
    async fn unwrap(&self, blob: &[u8]) -> Result<SecretBytes, SealError> {
        self.unwraps.fetch_add(1, Ordering::SeqCst);
        let (label, body) = Self::parse(blob)?;
        let keys = self.keys.lock().expect("lock");
        let key = keys
            .get(&label)
            .ok_or_else(|| SealError::KeyMissing(label.clone()))?;
        envelope::open(key, b"", body)
            .map(|p| SecretBytes::from_slice(&p))
            .map_err(|e| SealError::Integrity(e.to_string()))
    }
    async fn health(&self) -> SealHealth {
        SealHealth::Healthy
    }
    fn wrapped_with_current_key(&self, blob: &[u8]) -> bool {
        Self::parse(blob).is_ok_and(|(label, _)| label == *self.current.lock().expect("lock"))
    }
}

/// Real in-memory storage whose puts to the keys `fails` picks fail with
/// `cause` while `broken` is set.
pub(crate) struct FailingWrites {
    inner: InmemBackend,
    fails: fn(&str) -> bool,
    cause: &'static str,
    broken: AtomicBool,
}

impl FailingWrites {
    pub(crate) fn new(fails: fn(&str) -> bool, cause: &'static str, broken: bool) -> Arc<Self> {
        Arc::new(Self {
            inner: InmemBackend::new(),
            fails,
            cause,
            broken: AtomicBool::new(broken),
        })
    }

    pub(crate) fn set_broken(&self, broken: bool) {
        self.broken.store(broken, Ordering::SeqCst);
    }
}

#[async_trait]
impl Backend for FailingWrites {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        if self.broken.load(Ordering::SeqCst) && (self.fails)(key) {
            return Err(StorageError::Io {
                op: "put",
                key: key.to_owned(),
                cause: self.cause.to_owned(),
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

pub(crate) fn inmem() -> SharedBackend {
    Arc::new(InmemBackend::new())
}

/// The options of a test node on `backend`: the Shamir seal (as `seal` and
/// `shamir`) when `seal` is `None`, else that auto seal alone; no migration,
/// KV and cubbyhole engines, the system clock. Change a field with
/// `CoreOptions { migration_from, ..node_options(..) }`.
pub(crate) fn node_options(backend: SharedBackend, seal: Option<Arc<dyn Seal>>) -> CoreOptions {
    let entropy: Arc<dyn Entropy> = Arc::new(OsEntropy::new());
    let (seal, shamir): (Arc<dyn Seal>, _) = match seal {
        Some(s) => (s, None),
        None => {
            let shamir = Arc::new(ShamirSeal::new(entropy.clone()));
            (shamir.clone(), Some(shamir))
        }
    };
    CoreOptions {
        backend,
        seal,
        shamir,
        migration_from: None,
        entropy,
        system_entropy: None,
        clock: Arc::new(SystemClock),
        factories: vec![
            Arc::new(coffer_engine_kv::KvFactory::new()),
            Arc::new(coffer_engine_kv::CubbyholeFactory::new()),
            Arc::new(coffer_engine_transit::TransitFactory::new()),
            Arc::new(coffer_auth_userpass::UserpassFactory::new()),
            Arc::new(coffer_auth_approle::AppRoleFactory::new()),
        ],
        cluster_name: None,
    }
}

pub(crate) fn shamir_node(backend: SharedBackend) -> Arc<Core> {
    Core::new(node_options(backend, None))
}

pub(crate) fn auto_node(backend: SharedBackend, seal: Arc<SoftSeal>) -> Arc<Core> {
    Core::new(node_options(backend, Some(seal)))
}

pub(crate) fn b64(k: &SecretBytes) -> String {
    base64::engine::general_purpose::STANDARD.encode(k.expose())
}

pub(crate) fn shamir_params(shares: u32, threshold: u32) -> InitParams {
    InitParams {
        secret_shares: shares,
        secret_threshold: threshold,
        ..InitParams::default()
    }
}

pub(crate) fn recovery_params(shares: u32, threshold: u32) -> InitParams {
    InitParams {
        recovery_shares: shares,
        recovery_threshold: threshold,
        ..InitParams::default()
    }
}

/// Initialises a Shamir node with 3 shares / threshold 2 and unseals it with
/// the first two; returns the keys (base64) and the root token.
pub(crate) async fn shamir_init_and_unseal(core: &Arc<Core>) -> (Vec<String>, String) {
    let init = core.initialize(shamir_params(3, 2)).await.expect("init");
    let keys: Vec<String> = init.keys.iter().map(b64).collect();
    for k in &keys[..2] {
        core.submit_unseal_key(k).await.expect("unseal");
    }
    assert!(!core.is_sealed(), "still sealed");
    (keys, init.root_token.to_string())
}

/// Mounts `kv/` and writes `kv/a` = {"v": "1"}.
pub(crate) async fn write_data(core: &Arc<Core>, token: &str) {
    core.handle(
        Request::new(Operation::Update, "sys/mounts/kv")
            .with_data(serde_json::json!({"type": "kv"})),
        Some(token),
    )
    .await
    .expect("mount");
    core.handle(
        Request::new(Operation::Update, "kv/a").with_data(serde_json::json!({"v": "1"})),
        Some(token),
    )
    .await
    .expect("write");
}

/// The node is unsealed and `kv/a` reads back as written by [`write_data`].
pub(crate) async fn assert_data(core: &Arc<Core>, token: &str) {
    assert!(!core.is_sealed(), "node is sealed");
    let r = core
        .handle(Request::new(Operation::Read, "kv/a"), Some(token))
        .await
        .expect("read")
        .expect("present");
    assert_eq!(r.data.expect("data")["v"], "1");
}

/// Runs a whole generate-root with `keys`: Ok once a token came out, else the
/// attempt is cancelled and the error (or "not complete") returned.
pub(crate) async fn generate_root_with(core: &Arc<Core>, keys: &[String]) -> Result<(), String> {
    let start = core.generate_root_start(None, None).await.expect("start");
    for k in keys {
        match core.generate_root_update(k, &start.nonce).await {
            Ok(s) if s.complete => return Ok(()),
            Ok(_) => {}
            Err(e) => {
                core.generate_root_cancel();
                return Err(e.to_string());
            }
        }
    }
    core.generate_root_cancel();
    Err("not complete".to_owned())
}

/// [`generate_root_with`]: true when a token came out.
pub(crate) async fn generate_root_works(core: &Arc<Core>, keys: &[String]) -> bool {
    generate_root_with(core, keys).await.is_ok()
}

/// Waits (at most 10 s) until no seal re-wrap pass is running, and returns
/// its final status.
pub(crate) async fn wait_for_rewrap(core: &Arc<Core>) -> coffer_core::seal::RewrapStatus {
    for _ in 0..1000 {
        let status = core.rewrap_status();
        if !status.is_running {
            return status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("seal re-wrap still running after 10 s");
}

/// A clock that only moves when told to (starts at 2024-01-01T00:00:00Z).
pub(crate) struct TestClock(Mutex<std::time::SystemTime>);

impl TestClock {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_704_067_200),
        )))
    }

    pub(crate) fn advance(&self, secs: u64) {
        *self.0.lock().expect("clock") += std::time::Duration::from_secs(secs);
    }
}

impl coffer_core::clock::Clock for TestClock {
    fn now(&self) -> std::time::SystemTime {
        *self.0.lock().expect("clock")
    }
}

/// An unsealed Shamir node on a test clock, with its root token and a
/// KV v2 mount at `secret/`.
pub(crate) struct AuthNode {
    pub(crate) core: Arc<Core>,
    pub(crate) root: String,
    pub(crate) keys: Vec<String>,
    pub(crate) clock: Arc<TestClock>,
    pub(crate) backend: SharedBackend,
}

impl AuthNode {
    pub(crate) async fn new() -> Self {
        Self::on(inmem()).await
    }

    /// [`AuthNode::new`] over `backend`.
    pub(crate) async fn on(backend: SharedBackend) -> Self {
        let clock = TestClock::new();
        let core = Core::new(CoreOptions {
            clock: clock.clone(),
            ..node_options(backend.clone(), None)
        });
        let (keys, root) = shamir_init_and_unseal(&core).await;
        let node = Self {
            core,
            root,
            keys,
            clock,
            backend,
        };
        node.root_call(
            Operation::Update,
            "sys/mounts/secret",
            serde_json::json!({"type": "kv", "options": {"version": "2"}}),
        )
        .await;
        node
    }

    /// A new node on the same storage and clock, unsealed with two of the
    /// keys: what a restart of the process sees.
    pub(crate) async fn restarted(&self) -> Self {
        let core = Core::new(CoreOptions {
            clock: self.clock.clone(),
            ..node_options(self.backend.clone(), None)
        });
        for k in &self.keys[..2] {
            core.submit_unseal_key(k).await.expect("unseal");
        }
        assert!(!core.is_sealed());
        Self {
            core,
            root: self.root.clone(),
            keys: self.keys.clone(),
            clock: self.clock.clone(),
            backend: self.backend.clone(),
        }
    }

    /// Seals the node and unseals it again with two of its keys.
    pub(crate) async fn reseal(&self) {
        self.core.seal_now().await;
        for k in &self.keys[..2] {
            self.core.submit_unseal_key(k).await.expect("unseal");
        }
        assert!(!self.core.is_sealed());
    }

    /// Calls as `token`.
    pub(crate) async fn call(
        &self,
        token: &str,
        op: Operation,
        path: &str,
        body: serde_json::Value,
    ) -> coffer_core::CoreResult<Option<coffer_core::engine::Response>> {
        self.core
            .handle(Request::new(op, path).with_data(body), Some(token))
            .await
    }

    /// A call that must succeed.
    pub(crate) async fn ok(
        &self,
        token: &str,
        op: Operation,
        path: &str,
        body: serde_json::Value,
    ) -> Option<coffer_core::engine::Response> {
        self.call(token, op, path, body)
            .await
            .unwrap_or_else(|e| panic!("{op:?} {path}: {e}"))
    }

    /// One string field of the `data` a root call must answer with (a role
    /// id, a secret id).
    pub(crate) async fn root_field(
        &self,
        op: Operation,
        path: &str,
        body: serde_json::Value,
        field: &str,
    ) -> String {
        self.root_call(op, path, body)
            .await
            .and_then(|r| r.data)
            .and_then(|d| d[field].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("{op:?} {path}: no {field} in the answer"))
    }

    /// A call as root that must succeed.
    pub(crate) async fn root_call(
        &self,
        op: Operation,
        path: &str,
        body: serde_json::Value,
    ) -> Option<coffer_core::engine::Response> {
        let root = self.root.clone();
        self.ok(&root, op, path, body).await
    }

    /// Whether a call as `token` is refused with "permission denied".
    pub(crate) async fn denied(
        &self,
        token: &str,
        op: Operation,
        path: &str,
        body: serde_json::Value,
    ) -> bool {
        matches!(
            self.call(token, op, path, body).await,
            Err(coffer_core::CoreError::PermissionDenied)
        )
    }

    /// Writes an ACL policy as root.
    pub(crate) async fn policy(&self, name: &str, text: &str) {
        self.root_call(
            Operation::Update,
            &format!("sys/policies/acl/{name}"),
            serde_json::json!({ "policy": text }),
        )
        .await;
    }

    /// Writes policy `name` granting only the creation of child tokens.
    pub(crate) async fn token_maker_policy(&self, name: &str) {
        self.policy(
            name,
            r#"path "auth/token/create" { capabilities = ["update"] }"#,
        )
        .await;
    }

    /// Creates a token as `parent` with `body`; returns (token, accessor).
    pub(crate) async fn create_as(
        &self,
        parent: &str,
        path: &str,
        body: serde_json::Value,
    ) -> (String, String) {
        let auth = self
            .ok(parent, Operation::Update, path, body)
            .await
            .and_then(|r| r.auth)
            .unwrap_or_else(|| panic!("{path}: no auth block"));
        (auth.client_token.to_string(), auth.accessor)
    }

    /// A root-created child token with `policies` plus `default` (only
    /// `default` when empty).
    pub(crate) async fn token_with(&self, policies: &[&str]) -> String {
        let root = self.root.clone();
        let policies = if policies.is_empty() {
            &["default"][..]
        } else {
            policies
        };
        self.create_as(
            &root,
            "auth/token/create",
            serde_json::json!({ "policies": policies }),
        )
        .await
        .0
    }

    /// `lookup-self` data of `token`.
    pub(crate) async fn lookup_self(&self, token: &str) -> serde_json::Value {
        self.ok(
            token,
            Operation::Read,
            "auth/token/lookup-self",
            serde_json::Value::Null,
        )
        .await
        .and_then(|r| r.data)
        .expect("lookup-self data")
    }
}

/// Every physical key in `backend` (a storage dump's names).
pub(crate) async fn all_keys(backend: &SharedBackend) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let mut stack = vec![String::new()];
    while let Some(prefix) = stack.pop() {
        for child in backend.list(&prefix).await.expect("list") {
            let full = format!("{prefix}{child}");
            if child.ends_with('/') {
                stack.push(full);
            } else {
                out.insert(full);
            }
        }
    }
    out
}
