//! The one place where domain errors become HTTP status codes and Vault's
//! `{"errors": [...]}` envelope.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use coffer_core::CoreError;
use serde_json::json;

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    messages: Vec<String>,
    /// The node found it is not (or no longer) the active node while
    /// serving: see [`NotActiveHere`].
    not_active: bool,
    /// Seconds for `Retry-After`, when the client should simply retry.
    retry_after: Option<u32>,
}

/// Marks a response that failed because this node is not the active node
/// (a standby, or an active node that stepped down half-way through), so
/// that the HA layer can hand the request on to the active node.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NotActiveHere;

impl ApiError {
    /// An error with an explicit status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            messages: vec![message.into()],
            not_active: false,
            retry_after: None,
        }
    }

    /// 500 with the message (logged by the caller).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404 with an empty `errors` list, as Vault answers a read of nothing.
    pub fn not_found() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            messages: Vec::new(),
            not_active: false,
            retry_after: None,
        }
    }

    /// The same error, telling the client to retry after `secs` seconds.
    pub(crate) fn with_retry_after(mut self, secs: u32) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        let status = status_of(&e);
        if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(error = %e, "request failed");
        }
        let not_active = matches!(
            e,
            CoreError::Standby
                | CoreError::Storage(coffer_core::storage::StorageError::NotActive { .. })
        );
        Self {
            not_active,
            retry_after: matches!(e, CoreError::Busy(_)).then_some(1),
            ..Self::new(status, e.to_string())
        }
    }
}

/// Vault's status code for each domain error.
fn status_of(e: &CoreError) -> StatusCode {
    match e {
        CoreError::Sealed
        | CoreError::Standby
        | CoreError::Busy(_)
        | CoreError::Storage(
            coffer_core::storage::StorageError::NotActive { .. }
            | coffer_core::storage::StorageError::Unavailable { .. },
        ) => StatusCode::SERVICE_UNAVAILABLE,
        CoreError::PermissionDenied => StatusCode::FORBIDDEN,
        CoreError::UnsupportedPath(_) => StatusCode::NOT_FOUND,
        CoreError::UnsupportedOperation => StatusCode::METHOD_NOT_ALLOWED,
        CoreError::NotInitialized
        | CoreError::AlreadyInitialized
        | CoreError::InvalidRequest(_)
        | CoreError::InvalidCredentials(_)
        | CoreError::NotSupported(_) => StatusCode::BAD_REQUEST,
        CoreError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp =
            super::envelope::json_response(self.status, &json!({ "errors": self.messages }));
        if self.not_active {
            resp.extensions_mut().insert(NotActiveHere);
        }
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_errors_map_to_vault_status_codes() {
        assert_eq!(
            status_of(&CoreError::Sealed),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status_of(&CoreError::PermissionDenied),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status_of(&CoreError::UnsupportedPath("x".into())),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status_of(&CoreError::UnsupportedOperation),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(status_of(&CoreError::invalid("x")), StatusCode::BAD_REQUEST);
        let busy = ApiError::from(CoreError::Busy("x".into())).into_response();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[axum::http::header::RETRY_AFTER], "1");
        assert_eq!(
            status_of(&CoreError::Internal("x".into())),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
