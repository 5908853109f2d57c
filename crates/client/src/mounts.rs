//! Typed helpers for `sys/mounts`: list, enable, disable, tune.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::{Client, Error, Method, Result};

/// One entry of `GET sys/mounts`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MountOutput {
    /// Engine type (`kv`, `transit`, ...).
    #[serde(rename = "type", default)]
    pub mount_type: String,
    /// Free-text description.
    #[serde(default)]
    pub description: String,
    /// Mount accessor.
    #[serde(default)]
    pub accessor: String,
    /// Tunables.
    #[serde(default)]
    pub config: MountConfigOutput,
    /// Engine options (`{"version": "2"}` for KV v2); `null` when none.
    #[serde(default)]
    pub options: Option<BTreeMap<String, Value>>,
    /// Not replicated.
    #[serde(default)]
    pub local: bool,
    /// Values under this mount get the seal's extra layer of encryption.
    #[serde(default)]
    pub seal_wrap: bool,
    /// The engine draws key material from the seal's entropy source.
    #[serde(default)]
    pub external_entropy_access: bool,
    /// Mount UUID.
    #[serde(default)]
    pub uuid: String,
    /// Fields this client does not know, kept for `-format=json`.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// `config` of a mount entry; TTLs in seconds, 0 meaning "system default".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MountConfigOutput {
    /// Default lease TTL in seconds.
    #[serde(default, deserialize_with = "seconds")]
    pub default_lease_ttl: u64,
    /// Maximum lease TTL in seconds.
    #[serde(default, deserialize_with = "seconds")]
    pub max_lease_ttl: u64,
    /// Responses are never cached.
    #[serde(default)]
    pub force_no_cache: bool,
    /// Managed keys the mount may use.
    #[serde(default)]
    pub allowed_managed_keys: Vec<String>,
    /// Fields this client does not know.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// `POST sys/mounts/:path` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EnableMount {
    /// Engine type (required).
    #[serde(rename = "type")]
    pub mount_type: String,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Tunables.
    pub config: MountConfigInput,
    /// Engine options, e.g. `version = "2"`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    /// Not replicated.
    pub local: bool,
    /// Seal-wrap the mount's values (fixed at mount time).
    pub seal_wrap: bool,
    /// Let the engine use the seal's entropy source (fixed at mount time).
    pub external_entropy_access: bool,
    /// Plugin name, for external plugins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin_name: Option<String>,
}

/// `config` of an enable request; durations as strings (`"30m"`, `"3600"`), as vault sends them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MountConfigInput {
    /// Default lease TTL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_lease_ttl: Option<String>,
    /// Maximum lease TTL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_lease_ttl: Option<String>,
    /// Never cache responses.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub force_no_cache: bool,
    /// Managed keys the mount may use.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_managed_keys: Vec<String>,
}

/// `POST sys/mounts/:path/tune` body; unset fields are left unchanged by the server.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TuneMount {
    /// New default lease TTL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_lease_ttl: Option<String>,
    /// New maximum lease TTL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_lease_ttl: Option<String>,
    /// New description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Options to set.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    /// New list of managed keys the mount may use (`Some(vec![])` clears it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_managed_keys: Option<Vec<String>>,
}

impl Client {
    /// `GET sys/mounts`: mounted secrets engines keyed by path (`"kv/"`).
    pub async fn list_mounts(&self) -> Result<BTreeMap<String, MountOutput>> {
        self.typed_table("sys/mounts", "mount").await
    }

    /// `GET path` of a table keyed by path whose entries carry a `type` (`sys/mounts`,
    /// `sys/audit`), each decoded as `T`; `item` names an entry in errors.
    pub(crate) async fn typed_table<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        item: &str,
    ) -> Result<BTreeMap<String, T>> {
        let raw = self.raw(Method::Get, path, &[], None).await?;
        if !raw.is_success() {
            return Err(raw.to_error());
        }
        // Vault injects the data keys at the top level too; prefer `data`, fall back to the top.
        let table = raw
            .body
            .as_ref()
            .and_then(|b| b.get("data").filter(|d| d.is_object()).or(Some(b)))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut entries = BTreeMap::new();
        for (key, entry) in table {
            if entry.get("type").is_some() {
                let decoded = serde_json::from_value(entry).map_err(|e| Error::Decode {
                    method: raw.method.as_str().to_owned(),
                    url: raw.url.clone(),
                    reason: format!("{item} {key}: {e}"),
                })?;
                entries.insert(key, decoded);
            }
        }
        Ok(entries)
    }

    /// `POST sys/mounts/:path`.
    pub async fn enable_mount(&self, path: &str, request: &EnableMount) -> Result<()> {
        self.post_mount_body(&mount_path("sys/mounts", path), request)
            .await
    }

    /// `DELETE sys/mounts/:path`.
    pub async fn disable_mount(&self, path: &str) -> Result<()> {
        self.delete(&mount_path("sys/mounts", path))
            .await
            .map(|_| ())
    }

    /// `POST sys/mounts/:path/tune`.
    pub async fn tune_mount(&self, path: &str, request: &TuneMount) -> Result<()> {
        let tune_path = format!("{}/tune", mount_path("sys/mounts", path));
        self.post_mount_body(&tune_path, request).await
    }

    /// `POST api_path` with `request` as the JSON body; the answer's content is not needed.
    async fn post_mount_body(&self, api_path: &str, request: &impl Serialize) -> Result<()> {
        let body = serde_json::to_value(request).map_err(|e| Error::Request {
            method: Method::Post.as_str().to_owned(),
            url: self.url(api_path),
            detail: e.to_string(),
        })?;
        self.raw(Method::Post, api_path, &[], Some(&body))
            .await?
            .into_secret()
            .map(|_| ())
    }
}

/// `prefix/path` with the mount path's surrounding slashes removed.
fn mount_path(prefix: &str, path: &str) -> String {
    format!("{prefix}/{}", path.trim_matches('/'))
}

/// Seconds as a JSON number, or a string holding one (lenient towards other servers).
fn seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Number(n) => Ok(n.as_u64().unwrap_or_default()),
        Value::String(s) => s
            .trim_end_matches('s')
            .parse()
            .map_err(serde::de::Error::custom),
        Value::Null => Ok(0),
        other => Err(serde::de::Error::custom(format!(
            "expected seconds, got {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn mount_entry_from_vault_parses_with_null_options() {
        let mount: MountOutput = serde_json::from_value(json!({
            "accessor": "kv_1234", "config": {"default_lease_ttl": 0, "force_no_cache": false,
            "max_lease_ttl": 0}, "description": "", "external_entropy_access": false,
            "local": false, "options": null, "seal_wrap": true, "type": "kv", "uuid": "u-1"
        }))
        .expect("parse");
        assert_eq!(mount.mount_type, "kv");
        assert!(mount.seal_wrap);
        assert!(mount.options.is_none());
    }

    #[test]
    fn enable_request_sends_seal_wrap_entropy_and_version() {
        let request = EnableMount {
            mount_type: "kv".into(),
            options: BTreeMap::from([("version".to_owned(), "2".to_owned())]),
            seal_wrap: true,
            external_entropy_access: true,
            ..EnableMount::default()
        };
        assert_eq!(
            serde_json::to_value(&request).expect("serialize"),
            json!({"type": "kv", "config": {}, "options": {"version": "2"}, "local": false,
                   "seal_wrap": true, "external_entropy_access": true})
        );
    }

    #[test]
    fn mount_paths_lose_surrounding_slashes() {
        assert_eq!(mount_path("sys/mounts", "/kv/"), "sys/mounts/kv");
    }
}
