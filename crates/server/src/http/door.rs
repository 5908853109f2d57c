//! The door every request passes before its handler, in this order:
//!
//! 1. the listener's bound on requests in flight
//!    ([`admission`](super::admission)), whose permit is held until the
//!    answer is ready;
//! 2. the client's address from `X-Forwarded-For`, where the listener
//!    trusts its proxies ([`forwarded_for`](super::forwarded_for));
//! 3. an HA standby hands on what it does not serve
//!    ([`standby`](super::standby));
//! 4. the node that serves the request checks it against the rate-limit
//!    quotas ([`quota`](super::quota)) with the client's address.
//!
//! One tower layer rather than a `from_fn` middleware per step: on the
//! common path (no HA hand-on to consider, and a quota answer that adds no
//! headers) the request goes straight to its route, with no boxed future,
//! service clone or type-erased `Next` of its own. Only the rare paths are
//! boxed.

use super::{Shared, forwarded_for, quota, standby};
use axum::extract::Request;
use axum::response::{IntoResponse as _, Response};
use axum::routing::Route;
use axum::routing::future::RouteFuture;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::OwnedSemaphorePermit;
use tower::{Layer, Service};

/// The layer: `Router::layer(Door::new(state))`.
#[derive(Clone)]
pub(crate) struct Door {
    st: Shared,
}

impl Door {
    pub(crate) fn new(st: Shared) -> Self {
        Self { st }
    }
}

impl Layer<Route> for Door {
    type Service = DoorService;

    fn layer(&self, route: Route) -> DoorService {
        DoorService {
            next: Next {
                st: self.st.clone(),
                route,
            },
        }
    }
}

/// One route behind the door.
#[derive(Clone)]
pub(crate) struct DoorService {
    next: Next,
}

impl Service<Request> for DoorService {
    type Response = Response;
    type Error = Infallible;
    type Future = DoorFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // A route is always ready: it is cloned per call.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request) -> DoorFuture {
        let st = &self.next.st;
        let permit = match st.admission.as_ref().map(|a| a.admit(req.uri().path())) {
            Some(Err(refused)) => return DoorFuture::answer(refused.into_response()),
            Some(Ok(permit)) => permit,
            None => None,
        };
        if let Some(settings) = &st.forwarded_for
            && let Err(refused) = forwarded_for::apply(settings, &mut req)
        {
            return DoorFuture::answer(refused.into_response());
        }
        let step = if standby::takes(st, &req) {
            let (st, next) = (st.clone(), self.next.clone());
            Step::Boxed(Box::pin(standby::send_to_active(st, req, next)))
        } else {
            self.next.through_quota(req)
        };
        DoorFuture {
            step,
            _permit: permit,
        }
    }
}

/// What is behind the standby step: the quota check, then the route.
#[derive(Clone)]
pub(crate) struct Next {
    st: Shared,
    route: Route,
}

impl Next {
    /// Serves `req` on this node.
    pub(crate) async fn run(mut self, req: Request) -> Response {
        let step = self.through_quota(req);
        match (DoorFuture {
            step,
            _permit: None,
        })
        .await
        {
            Ok(resp) => resp,
            Err(never) => match never {},
        }
    }

    fn through_quota(&mut self, req: Request) -> Step {
        match quota::admit(&self.st, &req) {
            quota::Admit::Pass => Step::Route(self.route.call(req)),
            quota::Admit::Refuse(resp) => Step::Ready(Some(resp)),
            quota::Admit::PassCounted(counted) => {
                let route = self.route.call(req);
                Step::Boxed(Box::pin(async move {
                    let mut resp = match route.await {
                        Ok(resp) => resp,
                        Err(never) => match never {},
                    };
                    counted.add_headers(&mut resp);
                    resp
                }))
            }
        }
    }
}

/// The door's answer, holding the admission permit until it is ready.
pub(crate) struct DoorFuture {
    step: Step,
    _permit: Option<OwnedSemaphorePermit>,
}

impl DoorFuture {
    fn answer(resp: Response) -> Self {
        Self {
            step: Step::Ready(Some(resp)),
            _permit: None,
        }
    }
}

/// Where the answer comes from: the route's own future on the common path.
enum Step {
    Route(RouteFuture<Infallible>),
    Ready(Option<Response>),
    Boxed(Pin<Box<dyn Future<Output = Response> + Send>>),
}

impl Future for DoorFuture {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().step {
            Step::Route(route) => Pin::new(route).poll(cx),
            Step::Ready(resp) => Poll::Ready(Ok(resp.take().expect("polled after completion"))),
            Step::Boxed(fut) => fut.as_mut().poll(cx).map(Ok),
        }
    }
}
