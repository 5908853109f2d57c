//! Shared HTTP-tier harness: the real axum router over a test node
//! (`coffer_testkit::node`), driven without a socket.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use coffer_core::Core;
use coffer_core::seal::Seal;
use coffer_core::storage::SharedBackend;
use coffer_server::http::{AppState, DEFAULT_MAX_REQUEST_SIZE, router};
use coffer_testkit::node::node_options;
use coffer_testkit::soft_seal::SoftSeal;
use coffer_testkit::storage::inmem;
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt as _;

/// The router over a new core on `backend`: the Shamir seal when `seal` is
/// `None`, else that (auto-unseal) seal; the default engines.
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
    let core = Core::new(node_options(backend, seal));
    let app = router(AppState::new(core.clone(), max_request_size), false);
    (app, core)
}

/// Shamir seal, fresh in-memory storage, the listener's state as
/// `configure` makes it from the defaults (an admission bound, proxies).
pub(crate) fn app_with_state(configure: impl FnOnce(AppState) -> AppState) -> axum::Router {
    let core = Core::new(node_options(inmem(), None));
    router(
        configure(AppState::new(core, DEFAULT_MAX_REQUEST_SIZE)),
        false,
    )
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
