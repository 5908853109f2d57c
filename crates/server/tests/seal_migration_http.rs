//! HTTP tier: `sys/unseal` with and without `migrate`, and `sys/seal-status`
//! `migration`, over the real router. Storage initialised with the Shamir
//! seal is reopened with a software auto-unseal seal standing in for the
//! pkcs11 one, which makes a seal migration pending.

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use coffer_core::clock::SystemClock;
use coffer_core::seal::{Seal, SealError, SealHealth, ShamirSeal};
use coffer_core::storage::SharedBackend;
use coffer_core::{Core, CoreOptions};
use coffer_crypto::{Entropy, Key256, OsEntropy, SecretBytes, envelope};
use coffer_server::http::{AppState, router};
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt as _;

struct SoftSeal {
    key: Key256,
    entropy: Arc<dyn Entropy>,
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
        envelope::seal(&self.key, 0, self.entropy.as_ref(), b"soft", plaintext)
            .map_err(|e| SealError::Unavailable(e.to_string()))
    }
    async fn unwrap(&self, blob: &[u8]) -> Result<SecretBytes, SealError> {
        envelope::open(&self.key, b"soft", blob)
            .map(|p| SecretBytes::from_slice(&p))
            .map_err(|e| SealError::Integrity(e.to_string()))
    }
    async fn health(&self) -> SealHealth {
        SealHealth::Healthy
    }
}

fn app(backend: &SharedBackend, seal: Option<Arc<SoftSeal>>) -> axum::Router {
    let entropy: Arc<dyn Entropy> = Arc::new(OsEntropy::new());
    let shamir = Arc::new(ShamirSeal::new(entropy.clone()));
    let (seal, shamir): (Arc<dyn Seal>, _) = match seal {
        Some(s) => (s, None),
        None => (shamir.clone(), Some(shamir)),
    };
    let core = Core::new(CoreOptions {
        backend: backend.clone(),
        seal,
        shamir,
        migration_from: None,
        entropy,
        clock: Arc::new(SystemClock),
        factories: vec![Arc::new(coffer_engine_kv::CubbyholeFactory::new())],
        cluster_name: None,
    });
    router(
        AppState {
            core,
            max_request_size: coffer_server::http::DEFAULT_MAX_REQUEST_SIZE,
        },
        false,
    )
}

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
        .expect("request");
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn first_error(v: &Value) -> &str {
    v["errors"][0].as_str().unwrap_or_default()
}

#[tokio::test]
async fn unseal_answers_400_unless_migrate_matches_whether_a_migration_is_pending() {
    let backend: SharedBackend = Arc::new(coffer_storage_inmem::InmemBackend::new());
    let shamir_app = app(&backend, None);
    let (s, init) = call(
        &shamir_app,
        "PUT",
        "/v1/sys/init",
        Some(json!({"secret_shares": 3, "secret_threshold": 2})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{init}");
    let keys: Vec<String> = init["keys_base64"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k.as_str().expect("str").to_owned())
        .collect();

    let (s, e) = call(
        &shamir_app,
        "PUT",
        "/v1/sys/unseal",
        Some(json!({"key": keys[0], "migrate": true})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        first_error(&e).contains("no seal migration is pending"),
        "{e}"
    );
    let (_, st) = call(&shamir_app, "GET", "/v1/sys/seal-status", None).await;
    assert_eq!(st["migration"], false, "{st}");

    let entropy: Arc<dyn Entropy> = Arc::new(OsEntropy::new());
    let hsm = Arc::new(SoftSeal {
        key: Key256::generate(entropy.as_ref()).expect("rng"),
        entropy,
    });
    let migrating = app(&backend, Some(hsm));
    let (_, st) = call(&migrating, "GET", "/v1/sys/seal-status", None).await;
    assert_eq!(st["migration"], true, "{st}");
    assert_eq!(
        (st["t"].clone(), st["n"].clone()),
        (json!(2), json!(3)),
        "{st}"
    );

    let (s, e) = call(
        &migrating,
        "PUT",
        "/v1/sys/unseal",
        Some(json!({"key": keys[0]})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(first_error(&e).contains("-migrate"), "{e}");

    let (s, st) = call(
        &migrating,
        "PUT",
        "/v1/sys/unseal",
        Some(json!({"key": keys[0], "migrate": true})),
    )
    .await;
    assert_eq!(
        (s, st["progress"].clone()),
        (StatusCode::OK, json!(1)),
        "{st}"
    );
    let (s, st) = call(
        &migrating,
        "PUT",
        "/v1/sys/unseal",
        Some(json!({"key": keys[1], "migrate": true})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{st}");
    assert_eq!(st["sealed"], false, "{st}");
    assert_eq!(st["migration"], false, "{st}");
    assert_eq!(st["recovery_seal"], true, "{st}");
    assert_eq!(st["type"], "pkcs11", "{st}");
}
