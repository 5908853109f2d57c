//! The catch-all for `/v1/<path>`: method → operation, token, body, then the
//! core, then Vault's envelope.

use super::error::ApiError;
use super::{Shared, body, envelope, remote, token};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use coffer_core::Ttl;
use coffer_core::engine::{Operation, Request, ResponseStatus};
use coffer_core::sys::SYSTEM_MAX_LEASE_TTL;
use serde_json::Value;
use std::collections::BTreeMap;

pub(crate) async fn handle(
    State(st): State<Shared>,
    peer: remote::Peer,
    path: Result<Path<String>, PathRejection>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    // The parts are taken apart here rather than by extractors, which
    // would clone the header map.
    let (parts, raw) = request.into_parts();
    let (method, headers) = (parts.method, parts.headers);
    let Path(path) =
        path.map_err(|e| ApiError::bad_request(format!("invalid request path: {e}")))?;
    let Query(query) = Query::<BTreeMap<String, String>>::try_from_uri(&parts.uri)
        .map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))?;
    if query.contains_key("help") {
        return Err(ApiError::bad_request("?help is not supported yet"));
    }
    let list_flag = query
        .get("list")
        .is_some_and(|v| matches!(v.as_str(), "true" | "1" | "t"));
    let operation = match method.as_str() {
        "GET" if list_flag => Operation::List,
        "GET" => Operation::Read,
        "POST" | "PUT" => Operation::Update,
        "PATCH" => Operation::Patch,
        "DELETE" => Operation::Delete,
        "LIST" => Operation::List,
        other => {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("unsupported HTTP method {other}"),
            ));
        }
    };
    let wrap_ttl = wrap_ttl(&headers)?;
    let request_id = st.core.new_uuid()?;
    let mut req = Request::new(operation, path.clone())
        .with_remote_addr(remote::addr(peer))
        .with_wrap_ttl(wrap_ttl);
    req.id.clone_from(&request_id);
    // Authenticate before reading the body, so an unauthenticated client
    // cannot make the server buffer and parse up to max_request_size (a
    // refused token is audited without the body). The one exception is an
    // auth method's login path, which is served without a token.
    let login = st.core.is_login_path(&path);
    let presented = token::from_headers(&headers);
    let authenticated = if login {
        None
    } else {
        Some(
            st.core
                .authenticate_request(&req, presented.as_deref())
                .await?,
        )
    };
    let bytes = body::read(&headers, raw, st.max_request_size).await?;
    let mut data = body::json_object(&bytes)?;
    if operation == Operation::Read {
        let params: serde_json::Map<String, Value> = query
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        if !params.is_empty() {
            data = Value::Object(params);
        }
    }
    let req = req.with_data(data);
    // The login path's future is boxed so that its size does not add to
    // every request's future (see `Core::handle_as`).
    let answer = match &authenticated {
        Some(auth) => st.core.handle_as(req, auth).await?,
        None => Box::pin(st.core.handle_login(req, presented.as_deref())).await?,
    };
    match answer {
        None => match operation {
            Operation::Read | Operation::List => Err(ApiError::not_found()),
            _ => Ok(envelope::no_content()),
        },
        Some(resp) => {
            let status = match resp.status {
                ResponseStatus::Ok => StatusCode::OK,
                ResponseStatus::NotFound => StatusCode::NOT_FOUND,
                ResponseStatus::Code(code) => {
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                }
            };
            let body = coffer_core::engine::envelope::logical_json(&request_id, &path, resp)
                .map_err(|e| ApiError::internal(format!("response encoding failed: {e}")))?;
            Ok(envelope::json_bytes_response(status, body))
        }
    }
}

/// `X-Vault-Wrap-TTL` (seconds or a duration such as `5m`; 0 asks for no
/// wrapping, as in Vault), bounded by the system's maximum lease TTL.
/// Wrapping tokens are always JWTs; `X-Vault-Wrap-Format` is ignored, as
/// Vault ignores formats it does not know.
fn wrap_ttl(headers: &HeaderMap) -> Result<Option<Ttl>, ApiError> {
    let Some(raw) = headers.get("x-vault-wrap-ttl") else {
        return Ok(None);
    };
    let text = raw
        .to_str()
        .map_err(|_| ApiError::bad_request("X-Vault-Wrap-TTL is not valid text"))?
        .trim();
    if text.is_empty() {
        return Ok(None);
    }
    let ttl = Ttl::parse(text)
        .map_err(|e| ApiError::bad_request(format!("invalid X-Vault-Wrap-TTL {text:?}: {e}")))?;
    if ttl.is_zero() {
        return Ok(None);
    }
    if ttl > SYSTEM_MAX_LEASE_TTL {
        return Err(ApiError::bad_request(format!(
            "X-Vault-Wrap-TTL {text:?} is longer than the system maximum TTL ({})",
            SYSTEM_MAX_LEASE_TTL.go_string()
        )));
    }
    Ok(Some(ttl))
}
