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
//! active is known, for as long as a lapsed lease and a take-over can take
//! (the lock TTL and 15 s more); one that reached the active but got no
//! answer is tried again only when it is idempotent (GET, HEAD, LIST): a
//! write may have been applied, so the client gets a 502 that says so.
//! Without forwarding, a standby that knows no active node yet waits for
//! one within the same bound before it redirects.
//!
//! An active node that steps down while it serves a request (its lease ran
//! out, or `sys/step-down`) fails the request's next write with "not
//! active". If none of its writes had passed the write fence, nothing was
//! applied, and the request is handed on the same way, as Vault's clients
//! would be redirected. If some had, handing it on could apply it twice, or
//! on top of half of itself: the client gets a 503 saying so. The active
//! node serves a request as its body streams in, keeping a copy of what the
//! handler reads ([`replay`](super::replay)) for a hand-on.
//!
//! A standby still answers what describes the node itself: `sys/health`,
//! `sys/leader`, `sys/seal-status`, `sys/init`, `sys/unseal`, `sys/metrics`
//! and `sys/hsm/status`; `sys/seal` it refuses, as Vault does (sealing through it
//! would seal the active node). On the cluster listener, a request reaching a node that
//! is not (or no longer) active gets a 503 the forwarding standby retries.

use super::Shared;
use super::body;
use super::door::Next;
use super::error::{ApiError, NotActiveHere};
use super::replay;
use crate::cluster::FORWARDED_FOR;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use coffer_core::ha::{DEFAULT_LOCK_TTL, HaStatus, track_writes};
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
    "/v1/sys/hsm/status",
];

/// How much longer than a lock TTL a request waits for an active node: the
/// new active's take-over (loading mounts, policies, tokens), with room.
const TAKE_OVER_ALLOWANCE: Duration = Duration::from_secs(15);

/// How often a waiting request looks again for an active node.
const LOOK_AGAIN: Duration = Duration::from_millis(200);

/// Marks a cluster-listener 503 from a node that is not active and did
/// nothing, which the forwarding standby may safely retry elsewhere.
const NOT_ACTIVE: &str = "x-coffer-not-active";

/// Whether `req` is this module's to handle: every request on the cluster
/// listener, and on a client listener an unsealed HA node's `/v1/` requests
/// other than those a node answers about itself. The rest go straight on.
pub(crate) fn takes(st: &super::AppState, req: &Request) -> bool {
    if st.cluster {
        return true;
    }
    let path = req.uri().path();
    let served_here = LOCAL.contains(&path.trim_end_matches('/')) || !path.starts_with("/v1/");
    !served_here && !st.core.is_sealed() && st.core.ha_status().enabled
}

/// Handles what [`takes`] says is this module's: see the module docs.
pub(crate) async fn send_to_active(st: Shared, mut req: Request, next: Next) -> Response {
    if st.cluster {
        return from_cluster(&st, req, next).await;
    }
    let path = req.uri().path();
    let ha = st.core.ha_status();
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
    let (parts, raw) = req.into_parts();
    if ha.is_self {
        let (recorded, replay) = replay::record(raw);
        let request = Request::from_parts(parts.clone(), recorded);
        if let Served::Answer(resp) = serve_here(&st, next.clone(), request).await {
            return resp;
        }
        let Some(body) = replay.body(&parts.headers, st.max_request_size).await else {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "this node stepped down from active before the request wrote anything, and its \
                 body could not be sent on; nothing was applied, so retry it",
            )
            .into_response();
        };
        return match body {
            Ok(body) => pass_on(&st, parts, body, next).await,
            Err(e) => e.into_response(),
        };
    }
    match body::read(&parts.headers, raw, st.max_request_size).await {
        Ok(body) => pass_on(&st, parts, body, next).await,
        Err(e) => e.into_response(),
    }
}

/// What serving a request on this node came to.
enum Served {
    /// The answer for the client.
    Answer(Response),
    /// The node stepped down before the request wrote anything: it is to be
    /// handed on.
    HandOn,
}

/// Serves `req` here, on what was the active node when it arrived.
async fn serve_here(st: &super::AppState, next: Next, req: Request) -> Served {
    let path = req.uri().path().to_owned();
    let (resp, wrote) = track_writes(next.run(req)).await;
    if resp.extensions().get::<NotActiveHere>().is_none() || st.core.ha_status().is_self {
        return Served::Answer(resp);
    }
    if wrote {
        tracing::warn!(path = %path, "this node stepped down part-way through a request that had written to storage; it is not handed on");
        return Served::Answer(stepped_down_part_way());
    }
    tracing::info!(path = %path, "this node stepped down while serving a request, before it wrote anything; handing it on to the active node");
    Served::HandOn
}

fn stepped_down_part_way() -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "this node stepped down from active part-way through the request; some of its changes \
         may have been applied, so check before retrying",
    )
    .into_response()
}

/// A request from another node: served only by the active node, with the
/// original client's address from the forwarding header.
async fn from_cluster(st: &super::AppState, mut req: Request, next: Next) -> Response {
    if !st.core.ha_status().is_self {
        return not_active_here("a forwarded request reached a node that is not the active node");
    }
    if let Some(client) = req
        .headers()
        .get(FORWARDED_FOR)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<SocketAddr>().ok())
    {
        req.extensions_mut().insert(ConnectInfo(client));
    }
    match serve_here(st, next, req).await {
        Served::Answer(resp) => resp,
        // The standby sends it on to whichever node is active now.
        Served::HandOn => not_active_here(
            "the node a forwarded request reached stepped down before the request wrote anything",
        ),
    }
}

/// A 503 the forwarding standby may retry on another node.
fn not_active_here(message: &str) -> Response {
    let mut resp = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message).into_response();
    resp.headers_mut()
        .insert(NOT_ACTIVE, HeaderValue::from_static("1"));
    resp
}

/// Sends a request this node does not (or no longer) serves to the active
/// node, waiting for one within the lock TTL and [`TAKE_OVER_ALLOWANCE`]:
/// forwarded over the cluster listener, or redirected. Should this node
/// become the active one meanwhile, it serves the request itself.
async fn pass_on(st: &super::AppState, parts: Parts, body: Bytes, next: Next) -> Response {
    let patience = st.core.ha_lock_ttl().unwrap_or(DEFAULT_LOCK_TTL) + TAKE_OVER_ALLOWANCE;
    let give_up = Instant::now() + patience;
    let idempotent = matches!(parts.method, Method::GET | Method::HEAD) || parts.method == "LIST";
    let mut last_tried = None;
    loop {
        if st.core.is_sealed() {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "this node was sealed while the request waited for an active node; send it to \
                 another node",
            )
            .into_response();
        }
        let ha = st.core.ha_status();
        if ha.is_self {
            // This node took over while the request waited: serve it here.
            let req = Request::from_parts(parts.clone(), Body::from(body.clone()));
            if let Served::Answer(resp) = serve_here(st, next.clone(), req).await {
                return resp;
            }
        } else if let Some(cert) = st.core.cluster_tls().filter(|_| st.forwarder.is_some())
            && !ha.leader_cluster_address.is_empty()
        {
            match forward(
                st,
                &cert,
                &ha.leader_cluster_address,
                &parts,
                &body,
                idempotent,
            )
            .await
            {
                Forwarded::Answer(resp) => return resp,
                Forwarded::TryAgain => last_tried = Some(ha.leader_cluster_address.clone()),
            }
        } else if !ha.leader_address.is_empty() {
            // Redirect mode, or no cluster identity to forward with: the
            // client goes to the active node itself.
            return redirect(&ha, &parts);
        }
        if Instant::now() >= give_up {
            return match last_tried {
                Some(addr) => ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    format!(
                        "could not reach an active node within {} s (last tried {addr}); retry later",
                        patience.as_secs()
                    ),
                )
                .into_response(),
                None => no_active_yet(patience),
            };
        }
        tokio::time::sleep(LOOK_AGAIN).await;
    }
}

fn redirect(ha: &HaStatus, req: &Parts) -> Response {
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

fn no_active_yet(waited: Duration) -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "this node is a standby and no node took the HA lock within {} s (are other nodes \
             unsealed, and is the storage reachable from them?); retry shortly",
            waited.as_secs()
        ),
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

/// What one forwarding attempt came to.
enum Forwarded {
    /// The answer for the client (the active node's, or why it cannot be had).
    Answer(Response),
    /// Nothing was done: try again once an active node is known.
    TryAgain,
}

/// Sends the request to the active node at `cluster_addr`.
async fn forward(
    st: &super::AppState,
    cert: &coffer_crypto::cluster_cert::ClusterCert,
    cluster_addr: &str,
    parts: &Parts,
    body: &Bytes,
    idempotent: bool,
) -> Forwarded {
    let Some(forwarder) = &st.forwarder else {
        return Forwarded::TryAgain;
    };
    let (client, base) = match forwarder.client_for(cert, cluster_addr).await {
        Ok(c) => c,
        Err(e) => return Forwarded::Answer(e.into_response()),
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), axum::http::uri::PathAndQuery::as_str);
    let mut headers = HeaderMap::new();
    copy_headers(&parts.headers, &mut headers);
    if let Some(ConnectInfo(client_addr)) = parts.extensions.get::<ConnectInfo<SocketAddr>>()
        && let Ok(v) = HeaderValue::from_str(&client_addr.to_string())
    {
        headers.insert(FORWARDED_FOR, v);
    }
    let sent = client
        .request(parts.method.clone(), format!("{base}{path}"))
        .headers(headers)
        .body(body.clone())
        .send()
        .await;
    match sent {
        Ok(resp) if resp.headers().contains_key(NOT_ACTIVE) => Forwarded::TryAgain,
        Ok(resp) => Forwarded::Answer(relay(resp).await),
        Err(e) if e.is_connect() || idempotent => Forwarded::TryAgain,
        Err(e) => Forwarded::Answer(
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!(
                    "the active node ({cluster_addr}) failed while handling this forwarded \
                     request: {e}; it may or may not have been applied, so check before retrying"
                ),
            )
            .into_response(),
        ),
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
