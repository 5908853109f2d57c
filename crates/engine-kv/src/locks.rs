//! Per-key serialisation of read-modify-write sequences (version counters,
//! check-and-set) without one global lock: a fixed set of async mutexes,
//! picked by a hash of the key. Two keys may share a slot; that only costs
//! a little waiting, never correctness. Reads take no lock.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use tokio::sync::{Mutex, MutexGuard};

/// Number of lock slots; enough that unrelated keys rarely contend.
const SLOTS: usize = 64;

/// A striped lock keyed by secret path.
pub(crate) struct KeyLocks {
    slots: [Mutex<()>; SLOTS],
}

impl KeyLocks {
    /// All slots unlocked.
    pub(crate) fn new() -> Self {
        Self {
            slots: std::array::from_fn(|_| Mutex::new(())),
        }
    }

    /// Waits for exclusive use of `key`'s slot.
    pub(crate) async fn lock(&self, key: &str) -> MutexGuard<'_, ()> {
        self.slots[slot_of(key)].lock().await
    }
}

impl std::fmt::Debug for KeyLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyLocks").field("slots", &SLOTS).finish()
    }
}

fn slot_of(key: &str) -> usize {
    // DefaultHasher::new() uses fixed keys, so a key always maps to the
    // same slot within (and across) processes.
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    // The remainder is < SLOTS, so the narrowing cast cannot truncate.
    (h.finish() % SLOTS as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_always_picks_the_same_slot() {
        assert_eq!(slot_of("team/db"), slot_of("team/db"));
        assert!(slot_of("x") < SLOTS);
    }

    #[tokio::test]
    async fn same_key_waits_for_the_holder() {
        let locks = KeyLocks::new();
        let held = locks.lock("k").await;
        assert!(locks.slots[slot_of("k")].try_lock().is_err());
        drop(held);
        assert!(locks.slots[slot_of("k")].try_lock().is_ok());
    }
}
