//! `sys/generate-root/attempt` and `sys/generate-root/update`.

use super::error::ApiError;
use super::{AppState, body, envelope};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use coffer_core::generate_root::GenerateRootStatus;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
struct StartBody {
    #[serde(default)]
    otp: Option<String>,
    #[serde(default)]
    pgp_key: Option<String>,
}

#[derive(Debug, Deserialize)]
struct UpdateBody {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

pub(crate) async fn attempt(
    State(st): State<AppState>,
    method: Method,
    headers: HeaderMap,
    raw: Body,
) -> Result<Response, ApiError> {
    let status = match method {
        Method::GET => st.core.generate_root_status().await?,
        Method::PUT | Method::POST => {
            let bytes = body::read(&headers, raw, st.max_request_size).await?;
            let b: StartBody = body::typed(&bytes)?;
            st.core.generate_root_start(b.otp, b.pgp_key).await?
        }
        Method::DELETE => {
            st.core.generate_root_cancel();
            return Ok(envelope::no_content());
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "unsupported operation",
            ));
        }
    };
    Ok(envelope::json_response(
        StatusCode::OK,
        &status_json(&status),
    ))
}

pub(crate) async fn update(
    State(st): State<AppState>,
    method: Method,
    headers: HeaderMap,
    raw: Body,
) -> Result<Response, ApiError> {
    if method != Method::PUT && method != Method::POST {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "unsupported operation",
        ));
    }
    let bytes = body::read(&headers, raw, st.max_request_size).await?;
    let b: UpdateBody = body::typed(&bytes)?;
    let key = b.key.unwrap_or_default();
    let nonce = b
        .nonce
        .ok_or_else(|| ApiError::bad_request("missing required field \"nonce\""))?;
    let status = st.core.generate_root_update(&key, &nonce).await?;
    Ok(envelope::json_response(
        StatusCode::OK,
        &status_json(&status),
    ))
}

fn status_json(s: &GenerateRootStatus) -> Value {
    json!({
        "started": s.started,
        "nonce": s.nonce,
        "progress": s.progress,
        "required": s.required,
        "encoded_token": s.encoded_token,
        "encoded_root_token": s.encoded_token,
        "pgp_fingerprint": "",
        "otp": s.otp,
        "otp_length": s.otp_length,
        "complete": s.complete,
    })
}
