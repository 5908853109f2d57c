//! Coffer's audit devices, wire-compatible with Vault's: the JSON entry
//! format (one object per line, `"type": "request"` or `"response"`), the
//! HMAC-SHA256 hashing of sensitive values with a per-device salt
//! (`hmac-sha256:<hex>`, also behind `sys/audit-hash`), the `file` device
//! (including `file_path=stdout` and `discard`) with `mode`, `log_raw`,
//! `hmac_accessor`, `prefix`, and reopening for logrotate, the
//! `sys/audit/:path` option parsing and list shape, and a broker that writes
//! to every device and fails closed when none could write.
//!
//! It works on plain input types ([`LogInput`]) and must never depend on
//! `coffer-core`, on HTTP or on an async runtime: the core builds the input
//! from its request, persists the audit table and the salts, and calls the
//! [`AuditBroker`] before and after dispatch.

pub mod broker;
pub mod config;
pub mod device;
mod error;
pub mod format;
pub mod input;
pub mod salt;

pub use broker::AuditBroker;
pub use config::{
    AuditPath, AuditTable, AuditTableEntry, DeviceSettings, EnableRequest, FileSettings,
    FileTarget, open_device,
};
pub use device::{AuditDevice, DiscardDevice, FileDevice, FileMode, StdoutDevice};
pub use error::AuditError;
pub use format::{FormatOptions, Formatter};
pub use input::{
    AuditAuth, AuditNamespace, AuditRequest, AuditResponse, AuditWrapInfo, AuditedHeader, LogInput,
    PolicyResults, SecretText,
};
pub use salt::{AuditSalt, HMAC_PREFIX};
