//! Per-key serialisation of read-modify-write sequences without one global
//! lock: a fixed set of async mutexes, picked by a hash of the key. Two keys
//! may share a slot; that only costs a little waiting, never correctness.
//! Used by the barrier (seal re-wrap vs. writes), KV (version counters,
//! check-and-set) and transit (key changes).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use tokio::sync::{Mutex, MutexGuard};

/// A striped lock keyed by string.
pub struct KeyLocks {
    slots: Box<[Mutex<()>]>,
}

impl KeyLocks {
    /// `slots` unlocked slots (at least one).
    pub fn new(slots: usize) -> Self {
        Self {
            slots: (0..slots.max(1)).map(|_| Mutex::new(())).collect(),
        }
    }

    /// Waits for exclusive use of `key`'s slot.
    pub async fn lock(&self, key: &str) -> MutexGuard<'_, ()> {
        self.slots[self.slot_of(key)].lock().await
    }

    /// Waits for exclusive use of the slots of all `keys`, taken in slot
    /// order, so two callers never wait for each other in a cycle.
    pub async fn lock_all<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k str>,
    ) -> Vec<MutexGuard<'_, ()>> {
        let mut slots: Vec<usize> = keys.into_iter().map(|k| self.slot_of(k)).collect();
        slots.sort_unstable();
        slots.dedup();
        let mut guards = Vec::with_capacity(slots.len());
        for slot in slots {
            guards.push(self.slots[slot].lock().await);
        }
        guards
    }

    fn slot_of(&self, key: &str) -> usize {
        // DefaultHasher::new() uses fixed keys, so a key always maps to the
        // same slot within (and across) processes.
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        // The remainder is < len, so the narrowing cast cannot truncate.
        (h.finish() % self.slots.len() as u64) as usize
    }
}

impl std::fmt::Debug for KeyLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyLocks")
            .field("slots", &self.slots.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_always_picks_the_same_slot() {
        let locks = KeyLocks::new(64);
        assert_eq!(locks.slot_of("team/db"), locks.slot_of("team/db"));
        assert!(locks.slot_of("x") < 64);
        assert_eq!(KeyLocks::new(0).slot_of("x"), 0);
    }

    #[tokio::test]
    async fn same_key_waits_for_the_holder() {
        let locks = KeyLocks::new(64);
        let held = locks.lock("k").await;
        let slot = locks.slot_of("k");
        assert!(locks.slots[slot].try_lock().is_err());
        drop(held);
        assert!(locks.slots[slot].try_lock().is_ok());
    }

    #[tokio::test]
    async fn lock_all_holds_every_slot_once_even_when_keys_share_one() {
        let locks = KeyLocks::new(2);
        let keys = ["a", "b", "c", "d", "e", "a"];
        let held = locks.lock_all(keys).await;
        let mut slots: Vec<usize> = keys.iter().map(|k| locks.slot_of(k)).collect();
        slots.sort_unstable();
        slots.dedup();
        assert_eq!(held.len(), slots.len());
        assert!(slots.iter().all(|&s| locks.slots[s].try_lock().is_err()));
        drop(held);
        assert!(slots.iter().all(|&s| locks.slots[s].try_lock().is_ok()));
    }
}
