//! `GET /v1/sys/hsm/status` (Coffer's own): the seal's type and what the HSM
//! said about itself when the seal opened (PKCS#11 version, library,
//! manufacturer, token model, the keys found or created), as the startup
//! banner shows them. For a token whose policies grant `read` on the path:
//! it names the HSM, which an unauthenticated caller need not know. Health,
//! entropy draws and re-wrap progress are in `sys/metrics`.

use super::error::ApiError;
use super::{Shared, envelope, remote, token};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use coffer_core::engine::{Operation, Request};
use serde_json::json;

pub(crate) async fn status(
    State(st): State<Shared>,
    peer: remote::Peer,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let presented = token::from_headers(&headers);
    let req = Request::new(Operation::Read, "sys/hsm/status").with_remote_addr(remote::addr(peer));
    st.core.authorize(presented.as_deref(), &req).await?;
    let details: Vec<_> = st
        .seal_details
        .iter()
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect();
    Ok(envelope::data_response(
        &st.core.new_uuid()?,
        &json!({
            "seal_type": st.core.seal().kind(),
            "details": details,
        }),
    ))
}
