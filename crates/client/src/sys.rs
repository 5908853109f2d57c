//! Typed helpers for the raw `sys/` handlers: init, seal-status, unseal, seal, leader
//! (generate-root and rekey have their own modules).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{Client, Result, SecretString};

/// `GET sys/seal-status` (also the answer of `sys/unseal`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SealStatus {
    /// Seal kind: `shamir`, `pkcs11`, ...
    #[serde(rename = "type", default)]
    pub seal_type: String,
    /// Whether `sys/init` has run.
    #[serde(default)]
    pub initialized: bool,
    /// Whether the barrier is sealed.
    #[serde(default)]
    pub sealed: bool,
    /// Threshold (`t`): shares needed (recovery shares with an auto seal).
    #[serde(rename = "t", default)]
    pub threshold: u32,
    /// Total shares (`n`).
    #[serde(rename = "n", default)]
    pub shares: u32,
    /// Shares submitted so far.
    #[serde(default)]
    pub progress: u32,
    /// Nonce of the unseal attempt in progress.
    #[serde(default)]
    pub nonce: String,
    /// Server version.
    #[serde(default)]
    pub version: String,
    /// Build date.
    #[serde(default)]
    pub build_date: String,
    /// A seal migration is in progress.
    #[serde(default)]
    pub migration: bool,
    /// Cluster name (only when unsealed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Cluster id (only when unsealed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// True with an auto seal: `t`/`n` then describe recovery shares.
    #[serde(default)]
    pub recovery_seal: bool,
    /// Kind of the recovery seal (`shamir`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_seal_type: Option<String>,
    /// Storage backend name.
    #[serde(default)]
    pub storage_type: String,
    /// Fields this client does not know, kept so `-format=json` shows everything.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

impl SealStatus {
    /// True for seals that unseal themselves (HSM, KMS): init then takes recovery shares.
    pub fn is_auto_seal(&self) -> bool {
        self.recovery_seal || (!self.seal_type.is_empty() && self.seal_type != "shamir")
    }
}

/// `PUT sys/init` body. Unset fields are not sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct InitRequest {
    /// Number of unseal key shares (Shamir seal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_shares: Option<u32>,
    /// Unseal threshold (Shamir seal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_threshold: Option<u32>,
    /// Number of recovery shares (auto seal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_shares: Option<u32>,
    /// Recovery threshold (auto seal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_threshold: Option<u32>,
    /// Shares stored by the seal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored_shares: Option<u32>,
}

/// `PUT sys/init` answer. Key material: no `Clone`, redacted `Debug`.
#[derive(Debug, Deserialize)]
pub struct InitResponse {
    /// Unseal shares, hex.
    #[serde(default)]
    pub keys: Vec<SecretString>,
    /// Unseal shares, base64.
    #[serde(default)]
    pub keys_base64: Vec<SecretString>,
    /// Recovery shares, hex.
    #[serde(default)]
    pub recovery_keys: Vec<SecretString>,
    /// Recovery shares, base64.
    #[serde(default)]
    pub recovery_keys_base64: Vec<SecretString>,
    /// The initial root token.
    pub root_token: SecretString,
}

/// `GET sys/leader`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LeaderStatus {
    /// HA storage is in use.
    #[serde(default)]
    pub ha_enabled: bool,
    /// This node is the active one.
    #[serde(default)]
    pub is_self: bool,
    /// When the active node became active (RFC 3339).
    #[serde(default)]
    pub active_time: String,
    /// API address of the active node.
    #[serde(default)]
    pub leader_address: String,
    /// Cluster address of the active node.
    #[serde(default)]
    pub leader_cluster_address: String,
    /// This node is a performance standby.
    #[serde(default)]
    pub performance_standby: bool,
    /// Fields this client does not know.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

impl Client {
    /// `GET sys/init`: whether the server is initialised.
    pub async fn init_status(&self) -> Result<bool> {
        #[derive(Deserialize)]
        struct InitStatus {
            initialized: bool,
        }
        Ok(self.get_json::<InitStatus>("sys/init").await?.initialized)
    }

    /// `PUT sys/init`.
    pub async fn init(&self, request: &InitRequest) -> Result<InitResponse> {
        let body = serde_json::to_value(request).unwrap_or_else(|_| json!({}));
        self.put_json("sys/init", &body).await
    }

    /// `GET sys/seal-status`.
    pub async fn seal_status(&self) -> Result<SealStatus> {
        self.get_json("sys/seal-status").await
    }

    /// `PUT sys/unseal` with one share; `migrate` for seal migration.
    pub async fn unseal(&self, key: &SecretString, migrate: bool) -> Result<SealStatus> {
        let body = json!({ "key": key.expose(), "migrate": migrate });
        self.put_json("sys/unseal", &body).await
    }

    /// `PUT sys/unseal` with `reset`: discards the shares submitted so far.
    pub async fn unseal_reset(&self) -> Result<SealStatus> {
        self.put_json("sys/unseal", &json!({ "reset": true })).await
    }

    /// `PUT sys/seal` (needs a root or sudo token).
    pub async fn seal(&self) -> Result<()> {
        self.write("sys/seal", &json!({})).await.map(|_| ())
    }

    /// `GET sys/leader`.
    pub async fn leader(&self) -> Result<LeaderStatus> {
        self.get_json("sys/leader").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_status_keeps_unknown_fields_for_json_output() {
        let status: SealStatus = serde_json::from_str(
            r#"{"type":"shamir","initialized":true,"sealed":true,"t":3,"n":5,"progress":1,
                "nonce":"abc","version":"0.1.0","build_date":"","migration":false,
                "recovery_seal":false,"storage_type":"inmem","future_field":7}"#,
        )
        .expect("parse");
        assert_eq!(
            (status.threshold, status.shares, status.progress),
            (3, 5, 1)
        );
        assert_eq!(status.other.get("future_field"), Some(&Value::from(7)));
        let back = serde_json::to_value(&status).expect("serialize");
        assert_eq!(back["future_field"], 7);
        assert_eq!(back["t"], 3);
    }

    #[test]
    fn pkcs11_seal_or_recovery_seal_counts_as_auto_seal() {
        let shamir = SealStatus {
            seal_type: "shamir".into(),
            ..SealStatus::default()
        };
        assert!(!shamir.is_auto_seal());
        let pkcs11 = SealStatus {
            seal_type: "pkcs11".into(),
            ..SealStatus::default()
        };
        assert!(pkcs11.is_auto_seal());
        let recovery = SealStatus {
            recovery_seal: true,
            ..shamir
        };
        assert!(recovery.is_auto_seal());
    }

    #[test]
    fn init_request_omits_unset_fields() {
        let request = InitRequest {
            recovery_shares: Some(3),
            recovery_threshold: Some(2),
            ..InitRequest::default()
        };
        assert_eq!(
            serde_json::to_value(&request).expect("serialize"),
            json!({"recovery_shares": 3, "recovery_threshold": 2})
        );
    }
}
