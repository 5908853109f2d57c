//! The one error type of the core. Server maps it to HTTP in one function.

use crate::storage::StorageError;
use coffer_crypto::CryptoError;

/// What went wrong while serving a request or changing core state.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The barrier is sealed; Vault's clients look for this exact text.
    #[error("Vault is sealed")]
    Sealed,
    /// An HA standby was asked what only the active node serves.
    #[error(
        "this node is a standby: the active node serves requests (send it there, or retry once a \
         node is active)"
    )]
    Standby,
    /// `sys/init` has not been run.
    #[error("Vault is not initialized")]
    NotInitialized,
    /// `sys/init` was already run.
    #[error("Vault is already initialized")]
    AlreadyInitialized,
    /// Missing, unknown or insufficient token.
    #[error("permission denied")]
    PermissionDenied,
    /// No mount or route serves this path.
    #[error("no handler for route {0:?}. route entry not found.")]
    UnsupportedPath(String),
    /// The route exists but not for this operation.
    #[error("unsupported operation")]
    UnsupportedOperation,
    /// The request is malformed or not allowed in this state.
    #[error("{0}")]
    InvalidRequest(String),
    /// A login presented wrong credentials for a user the auth method
    /// knows (400, like `InvalidRequest`): counted by the user lockout.
    #[error("{0}")]
    InvalidCredentials(String),
    /// A check-and-set or version precondition failed.
    #[error("{0}")]
    PreconditionFailed(String),
    /// The feature exists in Vault but not (yet) in Coffer.
    #[error("{0} is not supported yet")]
    NotSupported(String),
    /// A seal operation failed (HSM errors keep their PKCS#11 code name).
    #[error("seal: {0}")]
    Seal(String),
    /// A managed key's store did not do what was asked (PKCS#11 code kept).
    #[error("managed key: {0}")]
    ManagedKey(String),
    /// Storage failed underneath.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Stored ciphertext did not decrypt: tampering or a wrong key.
    #[error("stored data at physical key {path:?} failed integrity check: {source}")]
    Integrity {
        /// The physical (encrypted) storage key of the bad value, safe to log.
        path: String,
        /// The crypto failure.
        source: CryptoError,
    },
    /// A seal-wrapped value did not authenticate under the seal's key (its
    /// GCM tag or HMAC): tampering, or a record the HSM key never made.
    #[error(
        "seal-wrapped value at physical key {path:?} failed the seal's integrity check \
         (tampered with, or not made by this HSM's keys): {reason}"
    )]
    SealWrapIntegrity {
        /// The physical (encrypted) storage key, safe to log.
        path: String,
        /// What the seal reported.
        reason: String,
    },
    /// Randomness or another primitive failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The audit devices failed: devices are enabled and none could record a
    /// request or its response (the request fails, as in Vault: fail
    /// closed), or none of them could be opened at unseal.
    #[error("audit: {0}")]
    Audit(String),
    /// The node is at a limit it keeps on purpose (logins hashing at once,
    /// say); worth retrying in a moment (503 with `Retry-After`).
    #[error("{0}")]
    Busy(String),
    /// A bug or an impossible state; the message says which.
    #[error("internal error: {0}")]
    Internal(String),
}

impl CoreError {
    /// Shorthand for [`CoreError::InvalidRequest`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::InvalidRequest(msg.into())
    }
}

/// Result alias for the core.
pub type CoreResult<T> = Result<T, CoreError>;
