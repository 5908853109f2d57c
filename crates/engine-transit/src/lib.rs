//! Coffer's `transit` secrets engine: Vault's "encryption as a service".
//! Named keys (AES-GCM, ChaCha20-Poly1305, Ed25519, ECDSA P-256/P-384, RSA,
//! HMAC) encrypt, decrypt, rewrap, sign, verify and HMAC data sent to it, and
//! never leave it unless a key was made exportable. Wire-compatible with
//! Vault's transit API: paths, fields, `vault:v<N>:` ciphertexts, batches.
//!
//! Key material comes only from `EngineContext::entropy` (HSM-augmented and
//! fail-closed on `external_entropy_access` mounts); per-message nonces and
//! `random` with source `platform` come from `EngineContext::nonces` (the
//! node's OS-backed system handle), so encrypting with existing keys keeps
//! working when the HSM is gone. Signature nonces, PSS salts and OAEP seeds
//! are drawn inside AWS-LC, which takes no caller-supplied RNG (ADR 0009).
//! Key policies live under `policy/` and retired versions under `archive/`
//! in the mount's view; both prefixes are declared seal-wrapped.
//! Primitives are AWS-LC's (through `aws-lc-rs`); the `rsa` crate is used only
//! to generate RSA keys from our entropy, never for a private-key operation.
//!
//! Engines see only their mount's `View`, the `Clock` and the `Entropy`; this
//! crate must never depend on the server, a storage backend, the barrier or
//! another engine.

mod backend;
mod batch;
mod ciphertext;
#[cfg(test)]
mod ciphertext_props;
mod crypto;
mod fields;
mod key_type;
mod keyring;
mod keystore;
mod managed;
mod path_backup;
mod path_config;
mod path_datakey;
mod path_decrypt;
mod path_encrypt;
mod path_export;
mod path_hash;
mod path_hmac;
mod path_keys;
mod path_random;
mod path_rewrap;
mod path_rotate;
mod path_sign;
mod stored;

use coffer_core::CoreResult;
use coffer_core::engine::{Engine, EngineFactory};
use coffer_core::mount::MountEntry;
use std::sync::Arc;

/// Storage prefix of key policies (configuration plus live key versions).
pub(crate) const POLICY_PREFIX: &str = "policy/";
/// Storage prefix of archived (no longer decryptable) key versions.
pub(crate) const ARCHIVE_PREFIX: &str = "archive/";

/// Makes `transit` engines; one instance (with its own key cache) per mount.
#[derive(Debug, Default, Clone, Copy)]
pub struct TransitFactory;

impl TransitFactory {
    /// A factory for the `transit` type.
    pub fn new() -> Self {
        Self
    }
}

impl EngineFactory for TransitFactory {
    fn engine_type(&self) -> &'static str {
        "transit"
    }

    fn create(&self, _mount: &MountEntry) -> CoreResult<Arc<dyn Engine>> {
        Ok(Arc::new(backend::Transit::new()))
    }

    fn seal_wrap_storage(&self, _mount: &MountEntry) -> &'static [&'static str] {
        &[POLICY_PREFIX, ARCHIVE_PREFIX]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_material_prefixes_are_declared_seal_wrapped() {
        let mount = MountEntry {
            path: "transit/".to_owned(),
            engine_type: "transit".to_owned(),
            description: String::new(),
            accessor: "a".to_owned(),
            uuid: "u".to_owned(),
            config: Default::default(),
            options: Default::default(),
            local: false,
            seal_wrap: false,
            external_entropy_access: false,
        };
        assert_eq!(TransitFactory.engine_type(), "transit");
        assert_eq!(
            TransitFactory.seal_wrap_storage(&mount),
            &["policy/", "archive/"]
        );
    }
}
