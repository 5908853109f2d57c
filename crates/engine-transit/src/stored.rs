//! What a key looks like in storage: `policy/<name>` holds the configuration
//! and the live versions (those at or above `min_decryption_version`),
//! `archive/<name>` the retired ones still above `min_available_version`.
//! Both are JSON, encrypted by the barrier and seal-wrapped by the core. Key
//! bytes are base64 strings in that JSON, parsed straight out of the
//! (zeroizing) storage buffer into wiped-on-drop memory.

use crate::key_type::KeyType;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffer_crypto::SecretBytes;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};
use zeroize::Zeroizing;

/// Storage key of a key's policy.
pub(crate) fn policy_key(name: &str) -> String {
    format!("{}{name}", crate::POLICY_PREFIX)
}

/// Storage key of a key's archive.
pub(crate) fn archive_key(name: &str) -> String {
    format!("{}{name}", crate::ARCHIVE_PREFIX)
}

/// Key bytes, base64 in JSON; wiped on drop, `[redacted]` in `Debug`.
pub(crate) struct Secret(SecretBytes);

impl Secret {
    /// Takes ownership of `bytes`.
    pub(crate) fn new(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(SecretBytes::from_slice(&bytes))
    }

    /// The bytes. Keep the borrow short.
    pub(crate) fn expose(&self) -> &[u8] {
        self.0.expose()
    }

    /// An explicit copy.
    pub(crate) fn duplicate(&self) -> Self {
        Self(self.0.duplicate())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let encoded = Zeroizing::new(STANDARD.encode(self.0.expose()));
        s.serialize_str(&encoded)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct B64;
        impl Visitor<'_> for B64 {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("base64 key bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Secret, E> {
                let mut out = Zeroizing::new(Vec::with_capacity(v.len() * 3 / 4 + 3));
                STANDARD
                    .decode_vec(v, &mut out)
                    .map_err(|_| E::custom("stored key bytes are not base64"))?;
                Ok(Secret::new(out))
            }
        }
        d.deserialize_str(B64)
    }
}

/// One key version as stored.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StoredVersion {
    /// Creation time, seconds since the Unix epoch.
    pub(crate) created: u64,
    /// Sub-second part of the creation time.
    #[serde(default)]
    pub(crate) created_nanos: u32,
    /// The key: raw AEAD/HMAC key, Ed25519 seed, RFC 5915 EC key or PKCS#8
    /// RSA key, by type.
    pub(crate) key: Secret,
    /// The 32-byte HMAC key every version has (`hmac/` endpoint and
    /// `hmac-key` export of non-HMAC keys), as in Vault. Empty for a
    /// managed key, whose material is in the HSM.
    pub(crate) hmac_key: Secret,
    /// For a `managed_key` version: the UUID of the managed key it uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) managed_key_id: Option<String>,
    /// ... and its name, to find it with one read (the UUID then confirms
    /// it is still the same key: a name deleted and reused gets a new one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) managed_key_name: Option<String>,
}

impl StoredVersion {
    /// Stamps `key` and `hmac_key` with `now`.
    pub(crate) fn new(
        key: Zeroizing<Vec<u8>>,
        hmac_key: Zeroizing<Vec<u8>>,
        now: SystemTime,
    ) -> Self {
        let since = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Self {
            created: since.as_secs(),
            created_nanos: since.subsec_nanos(),
            key: Secret::new(key),
            hmac_key: Secret::new(hmac_key),
            managed_key_id: None,
            managed_key_name: None,
        }
    }

    /// A version that uses the managed key `name` (UUID `id`): no material here.
    pub(crate) fn managed(id: String, name: String, now: SystemTime) -> Self {
        Self {
            managed_key_id: Some(id),
            managed_key_name: Some(name),
            ..Self::new(Zeroizing::new(Vec::new()), Zeroizing::new(Vec::new()), now)
        }
    }

    /// The creation time.
    pub(crate) fn creation_time(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::new(self.created, self.created_nanos)
    }

    /// An explicit copy.
    pub(crate) fn duplicate(&self) -> Self {
        Self {
            created: self.created,
            created_nanos: self.created_nanos,
            key: self.key.duplicate(),
            hmac_key: self.hmac_key.duplicate(),
            managed_key_id: self.managed_key_id.clone(),
            managed_key_name: self.managed_key_name.clone(),
        }
    }
}

/// When a backup or restore happened, and the latest version then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VersionEvent {
    /// RFC 3339 time.
    pub(crate) time: String,
    /// `latest_version` at that time.
    pub(crate) version: u64,
}

/// A key's configuration: everything but the key versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyConfig {
    /// The key's name.
    pub(crate) name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub(crate) key_type: KeyType,
    /// Per-context keys via HKDF-SHA256 (`kdf` is always `hkdf_sha256`).
    pub(crate) derived: bool,
    /// Deterministic nonces (Vault's convergent version 3); needs `derived`.
    pub(crate) convergent_encryption: bool,
    /// Key material may be exported.
    pub(crate) exportable: bool,
    /// A plaintext backup may be taken.
    pub(crate) allow_plaintext_backup: bool,
    /// `DELETE keys/:name` is allowed.
    pub(crate) deletion_allowed: bool,
    /// Oldest version that decrypts and verifies.
    pub(crate) min_decryption_version: u64,
    /// Oldest version that encrypts and signs (0: any).
    pub(crate) min_encryption_version: u64,
    /// Oldest version kept at all (0: every one).
    pub(crate) min_available_version: u64,
    /// Newest version.
    pub(crate) latest_version: u64,
    /// HMAC key length in bytes (`hmac` keys only, else 0).
    #[serde(default)]
    pub(crate) key_size: u64,
    /// Last plaintext backup.
    #[serde(default)]
    pub(crate) backup_info: Option<VersionEvent>,
    /// Last restore.
    #[serde(default)]
    pub(crate) restore_info: Option<VersionEvent>,
}

/// `policy/<name>`, as read.
#[derive(Debug, Deserialize)]
pub(crate) struct StoredPolicy {
    /// Configuration.
    pub(crate) config: KeyConfig,
    /// Live versions.
    pub(crate) keys: BTreeMap<u64, StoredVersion>,
}

/// `policy/<name>`, as written (borrowing the cached key ring).
#[derive(Serialize)]
pub(crate) struct StoredPolicyRef<'a> {
    /// Configuration.
    pub(crate) config: &'a KeyConfig,
    /// Live versions.
    pub(crate) keys: BTreeMap<u64, &'a StoredVersion>,
}

/// `archive/<name>`: retired versions.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct StoredArchive {
    /// Versions below `min_decryption_version`.
    pub(crate) keys: BTreeMap<u64, StoredVersion>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_as_base64_and_never_print() {
        let v = StoredVersion::new(
            Zeroizing::new(vec![1, 2, 3]),
            Zeroizing::new(vec![4; 32]),
            SystemTime::UNIX_EPOCH + Duration::new(5, 6),
        );
        assert!(!format!("{v:?}").contains("AQID"));
        let json = serde_json::to_string(&v).expect("serialise");
        assert!(json.contains("\"key\":\"AQID\""), "{json}");
        let back: StoredVersion = serde_json::from_str(&json).expect("parse");
        assert_eq!(back.key.expose(), &[1, 2, 3]);
        assert_eq!(
            back.creation_time(),
            SystemTime::UNIX_EPOCH + Duration::new(5, 6)
        );
        assert!(
            serde_json::from_str::<StoredVersion>(r#"{"created":1,"key":"!!","hmac_key":""}"#)
                .is_err()
        );
    }
}
