//! `GET /v1/sys/config/state/sanitized`: the server's configuration without
//! anything secret (see `config::sanitized`), for a token with `read` and
//! `sudo` on the path.

use super::error::ApiError;
use super::{Shared, envelope, remote, token};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use coffer_core::engine::{Operation, Request};

pub(crate) async fn sanitized(
    State(st): State<Shared>,
    peer: remote::Peer,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let presented = token::from_headers(&headers);
    let req = Request::new(Operation::Read, "sys/config/state/sanitized")
        .with_remote_addr(remote::addr(peer));
    st.core.authorize(presented.as_deref(), &req).await?;
    Ok(envelope::data_response(
        &st.core.new_uuid()?,
        st.config_state.as_ref(),
    ))
}
