//! Per-key serialisation of changes (create, rotate, config, trim, delete,
//! restore, cache fills) without one global lock: a fixed set of async
//! mutexes picked by a hash of the key name. Two keys may share a slot,
//! which only costs a little waiting. Encrypt/decrypt take no lock: they use
//! the cached, immutable key ring.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use tokio::sync::{Mutex, MutexGuard};

/// Number of lock slots; enough that unrelated keys rarely contend.
const SLOTS: usize = 64;

/// A striped lock keyed by key name.
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

    /// Waits for exclusive use of `name`'s slot.
    pub(crate) async fn lock(&self, name: &str) -> MutexGuard<'_, ()> {
        self.slots[slot_of(name)].lock().await
    }
}

fn slot_of(name: &str) -> usize {
    // DefaultHasher::new() uses fixed keys: a name always maps to one slot.
    let mut h = DefaultHasher::new();
    name.hash(&mut h);
    // The remainder is < SLOTS, so the narrowing cast cannot truncate.
    (h.finish() % SLOTS as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn same_name_waits_for_the_holder() {
        let locks = KeyLocks::new();
        let held = locks.lock("k").await;
        assert!(locks.slots[slot_of("k")].try_lock().is_err());
        drop(held);
        assert!(locks.slots[slot_of("k")].try_lock().is_ok());
    }
}
