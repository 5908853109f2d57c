//! A named key in memory: its configuration and its live versions, each
//! prepared once. Key rings are immutable and shared (`Arc`): a change
//! (rotate, config, trim, restore) builds a new ring, reusing the prepared
//! versions that did not change, and swaps it into the cache, so readers
//! never wait for writers and never see half a change.

mod describe;
mod encryption;
mod signing;
mod version;

pub(crate) use describe::ExportKind;
pub(crate) use signing::SignParams;
pub(crate) use version::{
    HMAC_DEFAULT_SIZE, HMAC_MAX_SIZE, HMAC_MIN_SIZE, KeyVersion, Material, b64,
};

use crate::stored::{KeyConfig, StoredPolicy, StoredPolicyRef};
use coffer_core::{CoreError, CoreResult};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Vault's message for a ciphertext or signature older than
/// `min_decryption_version`.
pub(crate) const ERR_TOO_OLD: &str =
    "ciphertext or signature version is disallowed by policy (too old)";

/// The missing-context message of derived keys, as Vault words it.
pub(crate) const ERR_MISSING_CONTEXT: &str = "missing 'context' for key derivation; the key was \
     created using a derived key, which means additional, per-request information must be \
     included in order to perform operations with the key";

/// A key: configuration plus live versions (`min_decryption_version..=latest`).
pub(crate) struct KeyRing {
    /// Configuration.
    pub(crate) config: KeyConfig,
    /// Live versions by number.
    pub(crate) versions: BTreeMap<u64, Arc<KeyVersion>>,
}

impl KeyRing {
    /// Prepares a ring read from storage.
    pub(crate) fn from_stored(stored: StoredPolicy) -> CoreResult<Self> {
        let mut versions = BTreeMap::new();
        for (n, v) in stored.keys {
            versions.insert(n, Arc::new(KeyVersion::prepare(&stored.config, v)?));
        }
        Ok(Self {
            config: stored.config,
            versions,
        })
    }

    /// The storage form, borrowing this ring.
    pub(crate) fn to_stored(&self) -> StoredPolicyRef<'_> {
        StoredPolicyRef {
            config: &self.config,
            keys: self.versions.iter().map(|(n, v)| (*n, &v.stored)).collect(),
        }
    }

    /// A ring with `config` and the same (shared) versions.
    pub(crate) fn with_config(&self, config: KeyConfig) -> Self {
        Self {
            config,
            versions: self.versions.clone(),
        }
    }

    /// The version to encrypt, sign or HMAC with: `requested`, or the latest
    /// for 0. `what` names the operation in errors.
    pub(crate) fn version_for_use(
        &self,
        requested: u64,
        what: &str,
    ) -> CoreResult<(u64, &Arc<KeyVersion>)> {
        let c = &self.config;
        let n = match requested {
            0 => c.latest_version,
            n if n > c.latest_version => {
                return Err(CoreError::invalid(format!(
                    "requested version for {what} is higher than the latest key version"
                )));
            }
            n if n < c.min_encryption_version => {
                return Err(CoreError::invalid(format!(
                    "requested version for {what} is less than the minimum encryption key version"
                )));
            }
            n => n,
        };
        let v = self
            .versions
            .get(&n)
            .ok_or_else(|| CoreError::invalid("no such key version"))?;
        Ok((n, v))
    }

    /// The version that made a ciphertext or signature, if policy still
    /// allows using it. `noun` is `ciphertext` or `signature`.
    pub(crate) fn version_for_reading(&self, n: u64, noun: &str) -> CoreResult<&Arc<KeyVersion>> {
        if n > self.config.latest_version {
            return Err(CoreError::invalid(format!(
                "invalid {noun}: version is too new"
            )));
        }
        if n < self.config.min_decryption_version {
            return Err(CoreError::invalid(ERR_TOO_OLD));
        }
        self.versions
            .get(&n)
            .ok_or_else(|| CoreError::invalid("no such key version"))
    }

    /// The request context of a derived key (required), or nothing.
    pub(crate) fn derivation_context<'a>(&self, context: &'a [u8]) -> CoreResult<Option<&'a [u8]>> {
        if !self.config.derived {
            return Ok(None);
        }
        if context.is_empty() {
            return Err(CoreError::invalid(ERR_MISSING_CONTEXT));
        }
        Ok(Some(context))
    }
}
