//! HTTP tier: `sys/rekey/*` and `sys/rekey-recovery-key/*` through the real
//! axum router, without a socket: wire shapes, status codes, no token.

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use coffer_core::clock::SystemClock;
use coffer_core::seal::{Seal, SealError, SealHealth, ShamirSeal};
use coffer_core::{Core, CoreOptions};
use coffer_crypto::{Entropy, Key256, OsEntropy, SecretBytes, envelope};
use coffer_server::http::{AppState, DEFAULT_MAX_REQUEST_SIZE, router};
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt as _;

/// A software stand-in for the HSM seal.
struct SoftAutoSeal {
    key: Key256,
    entropy: Arc<dyn Entropy>,
}

#[async_trait]
impl Seal for SoftAutoSeal {
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

fn app_with(seal: Arc<dyn Seal>, shamir: Option<Arc<ShamirSeal>>) -> axum::Router {
    let core = Core::new(CoreOptions {
        backend: Arc::new(coffer_storage_inmem::InmemBackend::new()),
        seal,
        shamir,
        migration_from: None,
        entropy: Arc::new(OsEntropy::new()),
        clock: Arc::new(SystemClock),
        factories: vec![
            Arc::new(coffer_engine_kv::KvFactory::new()),
            Arc::new(coffer_engine_kv::CubbyholeFactory::new()),
        ],
        cluster_name: None,
    });
    router(
        AppState {
            core,
            max_request_size: DEFAULT_MAX_REQUEST_SIZE,
        },
        false,
    )
}

fn shamir_app() -> axum::Router {
    let shamir = Arc::new(ShamirSeal::new(Arc::new(OsEntropy::new())));
    app_with(shamir.clone(), Some(shamir))
}

fn auto_app() -> axum::Router {
    let entropy: Arc<dyn Entropy> = Arc::new(OsEntropy::new());
    let seal = Arc::new(SoftAutoSeal {
        key: Key256::generate(entropy.as_ref()).expect("rng"),
        entropy,
    });
    app_with(seal, None)
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
        .header("X-Vault-Request", "true")
        .body(Body::from(
            body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
        ))
        .expect("request");
    let resp = app
        .clone()
        .oneshot(req)
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

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|k| k.as_str().expect("str").to_owned())
        .collect()
}

/// Shamir 3/2, unsealed; returns the unseal keys (base64) and the root token.
async fn shamir_ready(app: &axum::Router) -> (Vec<String>, String) {
    let (s, init) = call(
        app,
        "PUT",
        "/v1/sys/init",
        Some(json!({"secret_shares": 3, "secret_threshold": 2})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{init}");
    let keys = strings(&init["keys_base64"]);
    for k in &keys[..2] {
        call(app, "PUT", "/v1/sys/unseal", Some(json!({"key": k}))).await;
    }
    (keys, init["root_token"].as_str().expect("token").to_owned())
}

#[tokio::test]
async fn shamir_rekey_over_http_has_vaults_shapes_and_needs_no_token() {
    let app = shamir_app();
    let (keys, _) = shamir_ready(&app).await;
    let (s, idle) = call(&app, "GET", "/v1/sys/rekey/init", None).await;
    assert_eq!(s, StatusCode::OK, "{idle}");
    assert_eq!(
        idle,
        json!({"started": false, "nonce": "", "t": 0, "n": 0, "progress": 0, "required": 2,
               "pgp_fingerprints": null, "backup": false, "verification_required": false})
    );
    // The vault CLI sends strings.
    let (s, started) = call(
        &app,
        "PUT",
        "/v1/sys/rekey/init",
        Some(json!({"secret_shares": "2", "secret_threshold": "2"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{started}");
    assert_eq!(
        (
            started["started"].clone(),
            started["t"].clone(),
            started["n"].clone(),
            started["required"].clone()
        ),
        (json!(true), json!(2), json!(2), json!(2))
    );
    let nonce = started["nonce"].as_str().expect("nonce").to_owned();
    let (s, again) = call(
        &app,
        "POST",
        "/v1/sys/rekey/init",
        Some(json!({"secret_shares": 2, "secret_threshold": 2})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{again}");
    assert!(
        again["errors"][0]
            .as_str()
            .expect("msg")
            .contains("already in progress")
    );

    let (s, e) = call(
        &app,
        "PUT",
        "/v1/sys/rekey/update",
        Some(json!({"key": keys[0], "nonce": "nope"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, p) = call(
        &app,
        "PUT",
        "/v1/sys/rekey/update",
        Some(json!({"key": keys[0], "nonce": nonce})),
    )
    .await;
    assert_eq!(
        (s, p["progress"].clone()),
        (StatusCode::OK, json!(1)),
        "{p}"
    );
    let (s, e) = call(
        &app,
        "PUT",
        "/v1/sys/rekey/update",
        Some(json!({"key": keys[0], "nonce": nonce})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "duplicate key: {e}");
    let (s, done) = call(
        &app,
        "POST",
        "/v1/sys/rekey/update",
        Some(json!({"key": keys[2], "nonce": nonce})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert_eq!(
        (
            done["complete"].clone(),
            done["nonce"].clone(),
            done["pgp_fingerprints"].clone(),
            done["backup"].clone(),
            done["verification_required"].clone()
        ),
        (
            json!(true),
            json!(nonce),
            json!(null),
            json!(false),
            json!(false)
        )
    );
    let new_hex = strings(&done["keys"]);
    let new_b64 = strings(&done["keys_base64"]);
    assert_eq!((new_hex.len(), new_b64.len()), (2, 2));

    let (_, st) = call(&app, "GET", "/v1/sys/seal-status", None).await;
    assert_eq!((st["n"].clone(), st["t"].clone()), (json!(2), json!(2)));
    let (_, idle) = call(&app, "GET", "/v1/sys/rekey/init", None).await;
    assert_eq!(idle["started"], false);
}

#[tokio::test]
async fn new_unseal_keys_from_http_rekey_unseal_after_a_seal() {
    let app = shamir_app();
    let (keys, token) = shamir_ready(&app).await;
    let (_, started) = call(
        &app,
        "PUT",
        "/v1/sys/rekey/init",
        Some(json!({"secret_shares": 1, "secret_threshold": 1})),
    )
    .await;
    let nonce = started["nonce"].as_str().expect("nonce").to_owned();
    call(
        &app,
        "PUT",
        "/v1/sys/rekey/update",
        Some(json!({"key": keys[1], "nonce": nonce})),
    )
    .await;
    let (_, done) = call(
        &app,
        "PUT",
        "/v1/sys/rekey/update",
        Some(json!({"key": keys[2], "nonce": nonce})),
    )
    .await;
    let new_hex = strings(&done["keys"]);
    let req = Request::builder()
        .method("PUT")
        .uri("/v1/sys/seal")
        .header("X-Vault-Token", &token)
        .body(Body::empty())
        .expect("request");
    let resp = app.clone().oneshot(req).await.expect("seal");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (s, e) = call(&app, "GET", "/v1/sys/rekey/init", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "sealed: {e}");
    let (_, st) = call(
        &app,
        "PUT",
        "/v1/sys/unseal",
        Some(json!({"key": new_hex[0]})),
    )
    .await;
    assert_eq!(st["sealed"], false, "{st}");
}

#[tokio::test]
async fn recovery_rekey_over_http_and_the_wrong_kind_for_each_seal() {
    let auto = auto_app();
    let (s, init) = call(
        &auto,
        "PUT",
        "/v1/sys/init",
        Some(json!({"recovery_shares": 3, "recovery_threshold": 2})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{init}");
    let recovery = strings(&init["recovery_keys"]);
    let (s, e) = call(
        &auto,
        "PUT",
        "/v1/sys/rekey/init",
        Some(json!({"secret_shares": 1, "secret_threshold": 1})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["errors"][0]
            .as_str()
            .expect("msg")
            .contains("not supported yet for auto-unseal")
    );

    for (body, fragment) in [
        (
            json!({"secret_shares": 5, "secret_threshold": 3, "pgp_keys": ["k"]}),
            "pgp_keys",
        ),
        (
            json!({"secret_shares": 5, "secret_threshold": 3, "backup": true}),
            "backup",
        ),
        (
            json!({"secret_shares": 5, "secret_threshold": 3, "require_verification": "true"}),
            "require_verification",
        ),
        (
            json!({"secret_shares": 2, "secret_threshold": 3}),
            "threshold",
        ),
    ] {
        let (s, e) = call(&auto, "PUT", "/v1/sys/rekey-recovery-key/init", Some(body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
        assert!(
            e["errors"][0].as_str().expect("msg").contains(fragment),
            "{e}"
        );
    }

    let (s, started) = call(
        &auto,
        "PUT",
        "/v1/sys/rekey-recovery-key/init",
        Some(json!({"secret_shares": 5, "secret_threshold": 3})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{started}");
    let (_, status) = call(&auto, "GET", "/v1/sys/rekey-recovery-key/init", None).await;
    assert_eq!(status, started);
    let nonce = started["nonce"].as_str().expect("nonce").to_owned();
    call(
        &auto,
        "PUT",
        "/v1/sys/rekey-recovery-key/update",
        Some(json!({"key": recovery[0], "nonce": nonce})),
    )
    .await;
    let (s, done) = call(
        &auto,
        "PUT",
        "/v1/sys/rekey-recovery-key/update",
        Some(json!({"key": recovery[1], "nonce": nonce})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert_eq!(done["complete"], true);
    assert_eq!(strings(&done["keys_base64"]).len(), 5);
    let (_, st) = call(&auto, "GET", "/v1/sys/seal-status", None).await;
    assert_eq!((st["n"].clone(), st["t"].clone()), (json!(5), json!(3)));

    let shamir = shamir_app();
    shamir_ready(&shamir).await;
    let (s, e) = call(&shamir, "GET", "/v1/sys/rekey-recovery-key/init", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["errors"][0]
            .as_str()
            .expect("msg")
            .contains("recovery keys are only used with auto-unseal seals")
    );
}

#[tokio::test]
async fn cancel_answers_204_and_wrong_methods_405() {
    let app = shamir_app();
    let (keys, _) = shamir_ready(&app).await;
    let (_, started) = call(
        &app,
        "PUT",
        "/v1/sys/rekey/init",
        Some(json!({"secret_shares": 3, "secret_threshold": 2})),
    )
    .await;
    let nonce = started["nonce"].as_str().expect("nonce").to_owned();
    let (s, _) = call(&app, "DELETE", "/v1/sys/rekey/init", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, e) = call(
        &app,
        "PUT",
        "/v1/sys/rekey/update",
        Some(json!({"key": keys[0], "nonce": nonce})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, e) = call(
        &app,
        "PUT",
        "/v1/sys/rekey/update",
        Some(json!({"key": keys[0]})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "missing nonce: {e}");
    let (s, _) = call(&app, "GET", "/v1/sys/rekey/update", None).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    let (s, _) = call(&app, "DELETE", "/v1/sys/rekey-recovery-key/init", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "shamir has no recovery keys");
}

#[tokio::test]
async fn rekey_before_init_is_400_and_while_sealed_503() {
    let app = shamir_app();
    let (s, e) = call(&app, "GET", "/v1/sys/rekey/init", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, init) = call(
        &app,
        "PUT",
        "/v1/sys/init",
        Some(json!({"secret_shares": 1, "secret_threshold": 1})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{init}");
    let (s, e) = call(
        &app,
        "PUT",
        "/v1/sys/rekey/init",
        Some(json!({"secret_shares": 1, "secret_threshold": 1})),
    )
    .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{e}");
    assert_eq!(e["errors"][0], "Vault is sealed");
}
