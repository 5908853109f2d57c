//! What KV v2 stores, and how it is shown on the wire.
//!
//! Layout inside the mount's view:
//! - `config`: the mount-wide [`KvConfig`];
//! - `metadata/<path>`: one [`KeyMetadata`] per secret; listing walks this
//!   tree, so a key with metadata but no live version still lists;
//! - `versions/<path>/<n>`: the data of version `n`, the user's JSON object.
//!
//! Version numbers are leaves under `versions/<path>/`, and other secrets'
//! folders there end in `/`, so `a`'s version 1 and the secret `a/1` never
//! collide.

use crate::key_path::KeyPath;
use coffer_core::Ttl;
use coffer_core::clock::rfc3339;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::time::SystemTime;

/// The user's secret: an arbitrary JSON object, stored as sent.
pub(crate) type SecretData = Map<String, Value>;

/// Versions kept per key when neither the key nor the mount says otherwise.
pub(crate) const DEFAULT_MAX_VERSIONS: u32 = 10;

/// Storage key of the mount configuration.
pub(crate) const CONFIG_KEY: &str = "config";

/// Storage prefix of the metadata tree.
pub(crate) const METADATA_PREFIX: &str = "metadata/";

/// Storage key of `key`'s metadata.
pub(crate) fn metadata_key(key: &KeyPath) -> String {
    format!("{METADATA_PREFIX}{key}")
}

/// Storage folder holding `key`'s version data.
pub(crate) fn versions_prefix(key: &KeyPath) -> String {
    format!("versions/{key}/")
}

/// Storage key of version `version` of `key`.
pub(crate) fn version_key(key: &KeyPath, version: u64) -> String {
    format!("versions/{key}/{version}")
}

/// Mount-wide settings (`<mount>/config`). Zero means "not set".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KvConfig {
    /// Versions kept per key; 0 means [`DEFAULT_MAX_VERSIONS`].
    pub(crate) max_versions: u32,
    /// Every write must carry `options.cas`.
    pub(crate) cas_required: bool,
    /// Seconds after which a new version reads as deleted; 0 is never.
    pub(crate) delete_version_after: Ttl,
}

impl KvConfig {
    /// The `config` read response.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "max_versions": self.max_versions,
            "cas_required": self.cas_required,
            "delete_version_after": self.delete_version_after.go_string(),
        })
    }
}

/// Everything known about one secret except its data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyMetadata {
    /// When the metadata was first written.
    pub(crate) created_time: SystemTime,
    /// When a version or a setting last changed.
    pub(crate) updated_time: SystemTime,
    /// The newest version number (0 before the first write).
    pub(crate) current_version: u64,
    /// The oldest version still kept, once pruning has started (0 before).
    pub(crate) oldest_version: u64,
    /// Per-key version limit; 0 defers to the mount.
    pub(crate) max_versions: u32,
    /// Per-key check-and-set requirement (ORed with the mount's).
    pub(crate) cas_required: bool,
    /// Per-key automatic deletion delay in seconds; 0 defers to the mount.
    pub(crate) delete_version_after: Ttl,
    /// User-supplied, non-secret annotations.
    pub(crate) custom_metadata: BTreeMap<String, String>,
    /// Every kept version, by number.
    pub(crate) versions: BTreeMap<u64, VersionMeta>,
}

/// The life of one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VersionMeta {
    /// When it was written.
    pub(crate) created_time: SystemTime,
    /// When it was (or will be, with `delete_version_after`) soft-deleted.
    pub(crate) deletion_time: Option<SystemTime>,
    /// Its data is gone for good.
    pub(crate) destroyed: bool,
}

impl VersionMeta {
    /// Readable at `now`: neither destroyed nor past its deletion time.
    pub(crate) fn is_live(&self, now: SystemTime) -> bool {
        !self.destroyed && !self.is_deleted(now)
    }

    /// Soft-deleted at `now` (a scheduled deletion counts once reached).
    pub(crate) fn is_deleted(&self, now: SystemTime) -> bool {
        self.deletion_time.is_some_and(|t| t <= now)
    }

    fn summary_json(&self) -> Value {
        json!({
            "created_time": rfc3339(self.created_time),
            "deletion_time": time_or_empty(self.deletion_time),
            "destroyed": self.destroyed,
        })
    }
}

impl KeyMetadata {
    /// Metadata of a secret that has no version yet.
    pub(crate) fn new(now: SystemTime) -> Self {
        Self {
            created_time: now,
            updated_time: now,
            current_version: 0,
            oldest_version: 0,
            max_versions: 0,
            cas_required: false,
            delete_version_after: Ttl::ZERO,
            custom_metadata: BTreeMap::new(),
            versions: BTreeMap::new(),
        }
    }

    /// Records a new version written at `now` and prunes beyond the version
    /// limit. Returns the new version number and the pruned ones, whose
    /// data the caller deletes.
    pub(crate) fn add_version(&mut self, now: SystemTime, config: &KvConfig) -> (u64, Vec<u64>) {
        let version = self.current_version + 1;
        self.current_version = version;
        self.updated_time = now;
        self.versions.insert(
            version,
            VersionMeta {
                created_time: now,
                deletion_time: deletion_time(
                    now,
                    config.delete_version_after,
                    self.delete_version_after,
                ),
                destroyed: false,
            },
        );
        let max = match (self.max_versions, config.max_versions) {
            (0, 0) => DEFAULT_MAX_VERSIONS,
            (0, mount) => mount,
            (key, _) => key,
        };
        let mut pruned = Vec::new();
        if self.versions.len() > max as usize {
            let cutoff = version - u64::from(max);
            let kept = self.versions.split_off(&(cutoff + 1));
            pruned = std::mem::replace(&mut self.versions, kept)
                .into_keys()
                .collect();
            self.oldest_version = cutoff + 1;
        }
        (version, pruned)
    }

    /// The version a read asks for (`None` or 0: the current one), if kept.
    pub(crate) fn pick(&self, requested: Option<u64>) -> Option<(u64, &VersionMeta)> {
        let version = match requested {
            None | Some(0) => self.current_version,
            Some(v) => v,
        };
        self.versions.get(&version).map(|vm| (version, vm))
    }

    /// The `metadata/<path>` read response.
    pub(crate) fn to_json(&self) -> Value {
        let versions: Map<String, Value> = self
            .versions
            .iter()
            .map(|(n, vm)| (n.to_string(), vm.summary_json()))
            .collect();
        json!({
            "cas_required": self.cas_required,
            "created_time": rfc3339(self.created_time),
            "current_version": self.current_version,
            "custom_metadata": self.custom_metadata_json(),
            "delete_version_after": self.delete_version_after.go_string(),
            "max_versions": self.max_versions,
            "oldest_version": self.oldest_version,
            "updated_time": rfc3339(self.updated_time),
            "versions": versions,
        })
    }

    /// The per-version metadata block of data reads, writes and subkeys.
    pub(crate) fn version_json(&self, version: u64, vm: &VersionMeta) -> Value {
        json!({
            "created_time": rfc3339(vm.created_time),
            "custom_metadata": self.custom_metadata_json(),
            "deletion_time": time_or_empty(vm.deletion_time),
            "destroyed": vm.destroyed,
            "version": version,
        })
    }

    /// Vault shows absent custom metadata as `null`, not `{}`.
    fn custom_metadata_json(&self) -> Value {
        if self.custom_metadata.is_empty() {
            Value::Null
        } else {
            json!(self.custom_metadata)
        }
    }
}

/// When a version written at `now` expires: the shorter of the mount's and
/// the key's non-zero `delete_version_after`, or never.
fn deletion_time(now: SystemTime, mount: Ttl, key: Ttl) -> Option<SystemTime> {
    let after = mount.tighter(key);
    if after.is_zero() {
        return None;
    }
    now.checked_add(after.as_duration())
}

fn time_or_empty(t: Option<SystemTime>) -> String {
    t.map(rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000 + secs)
    }

    #[test]
    fn versions_beyond_the_limit_are_pruned_oldest_first() {
        let mut meta = KeyMetadata::new(t(0));
        meta.max_versions = 2;
        let config = KvConfig::default();
        assert_eq!(meta.add_version(t(1), &config), (1, vec![]));
        assert_eq!(meta.add_version(t(2), &config), (2, vec![]));
        assert_eq!(meta.oldest_version, 0);
        assert_eq!(meta.add_version(t(3), &config), (3, vec![1]));
        assert_eq!(meta.oldest_version, 2);
        meta.max_versions = 1;
        assert_eq!(meta.add_version(t(4), &config), (4, vec![2, 3]));
        assert_eq!(meta.versions.keys().copied().collect::<Vec<_>>(), [4]);
        assert_eq!(meta.oldest_version, 4);
    }

    #[test]
    fn key_limit_overrides_mount_limit_which_overrides_default() {
        let mut meta = KeyMetadata::new(t(0));
        let config = KvConfig {
            max_versions: 3,
            ..KvConfig::default()
        };
        for i in 1..=4 {
            meta.add_version(t(i), &config);
        }
        assert_eq!(meta.versions.len(), 3);
    }

    #[test]
    fn shorter_non_zero_deletion_delay_wins() {
        let s = Ttl::from_secs;
        assert_eq!(deletion_time(t(0), s(0), s(0)), None);
        assert_eq!(deletion_time(t(0), s(60), s(0)), Some(t(60)));
        assert_eq!(deletion_time(t(0), s(0), s(30)), Some(t(30)));
        assert_eq!(deletion_time(t(0), s(60), s(30)), Some(t(30)));
    }

    #[test]
    fn scheduled_deletion_counts_once_reached() {
        let vm = VersionMeta {
            created_time: t(0),
            deletion_time: Some(t(10)),
            destroyed: false,
        };
        assert!(vm.is_live(t(9)));
        assert!(!vm.is_live(t(10)));
    }

    #[test]
    fn metadata_round_trips_through_json_storage() {
        let mut meta = KeyMetadata::new(t(0));
        meta.add_version(t(1), &KvConfig::default());
        let bytes = serde_json::to_vec(&meta).expect("encode");
        let back: KeyMetadata = serde_json::from_slice(&bytes).expect("decode");
        assert_eq!(back, meta);
    }
}
