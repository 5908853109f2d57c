//! Reading a request body within `max_request_size` and parsing it as JSON.

use super::Shared;
use super::error::ApiError;
use axum::body::{Body, Bytes};
use axum::extract::FromRequest;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::future::Future as _;
use std::task::Poll;

/// How long a client may take to send a request body (Vault's read timeout
/// is 30 s).
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads the whole body, refusing more than `limit` bytes with 413 and a
/// body that trickles in slower than [`BODY_READ_TIMEOUT`] with 408.
pub(crate) async fn read(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    check_declared_length(headers, limit)?;
    read_within(body, limit, limit).await
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body is larger than the {limit}-byte max_request_size of this listener"),
    )
}

/// Refuses a body whose `Content-Length` is over `limit` before reading it.
pub(crate) fn check_declared_length(headers: &HeaderMap, limit: usize) -> Result<(), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    Ok(())
}

/// Reads what is left of a body, at most `allowed` bytes (the 413 names the
/// listener's whole `limit`), within [`BODY_READ_TIMEOUT`].
pub(crate) async fn read_within(
    body: Body,
    allowed: usize,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let mut reading = std::pin::pin!(axum::body::to_bytes(body, allowed));
    // A small body has usually arrived with the headers: only a body still
    // on its way needs the timer (arming one costs a timer-wheel entry).
    let first = std::future::poll_fn(|cx| Poll::Ready(reading.as_mut().poll(cx))).await;
    let read = match first {
        Poll::Ready(read) => read,
        Poll::Pending => tokio::time::timeout(BODY_READ_TIMEOUT, reading)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "request body not received within {} seconds",
                        BODY_READ_TIMEOUT.as_secs()
                    ),
                )
            })?,
    };
    read.map_err(|e| {
        let is_limit = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            || e.to_string().contains("length limit");
        if is_limit {
            too_large(limit)
        } else {
            ApiError::bad_request(format!("failed to read request body: {e}"))
        }
    })
}

/// Parses a JSON object body; empty is `Null`. Anything else is a 400 that
/// names the JSON error.
pub(crate) fn json_object(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("failed to parse JSON input: {e}")))?;
    match v {
        Value::Object(_) | Value::Null => Ok(v),
        other => Err(ApiError::bad_request(format!(
            "failed to parse JSON input: expected a JSON object, got {}",
            kind(&other)
        ))),
    }
}

/// Parses a body into a typed struct (raw `sys/` handlers); an empty body
/// or `null` is `{}`.
pub(crate) fn typed<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let trimmed = bytes.trim_ascii();
    let bytes = if trimmed.is_empty() || trimmed == b"null" {
        &b"{}"[..]
    } else {
        trimmed
    };
    serde_json::from_slice(bytes).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::bad_request(format!("failed to parse JSON input: {e}"))
        } else {
            ApiError::bad_request(format!("invalid request body: {e}"))
        }
    })
}

/// Largest body the unauthenticated raw endpoints (init, unseal,
/// generate-root) accept: their bodies are a few short fields.
pub(crate) const RAW_BODY_LIMIT: usize = 64 * 1024;

/// A raw-endpoint body parsed straight into `T` (no intermediate JSON tree),
/// at most [`RAW_BODY_LIMIT`] bytes; a bad body is rejected with Vault's
/// error envelope (400 or 413).
pub(crate) struct VaultJson<T>(pub(crate) T);

impl<T: DeserializeOwned> FromRequest<Shared> for VaultJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, st: &Shared) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let limit = st.max_request_size.min(RAW_BODY_LIMIT);
        let bytes = read(&parts.headers, body, limit).await?;
        Ok(Self(typed(&bytes)?))
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_and_non_object_bodies_are_rejected_with_the_reason() {
        assert!(json_object(b"").expect("empty").is_null());
        let e = json_object(b"{\"a\":").expect_err("error");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert!(json_object(b"[1,2]").is_err());
        assert!(json_object(b"{\"a\":1}").is_ok());
    }

    /// A body whose bytes never come.
    struct NeverArrives;

    impl http_body::Body for NeverArrives {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
            Poll::Pending
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_never_arrives_is_refused_with_408_after_the_read_timeout() {
        let started = tokio::time::Instant::now();
        let e = read_within(Body::new(NeverArrives), 1024, 1024)
            .await
            .expect_err("no body");
        assert_eq!(e.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(started.elapsed(), BODY_READ_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_already_here_is_read_without_waiting() {
        let started = tokio::time::Instant::now();
        let bytes = read_within(Body::from("{\"a\":1}"), 1024, 1024)
            .await
            .expect("body");
        assert_eq!(&bytes[..], b"{\"a\":1}");
        assert_eq!(started.elapsed(), std::time::Duration::ZERO);
        let e = read_within(Body::from("x".repeat(2000)), 1024, 1024)
            .await
            .expect_err("too large");
        assert_eq!(e.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
