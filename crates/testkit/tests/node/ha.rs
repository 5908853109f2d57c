//! HA at the node tier: nodes sharing one storage and one election lock
//! (in-process), with short lock timings. One active at a time, standbys
//! refuse to serve, a takeover loads what the previous active wrote, and a
//! node whose lease ran out cannot write even before it notices.

use async_trait::async_trait;
use coffer_core::engine::{Operation, Request};
use coffer_core::ha::{HaLock, HaOptions, LockHolder};
use coffer_core::seal::Seal;
use coffer_core::storage::{SharedBackend, StorageError};
use coffer_core::{Core, CoreError, CoreOptions};
use coffer_storage_inmem::InmemHaLock;
use coffer_testkit::node::{b64, node_options, shamir_params};
use coffer_testkit::storage::inmem;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_millis(900);

/// A lock shared by all nodes that can cut one node off (as a network
/// partition between that node and the database would).
struct Partitionable {
    inner: Arc<InmemHaLock>,
    cut: AtomicBool,
    /// Calls never answer (a database that accepted the connection and
    /// then went silent).
    hang: AtomicBool,
}

#[async_trait]
impl HaLock for Partitionable {
    async fn acquire(
        &self,
        holder: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, StorageError> {
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.reachable()?;
        self.inner.acquire(holder, value, ttl).await
    }
    async fn release(&self, holder: &str) -> Result<(), StorageError> {
        self.reachable()?;
        self.inner.release(holder).await
    }
    async fn holder(&self) -> Result<Option<LockHolder>, StorageError> {
        self.reachable()?;
        self.inner.holder().await
    }
}

impl Partitionable {
    fn reachable(&self) -> Result<(), StorageError> {
        if self.cut.load(Ordering::SeqCst) {
            return Err(StorageError::Io {
                op: "lock",
                key: "ha".to_owned(),
                cause: "connection refused".to_owned(),
            });
        }
        Ok(())
    }
}

struct Cluster {
    nodes: Vec<Arc<Core>>,
    locks: Vec<Arc<Partitionable>>,
    keys: Vec<String>,
    root: String,
}

/// Node `n` on `backend`, competing for `lock` with short timings; Shamir
/// unless `seal` is given.
fn ha_node(
    backend: &SharedBackend,
    lock: Arc<dyn HaLock>,
    n: usize,
    seal: Option<Arc<dyn Seal>>,
) -> Arc<Core> {
    let mut ha = HaOptions::new(
        lock,
        format!("node-{n}"),
        format!("http://node-{n}:8200"),
        format!("https://node-{n}:8201"),
    );
    ha.lock_ttl = TTL;
    ha.retry_interval = Duration::from_millis(30);
    ha.step_down_backoff = Duration::from_millis(400);
    Core::new(CoreOptions {
        ha: Some(ha),
        ..node_options(backend.clone(), seal)
    })
}

/// `n` Shamir nodes, initialised through the first, all unsealed.
async fn cluster(n: usize) -> Cluster {
    let backend = inmem();
    let shared = Arc::new(InmemHaLock::new());
    let locks: Vec<_> = (0..n)
        .map(|_| {
            Arc::new(Partitionable {
                inner: shared.clone(),
                cut: AtomicBool::new(false),
                hang: AtomicBool::new(false),
            })
        })
        .collect();
    let nodes: Vec<_> = (0..n)
        .map(|i| ha_node(&backend, locks[i].clone(), i, None))
        .collect();
    let init = nodes[0]
        .initialize(shamir_params(1, 1))
        .await
        .expect("init");
    let keys: Vec<String> = init.keys.iter().map(b64).collect();
    for node in &nodes {
        node.submit_unseal_key(&keys[0]).await.expect("unseal");
        assert!(!node.is_sealed());
    }
    Cluster {
        nodes,
        locks,
        keys,
        root: init.root_token.to_string(),
    }
}

impl Cluster {
    /// Waits until exactly one node is active; returns its index.
    async fn active(&self, not: Option<usize>) -> usize {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let active: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| self.nodes[i].ha_status().is_self)
                .collect();
            if let [one] = active[..]
                && Some(one) != not
            {
                return one;
            }
            assert!(active.len() <= 1, "two active nodes: {active:?}");
            assert!(
                Instant::now() < deadline,
                "no single active node: {active:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn call(
        &self,
        i: usize,
        op: Operation,
        path: &str,
        body: serde_json::Value,
    ) -> Result<Option<coffer_core::engine::Response>, CoreError> {
        self.nodes[i]
            .handle(Request::new(op, path).with_data(body), Some(&self.root))
            .await
    }
}

#[tokio::test]
async fn nodes_on_one_storage_elect_one_active_and_standbys_refuse_to_serve() {
    let c = cluster(3).await;
    let active = c.active(None).await;
    c.call(
        active,
        Operation::Update,
        "sys/mounts/kv",
        json!({"type": "kv"}),
    )
    .await
    .expect("mount on the active");
    for i in (0..3).filter(|&i| i != active) {
        let status = c.nodes[i].ha_status();
        assert!(
            status.enabled && status.standby && !status.is_self,
            "{status:?}"
        );
        let refused = c.call(i, Operation::Read, "sys/mounts", json!(null)).await;
        assert!(matches!(refused, Err(CoreError::Standby)), "{refused:?}");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let standby = (active + 1) % 3;
    while c.nodes[standby].ha_status().leader_address != format!("http://node-{active}:8200") {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            c.nodes[standby].ha_status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        c.nodes[standby].ha_status().leader_cluster_address,
        format!("https://node-{active}:8201")
    );
    assert!(c.nodes[active].ha_status().active_time.is_some());
    let made = c.nodes[active]
        .cluster_tls()
        .expect("the active made the cluster identity");
    while c.nodes[standby].cluster_tls().is_none() {
        assert!(
            Instant::now() < deadline,
            "the standby never loaded the cluster identity"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let loaded = c.nodes[standby].cluster_tls().expect("loaded");
    assert_eq!(
        loaded.cert_der, made.cert_der,
        "one identity for the whole cluster"
    );
    c.nodes[standby].seal_now().await;
    assert!(
        c.nodes[standby].cluster_tls().is_none(),
        "its key leaves memory at seal"
    );
}

#[tokio::test]
async fn a_node_that_takes_over_serves_what_the_previous_active_wrote() {
    let c = cluster(2).await;
    let first = c.active(None).await;
    c.call(
        first,
        Operation::Update,
        "sys/mounts/kv",
        json!({"type": "kv"}),
    )
    .await
    .expect("mount");
    c.call(first, Operation::Update, "sys/rotate", json!(null))
        .await
        .expect("rotate the keyring");
    c.call(
        first,
        Operation::Update,
        "kv/after-rotation",
        json!({"v": "1"}),
    )
    .await
    .expect("write under the new term");
    c.call(
        first,
        Operation::Update,
        "sys/policies/acl/reader",
        json!({"policy": "path \"kv/*\" { capabilities = [\"read\"] }"}),
    )
    .await
    .expect("policy");

    c.call(first, Operation::Update, "sys/step-down", json!(null))
        .await
        .expect("step down");
    let second = c.active(Some(first)).await;
    let read = c
        .call(second, Operation::Read, "kv/after-rotation", json!(null))
        .await
        .expect("read")
        .and_then(|r| r.data)
        .expect("data");
    assert_eq!(
        read["v"], "1",
        "written under a keyring term the new active had not seen"
    );
    let policy = c
        .call(
            second,
            Operation::Read,
            "sys/policies/acl/reader",
            json!(null),
        )
        .await
        .expect("read policy");
    assert!(policy.is_some());
    let refused = c
        .call(first, Operation::Read, "kv/after-rotation", json!(null))
        .await;
    assert!(matches!(refused, Err(CoreError::Standby)), "{refused:?}");
}

#[tokio::test]
async fn sealing_the_active_hands_over_to_a_standby() {
    let c = cluster(2).await;
    let first = c.active(None).await;
    c.nodes[first].seal_now().await;
    let second = c.active(Some(first)).await;
    assert_ne!(first, second);
    assert!(!c.nodes[first].ha_status().is_self);
    c.nodes[first]
        .submit_unseal_key(&c.keys[0])
        .await
        .expect("unseal again");
    assert!(c.nodes[first].ha_status().standby, "rejoins as a standby");
}

/// A two-node cluster whose active node has a KV v1 mount at `kv/`;
/// returns it and the active node's index.
async fn cluster_with_kv() -> (Cluster, usize) {
    let c = cluster(2).await;
    let first = c.active(None).await;
    c.call(
        first,
        Operation::Update,
        "sys/mounts/kv",
        json!({"type": "kv"}),
    )
    .await
    .expect("mount");
    (c, first)
}

/// The node that lost its lease refuses a write, and the write is not in
/// storage as the new active node reads it.
async fn late_write_never_lands(c: &Cluster, old: usize, new: usize) {
    match c
        .call(old, Operation::Update, "kv/late", json!({"v": "stale"}))
        .await
    {
        Err(CoreError::Standby | CoreError::Storage(StorageError::NotActive { .. })) => {}
        other => panic!("a write from the node without the lease: {other:?}"),
    }
    let late = c
        .call(new, Operation::Read, "kv/late", json!(null))
        .await
        .expect("read");
    assert!(
        late.is_none(),
        "the write of the node without the lease reached storage"
    );
}

#[tokio::test]
async fn an_active_cut_off_from_the_lock_stops_writing_before_another_takes_over() {
    let (c, first) = cluster_with_kv().await;
    c.locks[first].cut.store(true, Ordering::SeqCst);
    let cut_at = Instant::now();
    let second = c.active(Some(first)).await;
    assert!(
        cut_at.elapsed() >= TTL / 2,
        "the other node took over before the first one's lease could have run out"
    );
    // Whatever the first node still believes, its writes do not reach storage.
    late_write_never_lands(&c, first, second).await;
    c.locks[first].cut.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !c.nodes[first].ha_status().standby {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            c.nodes[first].ha_status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn step_down_is_refused_on_a_node_without_ha() {
    let n = coffer_testkit::auth_node::AuthNode::new().await;
    match n
        .call(
            &n.root.clone(),
            Operation::Update,
            "sys/step-down",
            json!(null),
        )
        .await
    {
        Err(CoreError::InvalidRequest(msg)) => {
            assert!(msg.contains("not part of an HA cluster"), "{msg}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_active_whose_renewal_hangs_stops_serving_when_its_lease_runs_out() {
    let (c, first) = cluster_with_kv().await;
    c.locks[first].hang.store(true, Ordering::SeqCst);
    let hung_at = Instant::now();
    // Within one lease, the node must stop calling itself active, though its
    // renewal never returns.
    while c.nodes[first].ha_status().is_self {
        assert!(
            hung_at.elapsed() < TTL * 2,
            "still active {:?} after its renewal hung",
            hung_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = c.active(Some(first)).await;
    late_write_never_lands(&c, first, second).await;
}

#[tokio::test]
async fn a_sealed_node_cannot_initialise_while_another_holds_the_lock() {
    let backend = inmem();
    let shared = Arc::new(InmemHaLock::new());
    let node = ha_node(&backend, shared.clone(), 0, None);
    assert!(
        shared
            .acquire("someone-else", "{}", TTL * 10)
            .await
            .expect("taken")
    );
    match node.initialize(shamir_params(1, 1)).await {
        Err(CoreError::PreconditionFailed(msg)) => {
            assert!(msg.contains("another node holds the HA lock"), "{msg}")
        }
        other => panic!("init under another node's lock: {:?}", other.map(|_| ())),
    }
    assert!(
        !node.is_initialized().await.expect("read"),
        "nothing was written"
    );
    shared.release("someone-else").await.expect("release");
    node.initialize(shamir_params(1, 1))
        .await
        .expect("init once the lock is free");
}

#[tokio::test]
async fn leases_made_on_one_active_expire_on_the_next() {
    let c = cluster(2).await;
    let first = c.active(None).await;
    let created = Instant::now();
    let auth = c
        .call(
            first,
            Operation::Update,
            "auth/token/create",
            json!({"ttl": "2s", "policies": ["default"]}),
        )
        .await
        .expect("create")
        .and_then(|r| r.auth)
        .expect("auth");
    let token = auth.client_token.to_string();
    c.call(first, Operation::Update, "sys/step-down", json!(null))
        .await
        .expect("step down");
    let second = c.active(Some(first)).await;
    let lookup = |node: usize| {
        let core = c.nodes[node].clone();
        let root = c.root.clone();
        let token = token.clone();
        async move {
            core.handle(
                Request::new(Operation::Update, "auth/token/lookup")
                    .with_data(json!({"token": token})),
                Some(&root),
            )
            .await
        }
    };
    let found = lookup(second).await.expect("lookup on the new active");
    assert!(
        found.is_some_and(|r| r.data.is_some()),
        "the token is known to the new active"
    );
    let listed = c
        .call(
            second,
            Operation::List,
            "sys/leases/lookup/auth/token/create/",
            json!(null),
        )
        .await
        .expect("list leases")
        .and_then(|r| r.data)
        .expect("the new active knows the lease");
    assert_eq!(listed["keys"].as_array().map(Vec::len), Some(1), "{listed}");
    // The new active's lease sweep revokes it when its TTL is up.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match lookup(second).await {
            Ok(Some(r)) if r.data.is_some() => {}
            gone => {
                // Lease times are whole seconds: a 2 s token lives 1 to 2 s.
                assert!(
                    created.elapsed() >= Duration::from_secs(1),
                    "gone long before its TTL: {gone:?}"
                );
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the lease never expired on the new active"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // And the new active's sweep removes the lease itself.
    loop {
        let listed = c
            .call(
                second,
                Operation::List,
                "sys/leases/lookup/auth/token/create/",
                json!(null),
            )
            .await
            .expect("list leases");
        let left = listed
            .and_then(|r| r.data)
            .and_then(|d| d["keys"].as_array().map(Vec::len))
            .unwrap_or(0);
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the lease was never swept on the new active"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn an_hsm_key_rotation_is_taken_up_by_the_node_that_takes_over() {
    use coffer_testkit::node::{recovery_params, wait_for_rewrap};
    use coffer_testkit::soft_seal::SoftSeal;
    let backend = inmem();
    let shared = Arc::new(InmemHaLock::new());
    let hsm = SoftSeal::with_label("key-1");
    let node = |n: usize| {
        ha_node(
            &backend,
            shared.clone(),
            n,
            Some(hsm.clone() as Arc<dyn Seal>),
        )
    };
    let first = node(0);
    let init = first.initialize(recovery_params(1, 1)).await.expect("init");
    let root = init.root_token.to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !first.ha_status().is_self {
        assert!(
            Instant::now() < deadline,
            "the initialised node never became active"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let call = |core: &Arc<Core>, op, path: &str, body: serde_json::Value| {
        let core = core.clone();
        let root = root.clone();
        let path = path.to_owned();
        async move {
            core.handle(Request::new(op, path).with_data(body), Some(&root))
                .await
        }
    };
    call(
        &first,
        Operation::Update,
        "sys/mounts/wrapped",
        json!({"type": "kv", "seal_wrap": true}),
    )
    .await
    .expect("mount");
    call(
        &first,
        Operation::Update,
        "wrapped/db",
        json!({"password": "p"}),
    )
    .await
    .expect("write");

    // The HSM key is rotated; the node that takes over re-wraps under it.
    hsm.rotate_to("key-2");
    let second = node(1);
    assert!(second.unseal_with_stored_keys().await.expect("auto-unseal"));
    call(&first, Operation::Update, "sys/step-down", json!(null))
        .await
        .expect("step down");
    while !second.ha_status().is_self {
        assert!(Instant::now() < deadline, "the second node never took over");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = wait_for_rewrap(&second).await;
    assert_eq!(status.failed, 0, "{status:?}");
    assert!(
        status.rewritten >= 1,
        "the new active re-wrapped nothing: {status:?}"
    );
    hsm.forget("key-1");
    let read = call(&second, Operation::Read, "wrapped/db", json!(null))
        .await
        .expect("read under key-2 only")
        .and_then(|r| r.data)
        .expect("data");
    assert_eq!(read["password"], "p");
}

#[tokio::test]
async fn a_dropped_active_node_stops_renewing_and_its_lease_lapses() {
    let lock = Arc::new(InmemHaLock::new());
    let node = ha_node(&inmem(), lock.clone(), 0, None);
    let init = node.initialize(shamir_params(1, 1)).await.expect("init");
    node.submit_unseal_key(&b64(&init.keys[0]))
        .await
        .expect("unseal");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !node.ha_status().is_self {
        assert!(Instant::now() < deadline, "never became active");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let weak = Arc::downgrade(&node);
    drop(node);
    // Its campaign and renewals hold no reference through the term: the
    // node goes, and with it the renewals, so the lease runs out.
    let deadline = Instant::now() + TTL * 4;
    while weak.upgrade().is_some() || lock.holder().await.expect("holder").is_some() {
        assert!(
            Instant::now() < deadline,
            "the dropped node is still alive ({}) or still holds the lock",
            weak.strong_count()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
