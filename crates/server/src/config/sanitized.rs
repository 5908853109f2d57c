//! The configuration as `sys/config/state/sanitized` shows it: Vault's
//! shape, without anything that can hold a secret. As in Vault, the storage
//! and seal stanzas' own settings are left out entirely (the PostgreSQL
//! connection URL, an HSM PIN), keeping only their types.

use super::{Config, SealConfig, StorageConfig};
use serde_json::{Value, json};

impl Config {
    /// See the module docs.
    pub fn sanitized(&self) -> Value {
        let (storage_type, ha_enabled) = match &self.storage {
            StorageConfig::Embedded { .. } => ("embedded", false),
            StorageConfig::File { .. } => ("file", false),
            StorageConfig::Inmem => ("inmem", false),
            StorageConfig::Postgresql { ha_enabled, .. } => ("postgresql", *ha_enabled),
        };
        let seals: Vec<Value> = self
            .seals
            .iter()
            .map(|s| {
                let kind = match s {
                    SealConfig::Shamir(_) => "shamir",
                    SealConfig::Pkcs11(_) => "pkcs11",
                };
                json!({"type": kind, "disabled": s.disabled()})
            })
            .collect();
        let seals = if seals.is_empty() {
            vec![json!({"type": "shamir", "disabled": false})]
        } else {
            seals
        };
        let listeners: Vec<Value> = self
            .listeners
            .iter()
            .map(|l| {
                json!({
                    "type": "tcp",
                    "config": {
                        "address": l.address,
                        "tls_disable": l.tls_disable,
                        "max_request_size": l.max_request_size,
                        "max_concurrent_requests": l.max_concurrent_requests,
                        "cluster_address": l.cluster_address.clone().unwrap_or_default(),
                        "x_forwarded_for_authorized_addrs": l.x_forwarded_for.as_ref().map(|x| {
                            x.authorized_addrs.iter().map(ToString::to_string).collect::<Vec<_>>()
                        }),
                    },
                })
            })
            .collect();
        json!({
            "api_addr": self.api_addr.clone().unwrap_or_default(),
            "cluster_addr": self.cluster_addr.clone().unwrap_or_default(),
            "cluster_name": self.cluster_name.clone().unwrap_or_default(),
            "default_lease_ttl": self.default_lease_ttl.as_secs(),
            "max_lease_ttl": self.max_lease_ttl.as_secs(),
            "disable_clustering": self.disable_clustering,
            "disable_mlock": self.disable_mlock,
            "enable_ui": self.ui,
            "log_level": self.log_level.as_str(),
            "raw_storage_endpoint": self.raw_storage_endpoint,
            "listeners": listeners,
            "seals": seals,
            "storage": {
                "type": storage_type,
                "ha_enabled": ha_enabled,
                "redirect_addr": self.api_addr.clone().unwrap_or_default(),
                "cluster_addr": self.cluster_addr.clone().unwrap_or_default(),
                "disable_clustering": self.disable_clustering,
            },
        })
    }
}
