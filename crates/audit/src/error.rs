//! The one error type of the audit crate.
//!
//! Messages name the option, path or device at fault and never carry an
//! audited value, a token or a salt: they end up in HTTP error bodies and in
//! the server's own log.

use coffer_crypto::CryptoError;

/// What went wrong while configuring an audit device or writing an entry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The `sys/audit/:path` path is empty or malformed.
    #[error("invalid audit device path {0:?}")]
    InvalidPath(String),
    /// The enable body is malformed (a field of the wrong type, say).
    #[error("{0}")]
    InvalidRequest(String),
    /// One device option has a bad value, or is unknown.
    #[error("invalid audit option {option:?}: {reason}")]
    InvalidOption {
        /// The option's name as the client sent it.
        option: String,
        /// Why it was refused.
        reason: String,
    },
    /// The device `type` is not one Vault knows.
    #[error("unknown audit device type {0:?} (supported: \"file\")")]
    UnknownType(String),
    /// Vault has it, Coffer does not (`socket`, `syslog`, `jsonx`, ...).
    #[error("{0} is not supported")]
    NotSupported(String),
    /// A device is already enabled at this path.
    #[error("path already in use: {0:?}")]
    AlreadyEnabled(String),
    /// No device is enabled at this path.
    #[error("no audit device enabled at {0:?}")]
    NotFound(String),
    /// The salt is too short to key the audit HMAC.
    #[error("audit salt must be at least {min} bytes, got {got}")]
    WeakSalt {
        /// The minimum length.
        min: usize,
        /// The length supplied.
        got: usize,
    },
    /// Drawing a fresh salt failed.
    #[error("cannot generate an audit salt: {0}")]
    Entropy(#[from] CryptoError),
    /// Opening, writing or reopening a device's output failed.
    #[error("audit device {target}: {source}")]
    Io {
        /// The file path (or `stdout`) that failed.
        target: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// An entry could not be encoded as JSON.
    #[error("cannot encode audit entry: {0}")]
    Encode(String),
    /// Devices are enabled and none of them recorded the entry: the request
    /// must fail (fail closed, as Vault does).
    #[error("no audit device could record the {kind}: {failures}")]
    NoDeviceWrote {
        /// `request` or `response`.
        kind: &'static str,
        /// Each device path and its error, `; `-separated.
        failures: String,
    },
    /// Reopening (SIGHUP) failed for some devices; the others were reopened.
    #[error("reopening audit devices failed: {0}")]
    Reopen(String),
}
