//! What the core needs from the code that reaches a managed key's store.

use async_trait::async_trait;
use zeroize::Zeroizing;

use super::ManagedKeyEntry;
use crate::error::CoreError;

/// `sys/managed-keys/:type/:name/test/sign` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignTest {
    /// RSA-PSS instead of PKCS#1 v1.5 (RSA keys only).
    pub use_pss: bool,
    /// `sha2-256` and friends.
    pub hash_algorithm: String,
}

/// What to sign or verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignRequest {
    /// `sha2-256` and friends.
    pub hash_algorithm: String,
    /// RSA-PSS instead of PKCS#1 v1.5 (RSA keys only).
    pub use_pss: bool,
    /// `input` is already the digest.
    pub prehashed: bool,
    /// The message (or its digest).
    pub input: Vec<u8>,
}

/// Why a managed key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ManagedKeyError {
    /// The configuration cannot work (unknown library, key missing and not
    /// to be generated, wrong key type): the caller must change it.
    #[error("{0}")]
    Config(String),
    /// The key store did not do what was asked (token gone, PKCS#11 error,
    /// timeout); the message keeps the `CKR_` code.
    #[error("{0}")]
    Unavailable(String),
    /// A ciphertext or signature input that does not decrypt: forged,
    /// truncated, or made by another key.
    #[error("{0}")]
    Integrity(String),
}

impl From<ManagedKeyError> for CoreError {
    fn from(e: ManagedKeyError) -> Self {
        match e {
            ManagedKeyError::Config(m) => CoreError::invalid(m),
            ManagedKeyError::Unavailable(m) => CoreError::ManagedKey(m),
            ManagedKeyError::Integrity(m) => CoreError::invalid(m),
        }
    }
}

/// Reaches managed keys in their store (PKCS#11 for `pkcs11` keys).
#[async_trait]
pub trait ManagedKeyProvider: Send + Sync {
    /// The key types this provider serves (`pkcs11`).
    fn key_types(&self) -> &'static [&'static str];

    /// The configured library names (`kms_library` stanzas), lower case.
    fn libraries(&self) -> Vec<String>;

    /// Signs random data with the key and verifies the signature (encrypts
    /// and decrypts, for an encryption-only mechanism), generating the key
    /// first when it is missing and `allow_generate_key` is set.
    async fn test_sign(
        &self,
        key: &ManagedKeyEntry,
        test: &SignTest,
    ) -> Result<(), ManagedKeyError>;

    /// Signs in the key's store (ECDSA: raw `r || s`).
    async fn sign(
        &self,
        key: &ManagedKeyEntry,
        request: &SignRequest,
    ) -> Result<Vec<u8>, ManagedKeyError>;

    /// Verifies in the key's store: `Ok(false)` for a mismatch.
    async fn verify(
        &self,
        key: &ManagedKeyEntry,
        request: &SignRequest,
        signature: &[u8],
    ) -> Result<bool, ManagedKeyError>;

    /// HMAC-SHA256 of `data` in the key's store.
    async fn mac(&self, key: &ManagedKeyEntry, data: &[u8]) -> Result<Vec<u8>, ManagedKeyError>;

    /// Encrypts in the key's store.
    async fn encrypt(
        &self,
        key: &ManagedKeyEntry,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, ManagedKeyError>;

    /// Decrypts in the key's store; a forged ciphertext is
    /// [`ManagedKeyError::Integrity`].
    async fn decrypt(
        &self,
        key: &ManagedKeyEntry,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, ManagedKeyError>;

    /// Drops whatever is cached for the key (sessions, handles) after its
    /// configuration changed or it was deleted.
    fn forget(&self, uuid: &str);

    /// Metrics of the keys' stores (latency, sessions, errors), labelled
    /// with the managed key's name.
    fn metrics(&self) -> Vec<crate::metrics::Metric>;
}
