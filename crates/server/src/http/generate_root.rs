//! `sys/generate-root/attempt` and `sys/generate-root/update`.

use super::body::VaultJson;
use super::error::ApiError;
use super::{Shared, envelope};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use coffer_core::ceremony::GenerateRootStatus;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
pub(crate) struct StartBody {
    #[serde(default)]
    otp: Option<String>,
    #[serde(default)]
    pgp_key: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct UpdateBody {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

pub(crate) async fn status(State(st): State<Shared>) -> Result<Response, ApiError> {
    Ok(ok(&st.core.generate_root_status().await?))
}

pub(crate) async fn start(
    State(st): State<Shared>,
    VaultJson(b): VaultJson<StartBody>,
) -> Result<Response, ApiError> {
    Ok(ok(&st.core.generate_root_start(b.otp, b.pgp_key).await?))
}

pub(crate) async fn cancel(State(st): State<Shared>) -> Response {
    st.core.generate_root_cancel();
    envelope::no_content()
}

pub(crate) async fn update(
    State(st): State<Shared>,
    VaultJson(b): VaultJson<UpdateBody>,
) -> Result<Response, ApiError> {
    let key = b.key.unwrap_or_default();
    let nonce = b
        .nonce
        .ok_or_else(|| ApiError::bad_request("missing required field \"nonce\""))?;
    Ok(ok(&st.core.generate_root_update(&key, &nonce).await?))
}

fn ok(status: &GenerateRootStatus) -> Response {
    envelope::json_response(StatusCode::OK, &status_json(status))
}

fn status_json(s: &GenerateRootStatus) -> Value {
    json!({
        "started": s.started,
        "nonce": s.nonce,
        "progress": s.progress,
        "required": s.required,
        "encoded_token": s.encoded_token,
        "encoded_root_token": s.encoded_token,
        "pgp_fingerprint": s.pgp_fingerprint,
        "otp": s.otp,
        "otp_length": s.otp_length,
        "complete": s.complete,
    })
}
