//! Typed helpers for audit devices (`sys/audit`): list, enable, disable.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Client, Error, Method, Result};

/// One entry of `GET sys/audit`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditDevice {
    /// Device type (`file`, ...).
    #[serde(rename = "type", default)]
    pub device_type: String,
    /// Free-text description.
    #[serde(default)]
    pub description: String,
    /// Device options as given at enable time (`file_path`, ...).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Not replicated.
    #[serde(default)]
    pub local: bool,
    /// Path with its trailing slash (`file/`).
    #[serde(default)]
    pub path: String,
}

/// `PUT sys/audit/:path` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EnableAudit {
    /// Device type (required).
    #[serde(rename = "type")]
    pub device_type: String,
    /// Description.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Device options.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    /// Not replicated.
    pub local: bool,
}

impl Client {
    /// `GET sys/audit`: enabled audit devices keyed by path (`"file/"`); empty when none.
    pub async fn list_audit_devices(&self) -> Result<BTreeMap<String, AuditDevice>> {
        self.typed_table("sys/audit", "audit device").await
    }

    /// `PUT sys/audit/:path`.
    pub async fn enable_audit(&self, path: &str, request: &EnableAudit) -> Result<()> {
        let api_path = audit_path(path);
        let body = serde_json::to_value(request).map_err(|e| Error::Request {
            method: Method::Put.as_str().to_owned(),
            url: self.url(&api_path),
            detail: e.to_string(),
        })?;
        self.write(&api_path, &body).await.map(|_| ())
    }

    /// `DELETE sys/audit/:path` (succeeds when nothing was enabled there).
    pub async fn disable_audit(&self, path: &str) -> Result<()> {
        self.delete(&audit_path(path)).await.map(|_| ())
    }
}

fn audit_path(path: &str) -> String {
    format!("sys/audit/{}", path.trim_matches('/'))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn enable_request_omits_empty_description_and_options() {
        let request = EnableAudit {
            device_type: "file".into(),
            ..EnableAudit::default()
        };
        assert_eq!(
            serde_json::to_value(&request).expect("serialize"),
            json!({"type": "file", "local": false})
        );
    }

    #[test]
    fn listed_device_parses_with_missing_fields() {
        let device: AuditDevice =
            serde_json::from_value(json!({"type": "file", "options": {"file_path": "stdout"}}))
                .expect("parse");
        assert_eq!(device.device_type, "file");
        assert_eq!(
            device.options.get("file_path").map(String::as_str),
            Some("stdout")
        );
        assert!(!device.local && device.description.is_empty());
    }

    #[test]
    fn audit_paths_lose_surrounding_slashes() {
        assert_eq!(audit_path("/file/"), "sys/audit/file");
    }
}
