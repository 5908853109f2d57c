//! Longest-prefix routing from a request path to a mounted engine.
//!
//! The table is immutable once built; a mount change builds a new table and
//! swaps an `Arc`, so request routing never waits on a write lock.

use crate::engine::Engine;
use crate::mount::{MountEntry, MountTable};
use std::collections::HashMap;
use std::sync::Arc;

/// Mounts and their live engine instances.
#[derive(Clone, Default)]
pub(crate) struct RouterTable {
    /// The persisted mount table this was built from.
    pub mounts: MountTable,
    /// The persisted auth table (entries' paths start with `auth/`).
    pub auth: MountTable,
    engines: HashMap<String, Arc<dyn Engine>>,
}

impl std::fmt::Debug for RouterTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterTable")
            .field("mounts", &self.mounts)
            .field("auth", &self.auth)
            .finish()
    }
}

/// A routed request: the mount, its engine and the path inside the mount.
pub(crate) struct Routed<'a> {
    /// The mount entry.
    pub mount: &'a MountEntry,
    /// Its engine (none for the built-in `sys/` mount).
    pub engine: Option<Arc<dyn Engine>>,
    /// Path relative to the mount point.
    pub rest: String,
}

impl RouterTable {
    /// Builds a table from mounts and their engines.
    pub(crate) fn new(
        mounts: MountTable,
        auth: MountTable,
        engines: HashMap<String, Arc<dyn Engine>>,
    ) -> Self {
        Self {
            mounts,
            auth,
            engines,
        }
    }

    /// The auth method whose mount accessor is `accessor`, with its engine.
    pub(crate) fn auth_by_accessor(
        &self,
        accessor: &str,
    ) -> Option<(&MountEntry, Arc<dyn Engine>)> {
        let mount = self.auth.entries.iter().find(|m| m.accessor == accessor)?;
        Some((mount, self.engines.get(&mount.path)?.clone()))
    }

    /// Finds the mount serving `path`.
    pub(crate) fn route(&self, path: &str) -> Option<Routed<'_>> {
        let table = if path.starts_with(crate::mount::AUTH_PREFIX) {
            &self.auth
        } else {
            &self.mounts
        };
        let mount = table.longest_match(path)?;
        let rest = path
            .strip_prefix(mount.path.as_str())
            .unwrap_or("")
            .to_owned();
        Some(Routed {
            mount,
            engine: self.engines.get(&mount.path).cloned(),
            rest,
        })
    }
}
