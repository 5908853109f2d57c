//! A clock tests move by hand, so time-dependent behaviour (TTLs, lockouts,
//! lease expiry) is checked without sleeping.

use coffer_core::clock::Clock;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A clock that only moves when told to (starts at 2024-01-01T00:00:00Z).
pub struct TestClock(Mutex<SystemTime>);

impl TestClock {
    /// A clock standing at 2024-01-01T00:00:00Z.
    pub fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(
            UNIX_EPOCH + Duration::from_secs(1_704_067_200),
        )))
    }

    /// Moves the clock `secs` seconds forward.
    pub fn advance(&self, secs: u64) {
        *self.0.lock().expect("clock") += Duration::from_secs(secs);
    }
}

impl Clock for TestClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().expect("clock")
    }
}
