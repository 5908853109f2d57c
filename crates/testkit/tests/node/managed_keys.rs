//! Managed keys in the core: `sys/managed-keys` storage and rules, and what
//! an engine's context resolves, with a provider that records what it is
//! asked (the PKCS#11 provider itself is tested against real tokens in
//! coffer-seal-pkcs11 and coffer-cli).

use async_trait::async_trait;
use coffer_core::engine::Operation::{Delete, List, Read, Update};
use coffer_core::engine::{Engine, EngineContext, EngineFactory, Request, Response};
use coffer_core::managed_keys::{
    ManagedKeyEntry, ManagedKeyError, ManagedKeyProvider, SignRequest, SignTest,
};
use coffer_core::metrics::Metric;
use coffer_core::mount::MountEntry;
use coffer_core::{CoreOptions, CoreResult};
use coffer_testkit::auth_node::AuthNode;
use coffer_testkit::storage::inmem;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use zeroize::Zeroizing;

/// Knows one library, `hsm`; records the keys `test_sign` was asked about.
#[derive(Default)]
struct Recorder {
    tested: Mutex<Vec<String>>,
}

#[async_trait]
impl ManagedKeyProvider for Recorder {
    fn key_types(&self) -> &'static [&'static str] {
        &["pkcs11"]
    }
    fn libraries(&self) -> Vec<String> {
        vec!["hsm".to_owned()]
    }
    async fn test_sign(&self, key: &ManagedKeyEntry, _: &SignTest) -> Result<(), ManagedKeyError> {
        self.tested
            .lock()
            .expect("lock")
            .push(format!("{}:{}", key.name, key.pin()));
        Ok(())
    }
    async fn sign(&self, _: &ManagedKeyEntry, _: &SignRequest) -> Result<Vec<u8>, ManagedKeyError> {
        Err(ManagedKeyError::Unavailable("not in this test".into()))
    }
    async fn verify(
        &self,
        _: &ManagedKeyEntry,
        _: &SignRequest,
        _: &[u8],
    ) -> Result<bool, ManagedKeyError> {
        Err(ManagedKeyError::Unavailable("not in this test".into()))
    }
    async fn mac(&self, _: &ManagedKeyEntry, _: &[u8]) -> Result<Vec<u8>, ManagedKeyError> {
        Err(ManagedKeyError::Unavailable("not in this test".into()))
    }
    async fn encrypt(&self, _: &ManagedKeyEntry, _: &[u8]) -> Result<Vec<u8>, ManagedKeyError> {
        Err(ManagedKeyError::Unavailable("not in this test".into()))
    }
    async fn decrypt(
        &self,
        _: &ManagedKeyEntry,
        _: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, ManagedKeyError> {
        Err(ManagedKeyError::Unavailable("not in this test".into()))
    }
    fn forget(&self, _: &str) {}
    fn metrics(&self) -> Vec<Metric> {
        Vec::new()
    }
}

/// An engine whose `resolve/:name` answers with the managed key its context
/// resolves (name and id), or the refusal.
struct Probe;

#[async_trait]
impl Engine for Probe {
    async fn handle(&self, ctx: &EngineContext, req: Request) -> CoreResult<Option<Response>> {
        let name = req.path.strip_prefix("resolve/").unwrap_or_default();
        let by_id = req.data["by_id"].as_str();
        let key = if let Some(id) = by_id {
            ctx.managed_keys.resolve(None, Some(id)).await?
        } else {
            ctx.managed_keys.resolve(Some(name), None).await?
        };
        Ok(Some(Response::data(
            json!({"name": key.name, "uuid": key.uuid}),
        )))
    }
}

struct ProbeFactory;

impl EngineFactory for ProbeFactory {
    fn engine_type(&self) -> &'static str {
        "probe"
    }
    fn create(&self, _: &MountEntry) -> CoreResult<Arc<dyn Engine>> {
        Ok(Arc::new(Probe))
    }
}

async fn node(recorder: Arc<Recorder>) -> AuthNode {
    AuthNode::configured(inmem(), move |opts| {
        let mut factories = opts.factories.clone();
        factories.push(Arc::new(ProbeFactory));
        CoreOptions {
            managed_keys: Some(recorder),
            factories,
            ..opts
        }
    })
    .await
}

fn key(label: &str) -> Value {
    json!({"library": "HSM", "token_label": "t", "pin": "s3cret-pin", "key_label": label,
           "mechanism": "0x1041"})
}

#[tokio::test]
async fn keys_are_stored_read_back_without_the_pin_and_tested_with_it() {
    let recorder = Arc::new(Recorder::default());
    let n = node(recorder.clone()).await;
    n.root_call(Update, "sys/managed-keys/pkcs11/signer", key("l1"))
        .await;
    let read = n
        .root_call(Read, "sys/managed-keys/pkcs11/signer", Value::Null)
        .await
        .and_then(|r| r.data)
        .expect("read");
    assert_eq!(read["pin"], "redacted");
    assert_eq!(read["mechanism"], 0x1041);
    assert!(!read.to_string().contains("s3cret-pin"));
    // An update without a pin keeps the stored one.
    n.root_call(
        Update,
        "sys/managed-keys/pkcs11/signer",
        json!({"any_mount": true}),
    )
    .await;
    n.root_call(
        Update,
        "sys/managed-keys/pkcs11/signer/test/sign",
        Value::Null,
    )
    .await;
    assert_eq!(
        *recorder.tested.lock().expect("lock"),
        ["signer:s3cret-pin"]
    );
    let list = n
        .root_call(List, "sys/managed-keys/pkcs11", Value::Null)
        .await
        .and_then(|r| r.data)
        .expect("list");
    assert_eq!(list["keys"], json!(["signer"]));

    // Unknown library and unknown type are refused with the reason.
    let mut bad = key("l2");
    bad["library"] = json!("other");
    let err = n
        .call(&n.root.clone(), Update, "sys/managed-keys/pkcs11/k2", bad)
        .await
        .expect_err("unknown library");
    assert!(err.to_string().contains("(configured: hsm)"), "{err}");
    let err = n
        .call(
            &n.root.clone(),
            Update,
            "sys/managed-keys/awskms/k3",
            key("l3"),
        )
        .await
        .expect_err("unknown type");
    assert!(
        err.to_string().contains("\"awskms\" is not supported"),
        "{err}"
    );
}

#[tokio::test]
async fn an_engine_resolves_only_the_keys_its_mount_allows() {
    let n = node(Arc::new(Recorder::default())).await;
    for name in ["allowed", "other", "everywhere"] {
        n.root_call(
            Update,
            &format!("sys/managed-keys/pkcs11/{name}"),
            key(name),
        )
        .await;
    }
    n.root_call(
        Update,
        "sys/managed-keys/pkcs11/everywhere",
        json!({"any_mount": "true"}),
    )
    .await;
    n.root_call(
        Update,
        "sys/mounts/probe",
        json!({"type": "probe", "config": {"allowed_managed_keys": "allowed"}}),
    )
    .await;
    let resolve = |name: &str, body: Value| {
        let path = format!("probe/resolve/{name}");
        let root = n.root.clone();
        let n = &n;
        async move { n.call(&root, Update, &path, body).await }
    };
    let allowed = resolve("allowed", Value::Null)
        .await
        .expect("allowed")
        .expect("answer");
    let uuid = allowed.data.expect("data")["uuid"]
        .as_str()
        .expect("uuid")
        .to_owned();
    assert!(
        resolve("everywhere", Value::Null).await.is_ok(),
        "any_mount"
    );
    let err = resolve("other", Value::Null)
        .await
        .expect_err("not allowed");
    assert!(
        err.to_string().contains("not allowed on this mount"),
        "{err}"
    );
    let err = resolve("absent", Value::Null).await.expect_err("absent");
    assert!(err.to_string().contains("no managed key named"), "{err}");
    let by_id = resolve("", json!({"by_id": uuid}))
        .await
        .expect("by id")
        .expect("answer");
    assert_eq!(by_id.data.expect("data")["name"], "allowed");

    // Deleting a key a mount allows is refused, and allowed once tuned away.
    let err = n
        .call(
            &n.root.clone(),
            Delete,
            "sys/managed-keys/pkcs11/allowed",
            Value::Null,
        )
        .await
        .expect_err("still allowed");
    assert!(err.to_string().contains("still allowed on probe/"), "{err}");
    n.root_call(
        Update,
        "sys/mounts/probe/tune",
        json!({"allowed_managed_keys": []}),
    )
    .await;
    n.root_call(Delete, "sys/managed-keys/pkcs11/allowed", Value::Null)
        .await;
}
