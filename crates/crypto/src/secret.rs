//! Secret-holding types: zeroized on drop, `[redacted]` in `Debug`, no
//! `Clone`, no `Serialize`. Copying a secret out must be an explicit call.

use std::fmt;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// A variable-length secret (unseal share, token, plaintext key material).
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of `bytes`; they are wiped when this value drops.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Copies `bytes` into a new secret. The caller remains responsible for
    /// wiping its own copy.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }

    /// The secret bytes. Keep the borrow short.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// An explicit copy; secrets are not `Clone` so copies are visible in review.
    pub fn duplicate(&self) -> Self {
        Self::from_slice(&self.0)
    }

    /// Constant-time equality.
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        self.0.as_slice().ct_eq(other).into()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes([redacted])")
    }
}

/// A 256-bit symmetric key (root key, keyring term key, Shamir KEK).
pub struct Key256(Box<[u8; 32]>);

impl Key256 {
    /// Key length in bytes.
    pub const LEN: usize = 32;

    /// Builds a key from exactly 32 bytes; the input slice is not wiped.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(Self(Box::new(arr)))
    }

    /// Draws a fresh key from `entropy`.
    pub fn generate(entropy: &dyn crate::Entropy) -> Result<Self, crate::CryptoError> {
        let mut key = Self(Box::new([0u8; 32]));
        entropy.fill(key.0.as_mut_slice())?;
        Ok(key)
    }

    /// The key bytes. Keep the borrow short.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// An explicit copy.
    pub fn duplicate(&self) -> Self {
        Self(Box::new(*self.0))
    }
}

impl Drop for Key256 {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Key256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key256([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_secret_bytes() {
        let s = SecretBytes::from_slice(b"hunter2");
        let k = Key256::from_slice(&[0x41; 32]).expect("32 bytes");
        assert_eq!(format!("{s:?}"), "SecretBytes([redacted])");
        assert!(!format!("{k:?}").contains("65"));
        assert!(!format!("{k:?}").contains("41"));
    }

    #[test]
    fn key_requires_exactly_32_bytes() {
        assert!(Key256::from_slice(&[0; 31]).is_none());
        assert!(Key256::from_slice(&[0; 33]).is_none());
    }

    #[test]
    fn constant_time_equality_compares_content() {
        let s = SecretBytes::from_slice(b"abc");
        assert!(s.ct_eq(b"abc"));
        assert!(!s.ct_eq(b"abd"));
        assert!(!s.ct_eq(b"ab"));
    }
}
