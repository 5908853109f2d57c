//! A software auto-unseal seal that wraps the way the PKCS#11 seal does
//! (blobs name the key that wrapped them), for node tests that need an auto
//! seal but not an HSM. Tests of the HSM itself use [`crate::softhsm`].

use async_trait::async_trait;
use coffer_core::seal::{Seal, SealError, SealHealth};
use coffer_crypto::{Entropy, Key256, OsEntropy, SecretBytes, envelope};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const SOFT_MAGIC: &[u8] = b"soft-seal:";

/// Plays the pkcs11 seal (kind "pkcs11", stored keys): AES keys by label,
/// wraps with the `current` one. Blob = magic, label length, label, envelope,
/// so foreign bytes are told apart and an old key's blobs are recognised.
pub struct SoftSeal {
    keys: Mutex<BTreeMap<String, Key256>>,
    current: Mutex<String>,
    entropy: Arc<dyn Entropy>,
    /// Unwrap calls so far (an HSM round trip each, for the real seal).
    pub unwraps: AtomicUsize,
}

impl SoftSeal {
    /// One key, labelled "key-1".
    pub fn new() -> Arc<Self> {
        Self::with_label("key-1")
    }

    /// One key, labelled `label`.
    pub fn with_label(label: &str) -> Arc<Self> {
        let s = Arc::new(Self {
            keys: Mutex::new(BTreeMap::new()),
            current: Mutex::new(String::new()),
            entropy: Arc::new(OsEntropy::new()),
            unwraps: AtomicUsize::new(0),
        });
        s.rotate_to(label);
        s
    }

    /// Wraps with the key `label` from now on (made when new); old keys stay.
    pub fn rotate_to(&self, label: &str) {
        let key = Key256::generate(self.entropy.as_ref()).expect("rng");
        self.keys
            .lock()
            .expect("lock")
            .entry(label.to_owned())
            .or_insert(key);
        *self.current.lock().expect("lock") = label.to_owned();
    }

    /// Deletes the key `label`, as deleting it from the HSM would.
    pub fn forget(&self, label: &str) {
        self.keys.lock().expect("lock").remove(label);
    }

    /// The label of the key that wrapped `blob` (which must be ours).
    pub fn label_of(blob: &[u8]) -> String {
        Self::parse(blob).expect("a soft-seal blob").0
    }

    fn parse(blob: &[u8]) -> Result<(String, &[u8]), SealError> {
        let foreign = || SealError::Integrity("not a soft-seal blob".to_owned());
        let rest = blob.strip_prefix(SOFT_MAGIC).ok_or_else(foreign)?;
        let (&n, rest) = rest.split_first().ok_or_else(foreign)?;
        let n = usize::from(n);
        let label = rest.get(..n).ok_or_else(foreign)?;
        let label = String::from_utf8(label.to_vec()).map_err(|_| foreign())?;
        Ok((label, &rest[n..]))
    }
}

#[async_trait]
impl Seal for SoftSeal {
    fn kind(&self) -> &'static str {
        "pkcs11"
    }
    fn stored_keys(&self) -> bool {
        true
    }
    async fn wrap(&self, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let label = self.current.lock().expect("lock").clone();
        let keys = self.keys.lock().expect("lock");
        let key = keys
            .get(&label)
            .ok_or_else(|| SealError::KeyMissing(label.clone()))?;
        let mut out = SOFT_MAGIC.to_vec();
        out.push(u8::try_from(label.len()).expect("short label"));
        out.extend_from_slice(label.as_bytes());
        out.extend(
            envelope::seal(key, 0, self.entropy.as_ref(), b"", plaintext)
                .map_err(|e| SealError::Unavailable(e.to_string()))?,
        );
        Ok(out)
    }
    async fn unwrap(&self, blob: &[u8]) -> Result<SecretBytes, SealError> {
        self.unwraps.fetch_add(1, Ordering::SeqCst);
        let (label, body) = Self::parse(blob)?;
        let keys = self.keys.lock().expect("lock");
        let key = keys
            .get(&label)
            .ok_or_else(|| SealError::KeyMissing(label.clone()))?;
        envelope::open(key, b"", body)
            .map(|p| SecretBytes::from_slice(&p))
            .map_err(|e| SealError::Integrity(e.to_string()))
    }
    async fn health(&self) -> SealHealth {
        SealHealth::Healthy
    }
    fn wrapped_with_current_key(&self, blob: &[u8]) -> bool {
        Self::parse(blob).is_ok_and(|(label, _)| label == *self.current.lock().expect("lock"))
    }
}
