//! KV mount and version detection through `sys/internal/ui/mounts/<path>`, as `vault kv` does.

use serde_json::Value;

use crate::{Client, Result};

/// The mount that serves a path, and its KV version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvMount {
    /// Mount path with a trailing slash (`secret/`); empty when the server did not say.
    pub path: String,
    /// 1 or 2.
    pub version: u8,
}

impl Client {
    /// Finds the KV mount serving `path`. A 404 (old servers, or no such endpoint) means
    /// "assume KV v1 with an unknown mount", exactly as the `vault` CLI assumes.
    pub async fn kv_mount(&self, path: &str) -> Result<KvMount> {
        let endpoint = format!("sys/internal/ui/mounts/{}", path.trim_start_matches('/'));
        let raw = self.raw(crate::Method::Get, &endpoint, &[], None).await?;
        if raw.status == 404 {
            return Ok(KvMount {
                path: String::new(),
                version: 1,
            });
        }
        let secret = raw.into_secret()?;
        let data = secret.as_ref().and_then(|s| s.data.as_ref());
        let mount_path = data
            .and_then(|d| d.get("path"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let version = data
            .and_then(|d| d.get("options"))
            .and_then(|o| o.get("version"))
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .map_or(1, |v| if v == "2" { 2 } else { 1 });
        Ok(KvMount {
            path: mount_path.to_owned(),
            version,
        })
    }
}
