//! Secret ids, stored only as HMAC-SHA256 under the mount's salt
//! (`secret_id/<role>/<hmac>`), with an accessor index
//! (`accessor/<role>/<accessor>` → hmac) for listing and destroying.

use coffer_core::Ttl;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What is stored about one secret id.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct SecretIdEntry {
    /// Non-secret handle.
    pub(crate) accessor: String,
    /// Creation time, unix seconds.
    pub(crate) creation_time: u64,
    /// Expiry, unix seconds; 0 for never.
    pub(crate) expiration_time: u64,
    /// TTL at creation, seconds.
    pub(crate) ttl: Ttl,
    /// Uses left; 0 for unlimited.
    pub(crate) num_uses: u64,
    /// Client addresses allowed to use it.
    #[serde(default)]
    pub(crate) cidr_list: Vec<String>,
    /// Free-form metadata.
    #[serde(default)]
    pub(crate) metadata: BTreeMap<String, String>,
    /// Where tokens issued with it may be used from (within the role's
    /// `token_bound_cidrs`); empty for the role's.
    #[serde(default)]
    pub(crate) token_bound_cidrs: Vec<String>,
}

impl SecretIdEntry {
    /// Whether it has expired at `now`.
    pub(crate) fn expired(&self, now: u64) -> bool {
        self.expiration_time > 0 && now >= self.expiration_time
    }
}

/// Storage key of a secret id by its HMAC.
pub(crate) fn key(role: &str, hmac: &str) -> String {
    format!("secret_id/{role}/{hmac}")
}

/// Storage key of an accessor's index entry.
pub(crate) fn accessor_key(role: &str, accessor: &str) -> String {
    format!("accessor/{role}/{accessor}")
}
