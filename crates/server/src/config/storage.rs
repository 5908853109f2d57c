//! `storage "<type>" { ... }`: which backend holds the (encrypted) data.
//! Without a storage stanza Coffer uses the embedded backend at
//! [`DEFAULT_EMBEDDED_PATH`], relative to the working directory.

use std::path::PathBuf;

use super::document::{Block, Fields};
use super::error::{ConfigError, Location};

/// Path of the embedded database when no storage stanza (or no `path`) is given.
pub const DEFAULT_EMBEDDED_PATH: &str = "coffer-data/coffer.redb";

/// The storage backend chosen by the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageConfig {
    /// `storage "embedded" { path = ... }`: single-file ACID database (the default).
    Embedded {
        /// Database file; default [`DEFAULT_EMBEDDED_PATH`].
        path: PathBuf,
    },
    /// `storage "file" { path = ... }`: Vault's one-file-per-key layout.
    File {
        /// Directory holding the data; required.
        path: PathBuf,
    },
    /// `storage "inmem" {}`: memory only, lost on restart (tests, demos).
    Inmem,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self::Embedded {
            path: PathBuf::from(DEFAULT_EMBEDDED_PATH),
        }
    }
}

/// Decodes one `storage` block.
pub(crate) fn decode(block: Block) -> Result<(StorageConfig, Location), ConfigError> {
    let kind = block
        .single_label("storage \"embedded\" { path = \"...\" }")?
        .to_owned();
    let at = block.at.clone();
    let storage = match kind.as_str() {
        "embedded" => {
            let mut f = Fields::new(block.title(), block.at, block.body, &["path"])?;
            let path = f
                .string("path")?
                .unwrap_or_else(|| DEFAULT_EMBEDDED_PATH.to_owned());
            StorageConfig::Embedded {
                path: PathBuf::from(path),
            }
        }
        "file" => {
            let mut f = Fields::new(block.title(), block.at, block.body, &["path"])?;
            let Some(path) = f.string("path")? else {
                return Err(ConfigError::MissingField {
                    at: Some(f.at().clone()),
                    context: f.context().to_owned(),
                    field: "path".to_owned(),
                    hint: None,
                });
            };
            StorageConfig::File {
                path: PathBuf::from(path),
            }
        }
        "inmem" => {
            Fields::new(block.title(), block.at, block.body, &[])?;
            StorageConfig::Inmem
        }
        other => {
            return Err(ConfigError::invalid_at(
                &at,
                format!(
                    "storage \"{other}\": unknown storage type \
                     (expected \"embedded\", \"file\" or \"inmem\")"
                ),
            ));
        }
    };
    Ok((storage, at))
}
