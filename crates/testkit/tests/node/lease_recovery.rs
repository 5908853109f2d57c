//! Crate tier: leases when storage fails under them. Whatever point a
//! token's creation or revocation is interrupted at (a write or delete
//! failing part-way, as a crash leaves it), the expiry sweep plus
//! `auth/token/tidy` bring storage back to what it was; a lost or stale
//! lease never lets a token be used past its expiry, because access is
//! decided by the token's own entry.

use async_trait::async_trait;
use coffer_core::engine::Operation::{List, Read, Update};
use coffer_core::storage::{Backend, SharedBackend, StorageError};
use coffer_storage_inmem::InmemBackend;
use coffer_testkit::auth_node::AuthNode;
use coffer_testkit::storage::all_keys;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

const HOUR: u64 = 3600;
/// No budget: the operation always succeeds.
const UNLIMITED: i64 = -1;

/// In-memory storage whose puts, or deletes, fail once a budget of them is
/// spent, until healed.
struct Interruptible {
    inner: InmemBackend,
    puts_left: AtomicI64,
    deletes_left: AtomicI64,
}

impl Interruptible {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: InmemBackend::new(),
            puts_left: AtomicI64::new(UNLIMITED),
            deletes_left: AtomicI64::new(UNLIMITED),
        })
    }

    fn heal(&self) {
        self.puts_left.store(UNLIMITED, Ordering::SeqCst);
        self.deletes_left.store(UNLIMITED, Ordering::SeqCst);
    }

    fn spend(budget: &AtomicI64, op: &'static str, key: &str) -> Result<(), StorageError> {
        let spent = budget.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
            (left > 0).then(|| left - 1)
        });
        match spent {
            Ok(_) => Ok(()),
            Err(UNLIMITED) => Ok(()),
            Err(_) => Err(StorageError::Io {
                op,
                key: key.to_owned(),
                cause: "simulated crash".to_owned(),
            }),
        }
    }
}

#[async_trait]
impl Backend for Interruptible {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        Self::spend(&self.puts_left, "put", key)?;
        self.inner.put(key, value).await
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        Self::spend(&self.deletes_left, "delete", key)?;
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.inner.list(prefix).await
    }
    fn kind(&self) -> &'static str {
        "inmem"
    }
}

/// The sweep after every token's expiry, then a token tidy.
async fn sweep_and_tidy(n: &AuthNode) {
    n.clock.advance(24 * HOUR);
    n.core.expire_due().await.expect("sweep");
    let status = n.tidy("auth/token/tidy").await;
    assert_eq!(status["state"], "Finished", "{status}");
}

async fn node() -> (AuthNode, Arc<Interruptible>, SharedBackend) {
    let backend = Interruptible::new();
    let shared: SharedBackend = backend.clone();
    let n = AuthNode::on(shared.clone()).await;
    n.token_maker_policy("maker").await;
    (n, backend, shared)
}

#[tokio::test]
async fn an_interrupted_revocation_leaves_nothing_once_swept_and_tidied() {
    for allowed in 0..12 {
        let (n, backend, shared) = node().await;
        let root = n.root.clone();
        let baseline = all_keys(&shared).await;
        let (parent, _) = n
            .create_as(
                &root,
                "auth/token/create",
                json!({"policies": ["maker"], "ttl": "1h"}),
            )
            .await;
        let (child, _) = n
            .create_as(&parent, "auth/token/create", json!({"ttl": "10h"}))
            .await;
        n.ok(&child, Update, "cubbyhole/note", json!({"v": "x"}))
            .await;
        backend.deletes_left.store(allowed, Ordering::SeqCst);
        let revoked = n
            .call(
                &root,
                Update,
                "auth/token/revoke",
                json!({ "token": parent }),
            )
            .await;
        backend.heal();
        if revoked.is_err() {
            // Whatever was left can be revoked again right away.
            n.root_call(
                Update,
                "sys/leases/revoke-prefix/auth/token/create",
                json!({}),
            )
            .await;
        }
        sweep_and_tidy(&n).await;
        assert_eq!(
            all_keys(&shared).await,
            baseline,
            "a revocation interrupted after {allowed} deletes left something behind"
        );
        for token in [&parent, &child] {
            assert!(
                n.denied(token, Read, "auth/token/lookup-self", Value::Null)
                    .await
            );
        }
    }
}

#[tokio::test]
async fn an_interrupted_creation_leaves_nothing_once_swept_and_tidied() {
    for allowed in 0..6 {
        let (n, backend, shared) = node().await;
        let root = n.root.clone();
        let baseline = all_keys(&shared).await;
        backend.puts_left.store(allowed, Ordering::SeqCst);
        let created = n
            .call(&root, Update, "auth/token/create", json!({"ttl": "1h"}))
            .await;
        backend.heal();
        sweep_and_tidy(&n).await;
        assert_eq!(
            all_keys(&shared).await,
            baseline,
            "a creation interrupted after {allowed} writes ({}) left something behind",
            if created.is_ok() {
                "completed"
            } else {
                "failed"
            }
        );
    }
}

/// Physical keys of lease records: `barrier/` and one encrypted segment per
/// logical one, and a token's lease id (`sys/expire/id/auth/token/create/
/// <hash>`) is deeper than anything else these tests store.
fn lease_keys(keys: &BTreeSet<String>) -> Vec<String> {
    keys.iter()
        .filter(|k| k.split('/').count() >= 8)
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_token_whose_lease_is_lost_is_refused_at_expiry_and_tidy_gives_it_a_lease_back() {
    let (n, _, shared) = node().await;
    let root = n.root.clone();
    let (lost, _) = n
        .create_as(&root, "auth/token/create", json!({"ttl": "1h"}))
        .await;
    let record = lease_keys(&all_keys(&shared).await);
    assert_eq!(record.len(), 1, "{record:?}");
    shared.delete(&record[0]).await.expect("delete the lease");
    n.clock.advance(HOUR);
    assert_eq!(n.core.expire_due().await.expect("sweep"), 0);
    assert!(
        n.denied(&lost, Read, "auth/token/lookup-self", Value::Null)
            .await,
        "the token's own expiry decides, not the lease"
    );

    let (kept, accessor) = n
        .create_as(&root, "auth/token/create", json!({"ttl": "1h"}))
        .await;
    let record = lease_keys(&all_keys(&shared).await);
    shared.delete(&record[0]).await.expect("delete the lease");
    let status = n.tidy("auth/token/tidy").await;
    assert!(
        status["message"]
            .as_str()
            .is_some_and(|m| m.contains("registered 1 missing leases")),
        "{status}"
    );
    let listed = n
        .root_call(List, "sys/leases/lookup/auth/token/create/", Value::Null)
        .await
        .and_then(|r| r.data)
        .expect("the lease is back");
    assert_eq!(listed["keys"].as_array().map(Vec::len), Some(1));
    n.clock.advance(HOUR);
    n.core.expire_due().await.expect("sweep");
    let accessors = n
        .root_call(List, "auth/token/accessors", Value::Null)
        .await
        .and_then(|r| r.data)
        .expect("accessors");
    assert!(!accessors.to_string().contains(&accessor), "{kept} swept");
}

#[tokio::test]
async fn a_renewal_whose_lease_write_fails_stands_and_the_sweep_follows_the_token() {
    let (n, backend, _) = node().await;
    let root = n.root.clone();
    let (token, _) = n
        .create_as(&root, "auth/token/create", json!({"ttl": "1h"}))
        .await;
    // The entry is written, the lease (written after it) is not: the
    // renewal stands, the stored lease still points at the old expiry.
    backend.puts_left.store(1, Ordering::SeqCst);
    n.ok(
        &token,
        Update,
        "auth/token/renew-self",
        json!({"increment": "3h"}),
    )
    .await;
    backend.heal();
    n.clock.advance(2 * HOUR);
    assert_eq!(n.core.expire_due().await.expect("sweep"), 0, "rescheduled");
    assert_eq!(n.lookup_self(&token).await["ttl"], HOUR);
    n.clock.advance(HOUR);
    n.core.expire_due().await.expect("sweep");
    let listed = n
        .root_call(List, "sys/leases/lookup/auth/token/create/", Value::Null)
        .await;
    assert!(listed.is_none(), "token and lease swept: {listed:?}");
}
