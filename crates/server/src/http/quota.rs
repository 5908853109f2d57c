//! Rate-limit quotas at the door: every `/v1/` request is checked against
//! the quotas in force (`coffer_core::quota`) with the client's address
//! before anything else is done for it. A refused request gets 429 with
//! `Retry-After`; with `enable_rate_limit_response_headers`, allowed ones
//! carry `X-Ratelimit-Limit` and `X-Ratelimit-Remaining`.

use super::error::ApiError;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use coffer_core::quota::{Decision, RateLimited};
use std::net::SocketAddr;

/// What the quotas say of one request.
pub(crate) enum Admit {
    /// Serve it; no quota headers to add.
    Pass,
    /// Serve it, and say how much of the quota is left.
    PassCounted(Counted),
    /// 429, with `Retry-After`.
    Refuse(Response),
}

/// The `X-Ratelimit-*` headers of an allowed request.
pub(crate) struct Counted {
    limit: f64,
    remaining: u64,
}

impl Counted {
    pub(crate) fn add_headers(&self, resp: &mut Response) {
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&self.limit.to_string()) {
            h.insert("x-ratelimit-limit", v);
        }
        h.insert("x-ratelimit-remaining", HeaderValue::from(self.remaining));
    }
}

/// Checks a request against the quotas in force (see the module docs).
pub(crate) fn admit(st: &super::AppState, req: &Request) -> Admit {
    let Some(raw) = req.uri().path().strip_prefix("/v1/") else {
        return Admit::Pass;
    };
    // The decoded path, as the handlers see it: an encoded letter must not
    // slip past a quota on a path.
    let path = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip());
    match st.core.check_rate_limit(&path, client) {
        None => Admit::Pass,
        Some(RateLimited {
            decision: Decision::Refused { retry_after },
            quota,
            ..
        }) => {
            tracing::debug!(quota = %quota, client = ?client, "rate limit quota exceeded");
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            let mut resp = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("request path {path:?}: rate limit quota exceeded"),
            )
            .into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            Admit::Refuse(resp)
        }
        Some(RateLimited {
            decision: Decision::Allowed { remaining },
            limit,
            headers: true,
            ..
        }) => Admit::PassCounted(Counted { limit, remaining }),
        Some(_) => Admit::Pass,
    }
}
