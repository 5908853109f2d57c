//! [`InmemHaLock`]: the HA election lock for nodes that share one process
//! (tests of failover without a database). Leases lapse by this process's
//! monotonic clock.

use async_trait::async_trait;
use coffer_core::ha::{HaLock, LockHolder};
use coffer_core::storage::StorageError;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Lease {
    holder: String,
    value: String,
    until: Instant,
}

/// One lock, held by at most one holder whose lease has not lapsed.
#[derive(Debug, Default)]
pub struct InmemHaLock {
    lease: Mutex<Option<Lease>>,
}

impl InmemHaLock {
    /// A free lock.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl HaLock for InmemHaLock {
    async fn acquire(
        &self,
        holder: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, StorageError> {
        let now = Instant::now();
        let mut lease = self.lease.lock().unwrap_or_else(PoisonError::into_inner);
        let free = match lease.as_ref() {
            None => true,
            Some(l) => l.holder == holder || l.until <= now,
        };
        if free {
            *lease = Some(Lease {
                holder: holder.to_owned(),
                value: value.to_owned(),
                until: now + ttl,
            });
        }
        Ok(free)
    }

    async fn release(&self, holder: &str) -> Result<(), StorageError> {
        let mut lease = self.lease.lock().unwrap_or_else(PoisonError::into_inner);
        if lease.as_ref().is_some_and(|l| l.holder == holder) {
            *lease = None;
        }
        Ok(())
    }

    async fn holder(&self) -> Result<Option<LockHolder>, StorageError> {
        let lease = self.lease.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(lease
            .as_ref()
            .filter(|l| l.until > Instant::now())
            .map(|l| LockHolder {
                holder: l.holder.clone(),
                value: l.value.clone(),
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_at_a_time_until_its_lease_lapses() {
        let lock = InmemHaLock::new();
        let ttl = Duration::from_millis(50);
        assert!(lock.acquire("a", "A", ttl).await.expect("a"));
        assert!(!lock.acquire("b", "B", ttl).await.expect("b"), "held by a");
        assert!(lock.acquire("a", "A", ttl).await.expect("renew"));
        assert_eq!(
            lock.holder().await.expect("holder").expect("some").value,
            "A"
        );
        tokio::time::sleep(ttl * 2).await;
        assert!(lock.holder().await.expect("holder").is_none(), "lapsed");
        assert!(lock.acquire("b", "B", ttl).await.expect("b takes over"));
        lock.release("a")
            .await
            .expect("release by a non-holder is a no-op");
        assert_eq!(lock.holder().await.expect("holder").expect("b").holder, "b");
        lock.release("b").await.expect("release");
        assert!(lock.holder().await.expect("holder").is_none());
    }
}
