//! A bound on the requests a listener works on at once
//! (`max_concurrent_requests`): past it, a request is answered 503 with
//! `Retry-After: 1` straight away instead of queueing behind the others, so
//! an overload shows as quick refusals rather than ever-growing latency for
//! everyone. A few cheap operator endpoints are always let through:
//! `sys/health` (load balancers see a busy node, not a dead one), and
//! `sys/seal-status`, `sys/unseal`, `sys/seal` and `sys/step-down`, so an
//! operator can still act on a node that is being flooded.

use super::error::ApiError;
use axum::http::StatusCode;
use coffer_core::metrics::Metric;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

/// Paths never refused by the bound.
const ALWAYS_ADMITTED: &[&str] = &[
    "/v1/sys/health",
    "/v1/sys/seal-status",
    "/v1/sys/unseal",
    "/v1/sys/seal",
    "/v1/sys/step-down",
];

impl Admission {
    /// Lets a request for `path` in: with a permit to hold until it is
    /// answered, without one for the operator endpoints, or not at all (the
    /// 503 to send) when the bound is reached.
    pub(crate) fn admit(&self, path: &str) -> Result<Option<OwnedSemaphorePermit>, ApiError> {
        if ALWAYS_ADMITTED.contains(&path.trim_end_matches('/')) {
            return Ok(None);
        }
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the server is working on its limit of {} requests at once \
                     (max_concurrent_requests); retry shortly",
                    self.max
                ),
            )
            .with_retry_after(1));
        };
        Ok(Some(permit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;
    use axum::response::IntoResponse as _;

    #[test]
    fn past_the_bound_a_request_is_refused_at_once_and_operator_endpoints_still_answer() {
        let admission = Admission::new(1);
        let first = admission
            .admit("/v1/secret/data/a")
            .expect("admitted")
            .expect("a permit");
        let refused = admission
            .admit("/v1/secret/data/b")
            .expect_err("refused")
            .into_response();
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
        for path in [
            "/v1/sys/health",
            "/v1/sys/seal-status/",
            "/v1/sys/step-down",
        ] {
            assert!(
                admission.admit(path).expect("never refused").is_none(),
                "{path} is let in without a permit"
            );
        }
        assert_eq!(admission.metrics()[0].value, 1.0, "one in flight");
        assert_eq!(admission.metrics()[2].value, 1.0, "one refused");

        drop(first);
        assert_eq!(admission.metrics()[0].value, 0.0, "none in flight");
        assert!(admission.admit("/v1/secret/data/b").is_ok());
    }
}
