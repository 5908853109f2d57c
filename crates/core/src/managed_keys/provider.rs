//! What the core needs from the code that reaches a managed key's store.

use async_trait::async_trait;

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
}

impl From<ManagedKeyError> for CoreError {
    fn from(e: ManagedKeyError) -> Self {
        match e {
            ManagedKeyError::Config(m) => CoreError::invalid(m),
            ManagedKeyError::Unavailable(m) => CoreError::ManagedKey(m),
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

    /// Drops whatever is cached for the key (sessions, handles) after its
    /// configuration changed or it was deleted.
    fn forget(&self, uuid: &str);
}
