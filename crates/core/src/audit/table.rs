//! The audit table as persisted in the barrier, and where each device's salt
//! lives.
//!
//! Layout, as Vault's (`core/audit`, `audit/<uuid>/salt`):
//!
//! | key | value |
//! |---|---|
//! | `core/audit` | [`StoredAuditTable`]: every enabled device, in enable order |
//! | `audit/<uuid>/salt` | the device's HMAC key (seal-wrapped with an HSM seal) |
//!
//! Disabling a device deletes its salt; enabling a device again at the same
//! path draws a new uuid and a new salt, so hashes of the old log no longer
//! match `sys/audit-hash`.

use coffer_audit::AuditTableEntry;
use serde::{Deserialize, Serialize};

/// Storage path of the audit table (inside the barrier).
pub(crate) const AUDIT_TABLE_PATH: &str = "core/audit";
/// Where the devices' salts live: `audit/<uuid>/salt`.
pub(crate) const AUDIT_PREFIX: &str = "audit/";
/// The salt's key inside a device's `audit/<uuid>/` view.
pub(crate) const AUDIT_SALT_KEY: &str = "salt";
/// Values of a device's view that are critical security parameters,
/// seal-wrapped with an HSM seal: the salt, the key of every hash in its log.
pub(crate) const AUDIT_SEAL_WRAPPED: &[&str] = &[AUDIT_SALT_KEY];

/// One enabled device: what `GET sys/audit` lists, plus the uuid naming its
/// salt and a non-secret accessor (`audit_file_1a2b3c4d`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredAuditEntry {
    /// Type, description, options (as given), `local` and path.
    #[serde(flatten)]
    pub entry: AuditTableEntry,
    /// Names the device's storage (`audit/<uuid>/`).
    pub uuid: String,
    /// Non-secret identifier, as Vault gives audit devices.
    pub accessor: String,
}

impl StoredAuditEntry {
    /// Where this device's salt and any other state live in the barrier.
    pub(crate) fn storage_prefix(&self) -> String {
        format!("{AUDIT_PREFIX}{}/", self.uuid)
    }
}

/// The persisted list of audit devices.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredAuditTable {
    /// Entries in enable order.
    pub entries: Vec<StoredAuditEntry>,
}

impl StoredAuditTable {
    /// The entry whose path equals `path`, or contains it or lies inside it
    /// (`team/` and `team/a/`): Vault refuses such overlapping paths.
    pub(crate) fn conflicts(&self, path: &str) -> Option<&StoredAuditEntry> {
        self.entries
            .iter()
            .find(|e| e.entry.path.starts_with(path) || path.starts_with(&e.entry.path))
    }

    /// The entry enabled exactly at `path` (with trailing `/`).
    pub(crate) fn get(&self, path: &str) -> Option<&StoredAuditEntry> {
        self.entries.iter().find(|e| e.entry.path == path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn stored(path: &str) -> StoredAuditEntry {
        StoredAuditEntry {
            entry: AuditTableEntry {
                device_type: "file".to_owned(),
                description: String::new(),
                options: BTreeMap::from([("file_path".to_owned(), "discard".to_owned())]),
                local: false,
                path: path.to_owned(),
            },
            uuid: "u".to_owned(),
            accessor: "audit_file_00000000".to_owned(),
        }
    }

    #[test]
    fn nested_or_equal_paths_conflict_and_siblings_do_not() {
        let t = StoredAuditTable {
            entries: vec![stored("team/")],
        };
        assert!(t.conflicts("team/").is_some());
        assert!(t.conflicts("team/a/").is_some());
        assert!(t.conflicts("teams/").is_none());
        let nested = StoredAuditTable {
            entries: vec![stored("team/a/")],
        };
        assert!(nested.conflicts("team/").is_some());
    }

    #[test]
    fn the_table_round_trips_with_the_entry_fields_at_top_level() {
        let t = StoredAuditTable {
            entries: vec![stored("file/")],
        };
        let json = serde_json::to_value(&t).expect("encode");
        assert_eq!(json["entries"][0]["type"], "file");
        assert_eq!(json["entries"][0]["path"], "file/");
        assert_eq!(json["entries"][0]["uuid"], "u");
        let back: StoredAuditTable = serde_json::from_value(json).expect("decode");
        assert_eq!(back, t);
        assert_eq!(back.entries[0].storage_prefix(), "audit/u/");
    }
}
