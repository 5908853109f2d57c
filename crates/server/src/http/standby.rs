//! What an HA standby does with a request it does not serve.
//!
//! With clustering on (the default), it forwards the request to the active
//! node's cluster listener over mutual TLS and hands back the answer, so a
//! client pointed at any node works unchanged. With `disable_clustering`
//! (or before the cluster identity exists) it answers `307 Temporary
//! Redirect` to the same path on the active node's `api_addr`, which Vault's
//! clients follow with the same method, headers and body.
//!
//! A forward whose active node cannot be reached is tried again once a new
//! active is known, within [`FORWARD_PATIENCE`]; one that reached the
//! active but got no answer is tried again only when it is idempotent
//! (GET, HEAD, LIST): a write may have been applied, so the client gets a
//! 502 that says so.
//!
//! An active node that steps down while it serves a request (its lease ran
//! out, or `sys/step-down`) fails the request's next write with "not
//! active"; the request is then handed on the same way, as Vault's clients
//! would be redirected. Requests that reach an active node therefore keep
//! their body until they are answered.
//!
//! A standby still answers what describes the node itself: `sys/health`,
//! `sys/leader`, `sys/seal-status`, `sys/init`, `sys/unseal` and
//! `sys/metrics`; `sys/seal` it refuses, as Vault does (sealing through it
//! would seal the active node). On the cluster listener, a request reaching a node that
//! is not (or no longer) active gets a 503 the forwarding standby retries.

use super::AppState;
use super::error::{ApiError, NotActiveHere};
use crate::cluster::FORWARDED_FOR;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use coffer_core::ha::HaStatus;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Paths a standby answers itself.
const LOCAL: &[&str] = &[
    "/v1/sys/health",
    "/v1/sys/leader",
    "/v1/sys/seal-status",
    "/v1/sys/init",
    "/v1/sys/unseal",
    "/v1/sys/metrics",
];

/// How long a forward waits for an active node to take over: a lapsed
/// lease (15 s) and the take-over, with room to spare.
const FORWARD_PATIENCE: Duration = Duration::from_secs(30);

/// Marks a cluster-listener 503 from a node that is not active, which the
/// forwarding standby may safely retry elsewhere (nothing was done).
const NOT_ACTIVE: &str = "x-coffer-not-active";

/// Middleware: see the module docs.
pub(crate) async fn send_to_active(
    State(st): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    if st.cluster {
        return from_cluster(&st, req, next).await;
    }
    let path = req.uri().path();
    let served_here = LOCAL.contains(&path.trim_end_matches('/')) || !path.starts_with("/v1/");
    if served_here || st.core.is_sealed() {
        return next.run(req).await;
    }
    let ha = st.core.ha_status();
    if !ha.enabled {
        return next.run(req).await;
    }
    if ha.standby && path.trim_end_matches('/') == "/v1/sys/seal" {
        // As Vault: a standby is not sealed through the API (that would seal
        // the active node); stop its process instead.
        return ApiError::bad_request(
            "vault cannot seal when in standby mode; please restart instead",
        )
        .into_response();
    }
    // Only the cluster listener may say who the client was.
    req.headers_mut().remove(FORWARDED_FOR);
    let (parts, body) = match buffered(st.max_request_size, req).await {
        Ok(p) => p,
        Err(too_large) => return too_large,
    };
    if !ha.is_self {
        return pass_on(&st, parts, body, Some(next)).await;
    }
    let served = next
        .run(Request::from_parts(parts.clone(), Body::from(body.clone())))
        .await;
    if served.extensions().get::<NotActiveHere>().is_none() || st.core.ha_status().is_self {
        return served;
    }
    tracing::info!(path = %parts.uri.path(), "this node stepped down while serving a request; handing it on to the active node");
    pass_on(&st, parts, body, None).await
}

/// Reads the body whole, so that the request can be sent on.
async fn buffered(limit: usize, req: Request) -> Result<(Parts, Bytes), Response> {
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, limit).await {
        Ok(body) => Ok((parts, body)),
        Err(_) => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body larger than max_request_size ({limit} bytes)"),
        )
        .into_response()),
    }
}

/// Sends a request this node does not serve to the active node: forwarded
/// over the cluster listener, or redirected. `local` serves it here should
/// this node become the active one meanwhile.
async fn pass_on(st: &AppState, parts: Parts, body: Bytes, local: Option<Next>) -> Response {
    if st.forwarder.is_some() {
        return forward(st, parts, body, local).await;
    }
    redirect(&st.core.ha_status(), &parts)
}

/// A request from another node: served only by the active node, with the
/// original client's address from the forwarding header.
async fn from_cluster(st: &AppState, mut req: Request, next: Next) -> Response {
    let ha = st.core.ha_status();
    if !ha.is_self {
        let mut resp = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "a forwarded request reached a node that is not the active node",
        )
        .into_response();
        resp.headers_mut()
            .insert(NOT_ACTIVE, HeaderValue::from_static("1"));
        return resp;
    }
    if let Some(client) = req
        .headers()
        .get(FORWARDED_FOR)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<SocketAddr>().ok())
    {
        req.extensions_mut().insert(ConnectInfo(client));
    }
    let mut resp = next.run(req).await;
    if resp.extensions().get::<NotActiveHere>().is_some() {
        // It stepped down half-way: the standby sends the request on to
        // whichever node is active now.
        resp.headers_mut()
            .insert(NOT_ACTIVE, HeaderValue::from_static("1"));
    }
    resp
}

fn redirect(ha: &HaStatus, req: &Parts) -> Response {
    if ha.leader_address.is_empty() {
        return no_active_yet();
    }
    let path = req
        .uri
        .path_and_query()
        .map_or(req.uri.path(), axum::http::uri::PathAndQuery::as_str);
    let target = format!("{}{path}", ha.leader_address.trim_end_matches('/'));
    match HeaderValue::from_str(&target) {
        Ok(location) => {
            let mut resp = StatusCode::TEMPORARY_REDIRECT.into_response();
            resp.headers_mut().insert(header::LOCATION, location);
            resp
        }
        Err(_) => ApiError::internal(format!(
            "the active node advertises an api_addr that is not a valid URL: {:?}",
            ha.leader_address
        ))
        .into_response(),
    }
}

fn no_active_yet() -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "this node is a standby and no active node is known yet (an election is under way); \
         retry shortly",
    )
    .into_response()
}

/// Hop-by-hop headers and those the client library sets itself.
fn copied(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "host"
            | "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "content-length"
    )
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if copied(name) {
            to.append(name.clone(), value.clone());
        }
    }
}

async fn forward(st: &AppState, parts: Parts, body: Bytes, mut local: Option<Next>) -> Response {
    let Some(forwarder) = st.forwarder.clone() else {
        return no_active_yet();
    };
    let client_addr = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| *a);
    let path = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), axum::http::uri::PathAndQuery::as_str)
        .to_owned();
    let idempotent = matches!(parts.method, Method::GET | Method::HEAD) || parts.method == "LIST";
    let give_up = Instant::now() + FORWARD_PATIENCE;
    loop {
        let ha = st.core.ha_status();
        if ha.is_self
            && let Some(next) = local.take()
        {
            // This node took over while the request waited: serve it here.
            return next.run(Request::from_parts(parts, Body::from(body))).await;
        }
        let cert = st.core.cluster_tls();
        let (Some(cert), false) = (cert, ha.leader_cluster_address.is_empty()) else {
            if !ha.leader_address.is_empty() {
                // An active node is known but this node has no cluster
                // identity to reach it with: the client goes there itself.
                return redirect(&ha, &parts);
            }
            if Instant::now() >= give_up || !ha.standby {
                return no_active_yet();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let (client, base) = match forwarder
            .client_for(&cert, &ha.leader_cluster_address)
            .await
        {
            Ok(c) => c,
            Err(e) => return e.into_response(),
        };
        let mut headers = HeaderMap::new();
        copy_headers(&parts.headers, &mut headers);
        if let Some(a) = client_addr
            && let Ok(v) = HeaderValue::from_str(&a.to_string())
        {
            headers.insert(FORWARDED_FOR, v);
        }
        let sent = client
            .request(parts.method.clone(), format!("{base}{path}"))
            .headers(headers)
            .body(body.clone())
            .send()
            .await;
        let retry = match sent {
            Ok(resp) if resp.headers().contains_key(NOT_ACTIVE) => true,
            Ok(resp) => return relay(resp).await,
            Err(e) if e.is_connect() => true,
            Err(_) if idempotent => true,
            Err(e) => {
                return ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    format!(
                        "the active node ({}) failed while handling this forwarded request: {e}; \
                         it may or may not have been applied, so check before retrying",
                        ha.leader_cluster_address
                    ),
                )
                .into_response();
            }
        };
        if retry && Instant::now() >= give_up {
            return ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!(
                    "could not reach an active node within {}s (last tried {}); retry later",
                    FORWARD_PATIENCE.as_secs(),
                    ha.leader_cluster_address
                ),
            )
            .into_response();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn relay(resp: reqwest::Response) -> Response {
    let status = resp.status();
    let mut headers = HeaderMap::new();
    copy_headers(resp.headers(), &mut headers);
    match resp.bytes().await {
        Ok(bytes) => {
            let mut out = Response::new(Body::from(bytes));
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            out
        }
        Err(e) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("the active node's answer to a forwarded request broke off: {e}"),
        )
        .into_response(),
    }
}
