//! What opening the backend needs: Vault's `storage "postgresql"` fields, typed,
//! with Vault's defaults, and the rules for table names.

use std::fmt;
use std::time::Duration;

use zeroize::Zeroizing;

/// Table of entries when the config names none (Vault's default).
pub const DEFAULT_TABLE: &str = "vault_kv_store";
/// Table of HA locks when the config names none (Vault's default).
pub const DEFAULT_HA_TABLE: &str = "vault_ha_locks";
/// Connections in the pool when the config says nothing (Vault's default `max_parallel`).
pub const DEFAULT_MAX_PARALLEL: usize = 128;
/// Start-up connection retries when the config says nothing.
pub const DEFAULT_MAX_CONNECT_RETRIES: u32 = 1;
/// Wait before the first start-up retry; it doubles with every further retry.
pub const DEFAULT_CONNECT_RETRY_DELAY: Duration = Duration::from_secs(1);
/// Longest wait between two start-up retries.
pub(crate) const MAX_CONNECT_RETRY_DELAY: Duration = Duration::from_secs(30);
/// PostgreSQL's longest identifier (`NAMEDATALEN - 1` bytes); longer ones are truncated.
const MAX_IDENTIFIER_LEN: usize = 63;

/// Everything [`PostgresBackend::open`](crate::PostgresBackend::open) needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// libpq-style connection string (URL or `key=value` form); holds the password.
    pub connection_url: ConnectionUrl,
    /// Table of entries; default [`DEFAULT_TABLE`]. Must pass [`validate_table_name`].
    pub table: String,
    /// Most connections open at once, so most statements in flight; default
    /// [`DEFAULT_MAX_PARALLEL`].
    pub max_parallel: usize,
    /// Whether the HA lock table is wanted: it is then created with the data table.
    pub ha_enabled: bool,
    /// Table of HA locks; default [`DEFAULT_HA_TABLE`].
    pub ha_table: String,
    /// How often a failed first connection is retried at start-up before giving up;
    /// default [`DEFAULT_MAX_CONNECT_RETRIES`].
    pub max_connect_retries: u32,
    /// Wait before the first retry, doubled for each further one (at most 30 s);
    /// default [`DEFAULT_CONNECT_RETRY_DELAY`].
    pub connect_retry_delay: Duration,
}

impl PostgresConfig {
    /// A config for `connection_url` with Vault's defaults for everything else.
    pub fn new(connection_url: ConnectionUrl) -> Self {
        Self {
            connection_url,
            table: DEFAULT_TABLE.to_owned(),
            max_parallel: DEFAULT_MAX_PARALLEL,
            ha_enabled: false,
            ha_table: DEFAULT_HA_TABLE.to_owned(),
            max_connect_retries: DEFAULT_MAX_CONNECT_RETRIES,
            connect_retry_delay: DEFAULT_CONNECT_RETRY_DELAY,
        }
    }
}

/// A PostgreSQL connection string. It usually holds the password, so it is
/// zeroed on drop and its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionUrl(Zeroizing<String>);

impl ConnectionUrl {
    /// Wraps a connection string.
    pub fn new(url: impl Into<String>) -> Self {
        Self(Zeroizing::new(url.into()))
    }

    /// The connection string itself, for the driver only: never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the string is empty (not configured).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for ConnectionUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConnectionUrl([redacted])")
    }
}

/// Checks a table name: an ASCII letter or `_`, then letters, digits or `_`, at
/// most 63 bytes. The name is spliced into SQL (always double-quoted, so case
/// is kept as written, as Vault does), hence nothing else is allowed: no quotes,
/// no dots (schemas come from the role's `search_path`), no spaces.
pub fn validate_table_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return Err("table name is empty".to_owned());
    };
    if name.len() > MAX_IDENTIFIER_LEN {
        return Err(format!(
            "table name is {} bytes long; PostgreSQL allows at most {MAX_IDENTIFIER_LEN}",
            name.len()
        ));
    }
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if !(first.is_ascii_alphabetic() || first == '_') || !chars.all(word) {
        return Err(format!(
            "table name {name:?} is not allowed: use a letter or '_' followed by letters, \
             digits or '_' (no quotes, dots or spaces)"
        ));
    }
    Ok(())
}

/// `name` as a quoted SQL identifier. Only for names that passed [`validate_table_name`].
pub(crate) fn quoted(name: &str) -> String {
    format!("\"{name}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_style_names_are_accepted() {
        for ok in ["vault_kv_store", "Coffer_KV", "_t", "t1", &"x".repeat(63)] {
            assert_eq!(validate_table_name(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn names_that_could_inject_sql_are_rejected() {
        for bad in [
            "",
            "1table",
            "kv; DROP TABLE users",
            "kv\"",
            "a.b",
            "a b",
            "kv--",
            "tbl\0",
            "ünï",
            &"x".repeat(64),
        ] {
            assert!(validate_table_name(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn debug_never_shows_the_connection_string() {
        let url = ConnectionUrl::new("postgres://u:hunter2@db/x");
        let config = PostgresConfig::new(url);
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }
}
