//! `storage "<type>" { ... }`: which backend holds the (encrypted) data.
//! Without a storage stanza Coffer uses the embedded backend at
//! [`DEFAULT_EMBEDDED_PATH`], relative to the working directory.

use std::path::PathBuf;
use std::time::Duration;

use coffer_storage_postgresql::{
    ConnectionUrl, DEFAULT_HA_TABLE, DEFAULT_MAX_CONNECT_RETRIES, DEFAULT_MAX_PARALLEL,
    DEFAULT_TABLE, validate_table_name,
};

use super::document::{Block, Fields};
use super::error::{ConfigError, Location};
use super::value;

/// Environment variable that gives (and overrides) `connection_url` of
/// `storage "postgresql"`, as in Vault.
pub(crate) const PG_CONNECTION_URL_ENV: &str = "VAULT_PG_CONNECTION_URL";

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
    /// `storage "postgresql" { connection_url = ... }`: Vault's PostgreSQL backend.
    Postgresql {
        /// libpq connection string; `VAULT_PG_CONNECTION_URL` wins over the file.
        /// Holds the password: its `Debug` is redacted.
        connection_url: ConnectionUrl,
        /// Table of entries; default `vault_kv_store`.
        table: String,
        /// Connection pool size; default 128.
        max_parallel: usize,
        /// HA mode (leader election over `ha_table`); default false.
        ha_enabled: bool,
        /// Table of HA locks; default `vault_ha_locks`.
        ha_table: String,
        /// Start-up connection retries; default 1.
        max_connect_retries: u32,
        /// The HA lock's lease (Coffer's own setting; Vault fixes it at
        /// 15 s): how long a killed active node keeps the lock.
        ha_lock_ttl: Duration,
    },
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
        "postgresql" => decode_postgresql(Fields::new(
            block.title(),
            block.at,
            block.body,
            &[
                "connection_url",
                "table",
                "max_parallel",
                "ha_enabled",
                "ha_table",
                "max_connect_retries",
                "ha_lock_ttl",
            ],
        )?)?,
        other => {
            return Err(ConfigError::invalid_at(
                &at,
                format!(
                    "storage \"{other}\": unknown storage type \
                     (expected \"embedded\", \"file\", \"inmem\" or \"postgresql\")"
                ),
            ));
        }
    };
    Ok((storage, at))
}

/// `storage "postgresql"`. `connection_url` may be missing here: the
/// environment can still supply it ([`check`] runs after the overrides).
fn decode_postgresql(mut f: Fields) -> Result<StorageConfig, ConfigError> {
    let connection_url = ConnectionUrl::new(f.string("connection_url")?.unwrap_or_default());
    let table = table_name(&mut f, "table", DEFAULT_TABLE)?;
    let ha_table = table_name(&mut f, "ha_table", DEFAULT_HA_TABLE)?;
    let max_parallel = f
        .convert("max_parallel", |v| match value::to_u64(v)? {
            0 => Err("must be at least 1".to_owned()),
            n => usize::try_from(n).map_err(|_| format!("{n} is too large")),
        })?
        .unwrap_or(DEFAULT_MAX_PARALLEL);
    let max_connect_retries = f
        .convert("max_connect_retries", |v| {
            let n = value::to_u64(v)?;
            u32::try_from(n).map_err(|_| format!("{n} is too large"))
        })?
        .unwrap_or(DEFAULT_MAX_CONNECT_RETRIES);
    let ha_lock_ttl = f
        .convert("ha_lock_ttl", |v| {
            let ttl = value::to_duration(v)?;
            if (HA_LOCK_TTL_MIN..=HA_LOCK_TTL_MAX).contains(&ttl) {
                Ok(ttl)
            } else {
                Err(format!(
                    "must be between {}s and {}s (renewals run every third of it)",
                    HA_LOCK_TTL_MIN.as_secs(),
                    HA_LOCK_TTL_MAX.as_secs()
                ))
            }
        })?
        .unwrap_or(coffer_core::ha::DEFAULT_LOCK_TTL);
    Ok(StorageConfig::Postgresql {
        connection_url,
        table,
        max_parallel,
        ha_enabled: f.bool("ha_enabled")?.unwrap_or(false),
        ha_table,
        max_connect_retries,
        ha_lock_ttl,
    })
}

/// Shorter, and a busy database or a paused process costs the active node
/// its lock; longer, and failover after a crash waits past what a forwarded
/// request waits for (30 s).
const HA_LOCK_TTL_MIN: Duration = Duration::from_secs(3);
const HA_LOCK_TTL_MAX: Duration = Duration::from_secs(60);

impl StorageConfig {
    /// The HA lock's lease where the storage sets one.
    pub fn ha_lock_ttl(&self) -> Option<Duration> {
        match self {
            Self::Postgresql { ha_lock_ttl, .. } => Some(*ha_lock_ttl),
            _ => None,
        }
    }
}

/// A table-name field, checked here so a bad name is reported at its line.
fn table_name(f: &mut Fields, field: &str, default: &str) -> Result<String, ConfigError> {
    match f.string_at(field)? {
        None => Ok(default.to_owned()),
        Some((name, at)) => match validate_table_name(&name) {
            Ok(()) => Ok(name),
            Err(message) => Err(ConfigError::invalid_value(
                &at,
                "storage \"postgresql\"",
                field,
                message,
            )),
        },
    }
}

/// Checks made once the environment overrides are in: a postgresql storage
/// needs a connection string from the file or `VAULT_PG_CONNECTION_URL`.
pub(crate) fn check(storage: &StorageConfig, at: &Location) -> Result<(), ConfigError> {
    match storage {
        StorageConfig::Postgresql { connection_url, .. } if connection_url.is_empty() => {
            Err(ConfigError::MissingField {
                at: Some(at.clone()),
                context: "storage \"postgresql\"".to_owned(),
                field: "connection_url".to_owned(),
                hint: Some(format!("or set {PG_CONNECTION_URL_ENV}")),
            })
        }
        _ => Ok(()),
    }
}
