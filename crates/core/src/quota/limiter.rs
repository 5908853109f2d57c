//! The token buckets of one rate-limit quota, one per client address.
//!
//! A client may send `rate` requests at once (at least one), then `rate`
//! per `interval` as the bucket refills. With a `block_interval`, a client
//! that runs dry is refused everything until that time has passed.
//!
//! A client is its IPv4 address, or the /64 network of its IPv6 address
//! (one host is given a whole /64, so a per-address bucket would be no
//! limit at all). Buckets that are full again are swept out when the table
//! has doubled since the last sweep; past [`MAX_CLIENTS`], new clients share
//! one overflow bucket, so a flood of addresses costs neither unbounded
//! memory nor a sweep per request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Below this many tracked clients, nothing is swept.
const SWEEP_ABOVE: usize = 4096;
/// Clients tracked one by one; more share the overflow bucket.
pub(crate) const MAX_CLIENTS: usize = 65_536;

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
    /// Bucket size: `rate`, and at least one request.
    capacity: f64,
    rate: f64,
    interval: Duration,
    block: Duration,
    buckets: Mutex<Buckets>,
}

#[derive(Debug, Default)]
struct Buckets {
    /// `None`: requests without an address, and the overflow.
    by_client: HashMap<Option<IpAddr>, Bucket>,
    /// Size after the last sweep.
    swept_at: usize,
}

/// The bucket key of an address: IPv4 as is (mapped IPv6 too), IPv6 by /64.
fn client_key(addr: IpAddr) -> IpAddr {
    match addr.to_canonical() {
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & (u128::MAX << 64);
            IpAddr::V6(network.into())
        }
        v4 => v4,
    }
}

impl Limiter {
    pub(crate) fn new(rate: f64, interval: Duration, block: Duration) -> Self {
        Self {
            capacity: rate.max(1.0),
            rate,
            interval,
            block,
            buckets: Mutex::new(Buckets::default()),
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
        let len = buckets.by_client.len();
        if len > SWEEP_ABOVE && len >= buckets.swept_at.saturating_mul(2) {
            self.sweep(&mut buckets.by_client, now);
            buckets.swept_at = buckets.by_client.len();
        }
        let mut key = client.map(client_key);
        if buckets.by_client.len() >= MAX_CLIENTS && !buckets.by_client.contains_key(&key) {
            key = None;
        }
        let bucket = buckets.by_client.entry(key).or_insert(Bucket {
            tokens: self.capacity,
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
            bucket.tokens = self.capacity;
            bucket.updated = now;
        }
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.refill_per_sec()).min(self.capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            // Whole requests left; the value is small and non-negative.
            return Decision::Allowed {
                remaining: bucket.tokens.floor() as u64,
            };
        }
        if !self.block.is_zero() {
            bucket.blocked_until = now.checked_add(self.block);
            return Decision::Refused {
                retry_after: self.block,
            };
        }
        let missing = 1.0 - bucket.tokens;
        Decision::Refused {
            retry_after: Duration::try_from_secs_f64(missing / self.refill_per_sec())
                .unwrap_or(self.interval),
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
            blocked || refilled < self.capacity
        });
    }

    /// Clients tracked now.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .by_client
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
    fn a_rate_below_one_still_lets_one_request_through_per_refill() {
        let l = Limiter::new(0.5, Duration::from_secs(1), Duration::ZERO);
        let t0 = Instant::now();
        assert!(matches!(l.take(ip(1), t0), Decision::Allowed { .. }));
        let Decision::Refused { retry_after } = l.take(ip(1), t0) else {
            panic!("refused until the bucket refills");
        };
        assert_eq!(retry_after, Duration::from_secs(2));
        assert!(matches!(
            l.take(ip(1), t0 + Duration::from_secs(2)),
            Decision::Allowed { .. }
        ));
    }

    #[test]
    fn an_ipv6_network_is_one_client_and_mapped_ipv4_is_ipv4() {
        let l = Limiter::new(1.0, Duration::from_secs(60), Duration::ZERO);
        let t0 = Instant::now();
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        assert!(matches!(l.take(Some(a), t0), Decision::Allowed { .. }));
        assert!(
            matches!(l.take(Some(b), t0), Decision::Refused { .. }),
            "another address of the same /64 shares the bucket"
        );
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        assert!(matches!(l.take(ip(1), t0), Decision::Allowed { .. }));
        assert!(matches!(l.take(Some(mapped), t0), Decision::Refused { .. }));
    }

    #[test]
    fn past_the_client_cap_new_clients_share_the_overflow_bucket() {
        let l = Limiter::new(1.0, Duration::from_secs(3600), Duration::ZERO);
        let t0 = Instant::now();
        for i in 0..MAX_CLIENTS {
            let addr = IpAddr::from((u32::try_from(i).expect("small")).to_be_bytes());
            assert!(matches!(l.take(Some(addr), t0), Decision::Allowed { .. }));
        }
        assert_eq!(l.tracked(), MAX_CLIENTS);
        let newcomer = |n: u8| Some(IpAddr::from([203, 0, 113, n]));
        assert!(matches!(l.take(newcomer(1), t0), Decision::Allowed { .. }));
        assert!(
            matches!(l.take(newcomer(2), t0), Decision::Refused { .. }),
            "the second newcomer finds the overflow bucket spent"
        );
        assert_eq!(l.tracked(), MAX_CLIENTS + 1);
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
