//! A stored AppRole role (`role/<name>`) and the role-id index
//! (`role_id/<hmac>` → name), so a login finds its role without scanning
//! and the stored index reveals no role id.

use coffer_core::Ttl;
use coffer_core::token::TokenParams;
use serde::{Deserialize, Serialize};

/// One role.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Role {
    /// The role id (not secret in Vault's model, but only needed at login).
    pub(crate) role_id: String,
    /// Whether a login needs a secret id.
    pub(crate) bind_secret_id: bool,
    /// Client addresses allowed to log in with this role's secret ids.
    #[serde(default)]
    pub(crate) secret_id_bound_cidrs: Vec<String>,
    /// Uses of each new secret id; 0 for unlimited.
    #[serde(default)]
    pub(crate) secret_id_num_uses: u64,
    /// Lifetime of each new secret id in seconds; 0 for never expiring.
    #[serde(default)]
    pub(crate) secret_id_ttl: Ttl,
    /// Settings of the issued tokens.
    #[serde(default)]
    pub(crate) token: TokenParams,
}

/// Storage key of a role (names are case-insensitive).
pub(crate) fn key(name: &str) -> String {
    format!("role/{}", name.to_lowercase())
}

/// Storage key of the role-id index entry for a role id's HMAC.
pub(crate) fn index_key(role_id_hmac: &str) -> String {
    format!("role_id/{role_id_hmac}")
}
