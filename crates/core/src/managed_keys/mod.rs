//! Managed keys: keys that live in an external key store (an HSM reached
//! over PKCS#11) and never leave it, configured under `sys/managed-keys` and
//! used by engines that a mount allows (`allowed_managed_keys`, or the key's
//! `any_mount`). The core keeps the configuration (seal-wrapped, PIN
//! included, at `core/managed-keys/<name>`); the key operations go through a
//! [`ManagedKeyProvider`] the server builds from its `kms_library` stanzas.

mod entry;
mod mount;
mod provider;

pub(crate) use entry::check_name;
pub use entry::{
    CKM_AES_GCM, CKM_ECDSA, CKM_RSA_PKCS, CKM_RSA_PKCS_OAEP, CKM_RSA_PKCS_PSS, CKM_SHA256_HMAC,
    MANAGED_KEYS_PREFIX, ManagedKeyEntry, Usage,
};
pub use mount::MountManagedKeys;
pub use provider::{ManagedKeyError, ManagedKeyProvider, SignRequest, SignTest};
