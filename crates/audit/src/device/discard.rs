//! `file_path = "discard"`: entries are formatted, then dropped.

use crate::device::AuditDevice;
use crate::{AuditError, Formatter};

/// Formats every entry (so a formatting failure still surfaces) and writes
/// nothing. Counts as a device that wrote, as Vault's discard sink does.
#[derive(Debug)]
pub struct DiscardDevice {
    formatter: Formatter,
}

impl DiscardDevice {
    /// A device that discards what `formatter` renders.
    pub fn new(formatter: Formatter) -> Self {
        Self { formatter }
    }
}

impl AuditDevice for DiscardDevice {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn formatter(&self) -> &Formatter {
        &self.formatter
    }

    fn write_line(&self, _line: &[u8]) -> Result<(), AuditError> {
        Ok(())
    }
}
