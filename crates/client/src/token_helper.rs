//! The default token helper: the token lives in `~/.vault-token`, shared with the `vault` CLI.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::{Error, Result, SecretString};

/// Reads and writes the token file that `login` fills and every later command reads.
#[derive(Debug, Clone)]
pub struct TokenHelper {
    path: PathBuf,
}

impl TokenHelper {
    /// The helper for `$HOME/.vault-token`; `None` when `HOME` is unset.
    pub fn default_location() -> Option<Self> {
        std::env::var_os("HOME")
            .filter(|home| !home.is_empty())
            .map(|home| Self::at(Path::new(&home).join(".vault-token")))
    }

    /// A helper for an explicit file.
    pub fn at(path: PathBuf) -> Self {
        Self { path }
    }

    /// The token file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored token; `None` when the file is absent or blank.
    pub fn get(&self) -> Result<Option<SecretString>> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => {
                let token = text.trim();
                Ok((!token.is_empty()).then(|| SecretString::from(token)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(self.error(source)),
        }
    }

    /// Stores `token`, readable by the owner only (mode 0600).
    pub fn store(&self, token: &SecretString) -> Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&self.path)
            .map_err(|e| self.error(e))?;
        file.write_all(token.expose().as_bytes())
            .map_err(|e| self.error(e))
    }

    /// Removes the stored token; absent is fine.
    pub fn erase(&self) -> Result<()> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(self.error(source)),
        }
    }

    fn error(&self, source: std::io::Error) -> Error {
        Error::TokenHelper {
            path: self.path.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn stored_token_reads_back_and_is_private_to_the_owner() {
        let dir = tempfile::tempdir().expect("tempdir");
        let helper = TokenHelper::at(dir.path().join(".vault-token"));
        assert!(helper.get().expect("get").is_none());
        helper.store(&SecretString::from("hvs.abc")).expect("store");
        assert_eq!(
            helper
                .get()
                .expect("get")
                .as_ref()
                .map(SecretString::expose),
            Some("hvs.abc")
        );
        let mode = std::fs::metadata(helper.path())
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        helper.erase().expect("erase");
        assert!(helper.get().expect("get").is_none());
    }

    #[test]
    fn token_file_with_trailing_newline_is_trimmed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tok");
        std::fs::write(&path, "s.token\n").expect("write");
        let token = TokenHelper::at(path).get().expect("get");
        assert_eq!(token.as_ref().map(SecretString::expose), Some("s.token"));
    }
}
