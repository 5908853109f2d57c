//! Managed keys over PKCS#11: the [`ManagedKeyProvider`] the server gives
//! the core, built from the `kms_library` stanzas. Each managed key gets a
//! session pool of its own (`max_parallel` sessions, logged in with its
//! PIN, re-initialised after the token comes back), shared with the seal
//! when both name the same module, and its operations show in the same HSM
//! metrics design. The key material never leaves the token.

mod ops;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use coffer_core::managed_keys::{ManagedKeyEntry, ManagedKeyError, ManagedKeyProvider, SignTest};

use crate::SecretString;
use crate::error::HsmError;
use crate::module::{Module, TokenSelector};
use crate::session_pool::SessionPool;
use crate::telemetry::Op;

/// How long one managed key operation may take (key generation included).
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Managed keys on PKCS#11 tokens.
pub struct Pkcs11KeyProvider {
    libraries: BTreeMap<String, PathBuf>,
    pools: Mutex<HashMap<String, Arc<SessionPool>>>,
}

impl Pkcs11KeyProvider {
    /// A provider for the named modules (`kms_library` name → path).
    pub fn new(libraries: impl IntoIterator<Item = (String, PathBuf)>) -> Self {
        Self {
            libraries: libraries
                .into_iter()
                .map(|(n, p)| (n.to_ascii_lowercase(), p))
                .collect(),
            pools: Mutex::new(HashMap::new()),
        }
    }

    /// The session pool for `key`, opened on first use.
    fn pool(&self, key: &ManagedKeyEntry) -> Result<Arc<SessionPool>, ManagedKeyError> {
        let mut pools = self.pools.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(p) = pools.get(&key.uuid) {
            return Ok(Arc::clone(p));
        }
        let lib = self.libraries.get(&key.library).ok_or_else(|| {
            ManagedKeyError::Config(format!(
                "managed key {:?} names kms_library {:?}, which this server's configuration \
                 does not have",
                key.name, key.library
            ))
        })?;
        let module = Module::shared(lib).map_err(classify)?;
        let (selector, token) = match (&key.token_label, key.slot) {
            (Some(label), _) => (
                TokenSelector::Label(label.clone()),
                format!("token \"{label}\""),
            ),
            (None, Some(slot)) => (TokenSelector::Slot(slot), format!("slot {slot}")),
            (None, None) => {
                return Err(ManagedKeyError::Config(
                    "the managed key names neither slot nor token_label".to_owned(),
                ));
            }
        };
        let pool = Arc::new(SessionPool::new(
            module,
            selector,
            token,
            SecretString::from(key.pin().to_owned()),
            key.force_rw_session || key.allow_generate_key,
            usize::try_from(key.max_parallel).unwrap_or(1).max(1),
        ));
        pools.insert(key.uuid.clone(), Arc::clone(&pool));
        Ok(pool)
    }
}

/// Configuration problems for the caller to fix, the rest unavailable.
fn classify(e: HsmError) -> ManagedKeyError {
    let config = e.needs_operator()
        || matches!(
            e,
            HsmError::TokenNotFound { .. } | HsmError::InvalidConfig(_)
        );
    if config {
        ManagedKeyError::Config(e.to_string())
    } else {
        ManagedKeyError::Unavailable(e.to_string())
    }
}

#[async_trait]
impl ManagedKeyProvider for Pkcs11KeyProvider {
    fn key_types(&self) -> &'static [&'static str] {
        &["pkcs11"]
    }

    fn libraries(&self) -> Vec<String> {
        self.libraries.keys().cloned().collect()
    }

    async fn test_sign(
        &self,
        key: &ManagedKeyEntry,
        test: &SignTest,
    ) -> Result<(), ManagedKeyError> {
        let pool = self.pool(key)?;
        let (key, test) = (key.clone(), test.clone());
        pool.run(Some(OPERATION_TIMEOUT), Some(Op::Sign), move |held| {
            ops::test_sign(held, &key, &test)
        })
        .await
        .map_err(classify)
    }

    fn forget(&self, uuid: &str) {
        self.pools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(uuid);
    }
}
