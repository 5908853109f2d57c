//! Logical path → physical key under `barrier/`: every segment encrypted by
//! the path cipher, bound to its parent path (see
//! `coffer_crypto::path_cipher`).
//!
//! The cipher costs an HMAC-SHA256 and an AES-GCM call per segment, and a
//! KV v2 read goes to a four-segment path (`logical/<mount>/data/<name>`)
//! whose first three segments are the same for every key of the mount. So
//! the encrypted form of each parent directory is remembered: a lookup then
//! encrypts one segment, the leaf. Leaves (secret names, token hashes) are
//! never remembered; the directories are, in memory only, and only while
//! the barrier is open (the cache lives in the barrier's open state, which a
//! seal drops). The map is bounded: when full it starts over, so a workload
//! touching more directories than that costs what it cost before the cache.

use crate::error::{CoreError, CoreResult};
use crate::storage::validate_key;
use coffer_crypto::CryptoError;
use coffer_crypto::Key256;
use coffer_crypto::path_cipher::PathCipher;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

/// The physical namespace of everything the barrier encrypts.
pub(crate) const BARRIER_PREFIX: &str = "barrier/";
/// Parent directories whose encrypted form is remembered. A mount uses a
/// handful (`logical/<uuid>`, `.../data`, `.../metadata`, ...) plus one per
/// nested secret folder.
const REMEMBERED_PARENTS: usize = 4096;

/// The path cipher with its memory of encrypted parent directories.
pub(crate) struct PhysicalPaths {
    cipher: PathCipher,
    parents: RwLock<HashMap<String, Arc<str>>>,
}

impl PhysicalPaths {
    /// Derives the path cipher from the keyring's path key.
    pub(crate) fn new(path_key: &Key256) -> Self {
        Self {
            cipher: PathCipher::new(path_key),
            parents: RwLock::new(HashMap::new()),
        }
    }

    /// The physical key of logical `path` (`barrier/<seg>/<seg>/...`).
    /// Errors on an invalid path without echoing it: logical paths carry
    /// secret names and per-token ids that errors and logs must not show.
    pub(crate) fn key(&self, path: &str) -> CoreResult<String> {
        validate_key(path).map_err(super::barrier::path_error)?;
        let Some((parent, leaf)) = path.rsplit_once('/') else {
            let leaf = self.encrypt(None, path)?;
            return Ok(format!("{BARRIER_PREFIX}{leaf}"));
        };
        let dir = self.directory(parent)?;
        let leaf = self.encrypt(Some(parent), leaf)?;
        let mut out = String::with_capacity(BARRIER_PREFIX.len() + dir.len() + 1 + leaf.len());
        out.push_str(BARRIER_PREFIX);
        out.push_str(&dir);
        out.push('/');
        out.push_str(&leaf);
        Ok(out)
    }

    /// The name of a child stored under logical directory `parent`.
    pub(crate) fn decrypt_segment(
        &self,
        parent: &str,
        stored: &str,
    ) -> Result<String, CryptoError> {
        self.cipher.decrypt_segment(parent, stored)
    }

    /// Encrypted form of the logical directory `dir` (no prefix, no
    /// trailing `/`), from memory or computed and remembered.
    fn directory(&self, dir: &str) -> CoreResult<Arc<str>> {
        if let Some(known) = self
            .parents
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(dir)
        {
            return Ok(known.clone());
        }
        let encrypted: Arc<str> = match dir.rsplit_once('/') {
            None => self.encrypt(None, dir)?.into(),
            Some((parent, name)) => {
                let above = self.directory(parent)?;
                let name = self.encrypt(Some(parent), name)?;
                format!("{above}/{name}").into()
            }
        };
        let mut parents = self.parents.write().unwrap_or_else(PoisonError::into_inner);
        if parents.len() >= REMEMBERED_PARENTS {
            parents.clear();
        }
        parents.insert(dir.to_owned(), encrypted.clone());
        Ok(encrypted)
    }

    fn encrypt(&self, parent: Option<&str>, name: &str) -> CoreResult<String> {
        self.cipher
            .encrypt_segment(parent.unwrap_or_default(), name)
            .map_err(|e| CoreError::invalid(format!("invalid path: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key256 {
        Key256::from_slice(&[7; 32]).expect("32 bytes")
    }

    fn paths() -> PhysicalPaths {
        PhysicalPaths::new(&key())
    }

    /// What the physical key was before parents were remembered: each
    /// segment encrypted under its full parent path.
    fn segment_by_segment(cipher: &PathCipher, path: &str) -> String {
        let mut out = String::from(BARRIER_PREFIX);
        let mut parent = String::new();
        for (i, seg) in path.split('/').enumerate() {
            if i > 0 {
                out.push('/');
            }
            out.push_str(&cipher.encrypt_segment(&parent, seg).expect("segment"));
            if i > 0 {
                parent.push('/');
            }
            parent.push_str(seg);
        }
        out
    }

    #[test]
    fn remembered_parents_give_the_same_keys_as_encrypting_every_segment() {
        let p = paths();
        let cipher = PathCipher::new(&key());
        for path in [
            "a",
            "logical/1234/data/key-1",
            "logical/1234/data/key-2",
            "logical/1234/metadata/key-1",
            "logical/1234/data/team/app/key",
            "sys/token/id/abc",
        ] {
            // Twice: the second answer comes from remembered parents.
            for _ in 0..2 {
                assert_eq!(p.key(path).expect("key"), segment_by_segment(&cipher, path));
            }
        }
        assert_eq!(
            p.decrypt_segment(
                "logical/1234/data",
                p.key("logical/1234/data/key-1")
                    .expect("key")
                    .rsplit('/')
                    .next()
                    .expect("leaf")
            )
            .expect("decrypts"),
            "key-1"
        );
    }

    #[test]
    fn leaves_are_not_remembered_and_the_memory_is_bounded() {
        let p = paths();
        p.key("logical/m/data/secret-name").expect("key");
        let known = p.parents.read().expect("lock").clone();
        assert!(known.contains_key("logical/m/data"));
        assert!(!known.keys().any(|k| k.contains("secret-name")));
        for i in 0..REMEMBERED_PARENTS + 10 {
            p.key(&format!("dir-{i}/leaf")).expect("key");
        }
        assert!(p.parents.read().expect("lock").len() <= REMEMBERED_PARENTS);
    }

    #[test]
    fn invalid_paths_are_refused_without_echoing_them() {
        let p = paths();
        for bad in ["", "a//b", "/a", "a/"] {
            let err = p.key(bad).expect_err(bad).to_string();
            assert!(err.contains("invalid path"), "{bad}: {err}");
        }
        let long = "s".repeat(200);
        let err = p.key(&format!("dir/{long}")).expect_err("long").to_string();
        assert!(!err.contains(&long), "{err}");
    }
}
