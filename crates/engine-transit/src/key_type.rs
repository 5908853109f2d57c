//! The key types transit offers, by Vault's names, and what each can do.

use coffer_core::{CoreError, CoreResult};
use serde::{Deserialize, Serialize};

/// A transit key type (`type` when a key is created).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum KeyType {
    /// AES-128 in GCM mode with 96-bit nonces.
    #[serde(rename = "aes128-gcm96")]
    Aes128Gcm96,
    /// AES-256 in GCM mode with 96-bit nonces (the default).
    #[serde(rename = "aes256-gcm96")]
    Aes256Gcm96,
    /// ChaCha20-Poly1305 (RFC 8439).
    #[serde(rename = "chacha20-poly1305")]
    ChaCha20Poly1305,
    /// Ed25519 signatures (RFC 8032).
    #[serde(rename = "ed25519")]
    Ed25519,
    /// ECDSA over NIST P-256.
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    /// ECDSA over NIST P-384.
    #[serde(rename = "ecdsa-p384")]
    EcdsaP384,
    /// RSA, 2048-bit modulus.
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    /// RSA, 3072-bit modulus.
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    /// RSA, 4096-bit modulus.
    #[serde(rename = "rsa-4096")]
    Rsa4096,
    /// A bare HMAC key of `key_size` bytes.
    #[serde(rename = "hmac")]
    Hmac,
    /// A key that lives in an HSM (`sys/managed-keys`); each version names
    /// the managed key it uses.
    #[serde(rename = "managed_key")]
    ManagedKey,
}

/// Vault types this build knowingly does not offer, so the error says so
/// instead of "unknown key type".
const UNSUPPORTED_VAULT_TYPES: &[&str] = &[
    "ecdsa-p521",
    "aes128-cmac",
    "aes192-cmac",
    "aes256-cmac",
    "ml-dsa",
    "hybrid",
];

impl KeyType {
    /// Parses Vault's name of a key type.
    pub(crate) fn parse(name: &str) -> CoreResult<Self> {
        Ok(match name {
            "aes128-gcm96" => Self::Aes128Gcm96,
            "aes256-gcm96" => Self::Aes256Gcm96,
            "chacha20-poly1305" => Self::ChaCha20Poly1305,
            "ed25519" => Self::Ed25519,
            "ecdsa-p256" => Self::EcdsaP256,
            "ecdsa-p384" => Self::EcdsaP384,
            "rsa-2048" => Self::Rsa2048,
            "rsa-3072" => Self::Rsa3072,
            "rsa-4096" => Self::Rsa4096,
            "hmac" => Self::Hmac,
            "managed_key" => Self::ManagedKey,
            other if UNSUPPORTED_VAULT_TYPES.contains(&other) => {
                return Err(CoreError::NotSupported(format!(
                    "transit key type {other:?}"
                )));
            }
            other => return Err(CoreError::invalid(format!("unknown key type {other}"))),
        })
    }

    /// Vault's name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Aes128Gcm96 => "aes128-gcm96",
            Self::Aes256Gcm96 => "aes256-gcm96",
            Self::ChaCha20Poly1305 => "chacha20-poly1305",
            Self::Ed25519 => "ed25519",
            Self::EcdsaP256 => "ecdsa-p256",
            Self::EcdsaP384 => "ecdsa-p384",
            Self::Rsa2048 => "rsa-2048",
            Self::Rsa3072 => "rsa-3072",
            Self::Rsa4096 => "rsa-4096",
            Self::Hmac => "hmac",
            Self::ManagedKey => "managed_key",
        }
    }

    /// A symmetric AEAD key type.
    pub(crate) fn is_aead(self) -> bool {
        matches!(
            self,
            Self::Aes128Gcm96 | Self::Aes256Gcm96 | Self::ChaCha20Poly1305
        )
    }

    /// An RSA key type.
    pub(crate) fn is_rsa(self) -> bool {
        matches!(self, Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096)
    }

    /// An ECDSA key type.
    pub(crate) fn is_ecdsa(self) -> bool {
        matches!(self, Self::EcdsaP256 | Self::EcdsaP384)
    }

    /// Has a public key (shown by `keys/:name` reads).
    pub(crate) fn is_asymmetric(self) -> bool {
        self.is_rsa() || self.is_ecdsa() || self == Self::Ed25519
    }

    /// `supports_encryption` (and decryption: the same set in Vault). A
    /// managed key says yes; its mechanism decides per request.
    pub(crate) fn supports_encryption(self) -> bool {
        self.is_aead() || self.is_rsa() || self == Self::ManagedKey
    }

    /// `supports_signing`.
    pub(crate) fn supports_signing(self) -> bool {
        self.is_asymmetric() || self == Self::ManagedKey
    }

    /// `supports_derivation`: per-context keys via HKDF.
    pub(crate) fn supports_derivation(self) -> bool {
        self.is_aead() || self == Self::Ed25519
    }

    /// `associated_data` is accepted (AEAD types only).
    pub(crate) fn supports_associated_data(self) -> bool {
        self.is_aead()
    }

    /// Modulus size for RSA types.
    pub(crate) fn rsa_bits(self) -> Option<usize> {
        match self {
            Self::Rsa2048 => Some(2048),
            Self::Rsa3072 => Some(3072),
            Self::Rsa4096 => Some(4096),
            _ => None,
        }
    }

    /// Raw key length of AEAD types.
    pub(crate) fn aead_key_len(self) -> Option<usize> {
        match self {
            Self::Aes128Gcm96 => Some(16),
            Self::Aes256Gcm96 | Self::ChaCha20Poly1305 => Some(32),
            _ => None,
        }
    }
}

impl std::fmt::Display for KeyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_its_vault_name() {
        for t in [
            KeyType::Aes128Gcm96,
            KeyType::Aes256Gcm96,
            KeyType::ChaCha20Poly1305,
            KeyType::Ed25519,
            KeyType::EcdsaP256,
            KeyType::EcdsaP384,
            KeyType::Rsa2048,
            KeyType::Rsa3072,
            KeyType::Rsa4096,
            KeyType::Hmac,
            KeyType::ManagedKey,
        ] {
            assert_eq!(KeyType::parse(t.as_str()).expect("known"), t);
            let json = serde_json::to_string(&t).expect("serialise");
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
    }

    #[test]
    fn vault_types_not_offered_say_not_supported_and_nonsense_is_unknown() {
        assert!(matches!(
            KeyType::parse("ecdsa-p521"),
            Err(CoreError::NotSupported(_))
        ));
        assert!(matches!(
            KeyType::parse("des"),
            Err(CoreError::InvalidRequest(m)) if m == "unknown key type des"
        ));
    }

    #[test]
    fn capabilities_match_vault() {
        assert!(KeyType::Rsa2048.supports_encryption());
        assert!(!KeyType::EcdsaP256.supports_encryption());
        assert!(KeyType::Ed25519.supports_derivation());
        assert!(!KeyType::Rsa4096.supports_derivation());
        assert!(!KeyType::Hmac.supports_signing());
    }
}
