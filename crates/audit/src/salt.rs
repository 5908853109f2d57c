//! The per-device salt and the audit hash built on it.
//!
//! Vault's audit hash is `"hmac-sha256:" + hex(HMAC-SHA256(salt, value))`.
//! The same salt keys every hash of one device, so an operator who knows a
//! value can find it in the log through `sys/audit-hash/:path`, while the log
//! alone reveals nothing. Disabling and re-enabling a device should draw a new
//! salt; that choice belongs to whoever persists the salt (the core).

use crate::AuditError;
use coffer_crypto::{Entropy, SecretBytes};
use std::fmt;

/// Prefix Vault puts before every hashed value.
pub const HMAC_PREFIX: &str = "hmac-sha256:";

/// The HMAC key of one audit device. Zeroized on drop, `[redacted]` in
/// `Debug`, not `Clone`, not `Serialize`.
pub struct AuditSalt(SecretBytes);

impl AuditSalt {
    /// Shortest salt accepted: one SHA-256 output.
    pub const MIN_LEN: usize = 32;
    /// Length drawn by [`AuditSalt::generate`].
    pub const GENERATED_LEN: usize = 32;

    /// Takes ownership of stored salt bytes (wiped on drop).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, AuditError> {
        if bytes.len() < Self::MIN_LEN {
            return Err(AuditError::WeakSalt {
                min: Self::MIN_LEN,
                got: bytes.len(),
            });
        }
        Ok(Self(SecretBytes::new(bytes)))
    }

    /// Draws a fresh salt for a newly enabled device.
    pub fn generate(entropy: &dyn Entropy) -> Result<Self, AuditError> {
        let mut bytes = vec![0u8; Self::GENERATED_LEN];
        let drawn = entropy.fill(&mut bytes);
        let salt = Self(SecretBytes::new(bytes));
        drawn?;
        Ok(salt)
    }

    /// The salt bytes, for the caller to persist (inside the barrier). Keep
    /// the borrow short.
    pub fn expose(&self) -> &[u8] {
        self.0.expose()
    }

    /// An explicit copy; salts are not `Clone` so copies are visible in review.
    pub fn duplicate(&self) -> Self {
        Self(self.0.duplicate())
    }

    /// `hmac-sha256:<hex>` of `input` under this salt: the form values take in
    /// the log, and the answer of `sys/audit-hash/:path`.
    pub fn hash(&self, input: &str) -> String {
        let tag = coffer_crypto::hash::hmac_sha256(self.0.expose(), input.as_bytes());
        let mut out = String::with_capacity(HMAC_PREFIX.len() + 64);
        out.push_str(HMAC_PREFIX);
        out.push_str(&coffer_crypto::hash::to_hex(&tag));
        out
    }
}

impl fmt::Debug for AuditSalt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditSalt([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_crypto::OsEntropy;

    /// RFC 4231 test case 6 (131-byte key), under Vault's prefix.
    #[test]
    fn hash_is_prefixed_hex_hmac_sha256_of_the_input() {
        let salt = AuditSalt::from_bytes(vec![0xaa; 131]).unwrap();
        assert_eq!(
            salt.hash("Test Using Larger Than Block-Size Key - Hash Key First"),
            "hmac-sha256:60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn same_input_and_salt_give_the_same_hash_and_another_salt_does_not() {
        let a = AuditSalt::from_bytes(vec![1; 32]).unwrap();
        let b = AuditSalt::from_bytes(vec![2; 32]).unwrap();
        assert_eq!(a.hash("hunter2"), a.hash("hunter2"));
        assert_eq!(a.hash("hunter2"), a.duplicate().hash("hunter2"));
        assert_ne!(a.hash("hunter2"), b.hash("hunter2"));
        assert_ne!(a.hash("hunter2"), a.hash("hunter3"));
    }

    #[test]
    fn short_salts_are_refused() {
        let err = AuditSalt::from_bytes(vec![0; 31]).unwrap_err();
        assert!(matches!(err, AuditError::WeakSalt { min: 32, got: 31 }));
    }

    #[test]
    fn generated_salts_are_distinct_and_full_length() {
        let e = OsEntropy::new();
        let a = AuditSalt::generate(&e).unwrap();
        let b = AuditSalt::generate(&e).unwrap();
        assert_eq!(a.expose().len(), AuditSalt::GENERATED_LEN);
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn debug_never_shows_the_salt() {
        let salt = AuditSalt::from_bytes(vec![0x41; 32]).unwrap();
        let shown = format!("{salt:?}");
        assert_eq!(shown, "AuditSalt([redacted])");
    }
}
