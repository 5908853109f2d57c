//! What an engine sees of managed keys: the keys its mount may use (named
//! in the mount's `allowed_managed_keys`, or with `any_mount`), found by
//! name or id, and the provider that reaches them.

use std::sync::Arc;

use super::{MANAGED_KEYS_PREFIX, ManagedKeyEntry, ManagedKeyProvider};
use crate::error::{CoreError, CoreResult};
use crate::storage::barrier::Barrier;
use crate::storage::view::View;

/// One mount's access to managed keys (part of the engine's context).
#[derive(Clone)]
pub struct MountManagedKeys {
    provider: Option<Arc<dyn ManagedKeyProvider>>,
    entries: View,
    allowed: Vec<String>,
}

impl MountManagedKeys {
    /// Access for a mount allowing `allowed`.
    pub fn new(
        provider: Option<Arc<dyn ManagedKeyProvider>>,
        barrier: Arc<Barrier>,
        allowed: Vec<String>,
    ) -> Self {
        Self {
            provider,
            entries: View::new(barrier, MANAGED_KEYS_PREFIX),
            allowed,
        }
    }

    /// No managed keys at all (engines in tests, nodes without a provider).
    pub fn none(barrier: Arc<Barrier>) -> Self {
        Self::new(None, barrier, Vec::new())
    }

    /// The provider that performs the operations.
    pub fn provider(&self) -> CoreResult<&dyn ManagedKeyProvider> {
        self.provider.as_deref().ok_or_else(|| {
            CoreError::NotSupported("managed keys on this node (no provider)".to_owned())
        })
    }

    /// The managed key named `name`, or with UUID `id` (exactly one of them
    /// given), if this mount may use it.
    pub async fn resolve(
        &self,
        name: Option<&str>,
        id: Option<&str>,
    ) -> CoreResult<ManagedKeyEntry> {
        self.provider()?;
        let entry = match (name.filter(|n| !n.is_empty()), id.filter(|i| !i.is_empty())) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(CoreError::invalid(
                    "give exactly one of managed_key_name and managed_key_id",
                ));
            }
            (Some(name), None) => self
                .entries
                .get_json::<ManagedKeyEntry>(name)
                .await?
                .ok_or_else(|| CoreError::invalid(format!("no managed key named {name:?}")))?,
            (None, Some(id)) => {
                let mut found = None;
                for name in self.entries.list("").await? {
                    if let Some(e) = self.entries.get_json::<ManagedKeyEntry>(&name).await?
                        && e.uuid == id
                    {
                        found = Some(e);
                        break;
                    }
                }
                found.ok_or_else(|| CoreError::invalid(format!("no managed key has id {id:?}")))?
            }
        };
        if entry.any_mount || self.allowed.contains(&entry.name) {
            Ok(entry)
        } else {
            Err(CoreError::invalid(format!(
                "managed key {:?} is not allowed on this mount: add it to the mount's \
                 allowed_managed_keys (secrets tune -allowed-managed-keys), or set any_mount on \
                 the key",
                entry.name
            )))
        }
    }
}
