//! `file_path = "stdout"`: entries on the server's standard output, useful
//! in containers.

use crate::device::AuditDevice;
use crate::{AuditError, Formatter};
use std::fmt;
use std::io::Write;
use std::sync::{Mutex, PoisonError};

/// Writes entries to standard output (or, in tests, any injected writer),
/// one line per entry, flushed after each.
pub struct StdoutDevice {
    formatter: Formatter,
    out: Mutex<Box<dyn Write + Send>>,
}

impl StdoutDevice {
    /// A device writing to the process's standard output.
    pub fn new(formatter: Formatter) -> Self {
        Self::with_writer(formatter, Box::new(std::io::stdout()))
    }

    /// A device writing to `out` instead.
    pub fn with_writer(formatter: Formatter, out: Box<dyn Write + Send>) -> Self {
        Self {
            formatter,
            out: Mutex::new(out),
        }
    }
}

impl fmt::Debug for StdoutDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StdoutDevice")
            .field("options", self.formatter.options())
            .finish_non_exhaustive()
    }
}

impl AuditDevice for StdoutDevice {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn formatter(&self) -> &Formatter {
        &self.formatter
    }

    fn write_line(&self, line: &[u8]) -> Result<(), AuditError> {
        // A panic while writing leaves at worst a partial line; keep logging.
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        out.write_all(line)
            .and_then(|()| out.flush())
            .map_err(|source| AuditError::Io {
                target: "stdout".to_owned(),
                source,
            })
    }
}
