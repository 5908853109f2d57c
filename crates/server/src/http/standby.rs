//! What an HA standby does with a request it does not serve: it answers
//! with a `307 Temporary Redirect` to the same path on the active node's
//! `api_addr`, which Vault's clients (hvac, the vault and coffer CLIs)
//! follow with the same method, headers and body.
//!
//! A standby still answers what describes the node itself: `sys/health`,
//! `sys/leader`, `sys/seal-status`, `sys/init`, `sys/unseal` and
//! `sys/metrics`.

use super::AppState;
use super::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Paths a standby answers itself.
const LOCAL: &[&str] = &[
    "/v1/sys/health",
    "/v1/sys/leader",
    "/v1/sys/seal-status",
    "/v1/sys/init",
    "/v1/sys/unseal",
    "/v1/sys/metrics",
];

/// Middleware: on a standby, send everything but [`LOCAL`] to the active.
pub(crate) async fn send_to_active(
    State(st): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    let served_here = LOCAL.contains(&path.trim_end_matches('/')) || !path.starts_with("/v1/");
    if served_here || st.core.is_sealed() {
        return next.run(req).await;
    }
    let ha = st.core.ha_status();
    if !ha.standby {
        return next.run(req).await;
    }
    if ha.leader_address.is_empty() {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this node is a standby and no active node is known yet (an election is under way); \
             retry shortly",
        )
        .into_response();
    }
    let target = format!(
        "{}{}",
        ha.leader_address.trim_end_matches('/'),
        req.uri()
            .path_and_query()
            .map_or(path, axum::http::uri::PathAndQuery::as_str)
    );
    match HeaderValue::from_str(&target) {
        Ok(location) => {
            let mut resp = StatusCode::TEMPORARY_REDIRECT.into_response();
            resp.headers_mut().insert(header::LOCATION, location);
            resp
        }
        Err(_) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "the active node advertises an api_addr that is not a valid URL: {:?}",
                ha.leader_address
            ),
        )
        .into_response(),
    }
}
