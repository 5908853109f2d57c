//! The key cache of one mount: decrypted key rings by name, filled from the
//! mount's view on first use and replaced (never mutated) by every change,
//! so encrypt/decrypt touch storage only after a key changed or the server
//! unsealed (engines are rebuilt then, and their caches with them).
//!
//! Changes hold the key's lock from reading the current state to swapping
//! the new ring in; cache fills take the same lock, so a slow fill can never
//! overwrite a newer ring with an older one.

use crate::keyring::KeyRing;
use crate::stored::{StoredArchive, StoredPolicy, archive_key, policy_key};
use coffer_core::CoreResult;
use coffer_core::storage::KeyLocks;
use coffer_core::storage::View;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use tokio::sync::MutexGuard;

/// Lock slots for key names: enough that unrelated ones rarely contend.
const KEY_LOCK_SLOTS: usize = 64;

/// Cached key rings plus the per-key locks.
pub(crate) struct KeyStore {
    cache: RwLock<HashMap<String, Arc<KeyRing>>>,
    locks: KeyLocks,
}

impl KeyStore {
    /// An empty cache.
    pub(crate) fn new() -> Self {
        Self {
            cache: RwLock::new(HashMap::new()),
            locks: KeyLocks::new(KEY_LOCK_SLOTS),
        }
    }

    /// The key `name`, from the cache or storage; `None` if there is none.
    pub(crate) async fn get(&self, view: &View, name: &str) -> CoreResult<Option<Arc<KeyRing>>> {
        if let Some(ring) = self.cached(name) {
            return Ok(Some(ring));
        }
        let _guard = self.lock(name).await;
        self.get_locked(view, name).await
    }

    /// Exclusive use of `name` for a change.
    pub(crate) async fn lock(&self, name: &str) -> MutexGuard<'_, ()> {
        self.locks.lock(name).await
    }

    /// Like [`KeyStore::get`], for a caller that holds `name`'s lock.
    pub(crate) async fn get_locked(
        &self,
        view: &View,
        name: &str,
    ) -> CoreResult<Option<Arc<KeyRing>>> {
        if let Some(ring) = self.cached(name) {
            return Ok(Some(ring));
        }
        let Some(stored) = view.get_json::<StoredPolicy>(&policy_key(name)).await? else {
            return Ok(None);
        };
        let ring = Arc::new(KeyRing::from_stored(stored)?);
        self.write_cache()
            .insert(name.to_owned(), Arc::clone(&ring));
        Ok(Some(ring))
    }

    /// Persists `ring` as its key's policy and caches it. Caller holds the
    /// key's lock.
    pub(crate) async fn save(&self, view: &View, ring: KeyRing) -> CoreResult<Arc<KeyRing>> {
        let name = ring.config.name.clone();
        view.put_json(&policy_key(&name), &ring.to_stored()).await?;
        let ring = Arc::new(ring);
        self.write_cache().insert(name, Arc::clone(&ring));
        Ok(ring)
    }

    /// Deletes the key's policy and archive and forgets it. Caller holds the
    /// key's lock.
    pub(crate) async fn delete(&self, view: &View, name: &str) -> CoreResult<()> {
        // Forget first: a failure half-way must not leave a cached key that
        // storage no longer fully has.
        self.write_cache().remove(name);
        view.delete(&policy_key(name)).await?;
        view.delete(&archive_key(name)).await
    }

    /// The key's archived versions (empty if none).
    pub(crate) async fn load_archive(&self, view: &View, name: &str) -> CoreResult<StoredArchive> {
        Ok(view
            .get_json::<StoredArchive>(&archive_key(name))
            .await?
            .unwrap_or_default())
    }

    /// Writes the key's archive (deleting it when empty).
    pub(crate) async fn save_archive(
        &self,
        view: &View,
        name: &str,
        archive: &StoredArchive,
    ) -> CoreResult<()> {
        if archive.keys.is_empty() {
            view.delete(&archive_key(name)).await
        } else {
            view.put_json(&archive_key(name), archive).await
        }
    }

    /// Names of all keys, from storage.
    pub(crate) async fn list(&self, view: &View) -> CoreResult<Vec<String>> {
        let mut names: Vec<String> = view
            .list(crate::POLICY_PREFIX)
            .await?
            .into_iter()
            .filter(|n| !n.ends_with('/'))
            .collect();
        names.sort();
        Ok(names)
    }

    fn cached(&self, name: &str) -> Option<Arc<KeyRing>> {
        self.cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    fn write_cache(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<KeyRing>>> {
        self.cache.write().unwrap_or_else(PoisonError::into_inner)
    }
}
