//! The physical storage contract: bytes in, bytes out, no crypto.
//!
//! Everything Coffer persists passes through a [`Backend`]. Above it sits the
//! barrier, which encrypts every value before it reaches the backend, so a
//! backend only ever sees ciphertext (and the few plaintext bootstrap records
//! the seal needs before the barrier can open, such as `core/seal-config`).

pub(crate) mod barrier;
pub(crate) mod keyring;
pub(crate) mod locks;
pub(crate) mod physical_path;
pub(crate) mod usage;
pub(crate) mod view;

pub use barrier::{Barrier, Change, KEYRING_PATH, StoredRecord};
pub use locks::KeyLocks;
pub use view::View;

use async_trait::async_trait;
use std::sync::Arc;

/// Failure of a storage backend. The message names the key and the cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The key is not acceptable to this backend (empty, `..`, too long, ...).
    #[error("invalid storage key {key:?}: {reason}")]
    InvalidKey {
        /// The rejected key.
        key: String,
        /// Why it was rejected.
        reason: String,
    },
    /// An I/O or database error; the string names the operation, path and cause.
    #[error("storage {op} {key:?} failed: {cause}")]
    Io {
        /// `open`, `get`, `put`, `delete` or `list`.
        op: &'static str,
        /// The key or prefix involved.
        key: String,
        /// The underlying error, as text.
        cause: String,
    },
    /// The storage cannot be reached right now (a database that is down or
    /// unreachable); worth retrying, and the node recovers by itself.
    #[error("storage {op} {key:?} failed: the storage is unreachable: {cause}")]
    Unavailable {
        /// The operation.
        op: &'static str,
        /// The key or prefix involved.
        key: String,
        /// The underlying error, as text.
        cause: String,
    },
    /// An HA node's write after its hold on the election lock ran out (or
    /// while it is a standby): refused, so two nodes never write at once.
    #[error(
        "storage {op} refused: this node does not hold the HA lock (it is a standby, or its \
         lease ran out and another node may be active); this write changed nothing"
    )]
    NotActive {
        /// `put` or `delete`.
        op: &'static str,
        /// The key involved.
        key: String,
    },
    /// Data on disk is not in the format this backend writes.
    #[error("storage entry {key:?} is corrupt: {cause}")]
    Corrupt {
        /// The key whose stored form could not be read.
        key: String,
        /// What was wrong with it.
        cause: String,
    },
}

/// One change of a [`Backend::apply`] unit.
pub enum WriteOp {
    /// Insert or replace `key`.
    Put {
        /// The key.
        key: String,
        /// The value (ciphertext, above the barrier).
        value: Vec<u8>,
    },
    /// Remove `key` if present.
    Delete {
        /// The key.
        key: String,
    },
}

impl WriteOp {
    /// `put` or `delete`, for error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Put { .. } => "put",
            Self::Delete { .. } => "delete",
        }
    }

    /// The key it changes.
    pub fn key(&self) -> &str {
        match self {
            Self::Put { key, .. } | Self::Delete { key } => key,
        }
    }
}

/// Names the change and its key; never the value.
impl std::fmt::Debug for WriteOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", self.name(), self.key())
    }
}

/// A key/value store. Keys are `/`-separated strings; values are opaque bytes.
///
/// Contract (checked by `coffer_testkit::conformance`):
/// - `put` is durable when it returns `Ok` (a crash afterwards does not lose it)
///   and atomic (a reader sees the old or the new value, never a mix).
/// - `get` of an absent key is `Ok(None)`; an empty value is `Some(vec![])`.
/// - `delete` of an absent key is `Ok(())`.
/// - `list(prefix)` returns the *direct* children of `prefix` (which is empty or
///   ends in `/`), relative to it, sorted, de-duplicated: leaf names as they
///   are, and a name followed by `/` for every deeper "folder".
/// - `apply(ops)` makes the changes in order and is durable when it returns
///   `Ok`. A backend with transactions applies all of them or none in one
///   commit (`embedded`); the others apply them one by one and stop at the
///   first failure, so callers order a unit so that any applied prefix of it
///   is safe to leave behind.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Reads one value.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// Writes one value, replacing any previous one.
    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError>;
    /// Removes one value.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;
    /// Lists the direct children of `prefix`.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;
    /// Whether [`Backend::apply`] commits a unit all or nothing; the
    /// default, one change after the other, does not.
    fn applies_atomically(&self) -> bool {
        false
    }
    /// Makes several changes as one unit (see the contract above); this
    /// default applies them one by one.
    async fn apply(&self, ops: Vec<WriteOp>) -> Result<(), StorageError> {
        for op in ops {
            match op {
                WriteOp::Put { key, value } => self.put(&key, &value).await?,
                WriteOp::Delete { key } => self.delete(&key).await?,
            }
        }
        Ok(())
    }
    /// The storage type reported in `sys/seal-status` (`inmem`, `embedded`, `file`, ...).
    fn kind(&self) -> &'static str;
}

/// A shared backend handle.
pub type SharedBackend = Arc<dyn Backend>;

/// Checks the key rules every backend shares: non-empty, no leading `/`, no
/// empty, `.` or `..` segments, no NUL. Backends call this before touching disk.
pub fn validate_key(key: &str) -> Result<(), StorageError> {
    let reject = |reason: &str| {
        Err(StorageError::InvalidKey {
            key: key.to_owned(),
            reason: reason.to_owned(),
        })
    };
    if key.is_empty() {
        return reject("key is empty");
    }
    if key.contains('\0') {
        return reject("key contains a NUL byte");
    }
    if key.starts_with('/') || key.ends_with('/') {
        return reject("key must not start or end with '/'");
    }
    if key
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return reject("key has an empty, '.' or '..' segment");
    }
    Ok(())
}

/// Checks a list prefix: empty, or a valid key followed by `/`.
pub fn validate_prefix(prefix: &str) -> Result<(), StorageError> {
    if prefix.is_empty() {
        return Ok(());
    }
    match prefix.strip_suffix('/') {
        Some(stem) => validate_key(stem),
        None => Err(StorageError::InvalidKey {
            key: prefix.to_owned(),
            reason: "list prefix must be empty or end with '/'".to_owned(),
        }),
    }
}

/// Turns the full keys found under `prefix` into the direct-children listing of
/// the [`Backend::list`] contract. Input need not be sorted.
pub fn direct_children<'a>(prefix: &str, keys: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = keys
        .into_iter()
        .filter_map(|k| k.strip_prefix(prefix))
        .filter(|rest| !rest.is_empty())
        .map(|rest| match rest.find('/') {
            Some(i) => rest[..=i].to_owned(),
            None => rest.to_owned(),
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_children_folds_deeper_keys_into_folders() {
        let keys = ["a/b", "a/c/d", "a/c/e", "b", "a/b2"];
        assert_eq!(direct_children("a/", keys), vec!["b", "b2", "c/"]);
        assert_eq!(direct_children("", keys), vec!["a/", "b"]);
    }

    #[test]
    fn keys_with_dot_segments_are_rejected() {
        assert!(validate_key("a/../b").is_err());
        assert!(validate_key("/a").is_err());
        assert!(validate_key("a//b").is_err());
        assert!(validate_key("a/b").is_ok());
        assert!(validate_prefix("a/").is_ok());
        assert!(validate_prefix("a").is_err());
    }
}
