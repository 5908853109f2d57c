//! How many values the active key term has encrypted, counted across
//! restarts.
//!
//! AES-GCM with random 96-bit nonces must not encrypt much more than 2^32
//! values under one key (NIST SP 800-38D, section 8.3), so the keyring
//! rotates itself before that (`sys/rotate/config`), and the count it goes
//! by must not restart from zero when the process does.
//!
//! The count is stored as a reservation: before the count passes the stored
//! figure, a higher one (the count plus [`RESERVE_BLOCK`]) is written, and
//! only then does the encryption happen. A crash loses no encryption; the
//! next start counts on from the reservation, an over-estimate by at most
//! one block, which only brings the next rotation a little closer.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};

/// Logical path of the reservation record (encrypted by the barrier).
pub(crate) const USAGE_PATH: &str = "core/keyring-usage";

/// Encryptions reserved per stored record: one extra write per 65,536.
pub(crate) const RESERVE_BLOCK: u64 = 1 << 16;

/// Encryptions one key term may make: past it writes are refused until the
/// keyring rotates (automatic rotation, at most 0.9 x 2^32, comes first).
pub(crate) const TERM_LIMIT: u64 = 1 << 32;

/// What a term is assumed to have encrypted when its stored count cannot
/// be read: past any `max_operations`, so the keyring rotates at once.
pub(crate) const UNKNOWN_USAGE: u64 = TERM_LIMIT - RESERVE_BLOCK * 16;

/// The stored reservation: `term` has encrypted at most `encryptions` values.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct UsageRecord {
    pub(crate) term: u32,
    pub(crate) encryptions: u64,
}

/// The live count of one key term, while it is the active one.
#[derive(Debug)]
pub(crate) struct TermUsage {
    count: AtomicU64,
    reserved: AtomicU64,
    reserving: tokio::sync::Mutex<()>,
}

impl TermUsage {
    /// A term that has encrypted `encryptions` values so far, all of them
    /// covered by the stored reservation.
    pub(crate) fn starting_at(encryptions: u64) -> Self {
        Self {
            count: AtomicU64::new(encryptions),
            reserved: AtomicU64::new(encryptions),
            reserving: tokio::sync::Mutex::new(()),
        }
    }

    /// Counts one encryption about to happen; returns the count with it.
    pub(crate) fn count_one(&self) -> u64 {
        self.count.fetch_add(1, Ordering::AcqRel).saturating_add(1)
    }

    /// Whether the stored reservation covers count `n` (if not, a new one
    /// must be written before the encryption).
    pub(crate) fn covered(&self, n: u64) -> bool {
        n <= self.reserved.load(Ordering::Acquire)
    }

    /// Encryptions so far (with the reservation's over-estimate after a restart).
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    /// Serialises reservation writes; returns the figure to store when `n`
    /// is still uncovered once the lock is held (another writer may have
    /// stored one meanwhile), counting the reservation's own encryption.
    pub(crate) async fn begin_reservation(
        &self,
        n: u64,
    ) -> Option<(tokio::sync::MutexGuard<'_, ()>, u64)> {
        let guard = self.reserving.lock().await;
        if n <= self.reserved.load(Ordering::Acquire) {
            return None;
        }
        let own = self.count.fetch_add(1, Ordering::AcqRel).saturating_add(1);
        Some((guard, own.saturating_add(RESERVE_BLOCK)))
    }

    /// Records that `figure` is stored.
    pub(crate) fn reserved_up_to(&self, figure: u64) {
        self.reserved.fetch_max(figure, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_count_past_the_reservation_asks_for_a_new_one_once() {
        let usage = TermUsage::starting_at(10);
        assert_eq!(usage.count_one(), 11);
        assert!(!usage.covered(11));
        let (guard, figure) = usage.begin_reservation(11).await.expect("uncovered");
        assert_eq!(
            figure,
            12 + RESERVE_BLOCK,
            "the reservation's own write counts"
        );
        usage.reserved_up_to(figure);
        drop(guard);
        assert!(usage.begin_reservation(11).await.is_none(), "covered now");
        for _ in 0..RESERVE_BLOCK {
            let n = usage.count_one();
            assert!(usage.covered(n));
        }
        assert_eq!(usage.count(), 12 + RESERVE_BLOCK);
        let past = usage.count_one();
        assert_eq!(past, 13 + RESERVE_BLOCK);
        assert!(!usage.covered(past));
    }
}
