//! Mount entries and the mount table, persisted through the barrier at
//! `core/mounts`.

mod path;
pub(crate) mod router;

pub use path::MountPath;

use crate::ttl::Ttl;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Storage path of the mount table (inside the barrier).
pub const MOUNT_TABLE_PATH: &str = "core/mounts";
/// Storage path of the auth table (auth method mounts, inside the barrier).
pub const AUTH_TABLE_PATH: &str = "core/auth";
/// Where auth methods are mounted in the request path space.
pub const AUTH_PREFIX: &str = "auth/";

/// Lease TTL settings of a mount (seconds; 0 = system default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountConfig {
    /// `default_lease_ttl` in seconds.
    pub default_lease_ttl: Ttl,
    /// `max_lease_ttl` in seconds.
    pub max_lease_ttl: Ttl,
    /// `force_no_cache`.
    pub force_no_cache: bool,
    /// Managed keys (`sys/managed-keys`) the mount's engine may use, by
    /// name, besides those with `any_mount`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_managed_keys: Vec<String>,
}

/// One mounted secrets engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountEntry {
    /// Mount point with a trailing `/` (`secret/`).
    pub path: String,
    /// Engine type (`kv`, `cubbyhole`, `system`).
    #[serde(rename = "type")]
    pub engine_type: String,
    /// Free-text description.
    pub description: String,
    /// Non-secret identifier (`kv_1a2b3c4d`).
    pub accessor: String,
    /// Unique id; the mount's storage lives under `logical/<uuid>/`.
    pub uuid: String,
    /// TTL settings.
    pub config: MountConfig,
    /// Engine options (`version` for kv).
    pub options: BTreeMap<String, String>,
    /// Not replicated (always true for cubbyhole).
    pub local: bool,
    /// Seal-wrap every value (needs an HSM seal).
    pub seal_wrap: bool,
    /// Keys of this mount draw on the seal's entropy source.
    pub external_entropy_access: bool,
}

impl MountEntry {
    /// Refuses a tune that would change what is fixed when a mount is
    /// created (as in Vault): `seal_wrap` and `external_entropy_access`.
    pub fn check_fixed_at_mount(
        &self,
        seal_wrap: Option<bool>,
        external_entropy_access: Option<bool>,
    ) -> crate::CoreResult<()> {
        if seal_wrap.is_some_and(|v| v != self.seal_wrap) {
            return Err(crate::CoreError::invalid(
                "seal_wrap cannot be changed after the mount is created",
            ));
        }
        if external_entropy_access.is_some_and(|v| v != self.external_entropy_access) {
            return Err(crate::CoreError::invalid(
                "external_entropy_access cannot be changed after the mount is created",
            ));
        }
        Ok(())
    }

    /// Whether this is an auth method (its `path` starts with `auth/`).
    pub fn is_auth(&self) -> bool {
        self.path.starts_with(AUTH_PREFIX)
    }

    /// Where this mount's data lives inside the barrier: `logical/<uuid>/`
    /// for secrets engines, `auth/<uuid>/` for auth methods.
    pub fn storage_prefix(&self) -> String {
        let kind = if self.engine_type == "system" {
            return "sys/".to_owned();
        } else if self.is_auth() {
            "auth/"
        } else {
            "logical/"
        };
        // Built per request (each request's view): one exact allocation.
        let mut prefix = String::with_capacity(kind.len() + self.uuid.len() + 1);
        prefix.push_str(kind);
        prefix.push_str(&self.uuid);
        prefix.push('/');
        prefix
    }
}

/// The persisted list of mounts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MountTable {
    /// Entries in mount order.
    pub entries: Vec<MountEntry>,
    /// Storage prefixes of disabled mounts whose data is still being
    /// deleted. A disable records the prefix here in the same write that
    /// removes the entry, so a crash part-way through the deletion is
    /// finished at the next unseal instead of leaving unreachable data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removing: Vec<String>,
}

impl MountTable {
    /// The entry with the longest mount path that prefixes `path`.
    pub fn longest_match(&self, path: &str) -> Option<&MountEntry> {
        self.entries
            .iter()
            .filter(|m| path.starts_with(&m.path) || path == m.path.trim_end_matches('/'))
            .max_by_key(|m| m.path.len())
    }

    /// The entry mounted exactly at `path` (with trailing `/`).
    pub fn get(&self, path: &str) -> Option<&MountEntry> {
        self.entries.iter().find(|m| m.path == path)
    }

    /// Whether `path` would overlap an existing mount (equal, inside, or around it).
    pub fn conflicts(&self, path: &str) -> Option<&MountEntry> {
        self.entries
            .iter()
            .find(|m| path.starts_with(&m.path) || m.path.starts_with(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> MountEntry {
        MountEntry {
            path: path.to_owned(),
            engine_type: "kv".to_owned(),
            description: String::new(),
            accessor: String::new(),
            uuid: path.to_owned(),
            config: MountConfig::default(),
            options: BTreeMap::new(),
            local: false,
            seal_wrap: false,
            external_entropy_access: false,
        }
    }

    #[test]
    fn longest_prefix_wins_and_partial_segments_do_not_match() {
        let t = MountTable {
            entries: vec![entry("kv/"), entry("kv/team/"), entry("kvx/")],
            ..MountTable::default()
        };
        assert_eq!(
            t.longest_match("kv/team/a").expect("match").path,
            "kv/team/"
        );
        assert_eq!(t.longest_match("kv/other").expect("match").path, "kv/");
        assert_eq!(t.longest_match("kv").expect("match").path, "kv/");
        assert!(t.longest_match("k").is_none());
        assert!(t.conflicts("kv/team/x/").is_some());
        assert!(t.conflicts("k/").is_none());
    }
}
