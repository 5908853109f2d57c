//! [`AuthNode`]: an unsealed Shamir node on a test clock with its root token,
//! for tests that act as tokens (policies, leases, logins, wrapping), with
//! the calls they make written once.

use crate::clock::TestClock;
use crate::node::{node_options, shamir_init_and_unseal};
use crate::storage::inmem;
use coffer_core::engine::{Operation, Request, Response};
use coffer_core::storage::SharedBackend;
use coffer_core::{Core, CoreError, CoreOptions, CoreResult};
use serde_json::{Value, json};
use std::sync::Arc;

/// An unsealed Shamir node on a test clock, with its root token and a
/// KV v2 mount at `secret/`.
pub struct AuthNode {
    /// The node.
    pub core: Arc<Core>,
    /// Its root token.
    pub root: String,
    /// Its three unseal keys (base64); any two unseal it.
    pub keys: Vec<String>,
    /// The clock it runs on.
    pub clock: Arc<TestClock>,
    /// Its storage.
    pub backend: SharedBackend,
}

impl AuthNode {
    /// A node on fresh in-memory storage.
    pub async fn new() -> Self {
        Self::on(inmem()).await
    }

    /// [`AuthNode::new`] over `backend`.
    pub async fn on(backend: SharedBackend) -> Self {
        Self::configured(backend, |opts| opts).await
    }

    /// [`AuthNode::on`] with the node's options adjusted by `adjust` (for
    /// settings the server config makes, such as `raw_storage_endpoint`).
    pub async fn configured(
        backend: SharedBackend,
        adjust: impl FnOnce(CoreOptions) -> CoreOptions,
    ) -> Self {
        let clock = TestClock::new();
        let core = Core::new(adjust(CoreOptions {
            clock: clock.clone(),
            ..node_options(backend.clone(), None)
        }));
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
            json!({"type": "kv", "options": {"version": "2"}}),
        )
        .await;
        node
    }

    /// A new node on the same storage and clock, unsealed with two of the
    /// keys: what a restart of the process sees.
    pub async fn restarted(&self) -> Self {
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
    pub async fn reseal(&self) {
        self.core.seal_now().await;
        for k in &self.keys[..2] {
            self.core.submit_unseal_key(k).await.expect("unseal");
        }
        assert!(!self.core.is_sealed());
    }

    /// Calls as `token`.
    pub async fn call(
        &self,
        token: &str,
        op: Operation,
        path: &str,
        body: Value,
    ) -> CoreResult<Option<Response>> {
        self.core
            .handle(Request::new(op, path).with_data(body), Some(token))
            .await
    }

    /// A call that must succeed.
    pub async fn ok(
        &self,
        token: &str,
        op: Operation,
        path: &str,
        body: Value,
    ) -> Option<Response> {
        self.call(token, op, path, body)
            .await
            .unwrap_or_else(|e| panic!("{op:?} {path}: {e}"))
    }

    /// One string field of the `data` a root call must answer with (a role
    /// id, a secret id).
    pub async fn root_field(&self, op: Operation, path: &str, body: Value, field: &str) -> String {
        self.root_call(op, path, body)
            .await
            .and_then(|r| r.data)
            .and_then(|d| d[field].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("{op:?} {path}: no {field} in the answer"))
    }

    /// A call as root that must succeed.
    pub async fn root_call(&self, op: Operation, path: &str, body: Value) -> Option<Response> {
        let root = self.root.clone();
        self.ok(&root, op, path, body).await
    }

    /// Whether a call as `token` is refused with "permission denied".
    pub async fn denied(&self, token: &str, op: Operation, path: &str, body: Value) -> bool {
        matches!(
            self.call(token, op, path, body).await,
            Err(CoreError::PermissionDenied)
        )
    }

    /// Writes an ACL policy as root.
    pub async fn policy(&self, name: &str, text: &str) {
        self.root_call(
            Operation::Update,
            &format!("sys/policies/acl/{name}"),
            json!({ "policy": text }),
        )
        .await;
    }

    /// Writes policy `name` granting only the creation of child tokens.
    pub async fn token_maker_policy(&self, name: &str) {
        self.policy(
            name,
            r#"path "auth/token/create" { capabilities = ["update"] }"#,
        )
        .await;
    }

    /// Creates a token as `parent` with `body`; returns (token, accessor).
    pub async fn create_as(&self, parent: &str, path: &str, body: Value) -> (String, String) {
        let auth = self
            .ok(parent, Operation::Update, path, body)
            .await
            .and_then(|r| r.auth)
            .unwrap_or_else(|| panic!("{path}: no auth block"));
        (auth.client_token.to_string(), auth.accessor)
    }

    /// A root-created child token with `policies` plus `default` (only
    /// `default` when empty).
    pub async fn token_with(&self, policies: &[&str]) -> String {
        let root = self.root.clone();
        let policies = if policies.is_empty() {
            &["default"][..]
        } else {
            policies
        };
        self.create_as(&root, "auth/token/create", json!({ "policies": policies }))
            .await
            .0
    }

    /// Starts a tidy (`sys/leases/tidy` or `auth/token/tidy`), checks the
    /// immediate 202, and waits for its `-status` to leave `Running`;
    /// returns that status (`state`, `message` or `error`, times).
    pub async fn tidy(&self, path: &str) -> Value {
        let answer = self
            .root_call(Operation::Update, path, json!({}))
            .await
            .unwrap_or_else(|| panic!("{path}: no answer"));
        assert_eq!(
            answer.status,
            coffer_core::engine::ResponseStatus::Code(202),
            "{path}"
        );
        let status_path = format!("{path}-status");
        for _ in 0..6000 {
            let status = self
                .root_call(Operation::Read, &status_path, Value::Null)
                .await
                .and_then(|r| r.data)
                .unwrap_or_else(|| panic!("{status_path}: no data"));
            if status["state"] != "Running" {
                return status;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("{path} still running after 60 s");
    }

    /// `lookup-self` data of `token`.
    pub async fn lookup_self(&self, token: &str) -> Value {
        self.ok(
            token,
            Operation::Read,
            "auth/token/lookup-self",
            Value::Null,
        )
        .await
        .and_then(|r| r.data)
        .expect("lookup-self data")
    }
}
