//! Crate tier: the core's auto-unseal flow (recovery keys, unseal with stored
//! keys, rotation upgrade) against a software seal that labels its blobs the
//! way the PKCS#11 seal does. The HSM itself is exercised end to end in the
//! seal-pkcs11 and server tests.

use async_trait::async_trait;
use base64::Engine as _;
use coffer_core::clock::SystemClock;
use coffer_core::engine::{Operation, Request};
use coffer_core::init::InitParams;
use coffer_core::seal::{ROOT_KEY_PATH, Seal, SealError, SealHealth};
use coffer_core::storage::SharedBackend;
use coffer_core::{Core, CoreError, CoreOptions};
use coffer_crypto::{Entropy, Key256, OsEntropy, SecretBytes, envelope};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Keys by label; wraps with `current`; blob = label length, label, envelope.
struct LabelledSeal {
    keys: Mutex<BTreeMap<String, Key256>>,
    current: Mutex<String>,
    entropy: Arc<dyn Entropy>,
}

impl LabelledSeal {
    fn new(label: &str) -> Arc<Self> {
        let s = Arc::new(Self {
            keys: Mutex::new(BTreeMap::new()),
            current: Mutex::new(String::new()),
            entropy: Arc::new(OsEntropy::new()),
        });
        s.rotate_to(label);
        s
    }

    fn rotate_to(&self, label: &str) {
        let key = Key256::generate(self.entropy.as_ref()).expect("rng");
        self.keys
            .lock()
            .expect("lock")
            .entry(label.to_owned())
            .or_insert(key);
        *self.current.lock().expect("lock") = label.to_owned();
    }

    fn forget(&self, label: &str) {
        self.keys.lock().expect("lock").remove(label);
    }

    fn label_of(blob: &[u8]) -> String {
        let n = usize::from(blob[0]);
        String::from_utf8(blob[1..1 + n].to_vec()).expect("utf8")
    }
}

#[async_trait]
impl Seal for LabelledSeal {
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
        let mut out = vec![u8::try_from(label.len()).expect("short label")];
        out.extend_from_slice(label.as_bytes());
        out.extend(
            envelope::seal(key, 0, self.entropy.as_ref(), b"", plaintext)
                .map_err(|e| SealError::Unavailable(e.to_string()))?,
        );
        Ok(out)
    }
    async fn unwrap(&self, blob: &[u8]) -> Result<SecretBytes, SealError> {
        let label = Self::label_of(blob);
        let keys = self.keys.lock().expect("lock");
        let key = keys
            .get(&label)
            .ok_or_else(|| SealError::KeyMissing(label.clone()))?;
        let body = &blob[1 + label.len()..];
        envelope::open(key, b"", body)
            .map(|p| SecretBytes::from_slice(&p))
            .map_err(|e| SealError::Integrity(e.to_string()))
    }
    async fn health(&self) -> SealHealth {
        SealHealth::Healthy
    }
    fn wrapped_with_current_key(&self, blob: &[u8]) -> bool {
        Self::label_of(blob) == *self.current.lock().expect("lock")
    }
}

fn node(backend: SharedBackend, seal: Arc<LabelledSeal>) -> Arc<Core> {
    Core::new(CoreOptions {
        backend,
        seal,
        shamir: None,
        migration_from: None,
        entropy: Arc::new(OsEntropy::new()),
        clock: Arc::new(SystemClock),
        factories: vec![
            Arc::new(coffer_engine_kv::KvFactory::new()),
            Arc::new(coffer_engine_kv::CubbyholeFactory::new()),
        ],
        cluster_name: None,
    })
}

fn recovery_params(shares: u32, threshold: u32) -> InitParams {
    InitParams {
        recovery_shares: shares,
        recovery_threshold: threshold,
        ..InitParams::default()
    }
}

#[tokio::test]
async fn auto_seal_init_returns_recovery_keys_and_stays_unsealed() {
    let backend: SharedBackend = Arc::new(coffer_storage_inmem::InmemBackend::new());
    let core = node(backend, LabelledSeal::new("key-1"));
    let err = core
        .initialize(InitParams {
            secret_shares: 5,
            secret_threshold: 3,
            ..recovery_params(3, 2)
        })
        .await
        .expect_err("secret_shares must be refused");
    assert!(
        err.to_string()
            .contains("not applicable to seal type pkcs11"),
        "{err}"
    );
    let init = core.initialize(recovery_params(3, 2)).await.expect("init");
    assert!(init.keys.is_empty());
    assert_eq!(init.recovery_keys.len(), 3);
    assert!(!core.is_sealed());
    let status = core.seal_status().await.expect("status");
    assert!(status.recovery_seal);
    assert_eq!((status.shares, status.threshold), (3, 2));
}

#[tokio::test]
async fn restart_unseals_with_stored_keys_and_data_is_intact() {
    let backend: SharedBackend = Arc::new(coffer_storage_inmem::InmemBackend::new());
    let seal = LabelledSeal::new("key-1");
    let core = node(backend.clone(), seal.clone());
    let init = core.initialize(recovery_params(3, 2)).await.expect("init");
    let token = init.root_token.to_string();
    core.handle(
        Request::new(Operation::Update, "sys/mounts/kv")
            .with_data(serde_json::json!({"type": "kv"})),
        Some(&token),
    )
    .await
    .expect("mount");
    core.handle(
        Request::new(Operation::Update, "kv/a").with_data(serde_json::json!({"v": "1"})),
        Some(&token),
    )
    .await
    .expect("write");
    drop(core);

    let restarted = node(backend, seal);
    assert!(restarted.is_sealed());
    let err = restarted
        .submit_unseal_key(
            &base64::engine::general_purpose::STANDARD.encode(init.recovery_keys[0].expose()),
        )
        .await
        .expect_err("recovery keys do not unseal an auto-seal node");
    assert!(matches!(err, CoreError::InvalidRequest(_)));
    assert!(
        restarted
            .unseal_with_stored_keys()
            .await
            .expect("auto unseal")
    );
    let r = restarted
        .handle(Request::new(Operation::Read, "kv/a"), Some(&token))
        .await
        .expect("read")
        .expect("present");
    assert_eq!(r.data.expect("data")["v"], "1");
}

#[tokio::test]
async fn rotated_seal_key_upgrades_stored_keys_so_the_old_key_can_go() {
    let backend: SharedBackend = Arc::new(coffer_storage_inmem::InmemBackend::new());
    let seal = LabelledSeal::new("key-1");
    node(backend.clone(), seal.clone())
        .initialize(recovery_params(1, 1))
        .await
        .expect("init");

    seal.rotate_to("key-2");
    assert!(
        node(backend.clone(), seal.clone())
            .unseal_with_stored_keys()
            .await
            .expect("unseal with old key")
    );
    let blob = backend
        .get(ROOT_KEY_PATH)
        .await
        .expect("get")
        .expect("present");
    assert_eq!(
        LabelledSeal::label_of(&blob),
        "key-2",
        "root key re-wrapped with the new key"
    );

    seal.forget("key-1");
    assert!(
        node(backend, seal)
            .unseal_with_stored_keys()
            .await
            .expect("unseal with only the new key")
    );
}

#[tokio::test]
async fn generate_root_with_auto_seal_takes_recovery_keys() {
    let backend: SharedBackend = Arc::new(coffer_storage_inmem::InmemBackend::new());
    let core = node(backend, LabelledSeal::new("key-1"));
    let init = core.initialize(recovery_params(3, 2)).await.expect("init");
    let b64 = |k: &SecretBytes| base64::engine::general_purpose::STANDARD.encode(k.expose());
    let start = core.generate_root_start(None, None).await.expect("start");
    assert_eq!(start.required, 2);
    core.generate_root_update(&b64(&init.recovery_keys[0]), &start.nonce)
        .await
        .expect("first");
    let done = core
        .generate_root_update(&b64(&init.recovery_keys[2]), &start.nonce)
        .await
        .expect("second");
    assert!(done.complete);

    let start = core
        .generate_root_start(None, None)
        .await
        .expect("start again");
    let wrong = SecretBytes::new(vec![1u8; 33]);
    let mut other = vec![2u8; 33];
    other[0] = 2;
    core.generate_root_update(&b64(&wrong), &start.nonce)
        .await
        .expect("first");
    let err = core
        .generate_root_update(&b64(&SecretBytes::new(other)), &start.nonce)
        .await
        .expect_err("wrong recovery keys");
    assert!(err.to_string().contains("do not match"), "{err}");
}
