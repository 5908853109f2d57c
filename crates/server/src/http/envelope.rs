//! The headers every response carries; the logical envelope itself is
//! `coffer_core::engine::envelope` (the core also writes it when it wraps a
//! response).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A JSON response with `Content-Type: application/json` (exactly, as hvac
/// checks) and `Cache-Control: no-store`.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body)
        .unwrap_or_else(|_| b"{\"errors\":[\"response encoding failed\"]}".to_vec());
    json_bytes_response(status, bytes)
}

/// [`json_response`] for a body already encoded as JSON.
pub fn json_bytes_response(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut resp = (status, bytes).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// 200 with `data` in Vault's response envelope, for the server's own
/// `sys/` endpoints (no lease, no auth, no wrapping).
pub(crate) fn data_response(request_id: &str, data: &Value) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "request_id": request_id,
            "lease_id": "",
            "renewable": false,
            "lease_duration": 0,
            "data": data,
            "wrap_info": null,
            "warnings": null,
            "auth": null,
        }),
    )
}

/// 204 No Content.
pub fn no_content() -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
