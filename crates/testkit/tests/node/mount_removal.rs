//! Crate tier: disabling a mount deletes its data even when the deletion is
//! interrupted (a crash or a storage error part-way): the table records what
//! is being removed, and the next unseal finishes the job.

use async_trait::async_trait;
use coffer_core::engine::{Operation, Request};
use coffer_core::storage::{Backend, StorageError};
use coffer_storage_inmem::InmemBackend;
use coffer_testkit::node::{b64, node_options, shamir_params};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// In-memory storage whose deletes fail while `broken` is set.
struct FailingDeletes {
    inner: InmemBackend,
    broken: AtomicBool,
}

#[async_trait]
impl Backend for FailingDeletes {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.inner.put(key, value).await
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(StorageError::Io {
                op: "delete",
                key: key.to_owned(),
                cause: "simulated crash".to_owned(),
            });
        }
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.inner.list(prefix).await
    }
    fn kind(&self) -> &'static str {
        "inmem"
    }
}

async fn barrier_keys(backend: &FailingDeletes) -> usize {
    let mut n = 0;
    let mut stack = vec!["barrier/".to_owned()];
    while let Some(prefix) = stack.pop() {
        for child in backend.list(&prefix).await.expect("list") {
            if child.ends_with('/') {
                stack.push(format!("{prefix}{child}"));
            } else {
                n += 1;
            }
        }
    }
    n
}

/// Polls `done` for up to 60 s (a loaded CI machine; it usually takes ms).
async fn wait_for<F, Fut>(done: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..6000 {
        if done().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("not done within 60 s");
}

async fn gauge(core: &coffer_core::Core, name: &str) -> f64 {
    core.metrics()
        .await
        .into_iter()
        .find(|m| m.name == name)
        .map(|m| m.value)
        .unwrap_or_else(|| panic!("no metric {name}"))
}

#[tokio::test]
async fn an_interrupted_disable_is_finished_at_the_next_unseal() {
    let backend = Arc::new(FailingDeletes {
        inner: InmemBackend::new(),
        broken: AtomicBool::new(false),
    });
    let core = coffer_core::Core::new(node_options(backend.clone(), None));
    let init = core.initialize(shamir_params(1, 1)).await.expect("init");
    let key = b64(&init.keys[0]);
    let token = init.root_token.to_string();
    core.submit_unseal_key(&key).await.expect("unseal");
    let before = barrier_keys(&backend).await;
    core.handle(
        Request::new(Operation::Update, "sys/mounts/doomed").with_data(json!({"type": "kv"})),
        Some(&token),
    )
    .await
    .expect("mount");
    for i in 0..5 {
        core.handle(
            Request::new(Operation::Update, format!("doomed/s{i}")).with_data(json!({"v": "x"})),
            Some(&token),
        )
        .await
        .expect("write");
    }

    backend.broken.store(true, Ordering::SeqCst);
    core.handle(
        Request::new(Operation::Delete, "sys/mounts/doomed"),
        Some(&token),
    )
    .await
    .expect("the disable answers at once; the deletion runs in the background");
    assert!(
        core.handle(Request::new(Operation::Read, "doomed/s0"), Some(&token))
            .await
            .is_err(),
        "the mount is gone from the router at once"
    );
    wait_for(|| async { gauge(&core, "coffer.jobs.running").await == 0.0 }).await;
    assert_eq!(
        gauge(&core, "coffer.mounts.removals_pending").await,
        1.0,
        "the failed deletion stays recorded"
    );
    drop(core);

    backend.broken.store(false, Ordering::SeqCst);
    let restarted = coffer_core::Core::new(node_options(backend.clone(), None));
    restarted.submit_unseal_key(&key).await.expect("unseal");
    wait_for(|| async { barrier_keys(&backend).await == before }).await;
    wait_for(|| async { gauge(&restarted, "coffer.mounts.removals_pending").await == 0.0 }).await;
    let mounts = restarted
        .handle(Request::new(Operation::Read, "sys/mounts"), Some(&token))
        .await
        .expect("mounts")
        .expect("data")
        .data
        .expect("data");
    assert!(mounts.get("doomed/").is_none(), "{mounts}");
}

/// A client that stops waiting (its request future dropped, as hyper drops
/// it when the connection closes) does not cancel an auth method's removal
/// half-way: its tokens are all revoked and the method is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auth_method_removal_finishes_after_the_client_hangs_up() {
    use coffer_core::engine::Operation::{Delete, Read, Update};
    let n = coffer_testkit::auth_node::AuthNode::new().await;
    n.root_call(Update, "sys/auth/approle", json!({"type": "approle"}))
        .await;
    n.root_call(
        Update,
        "auth/approle/role/svc",
        json!({"bind_secret_id": false, "secret_id_bound_cidrs": "127.0.0.1/32"}),
    )
    .await;
    let role_id = n
        .root_field(Read, "auth/approle/role/svc/role-id", json!({}), "role_id")
        .await;
    let mut tokens = Vec::new();
    for _ in 0..300 {
        let auth = n
            .core
            .handle(
                Request::new(Update, "auth/approle/login")
                    .with_data(json!({"role_id": role_id}))
                    .with_remote_addr(Some("127.0.0.1:1".parse().expect("addr"))),
                None,
            )
            .await
            .expect("login")
            .and_then(|r| r.auth)
            .expect("auth");
        tokens.push(auth.client_token.to_string());
    }

    let disable = n.core.handle(
        Request::new(Delete, "sys/auth/approle"),
        Some(n.root.as_str()),
    );
    let gave_up = tokio::time::timeout(std::time::Duration::from_millis(2), disable).await;
    assert!(
        gave_up.is_err(),
        "the removal finished before the client gave up; make it longer (more tokens)"
    );

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let listed = n
            .root_call(Read, "sys/auth", json!({}))
            .await
            .and_then(|r| r.data)
            .expect("auth table");
        if listed.get("approle/").is_none() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the removal stopped with the client"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for t in &tokens {
        assert!(
            n.core.authenticate(Some(t)).await.is_err(),
            "a token of the removed method still works"
        );
    }
}
