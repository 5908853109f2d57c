//! The Vault-compatible HTTP API: raw `sys/` handlers that work while sealed,
//! and one catch-all that turns every other `/v1/...` request into a logical
//! request for the core.

pub mod admission;
mod body;
mod config_state;
mod door;
pub mod envelope;
pub mod error;
pub(crate) mod forwarded_for;
mod generate_root;
mod health;
mod hsm_status;
mod logical;
mod metrics;
mod quota;
mod rekey;
mod remote;
mod replay;
mod seal_state;
mod standby;
mod token;
mod ui;

pub(crate) use ui::built_in as ui_built_in;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{MethodRouter, any, get, put};
use coffer_core::Core;
use std::sync::Arc;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The node.
    pub core: Arc<Core>,
    /// Largest accepted request body in bytes (`max_request_size`).
    pub max_request_size: usize,
    /// On an HA standby, forward what it does not serve to the active node
    /// over the cluster listener; `None`: redirect clients there instead
    /// (`disable_clustering`, or a router without HA).
    pub forwarder: Option<Arc<crate::cluster::Forwarder>>,
    /// This router serves the cluster listener: requests come from other
    /// nodes (mutual TLS) and are never forwarded again.
    pub cluster: bool,
    /// What `sys/config/state/sanitized` answers.
    pub config_state: Arc<serde_json::Value>,
    /// What the HSM said about itself when the seal opened (the banner's
    /// `HSM ...` rows), for `sys/hsm/status`; empty without an HSM seal.
    pub seal_details: Arc<Vec<(String, String)>>,
    /// The listener's bound on requests in flight (and its figures for
    /// `sys/metrics`); `None` when unbounded (and on the cluster listener).
    pub admission: Option<Arc<admission::Admission>>,
    /// Where the listener takes client addresses from `X-Forwarded-For`.
    pub forwarded_for: Option<Arc<crate::config::ForwardedFor>>,
}

impl AppState {
    /// A client-facing router's state that redirects instead of forwarding.
    pub fn new(core: Arc<Core>, max_request_size: usize) -> Self {
        Self {
            core,
            max_request_size,
            forwarder: None,
            cluster: false,
            config_state: Arc::new(serde_json::Value::Object(serde_json::Map::new())),
            seal_details: Arc::new(Vec::new()),
            admission: None,
            forwarded_for: None,
        }
    }
}

/// The state handlers receive: one reference count to bump per extractor
/// and middleware, rather than one per field.
pub(crate) type Shared = Arc<AppState>;

/// Default `max_request_size`: 32 MiB, as Vault.
pub const DEFAULT_MAX_REQUEST_SIZE: usize = 32 * 1024 * 1024;

/// Builds the API router, every route behind the [`door`]. `ui` says
/// whether `/ui/` is enabled in the config.
pub fn router(state: AppState, ui: bool) -> Router {
    let state: Shared = Arc::new(state);
    let door = door::Door::new(state.clone());
    let api = Router::new()
        .route(
            "/v1/sys/init",
            only(
                get(seal_state::init_status)
                    .put(seal_state::init)
                    .post(seal_state::init),
            ),
        )
        .route("/v1/sys/seal-status", only(get(seal_state::seal_status)))
        .route(
            "/v1/sys/unseal",
            only(put(seal_state::unseal).post(seal_state::unseal)),
        )
        .route(
            "/v1/sys/seal",
            only(put(seal_state::seal).post(seal_state::seal)),
        )
        .route("/v1/sys/leader", only(get(health::leader)))
        .route("/v1/sys/health", only(get(health::health)))
        .route("/v1/sys/metrics", only(get(metrics::metrics)))
        .route("/v1/sys/hsm/status", only(get(hsm_status::status)))
        .route(
            "/v1/sys/config/state/sanitized",
            only(get(config_state::sanitized)),
        )
        .route(
            "/v1/sys/generate-root/attempt",
            only(
                get(generate_root::status)
                    .put(generate_root::start)
                    .post(generate_root::start)
                    .delete(generate_root::cancel),
            ),
        )
        .route(
            "/v1/sys/generate-root/update",
            only(put(generate_root::update).post(generate_root::update)),
        )
        .route(
            "/v1/sys/rekey/init",
            only(
                get(rekey::status::<false>)
                    .put(rekey::start::<false>)
                    .post(rekey::start::<false>)
                    .delete(rekey::cancel::<false>),
            ),
        )
        .route(
            "/v1/sys/rekey/update",
            only(put(rekey::update::<false>).post(rekey::update::<false>)),
        )
        .route(
            "/v1/sys/rekey-recovery-key/init",
            only(
                get(rekey::status::<true>)
                    .put(rekey::start::<true>)
                    .post(rekey::start::<true>)
                    .delete(rekey::cancel::<true>),
            ),
        )
        .route(
            "/v1/sys/rekey-recovery-key/update",
            only(put(rekey::update::<true>).post(rekey::update::<true>)),
        )
        .route("/v1/{*path}", any(logical::handle))
        .with_state(state);
    let app = if ui { api.merge(ui::routes()) } else { api };
    app.layer(door)
}

/// Other methods on a raw endpoint get Vault's 405 envelope.
fn only(methods: MethodRouter<Shared>) -> MethodRouter<Shared> {
    methods.fallback(|| async {
        error::ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "unsupported operation")
    })
}
