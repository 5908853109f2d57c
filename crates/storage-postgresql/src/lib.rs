//! `postgresql`: a storage backend that keeps Coffer's (encrypted) entries in a
//! PostgreSQL table laid out as HashiCorp Vault's `postgresql` storage lays it
//! out, so the schema, the operator's SQL and the config stanza are Vault's.
//!
//! Key `a/b/c` is the row `(parent_path "/a/", path "/a/b/", key "c")`. A get,
//! put or delete is one statement on the primary key `(path, key)`; a list
//! reads the leaves of one `path` and the folders below it by a range scan of
//! the `parent_path` index. A put is one `INSERT ... ON CONFLICT DO UPDATE`: atomic,
//! and durable once PostgreSQL acknowledges the commit, given `fsync` and
//! `synchronous_commit` on (PostgreSQL's defaults; a warning is logged at start-up
//! when either is off). Missing tables are created at start-up.
//!
//! Connections come from a pool of at most `max_parallel`; TLS follows the
//! connection string's `sslmode` and `sslrootcert` as libpq does (see `tls.rs`).
//! The connection string holds the password: it lives in a [`ConnectionUrl`],
//! whose `Debug` is redacted, and no error or log line includes it.
//!
//! It must never depend on the server, an engine, a seal or another backend:
//! only on the storage contract in `coffer-core`. With `ha_enabled`, the
//! `ha_table` holds the HA election lock ([`PostgresHaLock`]).

mod config;
mod conninfo;
mod ha_lock;
mod layout;
mod schema;
mod tls;

pub use ha_lock::PostgresHaLock;

use ha_lock::LOCK_KEY;

pub use config::{
    ConnectionUrl, DEFAULT_CONNECT_RETRY_DELAY, DEFAULT_HA_TABLE, DEFAULT_MAX_CONNECT_RETRIES,
    DEFAULT_MAX_PARALLEL, DEFAULT_TABLE, PostgresConfig, validate_table_name,
};

use std::error::Error as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use coffer_core::storage::{Backend, StorageError, validate_key, validate_prefix};
use deadpool_postgres::{ClientWrapper, Manager, ManagerConfig, Pool, PoolError, RecyclingMethod};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use crate::config::{MAX_CONNECT_RETRY_DELAY, quoted};

/// The [`Backend`] that keeps entries in a PostgreSQL table.
pub struct PostgresBackend {
    pool: Pool,
    table: String,
    ha_table: Option<String>,
    setup: Arc<Setup>,
    sql: Statements,
}

/// Whether the start-up checks and table creation have run (see
/// [`PostgresBackend::open_waiting`]).
pub(crate) struct Setup {
    ready: AtomicBool,
    target: String,
}

impl Setup {
    /// `Unavailable` until the start-up work is done.
    pub(crate) fn check(&self, op: &'static str, key: &str) -> Result<(), StorageError> {
        if self.ready.load(Ordering::Acquire) {
            return Ok(());
        }
        Err(StorageError::Unavailable {
            op,
            key: key.to_owned(),
            cause: format!(
                "PostgreSQL at {} has not answered since start-up; retrying in the background",
                self.target
            ),
        })
    }
}

/// The four statements, with the (validated, quoted) table name spliced in.
struct Statements {
    get: String,
    put: String,
    delete: String,
    /// With [`PostgresBackend::fenced_by`]: the node that must hold the HA
    /// lock for `put` and `delete` to change anything.
    holder: Option<String>,
    list: String,
}

impl PostgresBackend {
    /// Connects (retrying up to `max_connect_retries` times when the server cannot
    /// be reached), checks the server, and creates the tables when missing.
    ///
    /// Fails with an error naming the cause (an unreachable server with the number
    /// of attempts, a refused login, a TLS failure, a bad table name) and never
    /// the password.
    pub async fn open(config: &PostgresConfig) -> Result<Self, StorageError> {
        Self::open_inner(config, false).await
    }

    /// [`PostgresBackend::open`] for a server: when the database still cannot
    /// be reached after `max_connect_retries`, the backend is returned anyway,
    /// answers every call with [`StorageError::Unavailable`], and keeps trying
    /// in the background (1 s, doubling to 30 s) until it can connect and
    /// create the tables. Failures that waiting cannot fix (a refused login, a
    /// bad certificate, a missing database) still fail here.
    pub async fn open_waiting(config: &PostgresConfig) -> Result<Self, StorageError> {
        Self::open_inner(config, true).await
    }

    async fn open_inner(config: &PostgresConfig, wait: bool) -> Result<Self, StorageError> {
        let fail = |cause: String| io_error("open", &config.table, cause);
        validate_table_name(&config.table).map_err(|e| fail(format!("table: {e}")))?;
        if config.ha_enabled {
            validate_table_name(&config.ha_table).map_err(|e| fail(format!("ha_table: {e}")))?;
        }
        if config.max_parallel == 0 {
            return Err(fail("max_parallel must be at least 1".to_owned()));
        }
        if config.connection_url.is_empty() {
            return Err(fail("no connection_url given".to_owned()));
        }
        let info = conninfo::parse(config.connection_url.expose()).map_err(fail)?;
        let connector = tls::connector(&info.tls).map_err(fail)?;
        let target = conninfo::describe_target(&info.pg);
        let manager = Manager::from_config(
            info.pg,
            connector,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.max_parallel)
            .build()
            .map_err(|e| fail(format!("connection pool: {e}")))?;

        let ha_table = config.ha_enabled.then(|| config.ha_table.clone());
        let ready = match connect(&pool, config, &target).await {
            Ok(client) => {
                prepare(client, &config.table, ha_table.as_deref(), &target)
                    .await
                    .map_err(fail)?;
                true
            }
            Err((e, true)) if wait => {
                tracing::error!(
                    server = %target,
                    error = %e,
                    "PostgreSQL is unreachable; serving sys/health (503) and retrying until it answers"
                );
                false
            }
            Err((e, _)) => return Err(e),
        };
        let setup = Arc::new(Setup {
            ready: AtomicBool::new(ready),
            target: target.clone(),
        });
        if !ready {
            tokio::spawn(finish_setup(
                pool.clone(),
                setup.clone(),
                config.table.clone(),
                ha_table.clone(),
            ));
        }

        let t = quoted(&config.table);
        Ok(Self {
            pool,
            table: config.table.clone(),
            ha_table,
            setup,
            sql: Statements {
                get: format!("SELECT value FROM {t} WHERE path = $1 AND key = $2"),
                put: format!(
                    "INSERT INTO {t} (parent_path, path, key, value) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (path, key) DO UPDATE \
                     SET parent_path = EXCLUDED.parent_path, value = EXCLUDED.value"
                ),
                delete: format!("DELETE FROM {t} WHERE path = $1 AND key = $2"),
                holder: None,
                list: format!(
                    "SELECT key FROM {t} WHERE path = $1 \
                     UNION \
                     SELECT split_part(substr(path, char_length($1) + 1), '/', 1) || '/' \
                     FROM {t} WHERE parent_path >= $1 AND parent_path < $2"
                ),
            },
        })
    }

    /// The entries table.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Runs one statement on a pooled connection (see [`run`]); `Unavailable`
    /// while the database has not been reached since start-up.
    async fn query(
        &self,
        op: &'static str,
        key: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StorageError> {
        self.setup.check(op, key)?;
        run(&self.pool, op, key, sql, params).await
    }

    /// Makes every `put` and `delete` conditional on `holder` holding the HA
    /// lock in `ha_table`, checked in the same statement with the lock row
    /// locked `FOR SHARE`: a node that lost the lock (paused, partitioned,
    /// its statement delayed) cannot change anything, and a node taking the
    /// lock over waits for a write already under way. A refused write is
    /// [`StorageError::NotActive`]. No effect without `ha_enabled`.
    #[must_use]
    pub fn fenced_by(mut self, holder: &str) -> Self {
        let Some(ha) = self.ha_table.as_deref().map(quoted) else {
            return self;
        };
        let t = quoted(&self.table);
        let held = format!(
            "held AS (SELECT 1 FROM {ha} WHERE ha_key = '{LOCK_KEY}' \
             AND ha_identity = $HOLDER AND valid_until > now() FOR SHARE)"
        );
        self.sql.put = format!(
            "WITH {held}, \
             written AS (INSERT INTO {t} (parent_path, path, key, value) \
               SELECT $1, $2, $3, $4 FROM held \
               ON CONFLICT (path, key) DO UPDATE \
               SET parent_path = EXCLUDED.parent_path, value = EXCLUDED.value RETURNING 1) \
             SELECT count(*) FROM held",
            held = held.replace("$HOLDER", "$5")
        );
        self.sql.delete = format!(
            "WITH {held}, \
             removed AS (DELETE FROM {t} WHERE path = $1 AND key = $2 \
               AND EXISTS (SELECT 1 FROM held) RETURNING 1) \
             SELECT count(*) FROM held",
            held = held.replace("$HOLDER", "$3")
        );
        self.sql.holder = Some(holder.to_owned());
        self
    }

    /// The HA election lock in `ha_table`, when the config enables HA.
    pub fn ha_lock(&self) -> Option<Arc<PostgresHaLock>> {
        self.ha_table.as_deref().map(|t| {
            Arc::new(PostgresHaLock::new(
                self.pool.clone(),
                t,
                self.setup.clone(),
            ))
        })
    }
}

/// `NotActive` unless the fenced statement found the lock held (`count` 1).
fn fenced(op: &'static str, key: &str, rows: &[Row]) -> Result<(), StorageError> {
    let held: i64 = rows
        .first()
        .and_then(|r| r.try_get(0).ok())
        .unwrap_or_default();
    if held == 1 {
        Ok(())
    } else {
        Err(StorageError::NotActive {
            op,
            key: key.to_owned(),
        })
    }
}

/// Runs one statement on a pooled connection. A connection found dead (the
/// server restarted, a proxy dropped it) is replaced and the statement run
/// once more: every statement here is idempotent, so running it twice is
/// harmless.
pub(crate) async fn run(
    pool: &Pool,
    op: &'static str,
    key: &str,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, StorageError> {
    let mut retried = false;
    loop {
        let client = pool.get().await.map_err(|e| StorageError::Unavailable {
            op,
            key: key.to_owned(),
            cause: pool_error_text(&e),
        })?;
        let outcome = match client.prepare_cached(sql).await {
            Ok(stmt) => client.query(&stmt, params).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(rows) => return Ok(rows),
            Err(e) if !retried && connection_lost(&e) => {
                tracing::warn!(op, error = %error_chain(&e), "PostgreSQL connection lost; retrying on a new one");
                retried = true;
            }
            Err(e) if connection_lost(&e) => {
                return Err(StorageError::Unavailable {
                    op,
                    key: key.to_owned(),
                    cause: error_chain(&e),
                });
            }
            Err(e) => return Err(io_error(op, key, error_chain(&e))),
        }
    }
}

#[async_trait]
impl Backend for PostgresBackend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        validate_key(key)?;
        let (_, path, leaf) = layout::split_key(key);
        let rows = self
            .query("get", key, &self.sql.get, &[&path, &leaf])
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let value: Option<Vec<u8>> = row
            .try_get(0)
            .map_err(|e| io_error("get", key, error_chain(&e)))?;
        // A NULL value (only a hand-made row can hold one) reads as empty, as in Vault.
        Ok(Some(value.unwrap_or_default()))
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        validate_key(key)?;
        let (parent, path, leaf) = layout::split_key(key);
        match &self.sql.holder {
            None => {
                self.query("put", key, &self.sql.put, &[&parent, &path, &leaf, &value])
                    .await?;
            }
            Some(holder) => {
                let rows = self
                    .query(
                        "put",
                        key,
                        &self.sql.put,
                        &[&parent, &path, &leaf, &value, holder],
                    )
                    .await?;
                fenced("put", key, &rows)?;
            }
        }
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        let (_, path, leaf) = layout::split_key(key);
        match &self.sql.holder {
            None => {
                self.query("delete", key, &self.sql.delete, &[&path, &leaf])
                    .await?;
            }
            Some(holder) => {
                let rows = self
                    .query("delete", key, &self.sql.delete, &[&path, &leaf, holder])
                    .await?;
                fenced("delete", key, &rows)?;
            }
        }
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        validate_prefix(prefix)?;
        let (low, high) = layout::list_bounds(prefix);
        let rows = self
            .query("list", prefix, &self.sql.list, &[&low, &high])
            .await?;
        let mut names = Vec::with_capacity(rows.len());
        for row in rows {
            let name: Option<String> = row
                .try_get(0)
                .map_err(|e| io_error("list", prefix, error_chain(&e)))?;
            names.extend(name.filter(|n| !n.is_empty() && n != "/"));
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn kind(&self) -> &'static str {
        "postgresql"
    }
}

/// Takes the first connection, retrying transient failures with a doubling delay.
async fn connect(
    pool: &Pool,
    config: &PostgresConfig,
    target: &str,
) -> Result<deadpool_postgres::Client, (StorageError, bool)> {
    let attempts = config.max_connect_retries.saturating_add(1);
    let mut delay = config.connect_retry_delay;
    let mut attempt = 1;
    loop {
        let err = match pool.get().await {
            Ok(client) => return Ok(client),
            Err(e) => e,
        };
        let cause = pool_error_text(&err);
        let transient = is_transient(&err);
        if attempt >= attempts || !transient {
            let tries = if attempt > 1 {
                format!(" after {attempt} attempts")
            } else {
                String::new()
            };
            return Err((
                io_error(
                    "open",
                    &config.table,
                    format!("cannot connect to PostgreSQL at {target}{tries}: {cause}"),
                ),
                transient,
            ));
        }
        tracing::warn!(
            server = %target,
            attempt,
            of = attempts,
            error = %cause,
            "cannot connect to PostgreSQL; retrying in {delay:?}"
        );
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_CONNECT_RETRY_DELAY);
        attempt += 1;
    }
}

/// The start-up work on a first connection: server checks, then the tables.
async fn prepare(
    mut client: deadpool_postgres::Client,
    table: &str,
    ha_table: Option<&str>,
    target: &str,
) -> Result<(), String> {
    check_server(&client, target).await?;
    let created = schema::ensure_tables(&mut client, table, ha_table)
        .await
        .map_err(|e| format!("{target}: {}", error_chain(&e)))?;
    for t in created {
        tracing::info!(table = %t, server = %target, "created PostgreSQL table");
    }
    Ok(())
}

/// Keeps trying [`prepare`] until it works, then marks the backend ready.
async fn finish_setup(pool: Pool, setup: Arc<Setup>, table: String, ha_table: Option<String>) {
    let mut delay = Duration::from_secs(1);
    let mut last = String::new();
    loop {
        tokio::time::sleep(delay).await;
        let outcome = match pool.get().await {
            Ok(client) => prepare(client, &table, ha_table.as_deref(), &setup.target).await,
            Err(e) => Err(pool_error_text(&e)),
        };
        match outcome {
            Ok(()) => {
                setup.ready.store(true, Ordering::Release);
                tracing::info!(server = %setup.target, "PostgreSQL answers again; storage ready");
                return;
            }
            Err(e) if e != last => {
                tracing::warn!(server = %setup.target, error = %e, retry_in_secs = delay.as_secs(), "PostgreSQL still unreachable");
                last = e;
            }
            Err(_) => {}
        }
        delay = (delay * 2).min(MAX_CONNECT_RETRY_DELAY);
    }
}

/// Refuses servers without `ON CONFLICT` (before 9.5) and warns when the server
/// may lose acknowledged commits in a crash.
async fn check_server(client: &ClientWrapper, target: &str) -> Result<(), String> {
    let settings = async {
        let row = client
            .query_one(
                "SELECT current_setting('server_version_num')::int, \
                 current_setting('fsync'), current_setting('synchronous_commit')",
                &[],
            )
            .await?;
        Ok::<(i32, String, String), tokio_postgres::Error>((
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
        ))
    };
    let (version, fsync, synchronous_commit) = settings
        .await
        .map_err(|e| format!("{target}: reading server settings: {}", error_chain(&e)))?;
    if version < 90500 {
        return Err(format!(
            "{target} runs PostgreSQL {version}; 9.5 or later is needed (INSERT ... ON CONFLICT)"
        ));
    }
    if fsync == "off" {
        tracing::warn!(server = %target, "PostgreSQL runs with fsync = off: a crash of its machine can lose acknowledged writes");
    }
    if synchronous_commit == "off" {
        tracing::warn!(server = %target, "PostgreSQL runs with synchronous_commit = off: a crash can lose the last acknowledged writes");
    }
    Ok(())
}

/// Whether a failed first connection may succeed if tried again: the network
/// or a server starting up, yes; a refused login, a missing database or a
/// certificate that does not verify, no.
fn is_transient(e: &PoolError) -> bool {
    let PoolError::Backend(e) = e else {
        return matches!(e, PoolError::Timeout(_));
    };
    if let Some(db) = e.as_db_error() {
        return [
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
        ]
        .contains(db.code());
    }
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return io
                .get_ref()
                .is_none_or(|inner| !inner.is::<rustls::Error>());
        }
        source = s.source();
    }
    false
}

/// Whether a statement failed because its connection is gone.
fn connection_lost(e: &tokio_postgres::Error) -> bool {
    e.is_closed() || e.source().is_some_and(|s| s.is::<std::io::Error>())
}

fn pool_error_text(e: &PoolError) -> String {
    match e {
        PoolError::Backend(e) => error_chain(e),
        other => other.to_string(),
    }
}

/// An error and its sources, joined by `: ` on one line (tokio-postgres puts
/// the server's message, e.g. "password authentication failed", in a source).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text.replace('\n', "; ")
}

fn io_error(op: &'static str, key: &str, cause: String) -> StorageError {
    StorageError::Io {
        op,
        key: key.to_owned(),
        cause,
    }
}
