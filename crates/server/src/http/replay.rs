//! A request body that can be sent again: the active node serves a request
//! as it streams in (nothing is read before the handler has authenticated
//! the caller), while [`Recorded`] keeps a copy of each chunk the handler
//! reads. Should a step-down stop the request before it wrote anything, the
//! copy and whatever the handler left unread make up the body to hand on.

use super::body;
use super::error::ApiError;
use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use http_body::{Frame, SizeHint};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

/// What the handler has read so far, and, once it let go of the body, the
/// part it did not read.
#[derive(Default)]
struct Tape {
    seen: Vec<Bytes>,
    /// The body after the handler dropped it; `None` while it still holds it.
    rest: Option<Body>,
}

/// The handle kept beside the request, to rebuild its body afterwards.
pub(crate) struct Replay(Arc<Mutex<Tape>>);

/// The body the handler reads: the client's, recorded as it goes.
pub(crate) struct Recorded {
    inner: Body,
    tape: Arc<Mutex<Tape>>,
}

fn lock(tape: &Mutex<Tape>) -> MutexGuard<'_, Tape> {
    tape.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Wraps `body` for the handler; the [`Replay`] rebuilds it later.
pub(crate) fn record(body: Body) -> (Body, Replay) {
    let tape = Arc::new(Mutex::new(Tape::default()));
    let recorded = Recorded {
        inner: body,
        tape: tape.clone(),
    };
    (Body::new(recorded), Replay(tape))
}

impl http_body::Body for Recorded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            lock(&self.tape).seen.push(data.clone());
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Recorded {
    fn drop(&mut self) {
        lock(&self.tape).rest = Some(std::mem::take(&mut self.inner));
    }
}

impl Replay {
    /// The whole body as the client sent it: what the handler read, then the
    /// rest, read now within `limit` bytes in all (and the usual time
    /// bound). `None` while the handler still holds the body (a task it
    /// spawned): then the body cannot be known whole.
    pub(crate) async fn body(
        self,
        headers: &HeaderMap,
        limit: usize,
    ) -> Option<Result<Bytes, ApiError>> {
        let (seen, rest) = {
            let mut tape = lock(&self.0);
            (std::mem::take(&mut tape.seen), tape.rest.take()?)
        };
        if let Err(e) = body::check_declared_length(headers, limit) {
            return Some(Err(e));
        }
        let seen_len: usize = seen.iter().map(Bytes::len).sum();
        let rest = match body::read_within(rest, limit.saturating_sub(seen_len), limit).await {
            Ok(rest) => rest,
            Err(e) => return Some(Err(e)),
        };
        if seen.is_empty() {
            return Some(Ok(rest));
        }
        let mut whole = Vec::with_capacity(seen_len + rest.len());
        for chunk in seen.iter().chain(std::iter::once(&rest)) {
            whole.extend_from_slice(chunk);
        }
        Some(Ok(Bytes::from(whole)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;
    use std::collections::VecDeque;

    /// A body that arrives in the given chunks.
    struct Chunks(VecDeque<Bytes>);

    impl http_body::Body for Chunks {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            Poll::Ready(self.0.pop_front().map(|c| Ok(Frame::data(c))))
        }
    }

    fn stream(chunks: &[&'static str]) -> Body {
        Body::new(Chunks(
            chunks
                .iter()
                .map(|c| Bytes::from_static(c.as_bytes()))
                .collect(),
        ))
    }

    #[tokio::test]
    async fn what_was_read_and_what_was_left_make_the_whole_body() {
        let (mut body, replay) = record(stream(&["{\"a\":", "1,", "\"b\":2}"]));
        let first = body.frame().await.expect("frame").expect("ok");
        assert_eq!(first.into_data().expect("data"), "{\"a\":");
        drop(body);
        let whole = replay
            .body(&HeaderMap::new(), 1024)
            .await
            .expect("released")
            .expect("read");
        assert_eq!(whole, "{\"a\":1,\"b\":2}");
    }

    #[tokio::test]
    async fn a_body_never_read_is_read_whole_and_still_limited() {
        let (body, replay) = record(stream(&["0123456789"]));
        drop(body);
        let refused = replay
            .body(&HeaderMap::new(), 4)
            .await
            .expect("released")
            .expect_err("too large");
        assert_eq!(refused.status(), axum::http::StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn a_body_still_held_cannot_be_replayed() {
        let (body, replay) = record(stream(&["x"]));
        assert!(replay.body(&HeaderMap::new(), 16).await.is_none());
        drop(body);
    }
}
