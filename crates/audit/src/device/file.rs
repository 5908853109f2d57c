//! The `file` device: one JSON line per entry, appended to a file.
//!
//! Durability: each entry goes to the kernel in one `write(2)` on an
//! `O_APPEND` descriptor before `log_*` returns, so a crash of the server
//! loses nothing already logged; there is no `fsync` per entry (a power loss
//! can lose the page cache's tail), which is Vault's choice too and keeps an
//! audited request at the cost of one write. Lines never interleave: writes
//! of one device are serialised by a mutex, and `O_APPEND` keeps whole
//! writes together even with another process appending.

use crate::device::AuditDevice;
use crate::{AuditError, Formatter};
use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// The `mode` option: permissions forced on the audit file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileMode {
    /// `"0000"`: leave an existing file's mode alone (a new file gets 0600).
    Keep,
    /// Set these permission bits on every open.
    Set(u32),
}

impl Default for FileMode {
    fn default() -> Self {
        Self::Set(0o600)
    }
}

impl FileMode {
    /// Parses Vault's octal string (`"0600"`, `"640"`). Executable bits and
    /// bits beyond `0777` are refused, as current Vault does.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bits = u32::from_str_radix(s.trim(), 8)
            .map_err(|_| format!("{s:?} is not an octal file mode like \"0600\""))?;
        if bits > 0o777 {
            return Err(format!(
                "{s:?} is not a file permission mode (at most 0777)"
            ));
        }
        if bits & 0o111 != 0 {
            return Err(format!(
                "{s:?} has executable bits; audit files cannot be executable"
            ));
        }
        Ok(if bits == 0 {
            Self::Keep
        } else {
            Self::Set(bits)
        })
    }
}

/// Appends entries to a file; [`AuditDevice::reopen`] closes and reopens it
/// so logrotate can move the old file away.
pub struct FileDevice {
    formatter: Formatter,
    path: PathBuf,
    mode: FileMode,
    /// `None` after a failed reopen: the next write tries to open again and
    /// fails (so requests fail closed) until the path can be opened.
    file: Mutex<Option<File>>,
}

impl FileDevice {
    /// Opens (creating if needed) `path` for appending and applies `mode`.
    /// Fails now, rather than on the first request, when the path cannot be
    /// opened; the parent directory must exist.
    pub fn open(
        path: impl Into<PathBuf>,
        mode: FileMode,
        formatter: Formatter,
    ) -> Result<Self, AuditError> {
        let path = path.into();
        let file = open_append(&path, mode).map_err(|e| io_error(&path, e))?;
        Ok(Self {
            formatter,
            path,
            mode,
            file: Mutex::new(Some(file)),
        })
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<File>> {
        // A panic mid-write leaves at worst a partial line; keep auditing.
        self.file.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for FileDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileDevice")
            .field("path", &self.path)
            .field("mode", &self.mode)
            .field("options", self.formatter.options())
            .finish_non_exhaustive()
    }
}

impl AuditDevice for FileDevice {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn formatter(&self) -> &Formatter {
        &self.formatter
    }

    fn write_line(&self, line: &[u8]) -> Result<(), AuditError> {
        let mut slot = self.lock();
        let mut partial = false;
        if let Some(file) = slot.as_mut() {
            match write_entry(file, line) {
                Ok(()) => return Ok(()),
                Err(failed) => partial = failed.partial,
            }
        }
        // No handle (a reopen failed) or the write failed: like Vault, try
        // once more on a freshly opened file before giving up.
        *slot = None;
        let mut file = open_append(&self.path, self.mode).map_err(|e| io_error(&self.path, e))?;
        if partial {
            // End the fragment so the retried entry starts its own line and
            // only the fragment fails to parse.
            write_entry(&mut file, b"\n").map_err(|f| io_error(&self.path, f.error))?;
        }
        write_entry(&mut file, line).map_err(|f| io_error(&self.path, f.error))?;
        *slot = Some(file);
        Ok(())
    }

    fn reopen(&self) -> Result<(), AuditError> {
        let mut slot = self.lock();
        // Close first: a handle kept on a moved-away or deleted file would
        // swallow entries nobody will read.
        *slot = None;
        let file = open_append(&self.path, self.mode).map_err(|e| io_error(&self.path, e))?;
        *slot = Some(file);
        Ok(())
    }
}

/// A failed write, and whether part of the entry reached the file.
struct WriteFailure {
    partial: bool,
    error: io::Error,
}

/// `write_all` that remembers whether some bytes were written before failing.
fn write_entry(file: &mut File, line: &[u8]) -> Result<(), WriteFailure> {
    let mut written = 0;
    while written < line.len() {
        match file.write(&line[written..]) {
            Ok(0) => {
                return Err(WriteFailure {
                    partial: written > 0,
                    error: io::ErrorKind::WriteZero.into(),
                });
            }
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => {
                return Err(WriteFailure {
                    partial: written > 0,
                    error,
                });
            }
        }
    }
    Ok(())
}

fn open_append(path: &Path, mode: FileMode) -> io::Result<File> {
    let create_mode = match mode {
        FileMode::Set(bits) => bits,
        FileMode::Keep => 0o600,
    };
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(create_mode)
        .open(path)?;
    if let FileMode::Set(bits) = mode {
        // The umask may have narrowed a new file, and an existing file keeps
        // its old mode: set it exactly, through the handle (no path race).
        if file.metadata()?.permissions().mode() & 0o7777 != bits {
            file.set_permissions(Permissions::from_mode(bits))?;
        }
    }
    Ok(file)
}

fn io_error(path: &Path, source: io::Error) -> AuditError {
    AuditError::Io {
        target: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_parses_vault_octal_strings() {
        assert_eq!(FileMode::parse("0600"), Ok(FileMode::Set(0o600)));
        assert_eq!(FileMode::parse("640"), Ok(FileMode::Set(0o640)));
        assert_eq!(FileMode::parse("0000"), Ok(FileMode::Keep));
    }

    #[test]
    fn mode_refuses_non_octal_executable_and_oversized_values() {
        assert!(FileMode::parse("rw").unwrap_err().contains("octal"));
        assert!(FileMode::parse("0800").is_err());
        assert!(FileMode::parse("0755").unwrap_err().contains("executable"));
        assert!(FileMode::parse("01600").unwrap_err().contains("0777"));
    }
}
