//! The barrier keyring: the root key, the path key and every key term.
//!
//! Stored at `core/keyring`, encrypted with the root key. The active term
//! encrypts new writes; older terms stay so that values written before a
//! `sys/rotate` remain readable (each ciphertext names its term).

use crate::error::{CoreError, CoreResult};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use coffer_crypto::{Entropy, Key256};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::SystemTime;
use zeroize::Zeroizing;

/// One key term.
#[derive(Debug)]
pub(crate) struct TermKey {
    /// The AES-256 key of this term.
    pub key: Key256,
    /// When the term was installed.
    pub install_time: SystemTime,
}

/// The decrypted keyring, held in memory only while unsealed.
#[derive(Debug)]
pub(crate) struct Keyring {
    root_key: Key256,
    path_key: Key256,
    terms: BTreeMap<u32, TermKey>,
    active: u32,
}

/// Stored form of a term; key strings are wiped on drop, on every path.
#[derive(Serialize, Deserialize)]
struct TermRecord {
    term: u32,
    key: Zeroizing<String>,
    install_time: String,
}

/// Stored form of the keyring; key strings are wiped on drop, on every path.
#[derive(Serialize, Deserialize)]
struct KeyringRecord {
    active_term: u32,
    root_key: Zeroizing<String>,
    path_key: Zeroizing<String>,
    terms: Vec<TermRecord>,
}

impl Keyring {
    /// A new keyring with term 1, for `sys/init`.
    pub(crate) fn generate(
        root_key: Key256,
        entropy: &dyn Entropy,
        now: SystemTime,
    ) -> CoreResult<Self> {
        let path_key = Key256::generate(entropy)?;
        let first = TermKey {
            key: Key256::generate(entropy)?,
            install_time: now,
        };
        Ok(Self {
            root_key,
            path_key,
            terms: BTreeMap::from([(1, first)]),
            active: 1,
        })
    }

    /// The key that encrypts the keyring itself.
    pub(crate) fn root_key(&self) -> &Key256 {
        &self.root_key
    }

    /// The key that encrypts path segments.
    pub(crate) fn path_key(&self) -> &Key256 {
        &self.path_key
    }

    /// The active term number.
    pub(crate) fn active_term(&self) -> u32 {
        self.active
    }

    /// The active term's key.
    pub(crate) fn active_key(&self) -> &TermKey {
        // The constructor and `rotated` always insert the active term.
        &self.terms[&self.active]
    }

    /// The key of `term`, if known.
    pub(crate) fn term(&self, term: u32) -> Option<&TermKey> {
        self.terms.get(&term)
    }

    /// A copy of this keyring with a fresh active term.
    pub(crate) fn rotated(&self, entropy: &dyn Entropy, now: SystemTime) -> CoreResult<Self> {
        let next = self
            .active
            .checked_add(1)
            .ok_or_else(|| CoreError::Internal("keyring term counter exhausted".to_owned()))?;
        let mut terms: BTreeMap<u32, TermKey> = self
            .terms
            .iter()
            .map(|(t, k)| {
                (
                    *t,
                    TermKey {
                        key: k.key.duplicate(),
                        install_time: k.install_time,
                    },
                )
            })
            .collect();
        terms.insert(
            next,
            TermKey {
                key: Key256::generate(entropy)?,
                install_time: now,
            },
        );
        Ok(Self {
            root_key: self.root_key.duplicate(),
            path_key: self.path_key.duplicate(),
            terms,
            active: next,
        })
    }

    /// Serialises the keyring (the caller encrypts the result).
    pub(crate) fn to_bytes(&self) -> CoreResult<Zeroizing<Vec<u8>>> {
        let record = KeyringRecord {
            active_term: self.active,
            root_key: Zeroizing::new(B64.encode(self.root_key.expose())),
            path_key: Zeroizing::new(B64.encode(self.path_key.expose())),
            terms: self
                .terms
                .iter()
                .map(|(t, k)| TermRecord {
                    term: *t,
                    key: Zeroizing::new(B64.encode(k.key.expose())),
                    install_time: crate::clock::rfc3339(k.install_time),
                })
                .collect(),
        };
        let bytes = serde_json::to_vec(&record)
            .map_err(|e| CoreError::Internal(format!("keyring encode: {e}")))?;
        Ok(Zeroizing::new(bytes))
    }

    /// Parses a keyring serialised by [`Keyring::to_bytes`].
    pub(crate) fn from_bytes(bytes: &[u8]) -> CoreResult<Self> {
        let bad = |m: String| CoreError::Internal(format!("stored keyring is unreadable: {m}"));
        let record: KeyringRecord =
            serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let key = |s: &str| -> CoreResult<Key256> {
            let raw = Zeroizing::new(B64.decode(s).map_err(|e| bad(e.to_string()))?);
            Key256::from_slice(&raw).ok_or_else(|| bad("key is not 32 bytes".to_owned()))
        };
        let mut terms = BTreeMap::new();
        for t in &record.terms {
            let install_time =
                humantime::parse_rfc3339(&t.install_time).map_err(|e| bad(e.to_string()))?;
            terms.insert(
                t.term,
                TermKey {
                    key: key(&t.key)?,
                    install_time,
                },
            );
        }
        let ring = Self {
            root_key: key(&record.root_key)?,
            path_key: key(&record.path_key)?,
            terms,
            active: record.active_term,
        };
        if !ring.terms.contains_key(&ring.active) {
            return Err(bad(format!("active term {} has no key", ring.active)));
        }
        Ok(ring)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_crypto::OsEntropy;

    #[test]
    fn keyring_survives_serialisation_and_rotation_keeps_old_terms() {
        let e = OsEntropy::new();
        let root = Key256::generate(&e).expect("rng");
        let ring = Keyring::generate(root, &e, SystemTime::now()).expect("keyring");
        let rotated = ring.rotated(&e, SystemTime::now()).expect("rotate");
        assert_eq!(rotated.active_term(), 2);
        let back = Keyring::from_bytes(&rotated.to_bytes().expect("encode")).expect("decode");
        assert_eq!(back.active_term(), 2);
        assert_eq!(
            back.term(1).expect("term 1").key.expose(),
            ring.active_key().key.expose()
        );
        assert_eq!(back.root_key().expose(), ring.root_key().expose());
    }
}
