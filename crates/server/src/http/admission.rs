//! A bound on the requests a listener works on at once
//! (`max_concurrent_requests`): past it, a request is answered 503 with
//! `Retry-After: 1` straight away instead of queueing behind the others, so
//! an overload shows as quick refusals rather than ever-growing latency for
//! everyone. A few cheap operator endpoints are always let through:
//! `sys/health` (load balancers see a busy node, not a dead one), and
//! `sys/seal-status`, `sys/unseal`, `sys/seal` and `sys/step-down`, so an
//! operator can still act on a node that is being flooded.

use super::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use coffer_core::metrics::Metric;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Semaphore;

/// One listener's bound and what it refused.
#[derive(Debug)]
pub struct Admission {
    max: usize,
    permits: Arc<Semaphore>,
    refused: AtomicU64,
}

impl Admission {
    /// A bound of `max` requests in flight.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            permits: Arc::new(Semaphore::new(max)),
            refused: AtomicU64::new(0),
        })
    }

    /// The listener's figures for `sys/metrics`.
    pub(crate) fn metrics(&self) -> [Metric; 3] {
        let in_flight = self.max.saturating_sub(self.permits.available_permits());
        [
            Metric::gauge(
                "coffer.http.requests_in_flight",
                in_flight as f64,
                "requests this listener is working on now",
            ),
            Metric::gauge(
                "coffer.http.max_concurrent_requests",
                self.max as f64,
                "the listener's max_concurrent_requests",
            ),
            Metric::counter(
                "coffer.http.overload_refusals",
                self.refused.load(Ordering::Relaxed),
                "requests answered 503 because max_concurrent_requests were in flight",
            ),
        ]
    }
}

/// Wraps a listener's router with `admission`.
pub(crate) fn layer(app: axum::Router, admission: Arc<Admission>) -> axum::Router {
    app.layer(axum::middleware::from_fn_with_state(admission, admit))
}

/// Paths never refused by the bound.
const ALWAYS_ADMITTED: &[&str] = &[
    "/v1/sys/health",
    "/v1/sys/seal-status",
    "/v1/sys/unseal",
    "/v1/sys/seal",
    "/v1/sys/step-down",
];

async fn admit(State(admission): State<Arc<Admission>>, req: Request, next: Next) -> Response {
    if ALWAYS_ADMITTED.contains(&req.uri().path().trim_end_matches('/')) {
        return next.run(req).await;
    }
    let Ok(_permit) = admission.permits.clone().try_acquire_owned() else {
        admission.refused.fetch_add(1, Ordering::Relaxed);
        let mut resp = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the server is working on its limit of {} requests at once \
                 (max_concurrent_requests); retry shortly",
                admission.max
            ),
        )
        .into_response();
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return resp;
    };
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use std::time::Duration;
    use tower::ServiceExt as _;

    fn request(path: &str) -> axum::http::Request<Body> {
        axum::http::Request::builder()
            .uri(path)
            .body(Body::empty())
            .expect("request")
    }

    #[tokio::test]
    async fn past_the_bound_a_request_is_refused_at_once_and_operator_endpoints_still_answer() {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let held = gate.clone();
        let router = axum::Router::new()
            .route(
                "/v1/slow",
                get(move || {
                    let held = held.clone();
                    async move {
                        let _ = held.acquire().await;
                        "done"
                    }
                }),
            )
            .route("/v1/sys/health", get(|| async { "ok" }))
            .route("/v1/sys/seal-status", get(|| async { "ok" }));
        let admission = Admission::new(1);
        let app = layer(router, admission.clone());

        let first = tokio::spawn(app.clone().oneshot(request("/v1/slow")));
        while admission.permits.available_permits() > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let refused = app
            .clone()
            .oneshot(request("/v1/slow"))
            .await
            .expect("answer");
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
        let health = app
            .clone()
            .oneshot(request("/v1/sys/health"))
            .await
            .expect("answer");
        assert_eq!(health.status(), StatusCode::OK, "health is never refused");
        let status = app
            .clone()
            .oneshot(request("/v1/sys/seal-status"))
            .await
            .expect("answer");
        assert_eq!(status.status(), StatusCode::OK, "nor is the seal status");
        assert_eq!(admission.metrics()[0].value, 1.0, "one in flight");
        assert_eq!(admission.metrics()[2].value, 1.0, "one refused");

        gate.add_permits(1);
        assert_eq!(
            first.await.expect("task").expect("answer").status(),
            StatusCode::OK
        );
        let after = app.oneshot(request("/v1/slow"));
        gate.add_permits(1);
        assert_eq!(after.await.expect("answer").status(), StatusCode::OK);
    }
}
