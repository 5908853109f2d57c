//! Shared HTTP-tier harness: the real axum router over a core on in-memory
//! storage, driven without a socket, and a software auto-unseal seal that
//! stands in for the pkcs11 one.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use coffer_core::clock::SystemClock;
use coffer_core::seal::{Seal, SealError, SealHealth, ShamirSeal};
use coffer_core::storage::SharedBackend;
use coffer_core::{Core, CoreOptions};
use coffer_crypto::{Entropy, Key256, OsEntropy, SecretBytes, envelope};
use coffer_server::http::{AppState, DEFAULT_MAX_REQUEST_SIZE, router};
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt as _;

/// A software stand-in for the HSM seal: one AES key, kind "pkcs11".
pub(crate) struct SoftSeal {
    key: Key256,
    entropy: Arc<dyn Entropy>,
}

impl SoftSeal {
    pub(crate) fn new() -> Arc<Self> {
        let entropy: Arc<dyn Entropy> = Arc::new(OsEntropy::new());
        Arc::new(Self {
            key: Key256::generate(entropy.as_ref()).expect("rng"),
            entropy,
        })
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
        envelope::seal(&self.key, 0, self.entropy.as_ref(), b"", plaintext)
            .map_err(|e| SealError::Unavailable(e.to_string()))
    }
    async fn unwrap(&self, blob: &[u8]) -> Result<SecretBytes, SealError> {
        envelope::open(&self.key, b"", blob)
            .map(|p| SecretBytes::from_slice(&p))
            .map_err(|e| SealError::Integrity(e.to_string()))
    }
    async fn health(&self) -> SealHealth {
        SealHealth::Healthy
    }
}

pub(crate) fn inmem() -> SharedBackend {
    Arc::new(coffer_storage_inmem::InmemBackend::new())
}

/// The router over a new core on `backend`: the Shamir seal when `seal` is
/// `None`, else that (auto-unseal) seal; KV and cubbyhole engines.
pub(crate) fn app_on(
    backend: SharedBackend,
    seal: Option<Arc<dyn Seal>>,
    max_request_size: usize,
) -> axum::Router {
    app_and_core(backend, seal, max_request_size).0
}

/// [`app_on`], also handing out the core (for what the HTTP API cannot do,
/// such as the SIGHUP reopen of audit files).
pub(crate) fn app_and_core(
    backend: SharedBackend,
    seal: Option<Arc<dyn Seal>>,
    max_request_size: usize,
) -> (axum::Router, Arc<Core>) {
    let entropy: Arc<dyn Entropy> = Arc::new(OsEntropy::new());
    let (seal, shamir): (Arc<dyn Seal>, _) = match seal {
        Some(s) => (s, None),
        None => {
            let shamir = Arc::new(ShamirSeal::new(entropy.clone()));
            (shamir.clone(), Some(shamir))
        }
    };
    let core = Core::new(CoreOptions {
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
    });
    let app = router(
        AppState {
            core: core.clone(),
            max_request_size,
        },
        false,
    );
    (app, core)
}

/// Shamir seal, fresh in-memory storage, the given body limit.
pub(crate) fn app_with_limit(limit: usize) -> axum::Router {
    app_on(inmem(), None, limit)
}

/// Shamir seal, fresh in-memory storage, the default body limit.
pub(crate) fn app() -> axum::Router {
    app_with_limit(DEFAULT_MAX_REQUEST_SIZE)
}

/// A [`SoftSeal`] auto-unseal node on fresh in-memory storage.
pub(crate) fn auto_app() -> axum::Router {
    app_on(inmem(), Some(SoftSeal::new()), DEFAULT_MAX_REQUEST_SIZE)
}

/// Sends `body` as JSON; returns the status and the JSON body.
pub(crate) async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    call_raw(
        app,
        method,
        path,
        token,
        body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
    )
    .await
}

/// Sends raw bytes; checks every answer but 204 is `application/json`.
pub(crate) async fn call_raw(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("X-Vault-Request", "true");
    if let Some(t) = token {
        req = req.header("X-Vault-Token", t);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body)).expect("request"))
        .await
        .expect("router is infallible");
    let status = resp.status();
    if status != StatusCode::NO_CONTENT {
        assert_eq!(
            resp.headers().get("content-type").map(|v| v.as_bytes()),
            Some(&b"application/json"[..]),
            "{method} {path}"
        );
    }
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    let v = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("json body")
    };
    (status, v)
}

/// The first message of a Vault error body ("" when there is none).
pub(crate) fn first_error(v: &Value) -> &str {
    v["errors"][0].as_str().unwrap_or_default()
}

/// Calls and checks the status.
pub(crate) async fn expect_status(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    status: StatusCode,
) {
    let (s, e) = call(app, method, path, token, body).await;
    assert_eq!(s, status, "{method} {path}: {e}");
}

/// Calls and checks the status and that the first error message contains `fragment`.
pub(crate) async fn expect_error(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    status: StatusCode,
    fragment: &str,
) {
    let (s, e) = call(app, method, path, token, body).await;
    assert_eq!(s, status, "{method} {path}: {e}");
    let msg = first_error(&e);
    assert!(
        msg.contains(fragment),
        "{method} {path}: {msg:?} lacks {fragment:?}"
    );
}

/// A JSON array of strings.
pub(crate) fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|k| k.as_str().expect("str").to_owned())
        .collect()
}

/// Initialises with 3 shares / threshold 2 and leaves the node sealed;
/// returns (keys, root token).
pub(crate) async fn init(app: &axum::Router) -> (Vec<String>, String) {
    let (s, init) = call(
        app,
        "PUT",
        "/v1/sys/init",
        None,
        Some(json!({"secret_shares": 3, "secret_threshold": 2})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{init}");
    let keys = strings(&init["keys_base64"]);
    assert_eq!(init["keys"].as_array().expect("hex keys").len(), 3);
    let token = init["root_token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("hvs."));
    (keys, token)
}

/// Initialises with 3 shares / threshold 2, unseals, returns (keys, root token).
pub(crate) async fn init_and_unseal(app: &axum::Router) -> (Vec<String>, String) {
    let (keys, token) = init(app).await;
    let (_, st) = call(
        app,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"key": keys[0]})),
    )
    .await;
    assert_eq!(st["progress"], 1);
    assert_eq!(st["sealed"], true);
    let (_, st) = call(
        app,
        "PUT",
        "/v1/sys/unseal",
        None,
        Some(json!({"key": keys[2]})),
    )
    .await;
    assert_eq!(st["sealed"], false, "{st}");
    (keys, token)
}
