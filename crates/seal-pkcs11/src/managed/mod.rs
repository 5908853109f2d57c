//! Managed keys over PKCS#11: the [`ManagedKeyProvider`] the server gives
//! the core, built from the `kms_library` stanzas. Each managed key gets a
//! session pool of its own (`max_parallel` sessions, logged in with its
//! PIN, re-initialised after the token comes back; the module itself is
//! shared with the seal when both name the same file). Its operations show
//! in `sys/metrics` as the seal's do, labelled `managed_key`: `sign` for
//! sign/verify, `wrap`/`unwrap` for encrypt/decrypt. The key material never
//! leaves the token.

mod ops;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use coffer_core::managed_keys::{
    ManagedKeyEntry, ManagedKeyError, ManagedKeyProvider, SignRequest, SignTest,
};
use coffer_core::metrics::Metric;
use zeroize::Zeroizing;

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
    /// Session pools by managed key UUID, with the key's name for metrics.
    pools: Mutex<HashMap<String, (String, Arc<SessionPool>)>>,
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
        if let Some((_, p)) = pools.get(&key.uuid) {
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
        pools.insert(key.uuid.clone(), (key.name.clone(), Arc::clone(&pool)));
        Ok(pool)
    }

    /// Runs `f` with a session of `key`'s pool, timed as `op`.
    async fn run<T, F>(&self, key: &ManagedKeyEntry, op: Op, f: F) -> Result<T, ManagedKeyError>
    where
        T: Send + 'static,
        F: FnOnce(&crate::session_pool::Held<'_>, &ManagedKeyEntry) -> Result<T, HsmError>
            + Send
            + 'static,
    {
        let pool = self.pool(key)?;
        let key = key.clone();
        pool.run(Some(OPERATION_TIMEOUT), Some(op), move |held| f(held, &key))
            .await
            .map_err(classify)
    }
}

/// Configuration problems for the caller to fix, forged input, and the rest
/// unavailable.
fn classify(e: HsmError) -> ManagedKeyError {
    if matches!(e, HsmError::Integrity(_) | HsmError::MalformedBlob(_)) {
        return ManagedKeyError::Integrity(e.to_string());
    }
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
        let test = test.clone();
        self.run(key, Op::Sign, move |held, key| {
            ops::test_sign(held, key, &test)
        })
        .await
    }

    async fn sign(
        &self,
        key: &ManagedKeyEntry,
        request: &SignRequest,
    ) -> Result<Vec<u8>, ManagedKeyError> {
        let request = request.clone();
        self.run(key, Op::Sign, move |held, key| {
            ops::sign(held, key, &request)
        })
        .await
    }

    async fn verify(
        &self,
        key: &ManagedKeyEntry,
        request: &SignRequest,
        signature: &[u8],
    ) -> Result<bool, ManagedKeyError> {
        let (request, signature) = (request.clone(), signature.to_vec());
        self.run(key, Op::Sign, move |held, key| {
            ops::verify(held, key, &request, &signature)
        })
        .await
    }

    async fn mac(&self, key: &ManagedKeyEntry, data: &[u8]) -> Result<Vec<u8>, ManagedKeyError> {
        let data = Zeroizing::new(data.to_vec());
        self.run(key, Op::Sign, move |held, key| ops::mac(held, key, &data))
            .await
    }

    async fn encrypt(
        &self,
        key: &ManagedKeyEntry,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, ManagedKeyError> {
        let plaintext = Zeroizing::new(plaintext.to_vec());
        self.run(key, Op::Wrap, move |held, key| {
            ops::encrypt(held, key, &plaintext)
        })
        .await
    }

    async fn decrypt(
        &self,
        key: &ManagedKeyEntry,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, ManagedKeyError> {
        let ciphertext = ciphertext.to_vec();
        self.run(key, Op::Unwrap, move |held, key| {
            ops::decrypt(held, key, &ciphertext)
        })
        .await
    }

    fn forget(&self, uuid: &str) {
        self.pools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(uuid);
    }

    fn metrics(&self) -> Vec<Metric> {
        let pools = self.pools.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<Metric> = pools
            .values()
            .flat_map(|(name, pool)| {
                pool.metrics()
                    .into_iter()
                    .map(move |m| m.label("managed_key", name.clone()))
            })
            .collect();
        // Series of one name stay together (Prometheus wants that).
        out.sort_by_key(|m| m.name);
        out
    }
}
