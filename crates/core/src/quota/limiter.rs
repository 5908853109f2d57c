//! The token buckets of one rate-limit quota, one per client address.
//!
//! A client may send `rate` requests at once, then `rate` per `interval`
//! as the bucket refills. With a `block_interval`, a client that runs dry
//! is refused everything until that time has passed. Buckets that are full
//! again are dropped now and then, so a flood of distinct addresses cannot
//! grow the table without bound.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Above this many tracked clients, idle full buckets are swept out.
const SWEEP_ABOVE: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
    blocked_until: Option<Instant>,
}

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// Allowed; `remaining` whole requests left in the bucket.
    Allowed {
        /// Requests the client may still send at once.
        remaining: u64,
    },
    /// Refused; the client may try again after `retry_after`.
    Refused {
        /// How long until a request would be allowed.
        retry_after: Duration,
    },
}

/// Buckets by client address for one quota.
#[derive(Debug)]
pub(crate) struct Limiter {
    rate: f64,
    interval: Duration,
    block: Duration,
    buckets: Mutex<HashMap<Option<IpAddr>, Bucket>>,
}

impl Limiter {
    pub(crate) fn new(rate: f64, interval: Duration, block: Duration) -> Self {
        Self {
            rate,
            interval,
            block,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Tokens regained per second.
    fn refill_per_sec(&self) -> f64 {
        self.rate / self.interval.as_secs_f64().max(f64::EPSILON)
    }

    /// Takes one request from `client`'s bucket at `now`. Requests without
    /// a known address share one bucket.
    pub(crate) fn take(&self, client: Option<IpAddr>, now: Instant) -> Decision {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > SWEEP_ABOVE {
            self.sweep(&mut buckets, now);
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: self.rate,
            updated: now,
            blocked_until: None,
        });
        if let Some(until) = bucket.blocked_until {
            if now < until {
                return Decision::Refused {
                    retry_after: until - now,
                };
            }
            bucket.blocked_until = None;
            bucket.tokens = self.rate;
            bucket.updated = now;
        }
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.refill_per_sec()).min(self.rate);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            // Whole requests left; the value is small and non-negative.
            return Decision::Allowed {
                remaining: bucket.tokens.floor() as u64,
            };
        }
        if !self.block.is_zero() {
            bucket.blocked_until = Some(now + self.block);
            return Decision::Refused {
                retry_after: self.block,
            };
        }
        let missing = 1.0 - bucket.tokens;
        Decision::Refused {
            retry_after: Duration::from_secs_f64(missing / self.refill_per_sec()),
        }
    }

    /// Drops buckets that are full again and not blocked: a client coming
    /// back starts full, which is what it would find anyway.
    fn sweep(&self, buckets: &mut HashMap<Option<IpAddr>, Bucket>, now: Instant) {
        let per_sec = self.refill_per_sec();
        buckets.retain(|_, b| {
            let blocked = b.blocked_until.is_some_and(|until| now < until);
            let refilled =
                b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * per_sec;
            blocked || refilled < self.rate
        });
    }

    /// Clients tracked now.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([192, 0, 2, last]))
    }

    #[test]
    fn a_client_may_burst_rate_requests_then_waits_for_the_refill() {
        let l = Limiter::new(3.0, Duration::from_secs(1), Duration::ZERO);
        let t0 = Instant::now();
        for left in [2, 1, 0] {
            assert_eq!(l.take(ip(1), t0), Decision::Allowed { remaining: left });
        }
        let Decision::Refused { retry_after } = l.take(ip(1), t0) else {
            panic!("the fourth request at once is refused");
        };
        assert!(
            retry_after > Duration::from_millis(300) && retry_after <= Duration::from_millis(334),
            "{retry_after:?}"
        );
        assert_eq!(
            l.take(ip(2), t0),
            Decision::Allowed { remaining: 2 },
            "another client has its own bucket"
        );
        assert!(matches!(
            l.take(ip(1), t0 + Duration::from_millis(340)),
            Decision::Allowed { .. }
        ));
    }

    #[test]
    fn a_block_interval_refuses_everything_until_it_ends() {
        let l = Limiter::new(1.0, Duration::from_secs(1), Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(matches!(l.take(ip(1), t0), Decision::Allowed { .. }));
        assert_eq!(
            l.take(ip(1), t0),
            Decision::Refused {
                retry_after: Duration::from_secs(60)
            }
        );
        let later = t0 + Duration::from_secs(30);
        assert_eq!(
            l.take(ip(1), later),
            Decision::Refused {
                retry_after: Duration::from_secs(30)
            },
            "a refill does not lift the block"
        );
        assert!(matches!(
            l.take(ip(1), t0 + Duration::from_secs(61)),
            Decision::Allowed { .. }
        ));
    }

    #[test]
    fn full_buckets_of_many_clients_are_swept_out() {
        let l = Limiter::new(5.0, Duration::from_secs(1), Duration::ZERO);
        let t0 = Instant::now();
        for i in 0..=SWEEP_ABOVE {
            let addr = IpAddr::from((u32::try_from(i).expect("small")).to_be_bytes());
            l.take(Some(addr), t0);
        }
        assert_eq!(l.tracked(), SWEEP_ABOVE + 1);
        l.take(ip(1), t0 + Duration::from_secs(2));
        assert_eq!(
            l.tracked(),
            1,
            "only the client that just spent a token is kept"
        );
    }
}
