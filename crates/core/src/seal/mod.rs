//! Seals protect the root key. The trait is deliberately tiny so that the
//! Shamir seal here and the PKCS#11 seal (crate `seal-pkcs11`) fit it alike.
//!
//! Bootstrap records, kept outside the barrier because they are needed to
//! open it: `core/seal-config` (clear-text JSON: seal type, shares,
//! threshold, recovery shares), `core/seal/root-key` (the root key wrapped
//! by the seal) and, for auto-unseal seals, `core/seal/recovery-key`.

pub(crate) mod migration;
pub(crate) mod rewrap;
pub(crate) mod wrap;

pub use rewrap::RewrapStatus;
pub use wrap::SealWrapper;

use async_trait::async_trait;
use coffer_crypto::envelope;
use coffer_crypto::{Entropy, Key256, SecretBytes};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, RwLock};

/// Physical key of the seal configuration (clear text).
pub const SEAL_CONFIG_PATH: &str = "core/seal-config";
/// Physical key of the seal-wrapped root key.
pub const ROOT_KEY_PATH: &str = "core/seal/root-key";
/// Physical key of the seal-wrapped recovery key (auto-unseal seals only).
pub const RECOVERY_KEY_PATH: &str = "core/seal/recovery-key";

/// Why a seal operation failed. HSM errors keep the PKCS#11 return code name
/// (for example `CKR_TOKEN_NOT_PRESENT`) in their text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The seal cannot be used right now (HSM unreachable, no unseal keys).
    #[error("seal unavailable: {0}")]
    Unavailable(String),
    /// The wrapped blob did not authenticate under the seal's key.
    #[error("wrapped data failed integrity check: {0}")]
    Integrity(String),
    /// The seal's key is missing (wrong label, not generated).
    #[error("seal key missing: {0}")]
    KeyMissing(String),
}

/// Health as seen by `sys/health` and `sys/seal-status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealHealth {
    /// Usable.
    Healthy,
    /// Not usable; the string says why.
    Unhealthy(String),
}

/// Something that can wrap and unwrap the root key.
#[async_trait]
pub trait Seal: Send + Sync {
    /// `shamir`, `pkcs11`, ...: the `type` in `sys/seal-status`.
    fn kind(&self) -> &'static str;
    /// Whether the seal unwraps by itself (auto-unseal, with recovery keys
    /// for operators) rather than from operator-held unseal keys.
    fn stored_keys(&self) -> bool;
    /// Encrypts `plaintext` under the seal's key.
    async fn wrap(&self, plaintext: &[u8]) -> Result<Vec<u8>, SealError>;
    /// Decrypts a blob made by [`Seal::wrap`].
    async fn unwrap(&self, blob: &[u8]) -> Result<SecretBytes, SealError>;
    /// Current health.
    async fn health(&self) -> SealHealth;
    /// The seal's own metrics for `sys/metrics` (HSM latencies, sessions,
    /// errors); none by default.
    fn metrics(&self) -> Vec<crate::metrics::Metric> {
        Vec::new()
    }
    /// Whether `blob` was wrapped with the key the seal now wraps with. After
    /// an HSM key rotation this is false for old blobs, and the core re-wraps
    /// them ("upgrading stored keys").
    fn wrapped_with_current_key(&self, _blob: &[u8]) -> bool {
        true
    }
    /// What a blob made by [`Seal::wrap`] says about itself in the clear
    /// (mechanism, key labels), as (field, value) pairs for `sys/raw`. Never
    /// key material or plaintext. Empty when the seal's blobs carry nothing
    /// worth showing or the bytes do not decode.
    fn describe(&self, _blob: &[u8]) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// The stored seal configuration (`core/seal-config`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealConfig {
    /// Seal type at init time.
    #[serde(rename = "type")]
    pub seal_type: String,
    /// Number of unseal key shares.
    pub secret_shares: u32,
    /// Shares needed to unseal.
    pub secret_threshold: u32,
    /// Number of recovery key shares (auto-unseal seals; 0 otherwise).
    #[serde(default)]
    pub recovery_shares: u32,
    /// Recovery shares needed to authorise operations.
    #[serde(default)]
    pub recovery_threshold: u32,
}

/// The seal a node is built with. Which kind it is decides how the core gets
/// at the root key, so the choice is one value rather than two fields that
/// must agree.
#[derive(Clone)]
pub enum NodeSeal {
    /// The Shamir seal: operators hold unseal key shares, and the core
    /// installs the key they rebuild in this seal to unwrap the root key.
    Shamir(Arc<ShamirSeal>),
    /// A seal that keeps its own key (pkcs11): the node unseals itself, and
    /// operators hold recovery key shares.
    Auto(Arc<dyn Seal>),
}

impl NodeSeal {
    /// The seal, as the core wraps and unwraps with it.
    pub fn seal(&self) -> Arc<dyn Seal> {
        match self {
            Self::Shamir(s) => s.clone(),
            Self::Auto(s) => s.clone(),
        }
    }

    /// The Shamir seal, when it is one.
    pub fn shamir(&self) -> Option<Arc<ShamirSeal>> {
        match self {
            Self::Shamir(s) => Some(s.clone()),
            Self::Auto(_) => None,
        }
    }
}

/// The Shamir seal: the root key is wrapped by a key-encryption key that is
/// itself split into operator-held shares. The KEK exists in memory only
/// between combining the shares and finishing the unwrap.
pub struct ShamirSeal {
    entropy: Arc<dyn Entropy>,
    kek: RwLock<Option<Key256>>,
}

impl std::fmt::Debug for ShamirSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShamirSeal")
    }
}

const SHAMIR_AAD: &[u8] = b"coffer shamir seal: root key";

impl ShamirSeal {
    /// A Shamir seal with no key installed.
    pub fn new(entropy: Arc<dyn Entropy>) -> Self {
        Self {
            entropy,
            kek: RwLock::new(None),
        }
    }

    /// Installs the KEK rebuilt from shares (or generated at init).
    pub fn install(&self, kek: Key256) {
        *self
            .kek
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(kek);
    }

    /// Forgets the KEK.
    pub fn clear(&self) {
        *self
            .kek
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    fn with_kek<T>(&self, f: impl FnOnce(&Key256) -> Result<T, SealError>) -> Result<T, SealError> {
        let guard = self
            .kek
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let kek = guard
            .as_ref()
            .ok_or_else(|| SealError::Unavailable("no unseal keys have been entered".to_owned()))?;
        f(kek)
    }
}

#[async_trait]
impl Seal for ShamirSeal {
    fn kind(&self) -> &'static str {
        "shamir"
    }

    fn stored_keys(&self) -> bool {
        false
    }

    async fn wrap(&self, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        self.with_kek(|kek| {
            envelope::seal(kek, 0, self.entropy.as_ref(), SHAMIR_AAD, plaintext)
                .map_err(|e| SealError::Unavailable(e.to_string()))
        })
    }

    async fn unwrap(&self, blob: &[u8]) -> Result<SecretBytes, SealError> {
        self.with_kek(|kek| {
            envelope::open(kek, SHAMIR_AAD, blob)
                .map(|p| SecretBytes::from_slice(&p))
                .map_err(|e| SealError::Integrity(e.to_string()))
        })
    }

    async fn health(&self) -> SealHealth {
        SealHealth::Healthy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_crypto::OsEntropy;

    #[tokio::test]
    async fn shamir_seal_needs_its_key_and_detects_a_wrong_one() {
        let e: Arc<dyn Entropy> = Arc::new(OsEntropy::new());
        let seal = ShamirSeal::new(e.clone());
        assert!(matches!(
            seal.wrap(b"x").await,
            Err(SealError::Unavailable(_))
        ));
        seal.install(Key256::generate(e.as_ref()).expect("rng"));
        let blob = seal.wrap(b"root").await.expect("wrap");
        assert_eq!(seal.unwrap(&blob).await.expect("unwrap").expose(), b"root");
        seal.install(Key256::generate(e.as_ref()).expect("rng"));
        assert!(matches!(
            seal.unwrap(&blob).await,
            Err(SealError::Integrity(_))
        ));
        seal.clear();
        assert!(matches!(
            seal.unwrap(&blob).await,
            Err(SealError::Unavailable(_))
        ));
    }
}
