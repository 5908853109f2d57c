//! The version settings a mount (`config`) and a key (`metadata/<path>`)
//! both carry: version limit, check-and-set requirement and automatic
//! deletion delay. Both writes accept them in the same weak forms and change
//! only the fields sent.

use super::model::{KeyMetadata, KvConfig};
use coffer_core::Ttl;
use coffer_core::engine::field::{opt_bool, opt_u64};
use coffer_core::{CoreError, CoreResult};
use serde::Deserialize;

/// The settings fields of a `config` or `metadata/<path>` write; absent
/// fields keep their value.
#[derive(Debug, Deserialize)]
pub(super) struct SettingsBody {
    #[serde(default, deserialize_with = "opt_u64")]
    max_versions: Option<u64>,
    #[serde(default, deserialize_with = "opt_bool")]
    cas_required: Option<bool>,
    #[serde(default)]
    delete_version_after: Option<Ttl>,
}

/// A checked [`SettingsBody`], ready to apply.
#[derive(Debug)]
pub(super) struct SettingsChange {
    max_versions: Option<u32>,
    cas_required: Option<bool>,
    delete_version_after: Option<Ttl>,
}

impl SettingsBody {
    /// Rejects values Vault would; done before any lock is taken.
    pub(super) fn validate(self) -> CoreResult<SettingsChange> {
        Ok(SettingsChange {
            max_versions: self.max_versions.map(max_versions_u32).transpose()?,
            cas_required: self.cas_required,
            delete_version_after: self.delete_version_after,
        })
    }
}

impl SettingsChange {
    /// Sets the mount-wide settings that were sent.
    pub(super) fn apply_to_config(&self, config: &mut KvConfig) {
        self.apply(
            &mut config.max_versions,
            &mut config.cas_required,
            &mut config.delete_version_after,
        );
    }

    /// Sets the per-key settings that were sent.
    pub(super) fn apply_to_key(&self, meta: &mut KeyMetadata) {
        self.apply(
            &mut meta.max_versions,
            &mut meta.cas_required,
            &mut meta.delete_version_after,
        );
    }

    fn apply(&self, max_versions: &mut u32, cas_required: &mut bool, delete_after: &mut Ttl) {
        if let Some(n) = self.max_versions {
            *max_versions = n;
        }
        if let Some(b) = self.cas_required {
            *cas_required = b;
        }
        if let Some(after) = self.delete_version_after {
            *delete_after = after;
        }
    }
}

/// Vault keeps version limits as 32-bit numbers.
fn max_versions_u32(n: u64) -> CoreResult<u32> {
    u32::try_from(n)
        .map_err(|_| CoreError::invalid(format!("max_versions must be at most {}", u32::MAX)))
}
