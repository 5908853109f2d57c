//! Vault's logical response envelope.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The envelope every logical endpoint answers with:
/// `request_id, lease_id, renewable, lease_duration, data, wrap_info, warnings, auth`.
///
/// `data` stays a JSON object: generic commands (`read`, `kv get`) print whatever the path
/// returned, so there is no narrower type to parse into at this edge.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Secret {
    /// Server-assigned request id.
    #[serde(default)]
    pub request_id: String,
    /// Lease id, empty when the response is not leased.
    #[serde(default)]
    pub lease_id: String,
    /// Lease duration in seconds.
    #[serde(default)]
    pub lease_duration: i64,
    /// Whether the lease can be renewed.
    #[serde(default)]
    pub renewable: bool,
    /// The payload.
    #[serde(default)]
    pub data: Option<Map<String, Value>>,
    /// Response-wrapping information, when the response was wrapped.
    #[serde(default)]
    pub wrap_info: Option<Value>,
    /// Warnings the server attached.
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
    /// Authentication result (login, token create).
    #[serde(default)]
    pub auth: Option<SecretAuth>,
    /// Type of the mount that answered (newer servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_type: Option<String>,
}

impl Secret {
    /// `data[key]` when present.
    pub fn data_field(&self, key: &str) -> Option<&Value> {
        self.data.as_ref().and_then(|d| d.get(key))
    }

    /// The server's warnings, empty when there are none.
    pub fn warnings(&self) -> &[String] {
        self.warnings.as_deref().unwrap_or_default()
    }
}

/// The `auth` block of a login or token-create response.
///
/// Holds the client token, so it keeps it as plain JSON only for printing what the server sent;
/// callers who store it should move it into a [`crate::SecretString`].
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SecretAuth {
    /// The issued token.
    #[serde(default)]
    pub client_token: String,
    /// Its accessor.
    #[serde(default)]
    pub accessor: String,
    /// All policies.
    #[serde(default)]
    pub policies: Vec<String>,
    /// Policies attached to the token itself.
    #[serde(default)]
    pub token_policies: Vec<String>,
    /// Policies from identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_policies: Option<Vec<String>>,
    /// Token metadata.
    #[serde(default)]
    pub metadata: Option<Value>,
    /// TTL in seconds.
    #[serde(default)]
    pub lease_duration: i64,
    /// Whether it can be renewed.
    #[serde(default)]
    pub renewable: bool,
    /// Identity entity id.
    #[serde(default)]
    pub entity_id: String,
    /// `service` or `batch`.
    #[serde(default)]
    pub token_type: String,
    /// Whether the token has no parent.
    #[serde(default)]
    pub orphan: bool,
}

impl std::fmt::Debug for SecretAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretAuth")
            .field("client_token", &"[redacted]")
            .field("accessor", &self.accessor)
            .field("policies", &self.policies)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_with_nulls_parses() {
        let secret: Secret = serde_json::from_str(
            r#"{"request_id":"r","lease_id":"","renewable":false,"lease_duration":0,
                "data":{"foo":"bar"},"wrap_info":null,"warnings":null,"auth":null}"#,
        )
        .expect("parse");
        assert_eq!(secret.data_field("foo"), Some(&Value::from("bar")));
        assert!(secret.warnings().is_empty());
    }

    #[test]
    fn auth_debug_hides_the_client_token() {
        let auth = SecretAuth {
            client_token: "hvs.secret".into(),
            ..SecretAuth::default()
        };
        assert!(!format!("{auth:?}").contains("hvs.secret"));
    }
}
