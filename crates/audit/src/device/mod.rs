//! Audit devices: where formatted entries go.
//!
//! A device is a [`Formatter`] (its own salt and options) plus an output. The
//! trait is synchronous: writes are small appends, and a device that blocks
//! is meant to stall the request, as Vault's do. An async caller that would
//! rather not block a runtime worker can call the broker from its blocking
//! pool.

mod discard;
mod file;
mod stdout;

pub use discard::DiscardDevice;
pub use file::{FileDevice, FileMode};
pub use stdout::StdoutDevice;

use crate::{AuditError, Formatter, LogInput};

/// One enabled audit device. Implementations are shared between request
/// tasks and serialise their own writes, so entries never interleave.
pub trait AuditDevice: Send + Sync + std::fmt::Debug {
    /// The Vault device type shown in `sys/audit` (`file`).
    fn kind(&self) -> &'static str;

    /// The formatter holding this device's salt and options.
    fn formatter(&self) -> &Formatter;

    /// Writes one complete, newline-terminated entry.
    fn write_line(&self, line: &[u8]) -> Result<(), AuditError>;

    /// Closes and reopens the output (SIGHUP, after logrotate moved the file).
    fn reopen(&self) -> Result<(), AuditError> {
        Ok(())
    }

    /// Formats and writes the request entry of `input`.
    fn log_request(&self, input: &LogInput) -> Result<(), AuditError> {
        let line = self.formatter().format_request(input)?;
        self.write_line(&line)
    }

    /// Formats and writes the response entry of `input`.
    fn log_response(&self, input: &LogInput) -> Result<(), AuditError> {
        let line = self.formatter().format_response(input)?;
        self.write_line(&line)
    }

    /// The audit hash of `input` with this device's salt (`sys/audit-hash`).
    fn hash(&self, input: &str) -> String {
        self.formatter().hash(input)
    }
}
