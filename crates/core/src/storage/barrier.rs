//! The barrier: AES-256-GCM over every value and every path segment that
//! passes to storage, keyed by the keyring.
//!
//! Physical layout: the few bootstrap records the seal needs before the
//! barrier can open live in the clear-text `core/` namespace (their values are
//! encrypted by the seal or the root key, see `crate::seal`); everything else
//! lives under `barrier/` with each path segment encrypted by the path cipher
//! and each value by the active key term, with the logical path as associated
//! data. A storage dump therefore shows neither secret values nor key names.
//!
//! With a seal that can seal-wrap (pkcs11), the keyring record and the values
//! written with [`Barrier::put_wrapped`] get a second, outer layer made by
//! the seal (`crate::seal::wrap`); reads unwrap it transparently.

use crate::error::{CoreError, CoreResult};
use crate::seal::wrap::{self as seal_wrap, SealWrapper};
use crate::storage::keyring::Keyring;
use crate::storage::locks::KeyLocks;
use crate::storage::physical_path::{BARRIER_PREFIX, PhysicalPaths};
use crate::storage::usage::{TERM_LIMIT, TermUsage, UNKNOWN_USAGE, USAGE_PATH, UsageRecord};
use crate::storage::{SharedBackend, WriteOp, validate_prefix};
use coffer_crypto::envelope;
use coffer_crypto::{Entropy, Key256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;
use zeroize::Zeroizing;

/// Physical key of the keyring (encrypted with the root key).
pub const KEYRING_PATH: &str = "core/keyring";
/// Write locks, striped by physical key: a re-wrap replaces a record only
/// if no write or delete changed it since it was read.
const WRITE_STRIPES: usize = 256;
/// Seal-wrap records whose unwrapped form (barrier ciphertext, not secret)
/// is kept in memory, so reading a wrapped value again costs no HSM call.
const UNWRAPPED_CACHE_ENTRIES: usize = 8192;

struct Open {
    keyring: Keyring,
    paths: PhysicalPaths,
    usage: TermUsage,
}

impl Open {
    fn new(keyring: Keyring, usage: TermUsage) -> Self {
        let paths = PhysicalPaths::new(keyring.path_key());
        Self {
            keyring,
            paths,
            usage,
        }
    }
}

/// `sys/key-status` figures.
#[derive(Debug, Clone)]
pub struct KeyStatus {
    /// Active term.
    pub term: u32,
    /// When it was installed.
    pub install_time: SystemTime,
    /// Values it encrypted, across restarts (an over-estimate by at most
    /// one reservation block after a restart, see `storage::usage`).
    pub encryptions: u64,
}

/// The encrypting layer between the core and the storage backend.
pub struct Barrier {
    backend: SharedBackend,
    /// Key terms and the keyring's own encryption.
    entropy: Arc<dyn Entropy>,
    /// Nonces of value encryption.
    nonces: Arc<dyn Entropy>,
    open: RwLock<Option<Arc<Open>>>,
    rotation: tokio::sync::Mutex<()>,
    wrapper: Option<Arc<SealWrapper>>,
    stripes: KeyLocks,
    unwrapped: Mutex<HashMap<String, Unwrapped>>,
}

/// A seal-wrap record as stored and the barrier ciphertext inside it. Only
/// used when the stored bytes are still exactly `record`, so tampering or a
/// concurrent rewrite always goes back to the seal.
struct Unwrapped {
    record: Arc<[u8]>,
    inner: Arc<[u8]>,
}

/// One value as it lies in storage, found by its logical path (`sys/raw`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The physical key, with every segment encrypted by the path cipher.
    pub physical: String,
    /// The stored bytes: barrier ciphertext, or a seal-wrap record around it.
    pub bytes: Vec<u8>,
    /// For a seal-wrap record: the seal type and what its blob says in the
    /// clear (mechanism, key labels). `None` for barrier-only values.
    pub seal_wrap: Option<(String, Vec<(&'static str, String)>)>,
}

/// One change of a [`Barrier::apply`] unit, by logical path.
#[derive(Clone, Copy)]
pub enum Change<'a> {
    /// Encrypt and store `value` at `path`, seal-wrapped too when `wrap` is
    /// set and the seal can wrap.
    Put {
        /// The logical path.
        path: &'a str,
        /// The plaintext.
        value: &'a [u8],
        /// Whether the value is one seal wrap covers.
        wrap: bool,
    },
    /// Remove the value at `path`.
    Delete {
        /// The logical path.
        path: &'a str,
    },
}

/// What [`Barrier::reconcile`] did to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconciled {
    /// Already in the wanted form (or gone).
    Unchanged,
    /// Seal-wrapped now (was barrier-only, or wrapped by an old key or seal).
    Wrapped,
    /// Barrier-only now (the seal can no longer wrap).
    Unwrapped,
}

impl std::fmt::Debug for Barrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Barrier")
            .field("sealed", &self.is_sealed())
            .finish()
    }
}

impl Barrier {
    /// A sealed barrier over `backend`, drawing keys and nonces from `entropy`.
    pub fn new(backend: SharedBackend, entropy: Arc<dyn Entropy>) -> Self {
        Self {
            backend,
            nonces: entropy.clone(),
            entropy,
            open: RwLock::new(None),
            rotation: tokio::sync::Mutex::new(()),
            wrapper: None,
            stripes: KeyLocks::new(WRITE_STRIPES),
            unwrapped: Mutex::new(HashMap::new()),
        }
    }

    /// Enables the seal-wrap layer: records made by the seal are unwrapped on
    /// read, and, when the seal can wrap, the keyring and
    /// [`Barrier::put_wrapped`] values are wrapped on write.
    pub fn with_seal_wrap(mut self, wrapper: Arc<SealWrapper>) -> Self {
        self.wrapper = Some(wrapper);
        self
    }

    /// Whether new values can be seal-wrapped.
    pub fn seal_wraps(&self) -> bool {
        self.wrapper.as_ref().is_some_and(|w| w.active())
    }

    /// Draws value-encryption nonces from `nonces` instead: with entropy
    /// augmentation the keys come from the augmented handle while nonces
    /// (which need uniqueness, not secrecy) stay on the OS CSPRNG, so reads
    /// and writes keep working while the HSM is away.
    pub fn with_nonce_entropy(mut self, nonces: Arc<dyn Entropy>) -> Self {
        self.nonces = nonces;
        self
    }

    /// The backend underneath (for the unencrypted `core/` bootstrap records).
    pub fn backend(&self) -> &SharedBackend {
        &self.backend
    }

    /// Whether the barrier has been set up (`core/keyring` exists).
    pub async fn is_initialized(&self) -> CoreResult<bool> {
        Ok(self.backend.get(KEYRING_PATH).await?.is_some())
    }

    /// Creates a keyring protected by `root_key` and opens the barrier with
    /// it, in memory only: nothing is written until
    /// [`Barrier::commit_keyring`], so `sys/init` can write everything else
    /// first and make the keyring its commit point.
    pub fn initialize(&self, root_key: Key256, now: SystemTime) -> CoreResult<()> {
        let keyring = Keyring::generate(root_key, self.entropy.as_ref(), now)?;
        self.install(Open::new(keyring, TermUsage::starting_at(0)));
        Ok(())
    }

    /// Writes the open keyring to `core/keyring` (encrypted with the root key).
    pub async fn commit_keyring(&self) -> CoreResult<()> {
        let open = self.opened()?;
        self.persist(&open.keyring).await
    }

    /// Decrypts the keyring with `root_key` and opens the barrier.
    pub async fn unseal(&self, root_key: &Key256) -> CoreResult<()> {
        let blob = self
            .backend
            .get(KEYRING_PATH)
            .await?
            .ok_or(CoreError::NotInitialized)?;
        let blob = self.outer_unwrap(KEYRING_PATH, blob).await?;
        let plain = envelope::open(root_key, KEYRING_PATH.as_bytes(), &blob).map_err(|source| {
            CoreError::Integrity {
                path: KEYRING_PATH.to_owned(),
                source,
            }
        })?;
        let open = Open::new(Keyring::from_bytes(&plain)?, TermUsage::starting_at(0));
        let used = self.stored_usage(&open).await?;
        self.install(Open {
            usage: TermUsage::starting_at(used),
            ..open
        });
        Ok(())
    }

    /// How many values the active term of `open` encrypted, by the stored
    /// reservation; 0 when the record is of an older term (or absent: a
    /// keyring from before counts were kept, or a term not used yet). A
    /// record that cannot be read counts as nearly used up, which makes the
    /// keyring rotate at once: safe, where unsealing would not be.
    async fn stored_usage(&self, open: &Open) -> CoreResult<u64> {
        let physical = open.paths.key(USAGE_PATH)?;
        let Some(blob) = self.backend.get(&physical).await? else {
            return Ok(0);
        };
        let record = decrypt(open, &physical, USAGE_PATH, &blob).and_then(|plain| {
            serde_json::from_slice::<UsageRecord>(&plain)
                .map_err(|e| CoreError::Internal(format!("not a usage record: {e}")))
        });
        Ok(match record {
            Ok(r) if r.term == open.keyring.active_term() => r.encryptions,
            Ok(_) => 0,
            Err(e) => {
                tracing::error!(
                    error = %e,
                    "the keyring's encryption count ({USAGE_PATH}) is unreadable; counting the \
                     active key term as used up, so the keyring rotates now"
                );
                UNKNOWN_USAGE
            }
        })
    }

    /// Stores a reservation covering the count `n` of `open`'s active term
    /// unless one already does; values are encrypted only after this. A
    /// write that took `open` before a rotation stores nothing: the record
    /// belongs to the new term now, and the old one encrypts no more.
    async fn reserve(&self, open: &Arc<Open>, n: u64) -> CoreResult<()> {
        let Some((_serialised, figure)) = open.usage.begin_reservation(n).await else {
            return Ok(());
        };
        let term = open.keyring.active_term();
        let record = serde_json::to_vec(&UsageRecord {
            term,
            encryptions: figure,
        })
        .map_err(|e| CoreError::Internal(format!("encoding the key usage record: {e}")))?;
        let blob = envelope::seal(
            &open.keyring.active_key().key,
            term,
            self.nonces.as_ref(),
            USAGE_PATH.as_bytes(),
            &record,
        )?;
        let physical = open.paths.key(USAGE_PATH)?;
        // Under the record's stripe: the new term's first reservation
        // waits for this one, so an old term's record never lands last.
        let _stripe = self.stripes.lock(&physical).await;
        if !Arc::ptr_eq(&self.opened()?, open) {
            return Ok(());
        }
        self.backend.put(&physical, &blob).await?;
        open.usage.reserved_up_to(figure);
        Ok(())
    }

    /// Reads the keyring again with the root key in memory: an HA node that
    /// takes over sees the terms the previous active added.
    pub async fn reload_keyring(&self) -> CoreResult<()> {
        let root = self.root_key()?;
        self.unseal(&root).await
    }

    /// Forgets every key; the barrier is sealed afterwards.
    pub fn seal(&self) {
        let mut guard = self
            .open
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard = None;
        drop(guard);
        self.cache().clear();
    }

    /// Whether the barrier is sealed.
    pub fn is_sealed(&self) -> bool {
        self.open
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_none()
    }

    /// Reads and decrypts one value.
    pub async fn get(&self, path: &str) -> CoreResult<Option<Zeroizing<Vec<u8>>>> {
        let open = self.opened()?;
        let physical = open.paths.key(path)?;
        let Some(blob) = self.backend.get(&physical).await? else {
            return Ok(None);
        };
        let blob = self.outer_unwrap(&physical, blob).await?;
        decrypt(&open, &physical, path, &blob).map(Some)
    }

    /// The stored form of one value, neither unwrapped nor decrypted: what
    /// an operator looking at the storage directory would find for it.
    pub async fn stored(&self, path: &str) -> CoreResult<Option<StoredRecord>> {
        let open = self.opened()?;
        let physical = open.paths.key(path)?;
        let Some(bytes) = self.backend.get(&physical).await? else {
            return Ok(None);
        };
        let seal_wrap = if seal_wrap::is_wrapped(&bytes) {
            let described = self
                .wrapper
                .as_ref()
                .and_then(|w| w.describe(&bytes))
                .unwrap_or_else(|| (String::from("unknown"), Vec::new()));
            Some(described)
        } else {
            None
        };
        Ok(Some(StoredRecord {
            physical,
            bytes,
            seal_wrap,
        }))
    }

    /// Encrypts and writes one value.
    pub async fn put(&self, path: &str, value: &[u8]) -> CoreResult<()> {
        self.apply(&[Change::Put {
            path,
            value,
            wrap: false,
        }])
        .await
    }

    /// Encrypts, seal-wraps and writes one value. Without a seal that can
    /// wrap this is [`Barrier::put`]; callers decide with a
    /// [`crate::seal::wrap::WrapRule`], which is empty in that case.
    pub async fn put_wrapped(&self, path: &str, value: &[u8]) -> CoreResult<()> {
        self.apply(&[Change::Put {
            path,
            value,
            wrap: true,
        }])
        .await
    }

    /// Deletes one value.
    pub async fn delete(&self, path: &str) -> CoreResult<()> {
        self.apply(&[Change::Delete { path }]).await
    }

    /// Whether [`Barrier::apply`] lands a unit all or nothing (the backend
    /// has transactions), rather than change by change.
    pub fn atomic_units(&self) -> bool {
        self.backend.applies_atomically()
    }

    /// Encrypts the values of `changes` and hands them to the backend as one
    /// unit ([`crate::storage::Backend::apply`]: one commit where the backend
    /// has transactions, in order otherwise).
    pub async fn apply(&self, changes: &[Change<'_>]) -> CoreResult<()> {
        let open = self.opened()?;
        let mut ops = Vec::with_capacity(changes.len());
        let mut inners = Vec::with_capacity(changes.len());
        for change in changes {
            match *change {
                Change::Put { path, value, wrap } => {
                    let key = open.paths.key(path)?;
                    let (value, inner) = self.encrypt(&open, path, value, wrap).await?;
                    ops.push(WriteOp::Put { key, value });
                    inners.push(inner);
                }
                Change::Delete { path } => {
                    ops.push(WriteOp::Delete {
                        key: open.paths.key(path)?,
                    });
                    inners.push(None);
                }
            }
        }
        let _stripes = self.stripes.lock_all(ops.iter().map(WriteOp::key)).await;
        // The unwrap cache answers only for the exact stored bytes, so
        // updating it before the write is safe even if the write fails.
        for (op, inner) in ops.iter().zip(inners) {
            match (op, inner) {
                (WriteOp::Put { key, value }, Some(inner)) => self.remember(key, value, &inner),
                _ => self.forget(op.key()),
            }
        }
        self.backend.apply(ops).await?;
        Ok(())
    }

    /// The stored form of `value` at `path`: barrier ciphertext, or with
    /// `wrap` (and a seal that wraps) the seal-wrap record around it, and
    /// then also the ciphertext inside it.
    async fn encrypt(
        &self,
        open: &Arc<Open>,
        path: &str,
        value: &[u8],
        wrap: bool,
    ) -> CoreResult<(Vec<u8>, Option<Vec<u8>>)> {
        let n = open.usage.count_one();
        if n > TERM_LIMIT {
            return Err(CoreError::Busy(format!(
                "the barrier's active key term has encrypted {TERM_LIMIT} values, the AES-GCM \
                 limit, and automatic rotation has not succeeded (see the server log); writes \
                 are refused until the keyring rotates (`coffer operator rotate`)"
            )));
        }
        if !open.usage.covered(n) {
            self.reserve(open, n).await?;
        }
        let active = open.keyring.active_key();
        let blob = envelope::seal(
            &active.key,
            open.keyring.active_term(),
            self.nonces.as_ref(),
            path.as_bytes(),
            value,
        )?;
        match &self.wrapper {
            Some(w) if wrap && w.active() => Ok((w.wrap(&blob).await?, Some(blob))),
            _ => Ok((blob, None)),
        }
    }

    /// Brings one stored value into the wanted form: seal-wrapped by the
    /// current seal key (`wrapped`), or barrier-only. Wrapping works on the
    /// stored ciphertext, so no keyring is needed beyond locating the path.
    /// A concurrent write wins: the record is replaced only if unchanged.
    pub async fn reconcile(&self, path: &str, wrapped: bool) -> CoreResult<Reconciled> {
        let open = self.opened()?;
        let physical = open.paths.key(path)?;
        self.reconcile_physical(&physical, wrapped).await
    }

    /// [`Barrier::reconcile`] for the keyring record (wrapped exactly when
    /// the seal can wrap).
    pub async fn reconcile_keyring(&self) -> CoreResult<Reconciled> {
        self.reconcile_physical(KEYRING_PATH, self.seal_wraps())
            .await
    }

    /// Whether the keyring record is in the form the seal wants: a cheap
    /// sign that stored values need re-wrapping (after an HSM key rotation
    /// or a seal migration, the keyring is the first record to go stale).
    pub async fn keyring_needs_reconcile(&self) -> CoreResult<bool> {
        let Some(record) = self.backend.get(KEYRING_PATH).await? else {
            return Ok(false);
        };
        Ok(self.wanted_change(&record, self.seal_wraps()))
    }

    fn wanted_change(&self, record: &[u8], wrapped: bool) -> bool {
        match (&self.wrapper, seal_wrap::is_wrapped(record)) {
            (Some(w), true) => !wrapped || w.is_stale(record),
            (_, false) => wrapped,
            (None, true) => true,
        }
    }

    async fn reconcile_physical(&self, physical: &str, wrapped: bool) -> CoreResult<Reconciled> {
        let Some(record) = self.backend.get(physical).await? else {
            return Ok(Reconciled::Unchanged);
        };
        if !self.wanted_change(&record, wrapped) {
            return Ok(Reconciled::Unchanged);
        }
        let inner = self.outer_unwrap(physical, record.clone()).await?;
        let (replacement, outcome) = match &self.wrapper {
            Some(w) if wrapped => (w.wrap(&inner).await?, Reconciled::Wrapped),
            _ => (inner.to_vec(), Reconciled::Unwrapped),
        };
        let _stripe = self.stripes.lock(physical).await;
        match self.backend.get(physical).await? {
            Some(now) if now == record => {
                self.backend.put(physical, &replacement).await?;
                match outcome {
                    Reconciled::Wrapped => self.remember(physical, &replacement, &inner),
                    _ => self.forget(physical),
                }
                Ok(outcome)
            }
            _ => Ok(Reconciled::Unchanged),
        }
    }

    async fn outer_unwrap(&self, physical: &str, record: Vec<u8>) -> CoreResult<Vec<u8>> {
        if !seal_wrap::is_wrapped(&record) {
            return Ok(record);
        }
        if let Some(hit) = self.cache().get(physical)
            && *hit.record == *record
        {
            return Ok(hit.inner.to_vec());
        }
        let w = self.wrapper.as_ref().ok_or_else(|| {
            CoreError::Seal(format!(
                "the value at physical key {physical:?} is seal-wrapped, but no seal is \
                 configured to unwrap it"
            ))
        })?;
        let inner = w.unwrap(physical, &record).await?.to_vec();
        self.remember(physical, &record, &inner);
        Ok(inner)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Unwrapped>> {
        self.unwrapped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps the barrier ciphertext inside `record`. At capacity an
    /// arbitrary entry makes room: a miss only costs one HSM call.
    fn remember(&self, physical: &str, record: &[u8], inner: &[u8]) {
        let mut cache = self.cache();
        if cache.len() >= UNWRAPPED_CACHE_ENTRIES
            && !cache.contains_key(physical)
            && let Some(victim) = cache.keys().next().cloned()
        {
            cache.remove(&victim);
        }
        cache.insert(
            physical.to_owned(),
            Unwrapped {
                record: record.into(),
                inner: inner.into(),
            },
        );
    }

    fn forget(&self, physical: &str) {
        self.cache().remove(physical);
    }

    /// Lists the direct children of a logical prefix (empty or ending in `/`).
    pub async fn list(&self, prefix: &str) -> CoreResult<Vec<String>> {
        let open = self.opened()?;
        validate_prefix(prefix).map_err(path_error)?;
        let parent = prefix.trim_end_matches('/');
        let physical_prefix = if parent.is_empty() {
            BARRIER_PREFIX.to_owned()
        } else {
            format!("{}/", open.paths.key(parent)?)
        };
        let mut names = Vec::new();
        for child in self.backend.list(&physical_prefix).await? {
            let (stored, folder) = match child.strip_suffix('/') {
                Some(s) => (s, true),
                None => (child.as_str(), false),
            };
            let name = open
                .paths
                .decrypt_segment(parent, stored)
                .map_err(|source| CoreError::Integrity {
                    path: format!("{physical_prefix}{child}"),
                    source,
                })?;
            names.push(if folder { format!("{name}/") } else { name });
        }
        names.sort();
        Ok(names)
    }

    /// Adds a key term and makes it active (`sys/rotate`).
    pub async fn rotate(&self, now: SystemTime) -> CoreResult<u32> {
        let _serialised = self.rotation.lock().await;
        let open = self.opened()?;
        let next = open.keyring.rotated(self.entropy.as_ref(), now)?;
        let term = next.active_term();
        self.persist(&next).await?;
        let mut guard = self
            .open
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match guard.as_ref() {
            Some(current) if Arc::ptr_eq(current, &open) => {
                *guard = Some(Arc::new(Open::new(next, TermUsage::starting_at(0))));
                Ok(term)
            }
            _ => Err(CoreError::Sealed),
        }
    }

    /// `sys/key-status`.
    pub fn key_status(&self) -> CoreResult<KeyStatus> {
        let open = self.opened()?;
        Ok(KeyStatus {
            term: open.keyring.active_term(),
            install_time: open.keyring.active_key().install_time,
            encryptions: open.usage.count(),
        })
    }

    /// The root key, for re-wrapping by the seal (`sys/rotate` of the root key,
    /// seal migration). Fails when sealed.
    pub fn root_key(&self) -> CoreResult<Key256> {
        Ok(self.opened()?.keyring.root_key().duplicate())
    }

    async fn persist(&self, keyring: &Keyring) -> CoreResult<()> {
        let plain = keyring.to_bytes()?;
        let blob = envelope::seal(
            keyring.root_key(),
            0,
            self.entropy.as_ref(),
            KEYRING_PATH.as_bytes(),
            &plain,
        )?;
        let blob = match &self.wrapper {
            Some(w) if w.active() => w.wrap(&blob).await?,
            _ => blob,
        };
        let _stripe = self.stripes.lock(KEYRING_PATH).await;
        self.backend.put(KEYRING_PATH, &blob).await?;
        Ok(())
    }

    fn install(&self, open: Open) {
        let mut guard = self
            .open
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard = Some(Arc::new(open));
    }

    fn opened(&self) -> CoreResult<Arc<Open>> {
        self.open
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .ok_or(CoreError::Sealed)
    }
}

/// An invalid logical path, described without echoing it: logical paths
/// carry secret names and per-token ids that errors and logs must not show.
pub(super) fn path_error(e: crate::storage::StorageError) -> CoreError {
    match e {
        crate::storage::StorageError::InvalidKey { reason, .. } => {
            CoreError::invalid(format!("invalid path: {reason}"))
        }
        other => other.into(),
    }
}

/// Opens barrier ciphertext `blob` of logical `path` (stored at
/// `physical`) with the key term it names.
fn decrypt(open: &Open, physical: &str, path: &str, blob: &[u8]) -> CoreResult<Zeroizing<Vec<u8>>> {
    let integrity = |source| CoreError::Integrity {
        path: physical.to_owned(),
        source,
    };
    let term = envelope::term_of(blob).map_err(integrity)?;
    let key = open
        .keyring
        .term(term)
        .ok_or_else(|| integrity(coffer_crypto::CryptoError::UnknownTerm(term)))?;
    envelope::open(&key.key, path.as_bytes(), blob).map_err(integrity)
}
