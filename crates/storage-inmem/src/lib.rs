//! `inmem`: a storage backend that keeps everything in process memory and
//! forgets it on exit. For tests, `coffer server -dev` style runs and as the
//! reference the other backends are compared against.
//!
//! It must never depend on the server, an engine, a seal or another backend:
//! only on the storage contract in `coffer-core`.

mod ha_lock;

pub use ha_lock::InmemHaLock;

use async_trait::async_trait;
use coffer_core::storage::{Backend, StorageError, direct_children, validate_key, validate_prefix};
use std::collections::{BTreeSet, HashMap};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// An in-memory [`Backend`]: a hash map for lookups and a sorted set of the
/// same keys for prefix listing, behind one read/write lock, so any number
/// of readers proceed together and never wait for one another.
#[derive(Debug, Default)]
pub struct InmemBackend {
    entries: RwLock<Entries>,
}

/// The values by key, and the keys in order. Physical keys under `barrier/`
/// share long prefixes (the encrypted mount and folder names), which makes
/// a sorted map's comparisons slow for a point lookup; hashing reads each
/// key once.
#[derive(Debug, Default)]
struct Entries {
    values: HashMap<String, Vec<u8>>,
    keys: BTreeSet<String>,
}

impl InmemBackend {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    // A panic while holding the lock cannot leave the map half-updated (each
    // operation is a single insert or remove), so a poisoned lock is still sound.
    fn read(&self) -> RwLockReadGuard<'_, Entries> {
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Entries> {
        self.entries.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Backend for InmemBackend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        validate_key(key)?;
        Ok(self.read().values.get(key).cloned())
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        validate_key(key)?;
        let mut entries = self.write();
        if let Some(old) = entries.values.get_mut(key) {
            value.clone_into(old);
        } else {
            entries.values.insert(key.to_owned(), value.to_vec());
            entries.keys.insert(key.to_owned());
        }
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        let mut entries = self.write();
        if entries.values.remove(key).is_some() {
            entries.keys.remove(key);
        }
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        validate_prefix(prefix)?;
        let entries = self.read();
        let under = entries
            .keys
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .map(String::as_str)
            .take_while(|k| k.starts_with(prefix));
        Ok(direct_children(prefix, under))
    }

    fn kind(&self) -> &'static str {
        "inmem"
    }
}
