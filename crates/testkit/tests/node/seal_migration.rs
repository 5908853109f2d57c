//! Crate tier: seal migration shamir → auto-unseal and back (`sys/unseal`
//! with `migrate`), against a software seal that plays the pkcs11 seal, and
//! a storage wrapper that fails writes to show that a migration interrupted
//! at any step leaves a node that still unseals. The real HSM is exercised
//! in `crates/cli/tests/seal_migration_e2e.rs`.

use async_trait::async_trait;
use coffer_core::seal::{RECOVERY_KEY_PATH, ROOT_KEY_PATH, SEAL_CONFIG_PATH, Seal, SealConfig};
use coffer_core::storage::KEYRING_PATH;
use coffer_core::storage::{Backend, StorageError};
use coffer_core::{Core, CoreOptions};
use coffer_storage_inmem::InmemBackend;
use coffer_testkit::node::{
    assert_data, auto_node, b64, generate_root_with, node_options, recovery_params,
    shamir_init_and_unseal, wait_for_rewrap, write_data,
};
use coffer_testkit::soft_seal::SoftSeal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// In-memory storage that logs writes and, once armed, fails every write
/// after `remaining` more have succeeded (a crash at that point).
struct CrashingBackend {
    inner: InmemBackend,
    remaining: AtomicUsize,
    log: Mutex<Vec<String>>,
}

impl CrashingBackend {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: InmemBackend::new(),
            remaining: AtomicUsize::new(usize::MAX),
            log: Mutex::new(Vec::new()),
        })
    }

    fn crash_after(&self, writes: usize) {
        self.remaining.store(writes, Ordering::SeqCst);
        self.log.lock().expect("lock").clear();
    }

    fn heal(&self) {
        self.remaining.store(usize::MAX, Ordering::SeqCst);
    }

    fn writes(&self) -> Vec<String> {
        self.log.lock().expect("lock").clone()
    }

    fn write(&self, op: &'static str, key: &str) -> Result<(), StorageError> {
        let left = self.remaining.load(Ordering::SeqCst);
        if left == 0 {
            return Err(StorageError::Io {
                op,
                key: key.to_owned(),
                cause: "simulated crash".to_owned(),
            });
        }
        if left != usize::MAX {
            self.remaining.store(left - 1, Ordering::SeqCst);
        }
        self.log.lock().expect("lock").push(format!("{op} {key}"));
        Ok(())
    }
}

#[async_trait]
impl Backend for CrashingBackend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.write("put", key)?;
        self.inner.put(key, value).await
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.write("delete", key)?;
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.inner.list(prefix).await
    }
    fn kind(&self) -> &'static str {
        "inmem"
    }
}

/// A Shamir node (optionally with the old pkcs11 seal, disabled).
fn shamir_node(backend: &Arc<CrashingBackend>, old: Option<Arc<SoftSeal>>) -> Arc<Core> {
    Core::new(CoreOptions {
        migration_from: old.map(|s| s as Arc<dyn Seal>),
        ..node_options(backend.clone(), None)
    })
}

fn pkcs11_node(backend: &Arc<CrashingBackend>, seal: &Arc<SoftSeal>) -> Arc<Core> {
    auto_node(backend.clone(), seal.clone())
}

/// Keys (base64) and root token of a node with `kv/a` = {"v": "1"}.
struct Cluster {
    keys: Vec<String>,
    token: String,
}

/// Shamir node, 3 shares, threshold 2, with data; then "stopped".
async fn shamir_cluster(backend: &Arc<CrashingBackend>) -> Cluster {
    let node = shamir_node(backend, None);
    let (keys, token) = shamir_init_and_unseal(&node).await;
    write_data(&node, &token).await;
    Cluster { keys, token }
}

/// pkcs11 node, 3 recovery shares, threshold 2, with data; then "stopped".
async fn pkcs11_cluster(backend: &Arc<CrashingBackend>, seal: &Arc<SoftSeal>) -> Cluster {
    let node = pkcs11_node(backend, seal);
    let init = node.initialize(recovery_params(3, 2)).await.expect("init");
    let token = init.root_token.to_string();
    write_data(&node, &token).await;
    Cluster {
        keys: init.recovery_keys.iter().map(b64).collect(),
        token,
    }
}

async fn stored_config(backend: &CrashingBackend) -> SealConfig {
    let raw = backend
        .get(SEAL_CONFIG_PATH)
        .await
        .expect("get")
        .expect("seal config");
    serde_json::from_slice(&raw).expect("json")
}

async fn migrate(node: &Arc<Core>, keys: &[String]) {
    for k in keys {
        node.submit_migration_key(k).await.expect("migration key");
    }
}

#[tokio::test]
async fn shamir_to_pkcs11_migration_turns_unseal_keys_into_recovery_keys() {
    let backend = CrashingBackend::new();
    let cluster = shamir_cluster(&backend).await;
    let hsm = SoftSeal::new();

    let node = pkcs11_node(&backend, &hsm);
    let pending = node
        .seal_migration()
        .await
        .expect("check")
        .expect("pending");
    assert_eq!((pending.from.as_str(), pending.to), ("shamir", "pkcs11"));
    let status = node.seal_status().await.expect("status");
    assert!(status.migration && status.sealed);
    assert_eq!((status.threshold, status.shares), (2, 3));
    assert!(
        !node.unseal_with_stored_keys().await.expect("auto unseal"),
        "auto-unseal must not run while a migration is pending"
    );
    assert!(node.is_sealed());

    let first = node
        .submit_migration_key(&cluster.keys[2])
        .await
        .expect("first key");
    assert_eq!(first.progress, 1);
    let done = node
        .submit_migration_key(&cluster.keys[0])
        .await
        .expect("second key");
    assert!(!done.sealed && !done.migration);
    assert_data(&node, &cluster.token).await;
    assert_eq!(
        stored_config(&backend).await,
        SealConfig {
            seal_type: "pkcs11".to_owned(),
            secret_shares: 1,
            secret_threshold: 1,
            recovery_shares: 3,
            recovery_threshold: 2,
        }
    );
    assert!(backend.get(RECOVERY_KEY_PATH).await.expect("get").is_some());

    let restarted = pkcs11_node(&backend, &hsm);
    assert!(!restarted.seal_status().await.expect("status").migration);
    assert!(
        restarted
            .unseal_with_stored_keys()
            .await
            .expect("auto unseal")
    );
    assert_data(&restarted, &cluster.token).await;
    generate_root_with(&restarted, &cluster.keys[1..])
        .await
        .expect("old unseal keys work as recovery keys");
}

#[tokio::test]
async fn pkcs11_to_shamir_migration_turns_recovery_keys_into_unseal_keys() {
    let backend = CrashingBackend::new();
    let hsm = SoftSeal::new();
    let cluster = pkcs11_cluster(&backend, &hsm).await;

    let node = shamir_node(&backend, Some(hsm.clone()));
    let status = node.seal_status().await.expect("status");
    assert!(status.migration && status.sealed);
    assert_eq!((status.threshold, status.shares), (2, 3));
    migrate(&node, &cluster.keys[..2]).await;
    assert_data(&node, &cluster.token).await;
    assert_eq!(
        stored_config(&backend).await,
        SealConfig {
            seal_type: "shamir".to_owned(),
            secret_shares: 3,
            secret_threshold: 2,
            recovery_shares: 0,
            recovery_threshold: 0,
        }
    );
    assert!(
        backend.get(RECOVERY_KEY_PATH).await.expect("get").is_none(),
        "the recovery key record is gone"
    );

    // Restart without any HSM: the former recovery keys unseal.
    let restarted = shamir_node(&backend, None);
    assert!(restarted.is_sealed());
    for k in &cluster.keys[1..] {
        restarted.submit_unseal_key(k).await.expect("unseal");
    }
    assert_data(&restarted, &cluster.token).await;
}

#[tokio::test]
async fn unseal_without_migrate_while_migration_is_pending_says_to_use_migrate() {
    let backend = CrashingBackend::new();
    let cluster = shamir_cluster(&backend).await;
    let node = pkcs11_node(&backend, &SoftSeal::new());
    let err = node
        .submit_unseal_key(&cluster.keys[0])
        .await
        .expect_err("plain unseal refused");
    let text = err.to_string();
    assert!(
        text.contains("seal migration is pending") && text.contains("-migrate"),
        "{text}"
    );
    assert_eq!(node.seal_status().await.expect("status").progress, 0);
}

#[tokio::test]
async fn migrate_without_a_pending_migration_is_refused() {
    let backend = CrashingBackend::new();
    let cluster = shamir_cluster(&backend).await;
    let node = shamir_node(&backend, None);
    let err = node
        .submit_migration_key(&cluster.keys[0])
        .await
        .expect_err("no migration pending");
    assert!(
        err.to_string().contains("no seal migration is pending"),
        "{err}"
    );
    assert!(node.is_sealed());
}

#[tokio::test]
async fn wrong_keys_during_migration_keep_the_node_sealed_and_storage_untouched() {
    let backend = CrashingBackend::new();
    shamir_cluster(&backend).await;
    let other = CrashingBackend::new();
    let foreign = shamir_cluster(&other).await;
    let node = pkcs11_node(&backend, &SoftSeal::new());
    backend.crash_after(usize::MAX - 1);
    node.submit_migration_key(&foreign.keys[0])
        .await
        .expect("first key");
    let err = node
        .submit_migration_key(&foreign.keys[1])
        .await
        .expect_err("keys of another node");
    assert!(
        err.to_string().contains("do not open the root key"),
        "{err}"
    );
    assert!(node.is_sealed());
    assert!(backend.writes().is_empty(), "{:?}", backend.writes());
    assert!(node.seal_status().await.expect("status").migration);
}

#[tokio::test]
async fn migration_away_from_pkcs11_without_the_disabled_stanza_names_it() {
    let backend = CrashingBackend::new();
    let hsm = SoftSeal::new();
    let cluster = pkcs11_cluster(&backend, &hsm).await;
    let node = shamir_node(&backend, None);
    let err = node.seal_migration().await.expect_err("old seal missing");
    assert!(err.to_string().contains("disabled = \"true\""), "{err}");
    let err = node
        .submit_migration_key(&cluster.keys[0])
        .await
        .expect_err("old seal missing");
    assert!(err.to_string().contains("seal \"pkcs11\""), "{err}");
    assert!(node.is_sealed());
    assert_eq!(node.seal_status().await.expect("status").progress, 0);
}

#[tokio::test]
async fn migration_writes_follow_the_documented_order() {
    let backend = CrashingBackend::new();
    let cluster = shamir_cluster(&backend).await;
    let hsm = SoftSeal::new();
    let node = pkcs11_node(&backend, &hsm);
    backend.crash_after(usize::MAX - 1);
    migrate(&node, &cluster.keys[..2]).await;
    assert_eq!(
        backend.writes(),
        [
            format!("put {RECOVERY_KEY_PATH}"),
            format!("put {ROOT_KEY_PATH}"),
            format!("put {SEAL_CONFIG_PATH}"),
        ]
    );
    let rewrap = wait_for_rewrap(&node).await;
    assert_eq!(
        (rewrap.rewritten, rewrap.failed),
        (UNWRAP_WRITES as u64, 0),
        "the first unseal under the HSM seal wraps the keyring, the token salt and the \
         response-wrapping key"
    );

    let node = shamir_node(&backend, Some(hsm));
    backend.crash_after(usize::MAX - 1);
    migrate(&node, &cluster.keys[1..]).await;
    let writes = backend.writes();
    assert_eq!(
        writes[..UNWRAP_WRITES],
        [
            format!("put {KEYRING_PATH}"),
            writes[1].clone(),
            writes[2].clone()
        ],
        "step 0 unwraps the keyring, then the token salt and the response-wrapping key"
    );
    assert!(
        writes[1..UNWRAP_WRITES]
            .iter()
            .all(|w| w.starts_with("put barrier/")),
        "{writes:?}"
    );
    assert_eq!(
        writes[UNWRAP_WRITES..],
        [
            format!("put {ROOT_KEY_PATH}"),
            format!("put {SEAL_CONFIG_PATH}"),
            format!("delete {RECOVERY_KEY_PATH}"),
        ]
    );
}

/// Step 0 of pkcs11 → Shamir: the seal-wrapped records of a node with only
/// a plain KV mount (the keyring, the token salt and the response-wrapping
/// key) are unwrapped in place.
const UNWRAP_WRITES: usize = 3;

/// Writes a whole migration makes.
fn migration_writes(direction: Direction) -> usize {
    match direction {
        Direction::ShamirToPkcs11 => 3,
        Direction::Pkcs11ToShamir => UNWRAP_WRITES + 3,
    }
}

/// Which way a test migrates.
#[derive(Clone, Copy, Debug)]
enum Direction {
    ShamirToPkcs11,
    Pkcs11ToShamir,
}

/// A node whose migration failed after `done` of its three writes.
struct Crashed {
    backend: Arc<CrashingBackend>,
    hsm: Arc<SoftSeal>,
    cluster: Cluster,
}

async fn crash_during_migration(direction: Direction, done: usize) -> Crashed {
    let backend = CrashingBackend::new();
    let hsm = SoftSeal::new();
    let (cluster, node) = match direction {
        Direction::ShamirToPkcs11 => {
            let c = shamir_cluster(&backend).await;
            (c, pkcs11_node(&backend, &hsm))
        }
        Direction::Pkcs11ToShamir => {
            let c = pkcs11_cluster(&backend, &hsm).await;
            (c, shamir_node(&backend, Some(hsm.clone())))
        }
    };
    node.submit_migration_key(&cluster.keys[0])
        .await
        .expect("first key");
    backend.crash_after(done);
    let err = node
        .submit_migration_key(&cluster.keys[1])
        .await
        .expect_err("the write fails");
    assert!(err.to_string().contains("simulated crash"), "{err}");
    assert!(
        node.is_sealed(),
        "a failed migration leaves the node sealed"
    );
    assert_eq!(backend.writes().len(), done, "{direction:?} after {done}");
    backend.heal();
    Crashed {
        backend,
        hsm,
        cluster,
    }
}

#[tokio::test]
async fn migration_interrupted_at_any_write_can_be_finished_with_migrate() {
    for direction in [Direction::ShamirToPkcs11, Direction::Pkcs11ToShamir] {
        for done in 0..migration_writes(direction) {
            let c = crash_during_migration(direction, done).await;
            let keys = &c.cluster.keys[1..];
            let node = match direction {
                Direction::ShamirToPkcs11 => pkcs11_node(&c.backend, &c.hsm),
                Direction::Pkcs11ToShamir => shamir_node(&c.backend, Some(c.hsm.clone())),
            };
            let pending = node.seal_migration().await.expect("check");
            match (direction, done, pending) {
                // The seal config (the commit point) was written by the
                // next-to-last write (auto → Shamir): the Shamir path opens.
                (Direction::Pkcs11ToShamir, n, None) if n == UNWRAP_WRITES + 2 => {
                    for k in keys {
                        node.submit_unseal_key(k).await.expect("unseal");
                    }
                }
                (_, _, Some(_)) => migrate(&node, keys).await,
                (d, n, None) => panic!("{d:?} after {n} writes: migration no longer pending"),
            }
            assert_data(&node, &c.cluster.token).await;
            let config = stored_config(&c.backend).await;
            assert_eq!(config.seal_type, node.seal().kind(), "{direction:?} {done}");
            let recovery = c.backend.get(RECOVERY_KEY_PATH).await.expect("get");
            assert_eq!(
                recovery.is_some(),
                matches!(direction, Direction::ShamirToPkcs11),
                "{direction:?} {done}: recovery key record"
            );

            // And the migrated node opens on its own path after a restart.
            let restarted = match direction {
                Direction::ShamirToPkcs11 => {
                    let n = pkcs11_node(&c.backend, &c.hsm);
                    assert!(n.unseal_with_stored_keys().await.expect("auto unseal"));
                    n
                }
                Direction::Pkcs11ToShamir => {
                    let n = shamir_node(&c.backend, None);
                    for k in keys {
                        n.submit_unseal_key(k).await.expect("unseal");
                    }
                    n
                }
            };
            assert_data(&restarted, &c.cluster.token).await;
        }
    }
}

#[tokio::test]
async fn migration_interrupted_before_the_root_key_moves_still_opens_the_old_way() {
    // Shamir → pkcs11: writes 0 and 1 done leave the root key Shamir-wrapped.
    for done in 0..2 {
        let c = crash_during_migration(Direction::ShamirToPkcs11, done).await;
        let node = shamir_node(&c.backend, None);
        for k in &c.cluster.keys[1..] {
            node.submit_unseal_key(k).await.expect("old path unseals");
        }
        assert_data(&node, &c.cluster.token).await;
        assert!(
            c.backend
                .get(RECOVERY_KEY_PATH)
                .await
                .expect("get")
                .is_none(),
            "a recovery key left by the interrupted migration is removed"
        );
    }
    // pkcs11 → Shamir: a crash before the root key moves (in step 0, while
    // records are being unwrapped, or right after) leaves a node that still
    // auto-unseals; unwrapped records read as well as wrapped ones.
    for done in 0..=UNWRAP_WRITES {
        let c = crash_during_migration(Direction::Pkcs11ToShamir, done).await;
        let node = pkcs11_node(&c.backend, &c.hsm);
        assert!(
            node.unseal_with_stored_keys()
                .await
                .expect("old path unseals")
        );
        assert_data(&node, &c.cluster.token).await;
    }
}
